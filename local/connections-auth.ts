import { createHash, createHmac, hash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { HttpRequest } from '@smithy/protocol-http';
import { SignatureV4 } from '@smithy/signature-v4';
import aws4 from 'aws4';
import { LOCAL_AWS_ENV } from './dynamodb';

// The `@connections` API accepts only what AWS accepts: requests SigV4-signed (service execute-api)
// with the local credentials. Browsers are refused outright, so no web page open on this machine can
// post to or close anyone's connection.

/** SHA-256 and its HMAC from node:crypto, in the shape the SDK's signer wants. */
export class NodeSha256 {
  private readonly hash;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    this.hash = secret
      ? createHmac('sha256', typeof secret === 'string' ? secret : Buffer.from(secret as ArrayBuffer))
      : createHash('sha256');
  }
  update(data: string | Uint8Array): void {
    this.hash.update(data);
  }
  async digest(): Promise<Uint8Array> {
    return this.hash.digest();
  }
}

/** Read once: checked on every `@connections` request. */
const LOCAL_CREDENTIALS = {
  accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
  secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
};

/** The signer the AWS SDK would use with the local credentials (for callers that do not use the SDK). */
const sdkSigner = new SignatureV4({
  credentials: LOCAL_CREDENTIALS,
  region: LOCAL_AWS_ENV.AWS_REGION,
  service: 'execute-api',
  sha256: NodeSha256,
  applyChecksum: true,
});

export interface Refusal {
  status: number;
  errorType: string;
  message: string;
}

const AUTHORIZATION =
  /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/([^/]+)\/aws4_request,\s*SignedHeaders=([a-z0-9;-]+),\s*Signature=([0-9a-f]{64})$/;

/** `20261128T061500Z` → a Date. */
function amzDate(text: string | undefined): Date | undefined {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(text ?? '');
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s] = match.map(Number) as number[];
  return new Date(Date.UTC(y!, mo! - 1, d!, h!, mi!, s!));
}

const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

function invalid(message: string): Refusal {
  return { status: 403, errorType: 'InvalidSignatureException', message };
}

/**
 * Why AWS would refuse this `@connections` request, or undefined when it is signed with the local
 * credentials. The signature is recomputed over the headers the client signed.
 */
export function refuseUnsigned(req: IncomingMessage, body: Buffer): Refusal | undefined {
  if (req.headers.origin !== undefined)
    return { status: 403, errorType: 'ForbiddenException', message: 'Forbidden' };
  const match = AUTHORIZATION.exec(req.headers.authorization ?? '');
  if (!match) return { status: 403, errorType: 'ForbiddenException', message: 'Forbidden' };
  const [, accessKeyId, , region, service, signedHeaderList, signature] = match as unknown as string[];
  if (accessKeyId !== LOCAL_CREDENTIALS.accessKeyId)
    return {
      status: 403,
      errorType: 'UnrecognizedClientException',
      message: 'The security token included in the request is invalid.',
    };
  if (service !== 'execute-api')
    return invalid(`Credential should be scoped to correct service: 'execute-api'.`);
  const amzDateText = headerValue(req, 'x-amz-date');
  const date = amzDate(amzDateText);
  if (!date) return invalid('Missing or malformed X-Amz-Date.');
  if (Math.abs(Date.now() - date.getTime()) > MAX_CLOCK_SKEW_MS) return invalid('Signature expired.');
  const signedHeaders = signedHeaderList!.split(';');
  const contentHash = headerValue(req, 'x-amz-content-sha256');
  if (
    contentHash !== undefined &&
    contentHash !== 'UNSIGNED-PAYLOAD' &&
    contentHash !== hash('sha256', body, 'hex')
  )
    return invalid('The provided x-amz-content-sha256 header does not match what was computed.');

  const headers: Record<string, string> = {};
  for (const name of signedHeaders) {
    const value = headerValue(req, name);
    if (value === undefined) return invalid(`Signed header ${name} is missing.`);
    headers[name] = value;
  }
  // Checked with aws4, not the SDK's signer: a quarter of its CPU per request, which a fan-out to a big
  // room pays once per member (bench: throughput); and independent of the functions' own signer.
  const expected = new aws4.RequestSigner(
    {
      method: req.method ?? 'GET',
      host: headers.host ?? 'localhost',
      path: req.url ?? '/',
      service,
      region: region!,
      headers,
      body,
      doNotModifyHeaders: true,
    },
    LOCAL_CREDENTIALS,
  );
  expected.datetime = amzDateText!;
  const expectedSignature = expected.signature();
  const same =
    expectedSignature.length === signature!.length &&
    timingSafeEqual(Buffer.from(expectedSignature), Buffer.from(signature!));
  return same
    ? undefined
    : invalid(
        'The request signature we calculated does not match the signature you provided. ' +
          'Check your AWS Secret Access Key and signing method.',
      );
}

/**
 * The headers that sign a request to a local `@connections` URL as the AWS SDK signs it, for callers
 * that do not use the SDK (tests, benchmarks).
 */
export async function signedHeaders(
  url: string,
  method: string,
  body: string | Buffer = '',
): Promise<Record<string, string>> {
  const target = new URL(url);
  const query: Record<string, string> = {};
  for (const [key, value] of target.searchParams) query[key] = value;
  const signed = await sdkSigner.sign(
    new HttpRequest({
      method,
      protocol: 'https:',
      hostname: target.host,
      path: target.pathname,
      query,
      headers: { host: target.host },
      body,
    }),
  );
  return signed.headers as Record<string, string>;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}
