import { ACTIONS, webSocketRoute } from 'chat-core';

const ECHO_MAX_CHARS = 1024;

/** $default: anything unroutable gets `help`, with the caller's own connection info from @connections. */
export const handler = webSocketRoute(async ({ event, connectionId, connections, reply }) => {
  const connection = await connections.get(connectionId);
  await reply({
    type: 'help',
    echo: (event.body ?? '').slice(0, ECHO_MAX_CHARS),
    actions: ACTIONS,
    connection,
  });
  return undefined;
});
