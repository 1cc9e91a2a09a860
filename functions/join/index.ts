import {
  HISTORY_DEFAULT_LIMIT,
  membershipFrame,
  messageFrame,
  parseRequestBody,
  replayAfter,
  validateMessageId,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * join: adds the caller to a room; every member, the joiner last, gets `joined`. Then the joiner gets
 * `history`: the messages after `since` (a reconnecting client's last seen id, with an overlap the
 * client drops by id), or the latest 50.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast, reply }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const since = request.since === undefined ? undefined : validateMessageId(request.since, 'since');
  const membership = await store.joinRoom(connectionId, room);
  await broadcast(room, membershipFrame('joined', membership), { last: connectionId });
  const { messages, more } = await store.roomHistory(room, {
    ...(since ? { after: replayAfter(since) } : {}),
    limit: HISTORY_DEFAULT_LIMIT,
  });
  await reply({ type: 'history', room, messages: messages.map(messageFrame), more });
  return undefined;
});
