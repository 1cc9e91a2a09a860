import { membershipFrame, parseRequestBody, validateRoomId, webSocketRoute } from 'chat-core';

/** leave: removes the caller from a room; the remaining members get `left`, and so does the caller, as confirmation. */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast, reply }) => {
  const room = validateRoomId(parseRequestBody(event.body).room);
  const membership = await store.leaveRoom(connectionId, room);
  const frame = membershipFrame('left', membership);
  await broadcast(room, frame);
  await reply(frame);
  return undefined;
});
