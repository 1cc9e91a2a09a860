import {
  messageFrame,
  notAMember,
  parseRequestBody,
  timeSortableId,
  validateClientMsgId,
  validateMessageText,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * send: stores the message in the room's history, then delivers it to every member, the sender last.
 * Stored first, so that whatever was delivered can be replayed to a client that reconnects.
 * With a `clientMsgId` a resend is stored once and delivered again (members drop repeats by id);
 * only the sender's copy carries the `clientMsgId`. With batching on (BatchWindowMs), a message stored in
 * its busy room's open batching window is delivered, echo included, by that window's batcher instead.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast, startBatcher }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const msg = validateMessageText(request.msg);
  const clientMsgId =
    request.clientMsgId === undefined ? undefined : validateClientMsgId(request.clientMsgId);
  // The sender is the server's record of the connection, whatever the body claims.
  const sender = await store.getMembership(connectionId, room);
  if (!sender) throw notAMember(room);
  await store.takeRequestToken(connectionId);
  const draft = {
    roomId: room,
    senderId: connectionId,
    ...(sender.name === undefined ? {} : { senderName: sender.name }),
    ...(sender.userId === undefined ? {} : { senderUserId: sender.userId }),
    msg,
    sentAt: new Date().toISOString(),
  };
  const message = clientMsgId
    ? await store.saveMessageOnce(draft, clientMsgId)
    : await store.saveMessage({ ...draft, id: timeSortableId() });
  const frame = messageFrame(message);
  await Promise.all([
    // The echo comes last, straight to the sender: it says everyone else has been sent the message.
    message.postNow
      ? broadcast(room, frame, {
          requester: connectionId,
          ...(clientMsgId ? { requesterFrame: { ...frame, clientMsgId } } : {}),
        })
      : undefined,
    message.opened ? startBatcher(message.opened) : undefined,
  ]);
  return undefined;
});
