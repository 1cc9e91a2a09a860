import type { Context } from 'aws-lambda';
import { startBatcher } from './batcher';
import { type BatchWindowRef, ChatStore, type MembershipRecord } from './chat-store';
import {
  batcherFunctionName,
  batchWindowMs,
  connectionLifetimeSeconds,
  fanoutConcurrency,
  fanoutFunctionName,
  fanoutShardSize,
  maxRoomsPerConnection,
  messageLifetimeSeconds,
  messageRateLimit,
  queryPageSize,
  tableName,
} from './config';
import { ConnectionsApi, connectionsEndpoint } from './connections-api';
import { dynamoDbClient } from './dynamodb';
import { ChatError } from './errors';
import { announceDepartures, type FanoutDeps, type FanoutOptions, type FanoutResult, fanOut } from './fanout';
import { invokeAsync } from './lambda-invoke';
import { logger } from './logger';
import { membersAnswer } from './presence';
import { errorFrame, type MemberIdentity, type MembersFrame, type ServerFrame } from './protocol';
import { validateRoomId } from './validation';
import { type WebSocketEvent, type WebSocketResult, webSocketEvent } from './websocket-event';

let store: ChatStore | undefined;

/** The runtime's one store, built on first use from the environment. */
export function chatStore(): ChatStore {
  store ??= new ChatStore({
    client: dynamoDbClient(),
    table: tableName(),
    connectionLifetimeSeconds: connectionLifetimeSeconds(),
    messageLifetimeSeconds: messageLifetimeSeconds(),
    pageSize: queryPageSize(),
    maxRoomsPerConnection: maxRoomsPerConnection(),
    messageRateLimit: messageRateLimit(),
    batchWindowMs: batchWindowMs(),
  });
  return store;
}

/**
 * What a fan-out needs, from the environment: `@connections` calls to `endpoint` that stop retrying shortly
 * before this invocation times out; big rooms are sharded when a fan-out function is configured.
 */
export function fanoutDeps(endpoint: string, lambdaContext: Context | undefined): FanoutDeps {
  const functionName = fanoutFunctionName();
  const deadline = invocationDeadline(lambdaContext);
  return {
    store: chatStore(),
    connections: new ConnectionsApi(endpoint, deadline === undefined ? {} : { deadline }),
    concurrency: fanoutConcurrency(),
    ...(functionName
      ? { shards: { size: fanoutShardSize(), invoke: (event) => invokeAsync(functionName, event) } }
      : {}),
  };
}

/** What a route's logic gets: the event, the caller, and the shared services. */
export interface RouteContext {
  event: WebSocketEvent;
  connectionId: string;
  store: ChatStore;
  connections: ConnectionsApi;
  /** Posts a frame to the caller. */
  reply(frame: ServerFrame): Promise<void>;
  /** Posts a frame to every live member of a room (see fanOut). */
  broadcast(room: string, frame: ServerFrame, options?: FanoutOptions): Promise<FanoutResult>;
  /** Tells each room of these memberships that the member left. */
  announceDepartures(memberships: MembershipRecord[]): Promise<void>;
  /** The `members` answer for a room (see membersAnswer). */
  members(room: string, self: MemberIdentity, audience: string[] | undefined): Promise<MembersFrame>;
  /** Starts the batcher of a batching window the request opened (see batcher.ts). */
  startBatcher(window: BatchWindowRef): Promise<void>;
}

type RouteLogic = (context: RouteContext) => Promise<WebSocketResult | undefined>;
type Handler = (event: unknown, context?: Context) => Promise<WebSocketResult>;

/** Time kept back from the invocation's end when retrying throttled POSTs: logging and returning. */
const DEADLINE_MARGIN_MS = 1000;

/** When to stop retrying: shortly before the invocation times out. */
function invocationDeadline(lambdaContext: Context | undefined): number | undefined {
  return lambdaContext
    ? Date.now() + lambdaContext.getRemainingTimeInMillis() - DEADLINE_MARGIN_MS
    : undefined;
}

function routeContext(event: WebSocketEvent, lambdaContext: Context | undefined): RouteContext {
  const connectionId = event.requestContext.connectionId;
  const deps = fanoutDeps(connectionsEndpoint(event), lambdaContext);
  const { connections } = deps;
  return {
    event,
    connectionId,
    store: deps.store,
    connections,
    reply: (frame) => connections.post(connectionId, frame),
    broadcast: (room, frame, options) => fanOut(deps, room, frame, options),
    announceDepartures: (memberships) => announceDepartures(deps, memberships),
    members: (room, self, audience) => membersAnswer(deps, room, self, audience),
    startBatcher: (window) => {
      const functionName = batcherFunctionName();
      return startBatcher(
        deps,
        window,
        functionName ? (event) => invokeAsync(functionName, event) : undefined,
      );
    },
  };
}

/**
 * Wraps a route's logic as a Lambda handler: validates the event, tags every log line with the
 * connection, route and request, and never lets an error escape to API Gateway.
 * On message routes a failure becomes an `error` frame to the caller; on `$connect` an HTTP status.
 */
export function webSocketRoute(logic: RouteLogic): Handler {
  return async (rawEvent, lambdaContext) => {
    const parsed = webSocketEvent.safeParse(rawEvent);
    if (!parsed.success) {
      logger.error('not an API Gateway WebSocket event', { issues: parsed.error.issues });
      return { statusCode: 400, body: 'Bad event' };
    }
    const event = parsed.data;
    const { connectionId, routeKey, requestId, eventType } = event.requestContext;
    if (lambdaContext) logger.addContext(lambdaContext);
    logger.appendKeys({ connectionId, routeKey, requestId });
    try {
      return (await logic(routeContext(event, lambdaContext))) ?? { statusCode: 200 };
    } catch (error) {
      const expected = error instanceof ChatError;
      if (expected) logger.info('request refused', { code: error.code, reason: error.message });
      else logger.error('request failed', { error: error as Error });
      if (eventType === 'CONNECT') {
        // The refused handshake's body says why, as plain text (`curl -i` shows it).
        const headers = { 'Content-Type': 'text/plain; charset=utf-8' };
        return expected
          ? { statusCode: 400, headers, body: error.message }
          : { statusCode: 500, headers, body: 'Internal error' };
      }
      if (eventType === 'MESSAGE') await replyWithError(event, error);
      return { statusCode: expected ? 200 : 500 };
    } finally {
      logger.removeKeys(['connectionId', 'routeKey', 'requestId']);
    }
  };
}

async function replyWithError(event: WebSocketEvent, error: unknown): Promise<void> {
  const { routeKey, connectionId } = event.requestContext;
  const frame = errorFrame(error, {
    ...(routeKey.startsWith('$') ? {} : { action: routeKey }),
    ...(roomOf(event.body) ?? {}),
  });
  try {
    await new ConnectionsApi(connectionsEndpoint(event)).post(connectionId, frame);
  } catch (postError) {
    logger.warn('could not send the error frame', { error: postError as Error });
  }
}

/** The room the request named, if it is a valid room id (never echo arbitrary client text). */
function roomOf(body: string | null | undefined): { room: string } | undefined {
  try {
    return { room: validateRoomId((JSON.parse(body ?? '') as { room?: unknown }).room) };
  } catch {
    return undefined;
  }
}
