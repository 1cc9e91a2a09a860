import {
  notAMember,
  parseRequestBody,
  timeSortableId,
  validateMessageText,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/** send: delivers a message to every member of a room the caller has joined, the sender last. */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const msg = validateMessageText(request.msg);
  // `from` is the server's record of the sender, whatever the body claims.
  const sender = await store.getMembership(connectionId, room);
  if (!sender) throw notAMember(room);
  const from = { connectionId, ...(sender.name === undefined ? {} : { name: sender.name }) };
  const frame = {
    type: 'message',
    room,
    id: timeSortableId(),
    from,
    msg,
    sentAt: new Date().toISOString(),
  } as const;
  await broadcast(room, frame, { last: connectionId });
  return undefined;
});
