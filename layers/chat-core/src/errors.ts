/** Error codes clients see in `error` frames (the protocol's contract). */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_A_MEMBER'
  | 'ALREADY_JOINED'
  | 'MESSAGE_TOO_LARGE'
  | 'UNKNOWN_CONNECTION'
  | 'TOO_MANY_ROOMS'
  | 'RATE_LIMITED'
  | 'CLIENT_MSG_ID_CONFLICT'
  | 'SEND_IN_PROGRESS'
  | 'INTERNAL';

/** An expected failure: its message is safe to show to the client that caused it. */
export class ChatError extends Error {
  override readonly name = 'ChatError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** Invalid client input; raised before anything is written. */
export class ValidationError extends ChatError {
  constructor(
    readonly field: string,
    message: string,
    code: ErrorCode = 'BAD_REQUEST',
  ) {
    super(code, message);
  }
}

/** Refused for now, nothing done: the same request may pass after `retryAfterMs`. */
export class RetryLaterError extends ChatError {
  constructor(
    code: ErrorCode,
    message: string,
    readonly retryAfterMs: number,
  ) {
    super(code, message);
  }
}

/** Over the connection's request rate. */
export class RateLimitedError extends RetryLaterError {
  constructor(retryAfterMs: number) {
    super(
      'RATE_LIMITED',
      `Too many requests from this connection; try again in ${retryAfterMs} ms`,
      retryAfterMs,
    );
  }
}

export function notAMember(roomId: string): ChatError {
  return new ChatError('NOT_A_MEMBER', `Not a member of room "${roomId}"`);
}

export function alreadyJoined(roomId: string): ChatError {
  return new ChatError('ALREADY_JOINED', `Already a member of room "${roomId}"`);
}
