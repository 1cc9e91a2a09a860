// The WebSocket subprotocol a client offers; with AuthTokenSource header the sign-in token rides beside it
// in the same Sec-WebSocket-Protocol header (browsers cannot set any other header on a handshake).

/** The subprotocol `$connect` chooses: never the token, which must not be echoed back. */
export const CHAT_SUBPROTOCOL = 'chat';

/** The subprotocols a handshake offers, in order (header names are matched case-insensitively). */
export function offeredSubprotocols(headers: Record<string, string> | null | undefined): string[] {
  const entry = Object.entries(headers ?? {}).find(
    ([name]) => name.toLowerCase() === 'sec-websocket-protocol',
  );
  return (entry?.[1] ?? '')
    .split(',')
    .map((protocol) => protocol.trim())
    .filter((protocol) => protocol.length > 0);
}

/** The token offered beside `chat`, if exactly one other subprotocol was offered. */
export function tokenInSubprotocols(headers: Record<string, string> | null | undefined): string | undefined {
  const others = offeredSubprotocols(headers).filter((protocol) => protocol !== CHAT_SUBPROTOCOL);
  return others.length === 1 ? others[0] : undefined;
}
