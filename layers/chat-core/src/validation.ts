import { ValidationError } from './errors';

// These values become DynamoDB key material. ElectroDB neither escapes its `#` delimiter nor keeps
// case unless told to, so each value is checked against a strict charset instead of being rewritten.

/** Room ids: ASCII letters, digits, `_` and `-`, 1 to 64 characters. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** API Gateway connection ids (`L0SM9cOFvHcCIhw=`): case-sensitive, base64 alphabet. */
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9_+/-]{1,127}={0,2}$/;
export const DISPLAY_NAME_MAX_CHARS = 32;
export const MESSAGE_MAX_BYTES = 16 * 1024;

// Control, format (bidi overrides, zero-width), surrogate, unassigned and private-use characters.
const INVISIBLE_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Co}\u2028\u2029]/u;

function requireString(field: string, value: unknown): string {
  if (typeof value !== 'string') {
    throw new ValidationError(field, `"${field}" must be a string`);
  }
  return value;
}

export function validateRoomId(value: unknown): string {
  const room = requireString('room', value);
  if (!ROOM_ID_PATTERN.test(room)) {
    throw new ValidationError('room', '"room" must be 1-64 characters from A-Z, a-z, 0-9, "_" and "-"');
  }
  return room;
}

export function validateConnectionId(value: unknown): string {
  const id = requireString('connectionId', value);
  if (!CONNECTION_ID_PATTERN.test(id)) {
    throw new ValidationError('connectionId', '"connectionId" is not an API Gateway connection id');
  }
  return id;
}

/** Display names are shown to other users: printable text only, trimmed, at most 32 characters. */
export function validateDisplayName(value: unknown): string {
  const raw = requireString('name', value);
  if (INVISIBLE_OR_CONTROL.test(raw)) {
    throw new ValidationError('name', '"name" must not contain control or invisible characters');
  }
  const name = raw.normalize('NFC').trim();
  const length = [...name].length;
  if (length === 0 || length > DISPLAY_NAME_MAX_CHARS) {
    throw new ValidationError('name', `"name" must be 1-${DISPLAY_NAME_MAX_CHARS} characters`);
  }
  return name;
}

/** Message text: non-blank, at most 16 KiB of UTF-8 so every frame stays far below API Gateway's 128 KB. */
export function validateMessageText(value: unknown): string {
  const msg = requireString('msg', value);
  if (msg.trim().length === 0) {
    throw new ValidationError('msg', '"msg" must not be empty');
  }
  if (Buffer.byteLength(msg, 'utf8') > MESSAGE_MAX_BYTES) {
    throw new ValidationError('msg', `"msg" must be at most ${MESSAGE_MAX_BYTES} bytes`, 'MESSAGE_TOO_LARGE');
  }
  return msg;
}

/** Message ids (`since`, `before`): the 26-character time-sortable ids the server hands out. */
export const MESSAGE_ID_PATTERN = /^[0-9A-HJKMNP-TV-Z]{26}$/;

export function validateMessageId(value: unknown, field: string): string {
  const id = requireString(field, value);
  if (!MESSAGE_ID_PATTERN.test(id)) {
    throw new ValidationError(
      field,
      `"${field}" must be a message id (26 characters, as in a message's "id")`,
    );
  }
  return id;
}

/**
 * A client's id for one of its sends: an opaque token of 16-64 characters from A-Z, a-z, 0-9, `_`
 * and `-` (a UUID or ULID fits), long enough that nobody guesses another's.
 */
export const CLIENT_MSG_ID_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;

export function validateClientMsgId(value: unknown): string {
  const id = requireString('clientMsgId', value);
  if (!CLIENT_MSG_ID_PATTERN.test(id)) {
    throw new ValidationError(
      'clientMsgId',
      '"clientMsgId" must be 16-64 characters from A-Z, a-z, 0-9, "_" and "-" (e.g. a UUID)',
    );
  }
  return id;
}

export const HISTORY_DEFAULT_LIMIT = 50;
export const HISTORY_MAX_LIMIT = 100;

/** A history page size: a positive integer, capped at 100; 50 when absent. */
export function validateHistoryLimit(value: unknown): number {
  if (value === undefined) return HISTORY_DEFAULT_LIMIT;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1) {
    throw new ValidationError('limit', '"limit" must be a positive whole number');
  }
  return Math.min(value, HISTORY_MAX_LIMIT);
}
