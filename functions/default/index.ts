import { ACTIONS, webSocketRoute } from 'chat-core';

const ECHO_MAX_CHARS = 1024;

function isPing(body: string | null | undefined): boolean {
  try {
    return (JSON.parse(body ?? '') as { action?: unknown }).action === 'ping';
  } catch {
    return false;
  }
}

/**
 * $default: `{"action":"ping"}` records that the connection is alive (one write: it keeps the caller in
 * member lists) and gets `pong` (keeps a connection from idling out without a route of its own); anything
 * else unroutable gets `help`, with the caller's own connection info from @connections.
 */
export const handler = webSocketRoute(async ({ event, connectionId, store, connections, reply }) => {
  if (isPing(event.body)) {
    await store.markSeen(connectionId);
    await reply({ type: 'pong' });
    return undefined;
  }
  const connection = await connections.get(connectionId);
  await reply({
    type: 'help',
    echo: (event.body ?? '').slice(0, ECHO_MAX_CHARS),
    actions: ACTIONS,
    connection,
  });
  return undefined;
});
