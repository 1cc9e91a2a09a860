import { CognitoJwtVerifier, JwtVerifier } from 'aws-jwt-verify';
import type { JwtPayload } from 'aws-jwt-verify/jwt-model';

/** Which tokens the authorizer accepts (template parameters, through the function's environment). */
export type SignInSettings =
  | { userPoolId: string; clientId: string }
  | { issuer: string; audience: string; jwksUri?: string };

export function signInSettings(env: NodeJS.ProcessEnv = process.env): SignInSettings {
  const audience = env.AUTH_AUDIENCE ?? '';
  if (!audience) throw new Error('AUTH_AUDIENCE is not set: it names the client id tokens must be issued to');
  if (env.AUTH_USER_POOL_ID) return { userPoolId: env.AUTH_USER_POOL_ID, clientId: audience };
  const issuer = env.AUTH_ISSUER ?? '';
  if (!issuer) throw new Error('AUTH_ISSUER is not set: AuthMode jwt needs the JwtIssuer parameter');
  return { issuer, audience, ...(env.AUTH_JWKS_URI ? { jwksUri: env.AUTH_JWKS_URI } : {}) };
}

export interface TokenVerifier {
  /** The verified token's claims; throws for any token that is not good. */
  verify(token: string): Promise<JwtPayload>;
}

/** An OIDC issuer's JWKS URL, from its discovery document (`/.well-known/openid-configuration`). */
async function discoverJwksUri(issuer: string): Promise<string> {
  const url = `${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`;
  const response = await fetch(url);
  if (!response.ok) throw new Error(`OIDC discovery at ${url} answered ${response.status}`);
  const { jwks_uri: jwksUri } = (await response.json()) as { jwks_uri?: unknown };
  if (typeof jwksUri !== 'string') throw new Error(`OIDC discovery at ${url} names no jwks_uri`);
  return jwksUri;
}

/**
 * aws-jwt-verify checks the signature against the issuer's JWKS (fetched once and kept by the verifier,
 * so across invocations of a warm instance; refetched only for an unknown key id), the algorithm
 * (never `none`), issuer, audience or Cognito client id, expiry and not-before, and the token use:
 * Cognito's verifier takes ID and access tokens of its pool; for any other issuer a token that says
 * what it is (`token_use`) must be an ID or access token.
 */
export async function createVerifier(settings: SignInSettings): Promise<TokenVerifier> {
  if ('userPoolId' in settings) {
    return CognitoJwtVerifier.create({
      userPoolId: settings.userPoolId,
      clientId: settings.clientId,
      tokenUse: null,
    });
  }
  return JwtVerifier.create({
    issuer: settings.issuer,
    audience: settings.audience,
    jwksUri: settings.jwksUri ?? (await discoverJwksUri(settings.issuer)),
    customJwtCheck: ({ payload }) => {
      const use = payload.token_use;
      if (use !== undefined && use !== 'id' && use !== 'access')
        throw new Error(`token_use ${String(use)} is neither id nor access`);
    },
  });
}
