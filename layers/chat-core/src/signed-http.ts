import { createHash, createHmac, hash } from 'node:crypto';
import Pool from 'undici/lib/dispatcher/pool';

// SigV4-signed HTTP requests to AWS APIs, the few the functions make many of (`@connections` POSTs,
// Lambda Invoke), without the SDK's per-request middleware: one signature (the signing key derived once
// a day) and one write on a keep-alive connection.

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

/** The execution role's credentials as Lambda provides them, read as the SDK reads them (session token too). */
function environmentCredentials() {
  const accessKeyId = process.env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = process.env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey)
    throw new Error('AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY must be set to sign AWS requests');
  return { accessKeyId, secretAccessKey, sessionToken: process.env.AWS_SESSION_TOKEN || undefined };
}

export function awsRegion(): string {
  const region = process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION;
  if (!region) throw new Error('AWS_REGION must be set to sign AWS requests');
  return region;
}

/** What requests alike but for their path are signed over: lower-case header names. */
export interface RequestShape {
  method: string;
  headers: Record<string, string>;
  /** Hex SHA-256 of the body (sent as x-amz-content-sha256 too). */
  payloadSha256: string;
}

/**
 * AWS Signature Version 4 (AWS4-HMAC-SHA256) of requests without a query string. The SDK's signer
 * (@smithy/signature-v4) cost about 90 us of CPU per `@connections` POST in its promise chain, request
 * clone and header scans, and kept the POST above the 200 us budget (bench: clientCpu); here the parts
 * requests share are prepared once a second, and each request costs one SHA-256 and one HMAC.
 * tests/unit/signed-http.test.ts checks it signs as the SDK's signer does.
 */
export class SigV4Signer {
  private key?: { scope: string; secret: string; bytes: Buffer };

  constructor(
    private readonly service: string,
    private readonly region: string = awsRegion(),
    private readonly credentials: () => ReturnType<typeof environmentCredentials> = environmentCredentials,
  ) {}

  /** Signs requests of one shape within the second `now` is in. */
  prepare(shape: RequestShape, now = Date.now()): PreparedSigner {
    const { accessKeyId, secretAccessKey, sessionToken } = this.credentials();
    const second = Math.floor(now / 1000);
    const amzDate = new Date(second * 1000).toISOString().replace(/[-:]|\.000/g, '');
    const headers: Record<string, string> = {
      ...shape.headers,
      'x-amz-content-sha256': shape.payloadSha256,
      'x-amz-date': amzDate,
    };
    if (sessionToken) headers['x-amz-security-token'] = sessionToken;
    const names = Object.keys(headers).sort();
    const signedHeaders = names.join(';');
    const canonicalHeaders = names.map((name) => `${name}:${headers[name]!.trim().replace(/\s+/g, ' ')}\n`);
    const key = this.signingKey(secretAccessKey, amzDate.slice(0, 8));
    return new PreparedSigner(second, {
      method: shape.method,
      afterPath: `\n\n${canonicalHeaders.join('')}\n${signedHeaders}\n${shape.payloadSha256}`,
      stringToSignPrefix: `AWS4-HMAC-SHA256\n${amzDate}\n${key.scope}\n`,
      key: key.bytes,
      headers,
      authorizationPrefix: `AWS4-HMAC-SHA256 Credential=${accessKeyId}/${key.scope}, SignedHeaders=${signedHeaders}, Signature=`,
    });
  }

  /** The day's key, derived once a day (and again if the credentials change). */
  private signingKey(secret: string, day: string): { scope: string; bytes: Buffer } {
    const scope = `${day}/${this.region}/${this.service}/aws4_request`;
    if (this.key?.scope !== scope || this.key.secret !== secret) {
      let bytes: Buffer = Buffer.from(`AWS4${secret}`);
      for (const part of [day, this.region, this.service, 'aws4_request'])
        bytes = createHmac('sha256', bytes).update(part).digest();
      this.key = { scope, secret, bytes };
    }
    return this.key;
  }
}

/** What one shape's signatures share within a second. */
export class PreparedSigner {
  constructor(
    /** Epoch second the signatures are dated. */
    readonly second: number,
    private readonly parts: {
      method: string;
      /** The canonical request after its path. */
      afterPath: string;
      stringToSignPrefix: string;
      key: Buffer;
      headers: Record<string, string>;
      authorizationPrefix: string;
    },
  ) {}

  /** The signed headers every request of the shape carries (all but `authorization`). */
  get headers(): Readonly<Record<string, string>> {
    return this.parts.headers;
  }

  /** The `authorization` header for `path` (as sent: segments URI-encoded). */
  authorization(path: string): string {
    const { method, afterPath, stringToSignPrefix, key, authorizationPrefix } = this.parts;
    const canonicalRequestHash = hash('sha256', `${method}\n${canonicalPath(path)}${afterPath}`, 'hex');
    const signature = createHmac('sha256', key)
      .update(stringToSignPrefix + canonicalRequestHash)
      .digest('hex');
    return authorizationPrefix + signature;
  }
}

