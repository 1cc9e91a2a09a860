import type { IncomingMessage, OutgoingHttpHeaders, ServerResponse } from 'node:http';

// The HTTP face of API Gateway's `@connections` management API, shared by the gateway and the recorder.

/** API Gateway's limit on a POSTed message. */
export const POST_MAX_BYTES = 128 * 1024;

/**
 * `/{stage}/@connections/{id}` → its parts, the id percent-decoded (the SDK encodes `=`). A client
 * whose endpoint ends in `/` sends `/{stage}//@connections/{id}`, which AWS serves too.
 * `connectionId` is missing when the id is not valid percent-encoding.
 */
export function parseConnectionsPath(
  url: string | undefined,
): { stage: string; connectionId?: string } | undefined {
  const path = (url ?? '').split('?')[0]!;
  const match = /^\/([^/]+)\/+@connections\/([^/]+)$/.exec(path);
  if (!match) return undefined;
  try {
    return { stage: match[1]!, connectionId: decodeURIComponent(match[2]!) };
  } catch {
    return { stage: match[1]! };
  }
}

/** An answer of the `@connections` API, made before it is sent (it may wait for a simulated latency). */
export interface ApiAnswer {
  status: number;
  headers?: OutgoingHttpHeaders;
  body?: string;
}

/** An error the AWS SDK maps to its exception class: the type travels in `x-amzn-ErrorType`. */
export function apiError(status: number, errorType: string, message: string): ApiAnswer {
  return {
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-ErrorType': errorType },
    body: JSON.stringify({ message }),
  };
}

/** Sends an answer with its length, as AWS does (a bodiless 200 says `content-length: 0`, not chunked). */
export function sendAnswer(res: ServerResponse, { status, headers, body = '' }: ApiAnswer): void {
  // A 204 carries no body and must not carry a length either.
  const length = status === 204 ? {} : { 'content-length': Buffer.byteLength(body) };
  res.writeHead(status, { ...headers, ...length }).end(body);
}

export function sendApiError(res: ServerResponse, status: number, errorType: string, message: string): void {
  sendAnswer(res, apiError(status, errorType, message));
}

/** The request body, or undefined once it passes `limit` bytes (the rest is drained, not buffered). */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size <= limit) chunks.push(chunk);
    });
    req.on('end', () => resolve(size <= limit ? Buffer.concat(chunks) : undefined));
    req.on('error', reject);
  });
}

export interface ConnectionInfo {
  connectedAt: number;
  lastActiveAt: number;
  sourceIp: string;
  userAgent: string;
}

/** GetConnection's answer. */
export function connectionInfoBody(info: ConnectionInfo): string {
  return JSON.stringify({
    connectedAt: new Date(info.connectedAt).toISOString(),
    lastActiveAt: new Date(info.lastActiveAt).toISOString(),
    identity: { sourceIp: info.sourceIp, userAgent: info.userAgent },
  });
}

/** The answer to an id that is not valid percent-encoding. */
export function sendInvalidConnectionId(res: ServerResponse): void {
  sendApiError(res, 400, 'BadRequestException', 'Invalid connection id');
}
