import { z } from 'zod';

// Our own schemas for API Gateway WebSocket events: only what the handlers read, every other field
// allowed through. (Powertools' built-in WebSocket schema rejects real MESSAGE events.)

const requestContext = z.looseObject({
  routeKey: z.string(),
  eventType: z.enum(['CONNECT', 'MESSAGE', 'DISCONNECT']),
  connectionId: z.string().min(1),
  requestId: z.string(),
  domainName: z.string().min(1),
  stage: z.string().min(1),
  connectedAt: z.number().optional(),
  identity: z.looseObject({ sourceIp: z.string().optional(), userAgent: z.string().optional() }).optional(),
  disconnectStatusCode: z.number().optional(),
  disconnectReason: z.string().optional(),
});

export const webSocketEvent = z.looseObject({
  requestContext,
  body: z.string().nullish(),
  isBase64Encoded: z.boolean().optional(),
  queryStringParameters: z.record(z.string(), z.string()).nullish(),
  headers: z.record(z.string(), z.string()).nullish(),
});

export type WebSocketEvent = z.infer<typeof webSocketEvent>;

/** What a route handler returns to API Gateway. */
export interface WebSocketResult {
  statusCode: number;
  body?: string;
  headers?: Record<string, string>;
}
