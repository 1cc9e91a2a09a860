/** Error codes clients see in `error` frames (the protocol's contract). */
export type ErrorCode =
  | 'BAD_REQUEST'
  | 'NOT_A_MEMBER'
  | 'ALREADY_JOINED'
  | 'MESSAGE_TOO_LARGE'
  | 'UNKNOWN_CONNECTION'
  | 'CLIENT_MSG_ID_CONFLICT'
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

export function notAMember(roomId: string): ChatError {
  return new ChatError('NOT_A_MEMBER', `Not a member of room "${roomId}"`);
}
