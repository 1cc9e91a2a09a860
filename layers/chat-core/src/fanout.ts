import type { ChatStore } from './chat-store';
import { type ConnectionsApi, isGone } from './connections-api';
import { logger } from './logger';
import type { ServerFrame } from './protocol';

export interface FanoutResult {
  delivered: number;
  /** Recipients whose connection was gone (410): removed from the table. */
  gone: string[];
  /** Recipients that could not be reached for another reason (logged). */
  failed: string[];
}

/** Runs `task` over `items` with at most `limit` in flight. */
export async function forEachConcurrently<T>(items: T[], limit: number, task: (item: T) => Promise<void>) {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await task(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Sends one frame to every live member of a room: one paginated Query on the room index, then
 * PostToConnection calls with bounded concurrency. A recipient that is gone is removed with its
 * memberships; any other failure is logged and the rest are still delivered.
 * `last`, if a member, is posted to only after everyone else: their echo doubles as an acknowledgement
 * that the others have the frame, which keeps each sender's messages in order for every reader.
 */
export async function fanOut(
  deps: { store: ChatStore; connections: ConnectionsApi; concurrency: number },
  room: string,
  frame: ServerFrame,
  options: { last?: string; exclude?: string } = {},
): Promise<FanoutResult> {
  const members = await deps.store.listRoomMembers(room);
  const result: FanoutResult = { delivered: 0, gone: [], failed: [] };
  const deliver = async (connectionId: string) => {
    try {
      await deps.connections.post(connectionId, frame);
      result.delivered++;
    } catch (error) {
      if (isGone(error)) {
        result.gone.push(connectionId);
        await deps.store.removeConnection(connectionId).catch((cleanupError: unknown) => {
          logger.warn('could not remove a gone connection', {
            recipient: connectionId,
            error: cleanupError as Error,
          });
        });
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
  const others = members.filter((id) => id !== options.last && id !== options.exclude);
  await forEachConcurrently(others, deps.concurrency, deliver);
  if (options.last && members.includes(options.last)) await deliver(options.last);
  logger.info('fan-out done', { room, frameType: frame.type, members: members.length, ...summary(result) });
  return result;
}

function summary({ delivered, gone, failed }: FanoutResult) {
  return { delivered, gone: gone.length, failed: failed.length };
}
