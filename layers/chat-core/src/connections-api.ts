import { createHash, createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { SignatureV4 } from '@smithy/signature-v4';
import { connectionsEndpointOverride } from './config';
import type { ServerFrame } from './protocol';
import type { WebSocketEvent } from './websocket-event';

// A lean client for the `@connections` management API. The SDK's client spends about 0.8 ms of CPU per
// POST (middleware stack, per-request config copies, serialisation); a fan-out posts the same bytes to
// thousands of connections, so here each request is one SigV4 signature from the SDK's own signer (the
// body's hash computed once per frame, the signing key cached by the signer) and one write on a
// keep-alive socket.

export interface ConnectionStatus {
  connectedAt?: string;
  lastActiveAt?: string;
  identity: { sourceIp?: string; userAgent?: string };
}

/** An error answer of the management API, named as the SDK names it (from `x-amzn-ErrorType`). */
export class ConnectionsApiError extends Error {
  constructor(
    name: string,
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = name;
  }
}

/** A frame serialised once, with its body hash, for posting to many connections. */
export interface Payload {
  body: Buffer;
  sha256: string;
}

export function payloadOf(frame: ServerFrame): Payload {
  const body = Buffer.from(JSON.stringify(frame));
  return { body, sha256: createHash('sha256').update(body).digest('hex') };
}

/** SHA-256 and its HMAC from node:crypto, in the shape the signer wants. */
class NodeSha256 {
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

/** Lambda's execution role credentials, read as the SDK reads them (the session token included). */
function environmentCredentials() {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to sign @connections calls');
  const sessionToken = process.env.AWS_SESSION_TOKEN;
  return Promise.resolve({ accessKeyId, secretAccessKey, ...(sessionToken ? { sessionToken } : {}) });
}

const signer = new SignatureV4({
  service: 'execute-api',
  region: () => {
    const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
    if (!region) throw new Error('AWS_REGION must be set to sign @connections calls');
    return Promise.resolve(region);
  },
  credentials: environmentCredentials,
  sha256: NodeSha256,
  applyChecksum: false,
});

/**
 * Keep-alive sockets, as many as requests in flight (a fan-out's concurrency bounds them), so a request
 * never waits for a socket; idle ones beyond 256 are closed.
 */
const agents = {
  'https:': new https.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 }),
  'http:': new http.Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY, maxFreeSockets: 256 }),
};

/** Time for one request once it has its socket: API Gateway answers a healthy POST in milliseconds. */
const REQUEST_TIMEOUT_MS = 1500;

/** 429s are retried with full-jitter backoff from this base, doubling up to the cap. */
const THROTTLE_BACKOFF_MS = { base: 25, cap: 1000 };
/** Without a deadline (no Lambda context), how many times a throttled POST is tried. */
const THROTTLE_ATTEMPTS_WITHOUT_DEADLINE = 8;

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** The stage's `@connections` endpoint: the override if configured, else `https://{domainName}/{stage}`. */
export function connectionsEndpoint(event: WebSocketEvent): string {
  const { domainName, stage } = event.requestContext;
  return connectionsEndpointOverride() ?? `https://${domainName}/${stage}`;
}

export interface ConnectionsApiOptions {
  /** Epoch ms after which throttled POSTs are no longer retried (the invocation's end, less a margin). */
  deadline?: number;
}

/** Pushes frames to clients and reads their status through the management API. */
export class ConnectionsApi {
  private readonly url: URL;
  private readonly basePath: string;

  constructor(
    endpoint: string,
    private readonly options: ConnectionsApiOptions = {},
  ) {
    this.url = new URL(endpoint);
    if (this.url.protocol !== 'https:' && this.url.protocol !== 'http:')
      throw new Error(`@connections endpoint must be http(s), got ${endpoint}`);
    this.basePath = this.url.pathname.replace(/\/+$/, '');
  }

  async post(connectionId: string, frame: ServerFrame): Promise<void> {
    await this.postPayload(connectionId, payloadOf(frame));
  }

