import { membershipFrame, parseRequestBody, validateRoomId, webSocketRoute } from 'chat-core';

/** join: adds the caller to a room; every member, the joiner last, gets `joined`. */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast }) => {
  const room = validateRoomId(parseRequestBody(event.body).room);
  const membership = await store.joinRoom(connectionId, room);
  await broadcast(room, membershipFrame('joined', membership), { last: connectionId });
  return undefined;
});