/**
 * The canonical URI of services other than S3: the path normalised (no empty, `.` or `..` segments)
 * and URI-encoded once more, its slashes kept.
 */
function canonicalPath(path: string): string {
  // Most paths have nothing to normalise: this runs once per request.
  const normalized = /\/\.{0,2}(?:\/|$)/.test(path) ? normalizedPath(path) : path;
  return uriEscape(normalized).replaceAll('%2F', '/');
}

function normalizedPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const trailing = segments.length > 0 && path.endsWith('/') ? '/' : '';
  return `${path.startsWith('/') ? '/' : ''}${segments.join('/')}${trailing}`;
}

/** RFC 3986 escaping: encodeURIComponent leaves `!'()*` alone. */
function uriEscape(text: string): string {
  const escaped = encodeURIComponent(text);
  return /[!'()*]/.test(escaped)
    ? escaped.replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    : escaped;
}

const signers = new Map<string, SigV4Signer>();

function signerFor(service: string, region: string): SigV4Signer {
  const name = `${service} ${region}`;
  let signer = signers.get(name);
  if (!signer) {
    signer = new SigV4Signer(service, region);
    signers.set(name, signer);
  }
  return signer;
}

/**
 * Keep-alive connections per endpoint, as many as requests in flight (a fan-out's concurrency bounds
 * them), so a request never waits for one. undici's pool: about half the CPU per request of `node:http`
 * (bench: clientCpu). Only the pool is loaded: undici's index also loads fetch, WebSocket and more (twice
 * the layer's size for nothing used).
 */
const pools = new Map<string, Pool>();

function poolFor(url: URL): Pool {
  let pool = pools.get(url.origin);
  if (!pool) {
    pool = new Pool(url.origin);
    pools.set(url.origin, pool);
  }
  return pool;
}

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** The SHA-256 of an empty body. */
const EMPTY_SHA256 = hash('sha256', '', 'hex');

export interface RequestTemplate {
  service: string;
  /** The endpoint: scheme, host and port. */
  url: URL;
  method: 'GET' | 'POST';
  headers?: Record<string, string>;
  payload?: Payload;
  /** Time for an answer once the request is written (never counting a wait for a connection). */
  timeoutMs: number;
}

/**
 * Requests to one endpoint alike but for their path (one frame to many connections): signed with what
 * they share prepared once a second, sent on keep-alive connections.
 */
export class SignedRequests {
  private readonly pool: Pool;
  private readonly shape: RequestShape;
  private readonly signer: SigV4Signer;
  /** This second's signer and its headers as a raw list (`[name, value, ...]`). */
  private prepared?: { signer: PreparedSigner; rawHeaders: string[] };

  constructor(private readonly template: RequestTemplate) {
    const { protocol, host } = template.url;
    if (protocol !== 'https:' && protocol !== 'http:')
      throw new Error(`not an http(s) endpoint: ${template.url}`);
    const { payload } = template;
    this.pool = poolFor(template.url);
    this.shape = {
      method: template.method,
      headers: payload
        ? { ...template.headers, host, 'content-length': String(payload.body.length) }
        : { ...template.headers, host },
      payloadSha256: payload?.sha256 ?? EMPTY_SHA256,
    };
    this.signer = signerFor(template.service, awsRegion());
  }

  /** Signs and sends one request; resolves with any HTTP answer, rejects only when there is none. */
  send(path: string): Promise<Answer> {
    const now = Date.now();
    if (this.prepared?.signer.second !== Math.floor(now / 1000)) {
      const signer = this.signer.prepare(this.shape, now);
      this.prepared = { signer, rawHeaders: Object.entries(signer.headers).flat() };
    }
    const { signer, rawHeaders } = this.prepared;
    const { method, payload, timeoutMs, url } = this.template;
    return new Promise((resolve, reject) => {
      let answer: Answer;
      const chunks: Buffer[] = [];
      this.pool.dispatch(
        {
          method,
          path,
          headers: [...rawHeaders, 'authorization', signer.authorization(path)],
          body: payload?.body ?? null,
          headersTimeout: timeoutMs,
          bodyTimeout: timeoutMs,
        },
        {
          // undici takes a handler as one of this (current) shape only when it has onRequestStart.
          onRequestStart: () => {},
          onResponseStart: (_, status, headers) => {
            answer = { status, headers, body: '' };
          },
          onResponseData: (_, chunk) => {
            chunks.push(chunk);
          },
          onResponseEnd: () => {
            if (chunks.length > 0) answer.body = Buffer.concat(chunks).toString();
            resolve(answer);
          },
          onResponseError: (_, error) => {
            const code = (error as { code?: string }).code;
            reject(
              code === 'UND_ERR_HEADERS_TIMEOUT' || code === 'UND_ERR_BODY_TIMEOUT'
                ? new AwsHttpError('TimeoutError', 0, `no answer from ${url.host} in time`)
                : error,
            );
          },
        },
      );
    });
  }
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
