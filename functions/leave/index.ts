import {
  membershipFrame,
  parseRequestBody,
  presenceAudience,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * leave: removes the caller from a room; the remaining members get `left` (in a room of at most
 * PRESENCE_LIST_LIMIT members), then the caller, as confirmation.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast }) => {
  const room = validateRoomId(parseRequestBody(event.body).room);
  const membership = await store.leaveRoom(connectionId, room);
  const audience = await presenceAudience(store, room);
  await broadcast(room, membershipFrame('left', membership), {
    requester: connectionId,
    recipients: audience ?? [],
  });
  return undefined;
});
