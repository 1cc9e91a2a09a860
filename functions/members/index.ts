import { notAMember, parseRequestBody, presenceAudience, validateRoomId, webSocketRoute } from 'chat-core';

/** members: the room's current members (only their count in a big room), for a member of the room. */
export const handler = webSocketRoute(async ({ event, connectionId, store, members, reply }) => {
  const room = validateRoomId(parseRequestBody(event.body).room);
  const membership = await store.getMembership(connectionId, room);
  if (!membership) throw notAMember(room);
  // A members answer reads one item per member: it draws from the connection's request bucket.
  await store.takeRequestToken(connectionId);
  await reply(await members(room, membership, await presenceAudience(store, room)));
  return undefined;
});
