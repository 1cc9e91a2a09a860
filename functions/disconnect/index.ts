import { webSocketRoute } from 'chat-core';

/** $disconnect: removes the connection and its memberships, then tells each of its rooms (a few at a time). */
export const handler = webSocketRoute(async ({ connectionId, store, announceDepartures }) => {
  const { memberships } = await store.removeConnection(connectionId);
  await announceDepartures(memberships);
  return undefined;
});
