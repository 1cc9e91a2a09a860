import type { ChatStore } from './chat-store';
import { forEachConcurrently } from './concurrency';
import { isGone } from './connections-api';
import { type FanoutDeps, removeGoneMember } from './fanout';
import { logger } from './logger';
import { LIVENESS_MS, type MemberIdentity, type MembersFrame, membersFrame } from './protocol';

/** A room's presence as the table has it: the count, and (up to PRESENCE_LIST_LIMIT) the members. */
export interface RoomPresence {
  count: number;
  /** The members' connection items, `self` included; undefined above PRESENCE_LIST_LIMIT. */
  members?: MemberIdentity[];
  /** Listed members that have not pinged for LIVENESS_MS: to be asked after before they are shown. */
  silent: string[];
}

/**
 * A room's presence, read from the table: its members as presenceAudience read them (undefined: more than
 * PRESENCE_LIST_LIMIT, so only a count, by a counting Query), each read from its connection item (one
 * BatchGetItem per 100; ids without a live connection are left out). `self`, the connection asking, is
 * listed even when the room index (a GSI, eventually consistent) has not caught up with its join yet.
 */
export async function readPresence(
  store: ChatStore,
  room: string,
  self: MemberIdentity,
  audience: string[] | undefined,
): Promise<RoomPresence> {
  if (!audience) return { count: await store.countRoomMembers(room), silent: [] };
  const others = await store.getConnections(audience.filter((id) => id !== self.connectionId));
  const silentSince = store.now() - LIVENESS_MS;
  const silent = others
    .filter((member) => (member.seenAt ?? member.connectedAt) < silentSince)
    .map(({ connectionId }) => connectionId);
  return { count: others.length + 1, members: [...others, self], silent };
}

/**
 * The `members` answer for a room (see readPresence). A member that has not pinged for LIVENESS_MS is
 * asked after at API Gateway first, and a gone one is removed (its rooms hear `left`) instead of listed.
 */
export async function membersAnswer(
  deps: FanoutDeps,
  room: string,
  self: MemberIdentity,
  audience: string[] | undefined,
): Promise<MembersFrame> {
  const presence = await readPresence(deps.store, room, self, audience);
  if (!presence.members) return membersFrame(room, presence);
  const gone = new Set<string>();
  await forEachConcurrently(presence.silent, deps.concurrency, async (connectionId) => {
    if (await isConnectionGone(deps, connectionId)) gone.add(connectionId);
  });
  await forEachConcurrently([...gone], deps.concurrency, (id) => removeGoneMember(deps, id));
  const members = presence.members.filter(({ connectionId }) => !gone.has(connectionId));
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
