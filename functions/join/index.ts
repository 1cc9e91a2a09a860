import {
  HISTORY_DEFAULT_LIMIT,
  historyBudget,
  historyFrame,
  membershipFrame,
  parseRequestBody,
  replayAfter,
  validateMessageId,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * join: adds the caller to a room; every member, the joiner last, gets `joined`. Then the joiner gets
 * `history`: the messages after `since` (a reconnecting client's last seen id, with an overlap the
 * client drops by id), or the latest 50, as many as fit in one frame.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast, reply }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const since = request.since === undefined ? undefined : validateMessageId(request.since, 'since');
  // A refused join writes nothing: the request token is taken once the join can only fail on a race.
  const connection = await store.checkJoin(connectionId, room);
  await store.takeRequestToken(connectionId);
  const membership = await store.joinRoom(connectionId, room, connection);
  await broadcast(room, membershipFrame('joined', membership), { requester: connectionId });
  const page = await store.roomHistory(room, {
    ...(since ? { after: replayAfter(since) } : {}),
    limit: HISTORY_DEFAULT_LIMIT,
    fits: historyBudget(),
  });
  await reply(historyFrame(room, page));
  return undefined;
});
