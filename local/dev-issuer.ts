import { execFileSync } from 'node:child_process';
import { createHash, createSign, generateKeyPairSync, type KeyObject, randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// A development OpenID Connect issuer for `npm start -- --auth`: an RS256 key made at start, its JWKS and
// discovery document served over HTTPS on loopback (the authorizer fetches them with the code it runs on
// AWS, trusting this issuer's certificate through NODE_EXTRA_CA_CERTS), and tokens for any name.

/** The audience (client id) of the local issuer's tokens: the template's JwtAudience locally. */
export const DEV_AUDIENCE = 'chat-rooms-local';
/** How long a local token is good for. */
export const DEV_TOKEN_LIFETIME_SECONDS = 60 * 60;

const base64url = (data: string | Buffer) => Buffer.from(data).toString('base64url');

export interface DevIssuer {
  /** `https://127.0.0.1:{port}`, the tokens' `iss`. */
  issuer: string;
  audience: string;
  /** The PEM certificate the issuer's HTTPS server presents (for NODE_EXTRA_CA_CERTS). */
  caFile: string;
  /** A signed ID token for this display name; the same name is always the same user (`sub`). */
  tokenFor(name: string): string;
  /** Signs any claims with the issuer's key (tests make expired or misaddressed tokens with it). */
  sign(claims: Record<string, unknown>, header?: Record<string, unknown>): string;
  stop(): Promise<void>;
}

/** A self-signed certificate for 127.0.0.1 and localhost (openssl, as Debian ships it). */
function selfSignedCertificate(dir: string): { key: string; cert: string; certFile: string } {
  const keyFile = join(dir, 'issuer-key.pem');
  const certFile = join(dir, 'issuer-cert.pem');
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:P-256',
      '-nodes',
      '-days',
      '2',
      '-subj',
      '/CN=chat-rooms local issuer',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
      '-keyout',
      keyFile,
      '-out',
      certFile,
    ],
    { stdio: 'pipe' },
  );
  return { key: readFileSync(keyFile, 'utf8'), cert: readFileSync(certFile, 'utf8'), certFile };
}

/** A compact RS256 JWS of these claims. */
export function signJwt(
  privateKey: KeyObject,
  header: Record<string, unknown>,
  claims: Record<string, unknown>,
) {
  const input = `${base64url(JSON.stringify(header))}.${base64url(JSON.stringify(claims))}`;
  const signature = createSign('RSA-SHA256').update(input).sign(privateKey);
  return `${input}.${base64url(signature)}`;
}

export async function startDevIssuer(): Promise<DevIssuer> {
  const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const kid = randomUUID();
  const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid, alg: 'RS256', use: 'sig' }] };
  const dir = mkdtempSync(join(tmpdir(), 'dev-issuer-'));
  let server: Server | undefined;
  try {
    const { key, cert, certFile } = selfSignedCertificate(dir);
    let issuer = '';
    server = createServer({ key, cert }, (req: IncomingMessage, res: ServerResponse) => {
      const path = (req.url ?? '/').split('?')[0];
      const body =
        path === '/.well-known/jwks.json'
          ? jwks
          : path === '/.well-known/openid-configuration'
            ? {
                issuer,
                jwks_uri: `${issuer}/.well-known/jwks.json`,
                id_token_signing_alg_values_supported: ['RS256'],
                subject_types_supported: ['public'],
                response_types_supported: ['id_token'],
              }
            : undefined;
      if (req.method !== 'GET' || !body) {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}');
        return;
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    });
    const listening = server;
    await new Promise<void>((resolve, reject) => {
      listening.once('error', reject);
      listening.listen(0, '127.0.0.1', resolve);
    });
    issuer = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const sign = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
      signJwt(privateKey, { alg: 'RS256', typ: 'JWT', kid, ...header }, claims);
    return {
      issuer,
      audience: DEV_AUDIENCE,
      caFile: certFile,
      sign,
      tokenFor(name) {
        const now = Math.floor(Date.now() / 1000);
        return sign({
          iss: issuer,
          aud: DEV_AUDIENCE,
          sub: `local-${createHash('sha256').update(name).digest('hex').slice(0, 24)}`,
          name,
          token_use: 'id',
          iat: now,
          exp: now + DEV_TOKEN_LIFETIME_SECONDS,
        });
      },
      stop: () =>
        new Promise<void>((resolve) => listening.close(() => resolve())).finally(() =>
          rmSync(dir, { recursive: true, force: true }),
        ),
    };
  } catch (error) {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`the local sign-in issuer could not start: ${(error as Error).message}`);
  }
}

/** Largest token request body read. */
const TOKEN_REQUEST_MAX_BYTES = 4096;

/**
 * `POST /auth/token` with `{"name":"Ada"}` → `{"token":"…","expiresIn":3600}` on the gateway's port, for
 * `npm run token` and the chat page (same origin; a JSON POST from any other page is stopped by CORS).
 */
export function tokenEndpoint(issuer: DevIssuer): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/auth/token') return false;
    const answer = (status: number, body: unknown) =>
      res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
    if (req.method !== 'POST') {
      answer(405, { message: 'POST {"name":"..."} to get a token' });
      return true;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= TOKEN_REQUEST_MAX_BYTES) chunks.push(chunk);
    });
    req.on('end', () => {
      let name: unknown;
      try {
        name = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { name?: unknown }).name;
      } catch {}
      if (size > TOKEN_REQUEST_MAX_BYTES || typeof name !== 'string' || name.trim().length === 0) {
        answer(400, { message: 'The body must be JSON with a non-empty "name"' });
        return;
      }
      answer(200, { token: issuer.tokenFor(name), expiresIn: DEV_TOKEN_LIFETIME_SECONDS });
    });
    return true;
  };
}
