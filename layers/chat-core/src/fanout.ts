import type { ChatStore } from './chat-store';
import { forEachConcurrently } from './concurrency';
import { type ConnectionsApi, framePayload, isGone, type Payload } from './connections-api';
import { logger } from './logger';
import { membershipFrame, PRESENCE_LIST_LIMIT, type ServerFrame } from './protocol';

export interface FanoutResult {
  delivered: number;
  /** Recipients whose connection was gone (410): removed from the table, their rooms told. */
  gone: string[];
  /** Recipients that could not be reached for another reason (logged). */
  failed: string[];
  /** Recipients handed to fan-out function invocations (their results are in those invocations' logs). */
  handedOff: number;
}

/** One shard of a big room's fan-out: what the fan-out function is invoked with. */
export interface ShardEvent {
  /** The stage's `@connections` endpoint. */
  endpoint: string;
  room: string;
  frame: ServerFrame;
  members: string[];
}

export interface FanoutDeps {
  store: ChatStore;
  connections: ConnectionsApi;
  concurrency: number;
  /**
   * Rooms with more members than `size` are split into shards of `size`, each posted to by an
   * asynchronous invocation of the fan-out function.
   */
  shards?: { size: number; invoke(event: ShardEvent): Promise<void> };
}

export interface FanoutOptions {
  /**
   * The connection that made the request. It gets its frame after everyone else, straight to it and
   * never from the room index: the index lags on AWS (a fresh join may be missing, a fresh leave still
   * listed), and the requester's frame is its acknowledgement that the others have theirs, which also
   * keeps each sender's messages in order for every reader. In a sharded room it says only that the
   * shards are queued with Lambda.
   */
  requester?: string;
  /**
   * What the requester gets instead of `frame` (e.g. an echo with fields only the sender may see); null:
   * nothing (its own `typing`).
   */
  requesterFrame?: ServerFrame | null;
  /**
   * Connections that get a copy of their own after everyone else, straight to them, as the requester
   * does: a batch's senders, whose copies carry their `clientMsgId`s.
   */
  echoes?: Map<string, ServerFrame>;
  /** The room's members, when the caller has read them already (see presenceAudience); else the index is read. */
  recipients?: string[];
}

/**
 * Sends one frame to every live member of a room: one paginated Query on the room index, then
 * PostToConnection calls with bounded concurrency. A recipient that is gone is removed with its
 * memberships, and each room it was in hears `left` for it; any other failure is logged and the rest
 * are still delivered.
 */
export async function fanOut(
  deps: FanoutDeps,
  room: string,
  frame: ServerFrame,
  options: FanoutOptions = {},
): Promise<FanoutResult> {
  const { requester } = options;
  const members = options.recipients ?? (await deps.store.listRoomMembers(room));
  const echoes = options.echoes ?? new Map<string, ServerFrame>();
  const others = members.filter((id) => id !== requester && !echoes.has(id));
  const result: FanoutResult = { delivered: 0, gone: [], failed: [], handedOff: 0 };
  const { shards } = deps;
  const sharded = shards !== undefined && others.length > shards.size;
  // A sharded room is posted to by shard invocations only: this one stays short whatever the room's size.
  const own = sharded ? [] : others;
  await forEachConcurrently(sharded ? chunks(others, shards.size) : [], SHARDS_IN_PARALLEL, async (shard) => {
    try {
      await shards!.invoke({ endpoint: deps.connections.endpoint, room, frame, members: shard });
      result.handedOff += shard.length;
    } catch (error) {
      // Lambda did not take the shard: this invocation posts to it instead.
      logger.warn('could not hand a shard to the fan-out function', { room, error: error as Error });
      own.push(...shard);
    }
  });
  // Serialised (and hashed for signing) once, not once per recipient.
  const payload = framePayload(frame);
  const postingStarted = performance.now();
  await postToAll(deps, room, own, payload, result);
  await forEachConcurrently([...echoes], deps.concurrency, ([connectionId, echo]) =>
    postToAll(deps, room, [connectionId], framePayload(echo), result),
  );
  if (requester && options.requesterFrame !== null)
    await postToAll(
      deps,
      room,
      [requester],
      options.requesterFrame ? framePayload(options.requesterFrame) : payload,
      result,
    );
  logger.info('fan-out done', {
    room,
    frameType: frame.type,
    members: members.length,
    ...summary(result),
    // From the first POST to the last answer: with the network's round trip, what bounds a big room.
    postingMs: Math.round(performance.now() - postingStarted),
  });
  await forEachConcurrently(result.gone, deps.concurrency, (id) => removeGoneMember(deps, id));
  return result;
}

