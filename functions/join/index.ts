import {
  HISTORY_DEFAULT_LIMIT,
  historyBudget,
  historyFrame,
  membershipFrame,
  parseRequestBody,
  presenceAudience,
  replayAfter,
  validateMessageId,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * join: adds the caller to a room; every member, the joiner last, gets `joined` (in a room of at most
 * PRESENCE_LIST_LIMIT members; above it only the joiner). Then the joiner gets `members` and `history`: the
 * messages after `since` (a reconnecting client's last seen id, with an overlap the client drops by id),
 * or the latest 50, as many as fit in one frame.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast, members, reply }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const since = request.since === undefined ? undefined : validateMessageId(request.since, 'since');
  // A refused join writes nothing: the request token is taken once the join can only fail on a race.
  const connection = await store.checkJoin(connectionId, room);
  await store.takeRequestToken(connectionId);
  const membership = await store.joinRoom(connectionId, room, connection);
  // One bounded read of the room serves both the fan-out and the joiner's member list.
  const audience = await presenceAudience(store, room);
  const joined = membershipFrame('joined', membership);
  await broadcast(room, joined, {
    requester: connectionId,
    requesterFrame: { ...joined, you: true },
    recipients: audience ?? [],
  });
  await reply(await members(room, membership, audience));
  const page = await store.roomHistory(room, {
    ...(since ? { after: replayAfter(since) } : {}),
    limit: HISTORY_DEFAULT_LIMIT,
    fits: historyBudget(),
  });
  await reply(historyFrame(room, page));
  return undefined;
});
