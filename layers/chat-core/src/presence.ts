import { forEachConcurrently } from './concurrency';
import { isGone } from './connections-api';
import { type FanoutDeps, removeGoneMember } from './fanout';
import { logger } from './logger';
import { LIVENESS_MS, type MemberIdentity, type MembersFrame, membersFrame } from './protocol';

/**
 * The `members` answer for a room, from its members as presenceAudience read them (undefined: more than
 * PRESENCE_LIST_LIMIT, so only a count). `self`, the connection asking, is listed even when the room index
 * (a GSI, eventually consistent) has not caught up with its join yet. Members are read from their
 * connection items (one BatchGetItem); one that has not pinged for LIVENESS_MS is asked after at API
 * Gateway first, and a gone one is removed (its rooms hear `left`) instead of listed.
 */
export async function membersAnswer(
  deps: FanoutDeps,
  room: string,
  self: MemberIdentity,
  audience: string[] | undefined,
): Promise<MembersFrame> {
  if (!audience) return membersFrame(room, { count: await deps.store.countRoomMembers(room) });
  const others = await deps.store.getConnections(audience.filter((id) => id !== self.connectionId));
  const silentSince = deps.store.now() - LIVENESS_MS;
  const gone = new Set<string>();
  const silent = others.filter((member) => (member.seenAt ?? member.connectedAt) < silentSince);
  await forEachConcurrently(silent, deps.concurrency, async ({ connectionId }) => {
    if (await isConnectionGone(deps, connectionId)) gone.add(connectionId);
  });
  const members: MemberIdentity[] = [...others.filter(({ connectionId }) => !gone.has(connectionId)), self];
  await forEachConcurrently([...gone], deps.concurrency, (id) => removeGoneMember(deps, id));
  return membersFrame(room, { count: members.length, members });
}

/** Whether API Gateway says the connection is gone; when it cannot say, the member stays listed. */
async function isConnectionGone(deps: FanoutDeps, connectionId: string): Promise<boolean> {
  try {
    await deps.connections.get(connectionId);
    return false;
  } catch (error) {
    if (isGone(error)) return true;
    logger.warn('could not check a silent member', { recipient: connectionId, error: error as Error });
    return false;
  }
}
