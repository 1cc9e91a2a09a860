import { membershipFrame, webSocketRoute } from 'chat-core';

/** $disconnect: removes the connection and its memberships, then tells each of its rooms. */
export const handler = webSocketRoute(async ({ connectionId, store, broadcast }) => {
  const { memberships } = await store.removeConnection(connectionId);
  await Promise.all(
    memberships.map((membership) => broadcast(membership.roomId, membershipFrame('left', membership))),
  );
  return undefined;
});
