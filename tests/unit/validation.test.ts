import {
  jsonEncodedBytes,
  MESSAGE_MAX_BYTES,
  ValidationError,
  validateConnectionId,
  validateDisplayName,
  validateMessageText,
  validateRoomId,
} from 'chat-core';

describe('room ids', () => {
  test.each(['room1', 'A', 'a-b_c', 'r'.repeat(64)])('accepts %s', (room) => {
    expect(validateRoomId(room)).toBe(room);
  });
  test.each([
    ['room#1'],
    ['a b'],
    ['a/b'],
    ['r'.repeat(65)],
    [''],
    ['rооm'],
    [' room'],
    [42],
    [null],
    [['room']],
  ])('rejects %p', (room) => {
    expect(() => validateRoomId(room)).toThrow(ValidationError);
  });
  test('the error names the field and the rule', () => {
    expect(() => validateRoomId('a#b')).toThrow(
      '"room" must be 1-64 characters from A-Z, a-z, 0-9, "_" and "-"',
    );
  });
});

describe('connection ids', () => {
  test.each(['L0SM9cOFvHcCIhw=', 'abc=', 'AbC='])('accepts %s', (id) => {
    expect(validateConnectionId(id)).toBe(id);
  });
  test.each(['', 'a#b=', 'a b=', 'x'.repeat(200), 'abc=d'])('rejects %p', (id) => {
    expect(() => validateConnectionId(id)).toThrow(ValidationError);
  });
});

describe('display names', () => {
  test('trims and normalizes', () => {
    expect(validateDisplayName('  Zoë  ')).toBe('Zoë');
    expect(validateDisplayName('Zoe\u0308')).toBe('Zoë');
  });
  test('keeps markup as text (clients render it as text)', () => {
    expect(validateDisplayName('<b>bold</b>')).toBe('<b>bold</b>');
  });
  test.each(['', '   ', 'a\u0000', 'tab\there', 'rtl\u202E', 'zero\u200Bwidth', 'x'.repeat(33)])(
    'rejects %p',
    (name) => {
      expect(() => validateDisplayName(name)).toThrow(ValidationError);
    },
  );
  test('counts characters, not UTF-16 units', () => {
    expect(validateDisplayName('😀'.repeat(32))).toHaveLength(64);
  });
});

describe('message text', () => {
  test('accepts text up to the limit', () => {
    expect(validateMessageText('hi')).toBe('hi');
    expect(validateMessageText('x'.repeat(MESSAGE_MAX_BYTES))).toHaveLength(MESSAGE_MAX_BYTES);
  });
  test.each([[''], ['  \n '], [5], [{ text: 'hi' }]])('rejects %p as BAD_REQUEST', (msg) => {
    expect(() => validateMessageText(msg)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', field: 'msg' }),
    );
  });
  test('rejects oversized text as MESSAGE_TOO_LARGE, counting UTF-8 bytes', () => {
    expect(() => validateMessageText('é'.repeat(MESSAGE_MAX_BYTES / 2 + 1))).toThrow(
      expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }),
    );
  });
});

describe('names that show nothing, or pile marks', () => {
  test.each([
    ['\u3164', 'a Hangul filler alone'],
    ['\u2800\u2800\u2800', 'braille blanks'],
    ['\u0301', 'a lone combining mark'],
    ['\u0301Ada', 'a name starting with a combining mark'],
    ['Ada\u034F', 'a combining grapheme joiner'],
    ['Ada\uFE0F', 'a variation selector'],
    ['A\u0300\u0301\u0302\u0303da', 'a pile of four combining marks'],
  ])('rejects %p (%s)', (name) => {
    expect(() => validateDisplayName(name)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', field: 'name' }),
    );
  });
  test.each(['Ада', 'Ada Lovelace', '李小龍', 'Nguyễn', '🙂'])('accepts %p', (name) => {
    expect(validateDisplayName(name)).toBe(name.normalize('NFC'));
  });
});

describe('message text is measured as it is encoded in a frame', () => {
  test('control characters cost six bytes each: 16 KiB of \\u0001 is too large', () => {
    expect(jsonEncodedBytes('\u0001')).toBe(6);
    expect(() => validateMessageText('\u0001'.repeat(MESSAGE_MAX_BYTES))).toThrow(
      expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }),
    );
    expect(validateMessageText('\u0001'.repeat(Math.floor(MESSAGE_MAX_BYTES / 6)))).toBeDefined();
  });
  test('quotes and backslashes cost two', () => {
    expect(jsonEncodedBytes('"\\')).toBe(4);
    expect(() => validateMessageText('"'.repeat(MESSAGE_MAX_BYTES / 2 + 1))).toThrow(
      expect.objectContaining({ code: 'MESSAGE_TOO_LARGE' }),
    );
  });
});
