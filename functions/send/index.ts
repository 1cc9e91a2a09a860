import {
  messageFrame,
  notAMember,
  parseRequestBody,
  timeSortableId,
  validateMessageText,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * send: stores the message in the room's history, then delivers it to every member, the sender last.
 * Stored first, so that whatever was delivered can be replayed to a client that reconnects.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const msg = validateMessageText(request.msg);
  // The sender is the server's record of the connection, whatever the body claims.
  const sender = await store.getMembership(connectionId, room);
  if (!sender) throw notAMember(room);
  await store.takeRequestToken(connectionId);
  const message = await store.saveMessage({
    roomId: room,
    id: timeSortableId(),
    senderId: connectionId,
    ...(sender.name === undefined ? {} : { senderName: sender.name }),
    ...(sender.userId === undefined ? {} : { senderUserId: sender.userId }),
    msg,
    sentAt: new Date().toISOString(),
  });
  await broadcast(room, messageFrame(message), { requester: connectionId });
  return undefined;
});
