import { randomBytes } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

// API Gateway WebSocket events, shaped as AWS sends them to a Lambda proxy integration.

/** Ids in API Gateway's shape: 16 characters, URL-safe base64 ending in `=` (e.g. `L0SM9cOFvHcCIhw=`). */
export function gatewayId(): string {
  return `${randomBytes(11).toString('base64url')}=`;
}

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const pad = (n: number) => String(n).padStart(2, '0');

/** `13/Dec/2020:10:17:47 +0000`, API Gateway's requestTime format. */
export function requestTime(epochMs: number): string {
  const d = new Date(epochMs);
  return `${pad(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${pad(d.getUTCHours())}:${pad(
    d.getUTCMinutes(),
  )}:${pad(d.getUTCSeconds())} +0000`;
}

/** What the gateway knows of a connection, from its upgrade request. */
export interface ConnectionIdentity {
  connectionId: string;
  connectedAt: number;
  sourceIp: string;
  userAgent: string;
  /** What the `$connect` authorizer allowed: `principalId` and its context, on every later event. */
  authorizer?: Record<string, unknown>;
}

export interface ApiContext {
  apiId: string;
  stage: string;
  /** The host clients reach the API at, port included (`localhost:3001`). */
  domainName: string;
}

function requestContext(
  api: ApiContext,
  connection: ConnectionIdentity,
  routeKey: string,
  eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT',
  extra: Record<string, unknown> = {},
) {
  const requestId = gatewayId();
  const now = Date.now();
  return {
    routeKey,
    eventType,
    ...(eventType === 'MESSAGE' ? { messageId: gatewayId() } : {}),
    extendedRequestId: requestId,
    requestTime: requestTime(now),
    messageDirection: 'IN',
    stage: api.stage,
    connectedAt: connection.connectedAt,
    requestTimeEpoch: now,
    identity: { sourceIp: connection.sourceIp, userAgent: connection.userAgent },
    requestId,
    domainName: api.domainName,
    connectionId: connection.connectionId,
    apiId: api.apiId,
    ...(connection.authorizer ? { authorizer: connection.authorizer } : {}),
    ...extra,
  };
}

function multiValue<T>(record: Record<string, T>): Record<string, T[]> {
  return Object.fromEntries(Object.entries(record).map(([key, value]) => [key, [value]]));
}

export function connectEvent(api: ApiContext, connection: ConnectionIdentity, request: IncomingMessage) {
  const headers: Record<string, string> = {};
  // Header names keep the client's casing, as API Gateway forwards them.
  for (let i = 0; i < request.rawHeaders.length; i += 2)
    headers[request.rawHeaders[i]!] = request.rawHeaders[i + 1]!;
  delete headers.Connection;
  delete headers.connection;
  delete headers.Upgrade;
  delete headers.upgrade;
  Object.assign(headers, {
    Host: api.domainName,
    'X-Amzn-Trace-Id': `Root=1-${Math.floor(Date.now() / 1000).toString(16)}-${randomBytes(12).toString('hex')}`,
    'X-Forwarded-For': connection.sourceIp,
    'X-Forwarded-Port': api.domainName.split(':')[1] ?? '443',
    'X-Forwarded-Proto': 'https',
  });
  const url = new URL(request.url ?? '/', 'http://localhost');
  const query: Record<string, string> = {};
  const multiQuery: Record<string, string[]> = {};
  for (const [key, value] of url.searchParams) {
    query[key] = value;
    multiQuery[key] = [...(multiQuery[key] ?? []), value];
  }
  const hasQuery = url.search.length > 1;
  return {
    headers,
    multiValueHeaders: multiValue(headers),
    ...(hasQuery ? { queryStringParameters: query, multiValueQueryStringParameters: multiQuery } : {}),
    requestContext: requestContext(api, connection, '$connect', 'CONNECT'),
    isBase64Encoded: false,
  };
}

export function messageEvent(
  api: ApiContext,
  connection: ConnectionIdentity,
  routeKey: string,
  body: string,
) {
  return {
    requestContext: requestContext(api, connection, routeKey, 'MESSAGE'),
    body,
    isBase64Encoded: false,
  };
}

export function disconnectEvent(
  api: ApiContext,
  connection: ConnectionIdentity,
  statusCode: number,
  reason: string,
) {
  const headers = { Host: api.domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' };
  return {
    headers,
    multiValueHeaders: multiValue(headers),
    requestContext: requestContext(api, connection, '$disconnect', 'DISCONNECT', {
      disconnectStatusCode: statusCode,
      disconnectReason: reason,
    }),
    isBase64Encoded: false,
  };
}
