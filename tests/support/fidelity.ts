import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { WAIT_MS } from './timeouts';
import { eventually, type TestClient } from './ws-client';

// Helpers for the gateway fidelity tests and their fixture app (tests/fixtures/echo-api).

/** API Gateway's ids (connectionId, requestId, messageId): 16 characters, URL-safe, ending in `=`. */
export const ID = /^[A-Za-z0-9_-]{15}=$/;

/** API Gateway's requestTime: `23/Nov/2026:10:17:47 +0000`. */
export const REQUEST_TIME =
  /^\d{2}\/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\/\d{4}:\d{2}:\d{2}:\d{2} \+0000$/;

/** A Lambda proxy event of a WebSocket API, as the fixture handlers report it. */
export interface GatewayEvent {
  headers?: Record<string, string>;
  multiValueHeaders?: Record<string, string[]>;
  queryStringParameters?: Record<string, string>;
  multiValueQueryStringParameters?: Record<string, string[]>;
  body?: string;
  isBase64Encoded: boolean;
  requestContext: {
    routeKey: string;
    eventType: 'CONNECT' | 'MESSAGE' | 'DISCONNECT';
    connectionId: string;
    requestId: string;
    extendedRequestId: string;
    messageId?: string;
    requestTime: string;
    requestTimeEpoch: number;
    connectedAt: number;
    disconnectStatusCode?: number;
    disconnectReason?: string;
    [key: string]: unknown;
  };
}

/**
 * The event the fixture's $connect or $disconnect handler wrote to its table for a connection
 * (polled for up to `timeoutMs`: $disconnect runs after the close), and what else it recorded.
 */
export async function recordedEvent(
  db: DynamoDBClient,
  table: string,
  kind: 'CONNECT' | 'DISCONNECT',
  connectionId: string,
  timeoutMs = WAIT_MS,
): Promise<{ event: GatewayEvent; selfPost?: string }> {
  let found: { event: GatewayEvent; selfPost?: string } | undefined;
  await eventually(async () => {
    const { Item } = await db.send(
      new GetItemCommand({
        TableName: table,
        Key: { pk: { S: `${kind}#${connectionId}` } },
        ConsistentRead: true,
      }),
    );
    if (!Item?.event?.S) throw new Error(`no ${kind} event recorded for ${connectionId}`);
    found = {
      event: JSON.parse(Item.event.S) as GatewayEvent,
      ...(Item.selfPost?.S ? { selfPost: Item.selfPost.S } : {}),
    };
  }, timeoutMs);
  return found!;
}

/** The connection id of a client of the echo fixture, from the event of an `echo` message. */
export async function whoAmI(client: TestClient): Promise<string> {
  const reply = client.next(
    (f) => f.type === 'echo' && (f.event as GatewayEvent).body === '{"action":"echo","who":1}',
  );
  client.send('{"action":"echo","who":1}');
  return String((await reply).connectionId);
}
