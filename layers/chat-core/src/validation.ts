import { ValidationError } from './errors';

// These values become DynamoDB key material. ElectroDB neither escapes its `#` delimiter nor keeps
// case unless told to, so each value is checked against a strict charset instead of being rewritten.

/** Room ids: ASCII letters, digits, `_` and `-`, 1 to 64 characters. */
export const ROOM_ID_PATTERN = /^[A-Za-z0-9_-]{1,64}$/;
/** API Gateway connection ids (`L0SM9cOFvHcCIhw=`): case-sensitive, base64 alphabet. */
export const CONNECTION_ID_PATTERN = /^[A-Za-z0-9_+/-]{1,127}={0,2}$/;
export const DISPLAY_NAME_MAX_CHARS = 32;
/** What `msg` may cost inside a frame: its JSON-encoded UTF-8 bytes (see jsonEncodedBytes). */
export const MESSAGE_MAX_BYTES = 16 * 1024;

// Control, format (bidi overrides, zero-width), surrogate, unassigned, private-use and default-ignorable
// characters (Hangul fillers, the combining grapheme joiner, variation selectors): all render as nothing.
const INVISIBLE_OR_CONTROL = /[\p{Cc}\p{Cf}\p{Cs}\p{Cn}\p{Co}\p{Default_Ignorable_Code_Point}\u2028\u2029]/u;
// A character that shows something; the braille blank is a symbol that shows nothing.
const VISIBLE = /[\p{L}\p{N}\p{P}\p{S}]/u;
const BLANK_SYMBOLS = /\u2800/gu;
// Stacked combining marks (a "zalgo" name) draw over the lines around them; counted decomposed.
const MARK_PILE = /\p{M}{4}/u;

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

/**
 * Display names are shown to other users: printable text only, trimmed, at most 32 characters, with at
 * least one visible character and no pile of combining marks. Lookalikes and duplicates are allowed:
 * every member also has a handle (see protocol.ts) that tells two "Ada"s apart.
 */
/** Token subjects are opaque ids (a UUID for Cognito); at most this long and without control characters. */
const USER_ID_MAX_CHARS = 255;

/** A signed-in user's id, as the authorizer took it from a verified token. */
export function validateUserId(value: unknown): string {
  const id = requireString('userId', value);
  if (id.length === 0 || id.length > USER_ID_MAX_CHARS || /\p{Cc}/u.test(id)) {
    throw new ValidationError(
      'userId',
      `"userId" must be 1-${USER_ID_MAX_CHARS} characters without control characters`,
    );
  }
  return id;
}

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
  if (
    !VISIBLE.test(name.replace(BLANK_SYMBOLS, '')) ||
    /^\p{M}/u.test(name) ||
    MARK_PILE.test(name.normalize('NFD'))
  ) {
    throw new ValidationError(
      'name',
      '"name" must show at least one letter, digit or symbol, and not start with or stack combining marks',
    );
  }
  return name;
}

/** The bytes a string costs inside a JSON frame (escapes included: a control character costs 6). */
export function jsonEncodedBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text), 'utf8') - 2;
}

/**
 * Message text: non-blank and at most 16 KiB as it is encoded in a frame, so one message frame stays
 * far below API Gateway's 128 KB whatever characters it holds (history pages have their own byte budget).
 */
export function validateMessageText(value: unknown): string {
  const msg = requireString('msg', value);
  if (msg.trim().length === 0) {
    throw new ValidationError('msg', '"msg" must not be empty');
  }
  if (jsonEncodedBytes(msg) > MESSAGE_MAX_BYTES) {
    throw new ValidationError(
      'msg',
      `"msg" must be at most ${MESSAGE_MAX_BYTES} bytes as JSON-encoded UTF-8 (a control character counts 6, a quote or backslash 2)`,
      'MESSAGE_TOO_LARGE',
    );
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
