import {
  membershipFrame,
  parseRequestBody,
  presenceAudience,
  TYPING_RELAY_INTERVAL_MS,
  validateRoomId,
  webSocketRoute,
} from 'chat-core';

/**
 * typing: tells the room's other members that the caller is typing; never stored. At most one per member
 * and room every TYPING_RELAY_INTERVAL_MS is relayed (one conditional write decides); the rest are dropped
 * without reply and cost no fan-out. Not relayed in rooms above PRESENCE_LIST_LIMIT.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, broadcast }) => {
  const room = validateRoomId(parseRequestBody(event.body).room);
  const membership = await store.takeTypingTurn(connectionId, room, TYPING_RELAY_INTERVAL_MS);
  if (!membership) return undefined;
  const audience = await presenceAudience(store, room);
  if (audience) {
    await broadcast(room, membershipFrame('typing', membership), {
      requester: connectionId,
      requesterFrame: null,
      recipients: audience,
    });
  }
  return undefined;
});
