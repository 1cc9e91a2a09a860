import * as z from 'zod/mini';

// Our own schemas for API Gateway WebSocket events: only what the handlers read, every other field
// allowed through. (Powertools' built-in WebSocket schema rejects real MESSAGE events.)
// Zod Mini: the same validation as classic Zod, but tree-shakable; classic Zod made up 450 KB of the
// layer's 720 KB and about a fifth of every function's module initialisation (see `npm run bench`).

const requestContext = z.looseObject({
  routeKey: z.string(),
  eventType: z.enum(['CONNECT', 'MESSAGE', 'DISCONNECT']),
  connectionId: z.string().check(z.minLength(1)),
  requestId: z.string(),
  domainName: z.string().check(z.minLength(1)),
  stage: z.string().check(z.minLength(1)),
  connectedAt: z.optional(z.number()),
  identity: z.optional(
    z.looseObject({ sourceIp: z.optional(z.string()), userAgent: z.optional(z.string()) }),
  ),
  /** What the `$connect` authorizer allowed (sign-in on): the user's id and display name. */
  authorizer: z.optional(
    z.looseObject({
      principalId: z.optional(z.string()),
      userId: z.optional(z.string()),
      name: z.optional(z.string()),
    }),
  ),
  disconnectStatusCode: z.optional(z.number()),
  disconnectReason: z.optional(z.string()),
});

export const webSocketEvent = z.looseObject({
  requestContext,
  body: z.nullish(z.string()),
  isBase64Encoded: z.optional(z.boolean()),
  queryStringParameters: z.nullish(z.record(z.string(), z.string())),
  headers: z.nullish(z.record(z.string(), z.string())),
});

export type WebSocketEvent = z.infer<typeof webSocketEvent>;

/** What a route handler returns to API Gateway. */
export interface WebSocketResult {
  statusCode: number;
  body?: string;
  headers?: Record<string, string>;
}
