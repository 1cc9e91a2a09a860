import {
  authMode,
  authTokenSource,
  CHAT_SUBPROTOCOL,
  offeredSubprotocols,
  ValidationError,
  webSocketRoute,
} from 'chat-core';

/**
 * $connect: registers the connection. With sign-in on, who it is comes only from the authorizer (the
 * verified token's user id and name) and `?name=` is ignored; without it, from the optional `?name=`.
 * A bad name refuses the handshake (400).
 */
export const handler = webSocketRoute(async ({ event, connectionId, store }) => {
  const { connectedAt, identity, authorizer } = event.requestContext;
  const signedIn = authMode() !== 'none';
  // Sign-in on without an authorizer's answer is a wiring fault: refuse (500) rather than admit anyone.
  if (signedIn && !authorizer?.userId) throw new Error('sign-in is on but the authorizer gave no user id');
  const name = signedIn ? authorizer?.name : event.queryStringParameters?.name;
  const offered = offeredSubprotocols(event.headers);
  const tokenInHeader = signedIn && authTokenSource() === 'header';
  if (tokenInHeader && !offered.includes(CHAT_SUBPROTOCOL))
    throw new ValidationError('protocol', `Offer the "${CHAT_SUBPROTOCOL}" subprotocol beside the token`);
  await store.registerConnection({
    connectionId,
    connectedAt: connectedAt ?? Date.now(),
    ...(name === undefined ? {} : { name }),
    ...(signedIn ? { userId: authorizer!.userId! } : {}),
    ...(identity?.sourceIp ? { sourceIp: identity.sourceIp } : {}),
    ...(identity?.userAgent ? { userAgent: identity.userAgent.slice(0, 256) } : {}),
  });
  // A client that offered subprotocols accepts the handshake only if one is chosen.
  return offered.includes(CHAT_SUBPROTOCOL)
    ? { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': CHAT_SUBPROTOCOL } }
    : { statusCode: 200 };
});
