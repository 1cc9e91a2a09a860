import { hash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import { type PreparedSigner, SigV4Signer } from '../../layers/chat-core/src/signed-http';
import { NodeSha256, refuseUnsigned } from '../../local/connections-auth';
import { LOCAL_AWS_ENV } from '../../local/dynamodb';

// The functions sign `@connections` POSTs and Lambda Invokes with their own SigV4 signer (signed-http.ts):
// it must sign exactly as the AWS SDK's signer does, and pass the local stack's signature check.

const credentials = {
  accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
  secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
  sessionToken: 'IQoJb3JpZ2luX2VjEJr//////////session+token=',
};
const region = LOCAL_AWS_ENV.AWS_REGION;
const BODY = '{"type":"message","msg":"hello (again)!"}';
const BODY_SHA256 = hash('sha256', BODY, 'hex');

function sdkSignature(
  service: string,
  request: { method: string; path: string; headers: Record<string, string> },
  date: Date,
) {
  const signer = new SignatureV4({ credentials, region, service, sha256: NodeSha256, applyChecksum: false });
  return signer.sign(
    new HttpRequest({
      method: request.method,
      protocol: 'https:',
      hostname: request.headers.host,
      path: request.path,
      headers: request.headers,
      body: BODY,
    }),
    { signingDate: date },
  );
}

/** Every header a request to `path` is sent with. */
function signed(prepared: PreparedSigner, path: string): Record<string, string> {
  return { ...prepared.headers, authorization: prepared.authorization(path) };
}

describe('SigV4Signer', () => {
  const date = new Date('2026-11-28T06:15:42.123Z');
  const signer = new SigV4Signer('execute-api', region, () => credentials);

  test.each([
    ['a plain connection id', '/dev/@connections/L0SM9cOFvHcCIhw='],
    ['reserved characters', `/dev/@connections/${encodeURIComponent("a+b/c!d'e(f)g*h~i")}`],
    ['a path to normalise', '/dev//./x/../@connections/abc/'],
  ])('signs %s as the AWS SDK does', async (_, path) => {
    const shape = {
      method: 'POST',
      headers: {
        host: 'abc123.execute-api.us-east-1.amazonaws.com',
        'content-type': 'application/octet-stream',
        'content-length': String(Buffer.byteLength(BODY)),
      },
      payloadSha256: BODY_SHA256,
    };
    const ours = signed(signer.prepare(shape, date.getTime()), path);
    const sdk = await sdkSignature(
      'execute-api',
      { method: 'POST', path, headers: { ...shape.headers, 'x-amz-content-sha256': BODY_SHA256 } },
      date,
    );
    expect(ours).toEqual(sdk.headers);
  });

  test('signs a GET without a session token as the AWS SDK does', async () => {
    const plain = new SigV4Signer('lambda', region, () => ({ ...credentials, sessionToken: undefined }));
    const emptySha256 = hash('sha256', '', 'hex');
    const headers = { host: 'lambda.us-east-1.amazonaws.com' };
    const ours = plain.prepare({ method: 'GET', headers, payloadSha256: emptySha256 }, date.getTime());
    const sdk = await new SignatureV4({
      credentials: { ...credentials, sessionToken: undefined },
      region,
      service: 'lambda',
      sha256: NodeSha256,
    }).sign(
      new HttpRequest({ method: 'GET', protocol: 'https:', hostname: headers.host, path: '/x/y', headers }),
      { signingDate: date },
    );
    expect(signed(ours, '/x/y')).toEqual(sdk.headers);
  });

  test('a prepared signature is dated by its second', () => {
    const shape = { method: 'GET', headers: { host: 'h' }, payloadSha256: BODY_SHA256 };
    const prepared = signer.prepare(shape, date.getTime());
    expect(prepared.second).toBe(Math.floor(date.getTime() / 1000));
    expect(prepared.headers['x-amz-date']).toBe('20261128T061542Z');
  });

  test("passes the local stack's @connections signature check, which refuses a changed path", async () => {
    const path = '/dev/@connections/L0SM9cOFvHcCIhw%3D';
    const shape = {
      method: 'POST',
      headers: { host: '127.0.0.1:3001', 'content-length': String(Buffer.byteLength(BODY)) },
      payloadSha256: BODY_SHA256,
    };
    const headers = signed(signer.prepare(shape), path);
    const request = (url: string) => ({ method: 'POST', url, headers }) as unknown as IncomingMessage;
    expect(refuseUnsigned(request(path), Buffer.from(BODY))).toBeUndefined();
    expect(refuseUnsigned(request(`${path}x`), Buffer.from(BODY))).toMatchObject({
      status: 403,
      errorType: 'InvalidSignatureException',
    });
  });

  test("the local stack's check accepts the AWS SDK's own signature, for that body only", async () => {
    const path = "/dev/@connections/it's(a)*b!%3D";
    const date = new Date(Math.floor(Date.now() / 1000) * 1000);
    const sdk = await sdkSignature(
      'execute-api',
      { method: 'POST', path, headers: { host: '127.0.0.1:3001', 'content-type': 'application/json' } },
      date,
    );
    const headers = Object.fromEntries(
      Object.entries(sdk.headers).map(([name, value]) => [name.toLowerCase(), value]),
    );
    expect(headers['x-amz-security-token']).toBe(credentials.sessionToken);
    const request = { method: 'POST', url: path, headers } as unknown as IncomingMessage;
    expect(refuseUnsigned(request, Buffer.from(BODY))).toBeUndefined();
    expect(refuseUnsigned(request, Buffer.from(`${BODY} `))).toMatchObject({
      status: 403,
      errorType: 'InvalidSignatureException',
    });
  });
});
