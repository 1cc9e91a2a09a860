import type { ChatStore } from './chat-store';
import { forEachConcurrently } from './concurrency';
import { type ConnectionsApi, isGone, type Payload, payloadOf } from './connections-api';
import { logger } from './logger';
import { membershipFrame, type ServerFrame } from './protocol';

export interface FanoutResult {
  delivered: number;
  /** Recipients whose connection was gone (410): removed from the table, their rooms told. */
  gone: string[];
  /** Recipients that could not be reached for another reason (logged). */
  failed: string[];
}

export interface FanoutDeps {
  store: ChatStore;
  connections: ConnectionsApi;
  concurrency: number;
}

export interface FanoutOptions {
  /**
   * The connection that made the request. It gets its frame after everyone else, straight to it and
   * never from the room index: the index lags on AWS (a fresh join may be missing, a fresh leave still
   * listed), and the requester's frame is its acknowledgement that the others have theirs, which also
   * keeps each sender's messages in order for every reader.
   */
  requester?: string;
  /** What the requester gets instead of `frame` (e.g. an echo with fields only the sender may see). */
  requesterFrame?: ServerFrame;
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
  const members = await deps.store.listRoomMembers(room);
  const result: FanoutResult = { delivered: 0, gone: [], failed: [] };
  const deliver = async (connectionId: string, data: Payload) => {
    try {
      await deps.connections.postPayload(connectionId, data);
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
  };
  const others = members.filter((id) => id !== requester);
  // Serialised (and hashed for signing) once, not once per recipient.
  const payload = payloadOf(frame);
  await forEachConcurrently(others, deps.concurrency, (id) => deliver(id, payload));
  if (requester)
    await deliver(requester, options.requesterFrame ? payloadOf(options.requesterFrame) : payload);
  logger.info('fan-out done', { room, frameType: frame.type, members: members.length, ...summary(result) });
  await forEachConcurrently(result.gone, deps.concurrency, (id) => removeGoneMember(deps, id));
  return result;
}

/**
 * Removes a connection that API Gateway says is gone and tells its rooms. Only the memberships this
 * call deleted are announced, so a member is announced gone once however many fan-outs meet its 410.
 */
async function removeGoneMember(deps: FanoutDeps, connectionId: string): Promise<void> {
  try {
    const { memberships } = await deps.store.removeConnection(connectionId);
    await announceDepartures(deps, memberships);
  } catch (error) {
    logger.warn('could not remove a gone connection', { recipient: connectionId, error: error as Error });
  }
}

/** Rooms told at once when a connection leaves several (each fan-out has its own concurrency). */
const ROOMS_IN_PARALLEL = 4;

/** Tells each room a membership was in that the member left. */
export async function announceDepartures(
  deps: FanoutDeps,
  memberships: Parameters<typeof membershipFrame>[1][],
): Promise<void> {
  await forEachConcurrently(memberships, ROOMS_IN_PARALLEL, async (membership) => {
    await fanOut(deps, membership.roomId, membershipFrame('left', membership));
  });
}

function summary({ delivered, gone, failed }: FanoutResult) {
  return { delivered, gone: gone.length, failed: failed.length };
}
