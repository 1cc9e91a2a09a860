import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';

// SigV4-signed HTTP requests to AWS APIs, the few the functions make many of (`@connections` POSTs,
// Lambda Invoke), without the SDK's per-request middleware: one signature from the SDK's own signer
// (its signing key cached per day) and one write on a keep-alive socket.

/** A request body serialised once, with its SHA-256 for the signature, to be sent many times. */
export interface Payload {
  body: Buffer;
  sha256: string;
}

export function payloadOf(data: string | Buffer): Payload {
  const body = typeof data === 'string' ? Buffer.from(data) : data;
  return { body, sha256: createHash('sha256').update(body).digest('hex') };
}

/** An AWS error answer, named as the SDK names it (from `x-amzn-ErrorType`); status 0: no answer. */
export class AwsHttpError extends Error {
  constructor(
    name: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

/** SHA-256 and its HMAC from node:crypto, in the shape the signer wants. */
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

/** The execution role's credentials as Lambda provides them, read as the SDK reads them (session token too). */
function environmentCredentials() {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to sign AWS requests');
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  return Promise.resolve({ accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) });
}

export function awsRegion(): string {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('AWS_REGION must be set to sign AWS requests');
  return region;
}

const signers = new Map<string, SignatureV4>();

function signerFor(service: string): SignatureV4 {
  let signer = signers.get(service);
  if (!signer) {
    signer = new SignatureV4({
      service,
      region: () => Promise.resolve(awsRegion()),
      credentials: environmentCredentials,
      sha256: NodeSha256,
      applyChecksum: false,
    });
    signers.set(service, signer);
  }
  return signer;
}

/**
 * Keep-alive sockets, as many as requests in flight (a fan-out's concurrency bounds them), so a request
 * never waits for a socket; idle ones beyond 256 are closed.
 */
const agents = {
  'https:': new https.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 }),
  'http:': new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 }),
};

export interface SignedRequest {
  service: string;
  /** The endpoint: scheme, host, port and a base path. */
  url: URL;
  method: 'GET' | 'POST';
  path: string;
  headers?: Record<string, string>;
  payload?: Payload;
  /** Time for an answer once the request has its socket (never counting a wait for one). */
  timeoutMs: number;
}

export interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** Signs and sends a request; resolves with any HTTP answer, rejects only when there is none. */
export async function signedRequest(request: SignedRequest): Promise<Answer> {
  const { hostname, port, protocol, host } = request.url;
  if (protocol !== 'https:' && protocol !== 'http:')
    throw new Error(`not an http(s) endpoint: ${request.url}`);
  const headers: Record<string, string> = { ...request.headers, host };
  if (request.payload) {
    headers['content-length'] = String(request.payload.body.length);
    headers['x-amz-content-sha256'] = request.payload.sha256;
  }
  const signed = await signerFor(request.service).sign(
    {
      method: request.method,
      protocol,
      hostname,
      port: port ? Number(port) : undefined,
      path: request.path,
      query: {},
      headers,
    },
    { signingDate: new Date() },
  );
  return new Promise((resolve, reject) => {
    const req = (protocol === 'https:' ? https : http).request(
      {
        method: request.method,
        hostname,
        // Explicit, as the SDK gives it: an empty port is not the default one to everything that reads it.
        port: port || (protocol === 'https:' ? 443 : 80),
        path: request.path,
        headers: signed.headers,
        agent: agents[protocol],
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString(),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.on('socket', () => {
      req.setTimeout(request.timeoutMs, () =>
        req.destroy(new AwsHttpError('TimeoutError', 0, `no answer from ${request.url.host} in time`)),
      );
    });
    req.end(request.payload?.body);
  });
}

/** The error an answer outside 2xx stands for. */
export function answerError({ status, headers, body }: Answer): AwsHttpError {
  const type = String(headers['x-amzn-errortype'] ?? '').split(':')[0];
  const name =
    type || (status === 410 ? 'GoneException' : status === 429 ? 'LimitExceededException' : 'Unknown');
  let message = body;
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? body;
  } catch {}
  return new AwsHttpError(name, status, message || `HTTP ${status}`);
}
