import {
  historyBudget,
  historyFrame,
  notAMember,
  parseRequestBody,
  validateHistoryLimit,
  validateMessageId,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/** history: older messages of a room the caller has joined, for scrolling back (`before`, `limit` capped at 100). */
export const handler = webSocketRoute(async ({ event, connectionId, store, reply }) => {
  const request = parseRequestBody(event.body);
  const room = validateRoomId(request.room);
  const before = request.before === undefined ? undefined : validateMessageId(request.before, 'before');
  const limit = validateHistoryLimit(request.limit);
  if (!(await store.getMembership(connectionId, room))) throw notAMember(room);
  const page = await store.roomHistory(room, { ...(before ? { before } : {}), limit, fits: historyBudget() });
  await reply(historyFrame(room, page));
  return undefined;
});