/** The fan-out function's work: one shard of a room's members, gone ones removed and announced. */
export async function fanOutShard(deps: FanoutDeps, event: ShardEvent): Promise<FanoutResult> {
  const result: FanoutResult = { delivered: 0, gone: [], failed: [], handedOff: 0 };
  const postingStarted = performance.now();
  await postToAll(deps, event.room, event.members, framePayload(event.frame), result);
  logger.info('shard fan-out done', {
    room: event.room,
    frameType: event.frame.type,
    members: event.members.length,
    ...summary(result),
    postingMs: Math.round(performance.now() - postingStarted),
  });
  await forEachConcurrently(result.gone, deps.concurrency, (id) => removeGoneMember(deps, id));
  return result;
}

/** Shard invocations requested at once. */
const SHARDS_IN_PARALLEL = 8;

function chunks<T>(items: T[], size: number): T[][] {
  return Array.from({ length: Math.ceil(items.length / size) }, (_, i) =>
    items.slice(i * size, (i + 1) * size),
  );
}

/** Posts one payload to each recipient with bounded concurrency; failures are sorted into the result. */
async function postToAll(
  deps: FanoutDeps,
  room: string,
  recipients: string[],
  payload: Payload,
  result: FanoutResult,
): Promise<void> {
  await forEachConcurrently(recipients, deps.concurrency, async (connectionId) => {
    try {
      await deps.connections.postPayload(connectionId, payload);
      result.delivered++;
    } catch (error) {
      if (isGone(error)) {
        result.gone.push(connectionId);
      } else {
        result.failed.push(connectionId);
        logger.warn('could not deliver to a room member', {
          recipient: connectionId,
          room,
          error: error as Error,
        });
      }
    }
  });
}

/**
 * Removes a connection that API Gateway says is gone and tells its rooms. Only the memberships this
 * call deleted are announced, so a member is announced gone once however many fan-outs meet its 410.
 */
export async function removeGoneMember(deps: FanoutDeps, connectionId: string): Promise<void> {
  try {
    const { memberships } = await deps.store.removeConnection(connectionId);
    await announceDepartures(deps, memberships);
  } catch (error) {
    logger.warn('could not remove a gone connection', { recipient: connectionId, error: error as Error });
  }
}

/** Rooms told at once when a connection leaves several (each fan-out has its own concurrency). */
const ROOMS_IN_PARALLEL = 4;

/** Tells each room a membership was in that the member left (rooms up to PRESENCE_LIST_LIMIT members). */
export async function announceDepartures(
  deps: FanoutDeps,
  memberships: Parameters<typeof membershipFrame>[1][],
): Promise<void> {
  await forEachConcurrently(memberships, ROOMS_IN_PARALLEL, async (membership) => {
    const recipients = await presenceAudience(deps.store, membership.roomId);
    if (recipients)
      await fanOut(deps, membership.roomId, membershipFrame('left', membership), { recipients });
  });
}

/**
 * Who hears of a room's presence changes (`joined`, `left`, `typing`): its members, read with a bounded
 * Query, or undefined (nobody but the requester) above PRESENCE_LIST_LIMIT.
 */
export async function presenceAudience(store: ChatStore, room: string): Promise<string[] | undefined> {
  const members = await store.listRoomMembers(room, PRESENCE_LIST_LIMIT + 1);
  return members.length > PRESENCE_LIST_LIMIT ? undefined : members;
}

function summary({ delivered, gone, failed, handedOff }: FanoutResult) {
  return { delivered, gone: gone.length, failed: failed.length, handedOff };
}
