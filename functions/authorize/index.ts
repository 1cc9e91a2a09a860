import type { APIGatewayRequestAuthorizerEvent } from 'aws-lambda';
import { authTokenSource, logger, tokenInSubprotocols } from 'chat-core';
import { createVerifier, signInSettings, type TokenVerifier } from './verifier';

/** Built once per instance, so the issuer's keys are fetched once and kept across invocations. */
let verifier: Promise<TokenVerifier> | undefined;

function tokenOf(event: APIGatewayRequestAuthorizerEvent): string | undefined {
  return authTokenSource() === 'header'
    ? tokenInSubprotocols(event.headers as Record<string, string> | null)
    : (event.queryStringParameters?.token ?? undefined);
}

/** The name to show: the token's display name, else its user name or e-mail (as signed by the issuer). */
function displayName(claims: Record<string, unknown>): string | undefined {
  const names = [claims.name, claims.preferred_username, claims['cognito:username'], claims.email];
  return names.find((name): name is string => typeof name === 'string' && name.trim().length > 0);
}

/**
 * The `$connect` authorizer: a verified token allows the connection and hands its user id and name to
 * every later event (`requestContext.authorizer`); anything else is refused with 401 ("Unauthorized").
 */
export const handler = async (event: APIGatewayRequestAuthorizerEvent) => {
  const token = tokenOf(event);
  if (!token) throw new Error('Unauthorized');
  verifier ??= createVerifier(signInSettings()).catch((error: unknown) => {
    verifier = undefined; // e.g. the issuer's discovery document was unreachable: try again next time
    throw error;
  });
  const active = await verifier;
  let claims: Awaited<ReturnType<TokenVerifier['verify']>>;
  try {
    claims = await active.verify(token);
  } catch (error) {
    logger.info('token refused', { reason: (error as Error).message });
    throw new Error('Unauthorized');
  }
  if (typeof claims.sub !== 'string' || claims.sub.length === 0) {
    logger.info('token refused', { reason: 'no sub claim' });
    throw new Error('Unauthorized');
  }
  const name = displayName(claims);
  return {
    principalId: claims.sub,
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: 'Allow', Resource: event.methodArn }],
    },
    context: { userId: claims.sub, ...(name === undefined ? {} : { name }) },
  };
};
