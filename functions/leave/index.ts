import { membershipFrame, parseRequestBody, validateRoomId, webSocketRoute } from 'chat-core';

/** leave: removes the caller from a room; the remaining members get `left`, then the caller, as confirmation. */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast }) => {
  const room = validateRoomId(parseRequestBody(event.body).room);
  const membership = await store.leaveRoom(connectionId, room);
  await broadcast(room, membershipFrame('left', membership), { requester: connectionId });
  return undefined;
});