  /**
   * PostToConnection with a payload serialised once for the whole fan-out. A 429 (API Gateway's account
   * throttle) is retried with jittered backoff while the deadline allows; a 5xx or a network error once.
   */
  async postPayload(connectionId: string, payload: Payload): Promise<void> {
    let throttled = 0;
    let failed = 0;
    for (;;) {
      try {
        await this.call('POST', connectionId, payload);
        return;
      } catch (error) {
        if (isThrottled(error)) {
          const delay =
            Math.random() * Math.min(THROTTLE_BACKOFF_MS.cap, THROTTLE_BACKOFF_MS.base * 2 ** throttled);
          throttled++;
          const { deadline } = this.options;
          const allowed =
            deadline === undefined
              ? throttled < THROTTLE_ATTEMPTS_WITHOUT_DEADLINE
              : Date.now() + delay < deadline;
          if (!allowed) throw error;
          await new Promise((resolve) => setTimeout(resolve, delay));
        } else if (isRetryable(error) && failed++ === 0) {
          // once, at once: like the SDK's retry of a 5xx or a dropped socket
        } else {
          throw error;
        }
      }
    }
  }

  /** GetConnection, in the protocol's own field names. */
  async get(connectionId: string): Promise<ConnectionStatus> {
    const info = JSON.parse(await this.call('GET', connectionId)) as {
      connectedAt?: string;
      lastActiveAt?: string;
      identity?: { sourceIp?: string; userAgent?: string };
    };
    return {
      connectedAt: info.connectedAt,
      lastActiveAt: info.lastActiveAt,
      identity: { sourceIp: info.identity?.sourceIp, userAgent: info.identity?.userAgent },
    };
  }

  private async call(method: 'GET' | 'POST', connectionId: string, payload?: Payload): Promise<string> {
    const { hostname, port, protocol, host } = this.url;
    const path = `${this.basePath}/@connections/${encodeURIComponent(connectionId)}`;
    const headers: Record<string, string> = { host };
    if (payload) {
      headers['content-type'] = 'application/octet-stream';
      headers['content-length'] = String(payload.body.length);
      headers['x-amz-content-sha256'] = payload.sha256;
    }
    const signed = await signer.sign(
      { method, protocol, hostname, port: port ? Number(port) : undefined, path, query: {}, headers },
      { signingDate: new Date() },
    );
    const answer = await request(
      protocol as keyof typeof agents,
      { method, hostname, port, path, headers: signed.headers },
      payload?.body,
    );
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    throw answerError(answer);
  }
}

function request(
  protocol: keyof typeof agents,
  options: http.RequestOptions,
  body: Buffer | undefined,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = (protocol === 'https:' ? https : http).request(
      { ...options, agent: agents[protocol] },
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
    // Timed from the moment the request has a socket, never while it waits for one.
    req.on('socket', () => {
      req.setTimeout(REQUEST_TIMEOUT_MS, () =>
        req.destroy(new ConnectionsApiError('TimeoutError', 0, 'no answer from @connections in time')),
      );
    });
    req.end(body);
  });
}

function answerError({ status, headers, body }: Answer): ConnectionsApiError {
  const type = String(headers['x-amzn-errortype'] ?? '').split(':')[0];
  const name =
    type || (status === 410 ? 'GoneException' : status === 429 ? 'LimitExceededException' : 'Unknown');
  let message = body;
  try {
    message = (JSON.parse(body) as { message?: string }).message ?? body;
  } catch {}
  return new ConnectionsApiError(name, status, message || `HTTP ${status}`);
}

/** A connection API Gateway no longer has (410). */
export function isGone(error: unknown): boolean {
  return error instanceof Error && error.name === 'GoneException';
}

/** API Gateway's account-level throttle (shared by messages and `@connections` calls). */
export function isThrottled(error: unknown): boolean {
  return error instanceof ConnectionsApiError && error.statusCode === 429;
}

/** A server error or a failed socket: worth one more try. */
function isRetryable(error: unknown): boolean {
  if (error instanceof ConnectionsApiError) return error.statusCode >= 500 || error.statusCode === 0;
  return error instanceof Error && 'code' in error; // ECONNRESET, ECONNREFUSED, ...
}
