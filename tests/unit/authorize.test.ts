// The authorizer's verifier in Cognito mode, offline: the pool's JWKS is handed to aws-jwt-verify's cache
// (as if fetched), and tokens shaped as Cognito issues them are signed here with the matching key.
import { generateKeyPairSync } from 'node:crypto';
import type { CognitoJwtVerifier } from 'aws-jwt-verify';
import { tokenInSubprotocols } from 'chat-core';
import { createVerifier, signInSettings } from '../../functions/authorize/verifier';
import { signJwt } from '../../local/dev-issuer';

const POOL = 'us-east-1_Example1';
const ISSUER = `https://cognito-idp.us-east-1.amazonaws.com/${POOL}`;
const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwks = { keys: [{ ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'RS256', use: 'sig' }] };
const now = Math.floor(Date.now() / 1000);
const sign = (claims: Record<string, unknown>) =>
  signJwt(
    privateKey,
    { alg: 'RS256', kid: 'k1' },
    { iss: ISSUER, sub: 'u-1', iat: now, exp: now + 600, ...claims },
  );

async function cognitoVerifier() {
  const verifier = await createVerifier(
    signInSettings({ AUTH_USER_POOL_ID: POOL, AUTH_AUDIENCE: 'client1' }),
  );
  (
    verifier as unknown as CognitoJwtVerifier<
      { userPoolId: string; clientId: string; tokenUse: null },
      never,
      false
    >
  ).cacheJwks(jwks as never);
  return verifier;
}

test('Cognito mode takes ID and access tokens of its pool and app client', async () => {
  const verifier = await cognitoVerifier();
  await expect(
    verifier.verify(sign({ token_use: 'id', aud: 'client1', name: 'Ada' })),
  ).resolves.toMatchObject({
    sub: 'u-1',
    name: 'Ada',
  });
  await expect(verifier.verify(sign({ token_use: 'access', client_id: 'client1' }))).resolves.toMatchObject({
    sub: 'u-1',
  });
});

test.each([
  ['another app client', { token_use: 'id', aud: 'client2' }],
  ['another app client (access)', { token_use: 'access', client_id: 'client2' }],
  ['no token use', { aud: 'client1' }],
  ['a refresh token use', { token_use: 'refresh', aud: 'client1' }],
  ['another pool', { token_use: 'id', aud: 'client1', iss: `${ISSUER}x` }],
  ['expired', { token_use: 'id', aud: 'client1', exp: now - 60 }],
])('Cognito mode refuses %s', async (_, claims) => {
  await expect((await cognitoVerifier()).verify(sign(claims))).rejects.toThrow();
});

test('settings say what is missing', () => {
  expect(() => signInSettings({})).toThrow(/AUTH_AUDIENCE/);
  expect(() => signInSettings({ AUTH_AUDIENCE: 'app' })).toThrow(/JwtIssuer/);
  expect(signInSettings({ AUTH_AUDIENCE: 'app', AUTH_ISSUER: 'https://i', AUTH_JWKS_URI: '' })).toEqual({
    issuer: 'https://i',
    audience: 'app',
  });
});

test('a token offered as a subprotocol is the one beside "chat"', () => {
  const headers = (value: string) => ({ 'Sec-WebSocket-Protocol': value });
  expect(tokenInSubprotocols(headers('chat, eyJ.a.b'))).toBe('eyJ.a.b');
  expect(tokenInSubprotocols({ 'sec-websocket-protocol': 'eyJ.a.b,chat' })).toBe('eyJ.a.b');
  expect(tokenInSubprotocols(headers('chat'))).toBeUndefined();
  expect(tokenInSubprotocols(headers('chat, one, two'))).toBeUndefined();
  expect(tokenInSubprotocols(undefined)).toBeUndefined();
});
