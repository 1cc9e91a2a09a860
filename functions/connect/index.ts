import { webSocketRoute } from 'chat-core';

/** $connect: registers the connection (with its optional `?name=`); a bad name refuses the handshake (400). */
export const handler = webSocketRoute(async ({ event, connectionId, store }) => {
  const { connectedAt, identity } = event.requestContext;
  const name = event.queryStringParameters?.name;
  await store.registerConnection({
    connectionId,
    connectedAt: connectedAt ?? Date.now(),
    ...(name === undefined ? {} : { name }),
    ...(identity?.sourceIp ? { sourceIp: identity.sourceIp } : {}),
    ...(identity?.userAgent ? { userAgent: identity.userAgent.slice(0, 256) } : {}),
  });
  return { statusCode: 200 };
});
