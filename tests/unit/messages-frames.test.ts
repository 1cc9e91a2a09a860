import { type MessageRecord, messagesFrames } from 'chat-core';
import { MESSAGES_FRAME_MAX_BYTES } from '../../layers/chat-core/src/batcher';

const bytes = (value: unknown) => Buffer.byteLength(JSON.stringify(value), 'utf8');

function message(i: number, msg: string, clientMsgId?: string): MessageRecord {
  return {
    roomId: 'room1',
    id: `01M8GYYHJQE6D0M246SDYZQ${String(i).padStart(3, '0')}`,
    senderId: `sender${i % 3}Test=`,
    senderName: 'Ada',
    msg,
    sentAt: '2026-11-28T11:00:00.000Z',
    expiresAt: 1,
    ...(clientMsgId ? { clientMsgId } : {}),
  };
}

test('a window’s messages are split into frames of at most 32 KB, the senders’ copies with their clientMsgIds too, in order', () => {
  // JSON-escaped control characters: 6 bytes each, so these are about 9 KB as sent.
  const messages = Array.from({ length: 9 }, (_, i) => message(i, '\u0001'.repeat(1500), 'x'.repeat(64)));
  const parts = messagesFrames('room1', messages);
  expect(parts.flat()).toEqual(messages);
  expect(parts.length).toBeGreaterThan(2);
  for (const part of parts) {
    const echo = {
      type: 'messages',
      room: 'room1',
      messages: part.map((m) => ({
        type: 'message',
        room: m.roomId,
        id: m.id,
        from: { handle: '000000', name: 'Ada' },
        msg: m.msg,
        sentAt: m.sentAt,
        clientMsgId: m.clientMsgId,
      })),
    };
    expect(bytes(echo)).toBeLessThanOrEqual(MESSAGES_FRAME_MAX_BYTES);
  }
});

test('small messages share one frame; none makes no frame', () => {
  const messages = Array.from({ length: 50 }, (_, i) => message(i, `hello ${i}`));
  expect(messagesFrames('room1', messages)).toEqual([messages]);
  expect(messagesFrames('room1', [])).toEqual([]);
});
