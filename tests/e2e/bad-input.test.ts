// The bad-input table of the README: each row a malformed or hostile input, its documented answer,
// and proof that the connection and gateway keep working where AWS keeps them and that the table
// holds exactly what it held before.
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { handleOf } from 'chat-core';
import { localDynamoDbClient } from '../../local/dynamodb';
import { connectionsFetch } from '../support/connections-fetch';
import { scanTable } from '../support/table-contents';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { eventually, type Frame, TestClient } from '../support/ws-client';

let stack: TestStack;
let db: DynamoDBClient;
let member: TestClient;
let memberId: string;

beforeAll(async () => {
  stack = await startTestStack();
  db = localDynamoDbClient(stack.dynamoDb.endpoint);
  member = await TestClient.connect(stack.webSocketUrl, { name: 'Member' });
  memberId = stack.connectionIdOf((await member.request({ action: 'join', room: 'lobby' }, 'joined')).handle);
  await member.next((f) => f.type === 'history', WAIT_MS, true);
});
afterAll(async () => {
  await member.close();
  db.destroy();
  await stack.stop();
});

/** The table, but for the connection's liveness stamp: the ping that checks the connection still works writes it. */
const table = async () => (await scanTable(db, stack.tableName)).map(({ seenAt: _seenAt, ...item }) => item);
const nested = (depth: number, leaf: string) => '['.repeat(depth) + leaf + ']'.repeat(depth);
const KB = 1024;

/** Sends text in frames of at most 32 KB, as a client must for messages up to API Gateway's 128 KB. */
function sendFragmented(client: TestClient, text: string): void {
  const data = Buffer.from(text);
  for (let offset = 0; offset < data.length; offset += 32 * KB) {
    const chunk = data.subarray(offset, offset + 32 * KB);
    client.ws.send(chunk, { binary: false, fin: offset + 32 * KB >= data.length });
  }
}

async function stillWorks(client: TestClient): Promise<void> {
  expect(await client.request({ action: 'ping' }, 'pong')).toEqual({ type: 'pong' });
}

const error = (code: string) => (f: Frame) => f.type === 'error' && f.code === code;
const help = (f: Frame) => f.type === 'help';

// Inputs on an open connection that the service refuses: the member gets the answer, nothing is written.
const refused: [string, string, (f: Frame) => boolean][] = [
  ['invalid JSON', '{"action":"send",', help],
  ['JSON that is an array', '["send","lobby"]', help],
  ['JSON that is a string', '"send"', help],
  ['JSON null', 'null', help],
  ['action that is a number', '{"action":7}', help],
  ['action that is an array', '{"action":["send"],"room":"lobby","msg":"x"}', help],
  ['action that is an object', '{"action":{"name":"send"},"room":"lobby","msg":"x"}', help],
  ['no action', '{"room":"lobby","msg":"hi"}', help],
  ['an unknown action', '{"action":"shout","room":"lobby","msg":"hi"}', help],
  ['an action in other case', '{"action":"SEND","room":"lobby","msg":"hi"}', help],
  ['an action naming a system route', '{"action":"$disconnect"}', help],
  ['deeply nested JSON without action', nested(5000, '1'), help],
  ['join without room', '{"action":"join"}', error('BAD_REQUEST')],
  ['join with an empty room', '{"action":"join","room":""}', error('BAD_REQUEST')],
  ['join with a 65-character room', `{"action":"join","room":"${'r'.repeat(65)}"}`, error('BAD_REQUEST')],
  ['join with # in the room', '{"action":"join","room":"room#1"}', error('BAD_REQUEST')],
  ['join with key delimiters in the room', '{"action":"join","room":"x#roomId_lobby"}', error('BAD_REQUEST')],
  ['join with a $ in the room', '{"action":"join","room":"$chat"}', error('BAD_REQUEST')],
  ['join with a lookalike letter in the room', '{"action":"join","room":"l\u043Ebby"}', error('BAD_REQUEST')],
  [
    'join with a control character in the room',
    '{"action":"join","room":"lob\\u0000by"}',
    error('BAD_REQUEST'),
  ],
  ['join with a number as room', '{"action":"join","room":42}', error('BAD_REQUEST')],
  ['join with an object as room', '{"action":"join","room":{"$ne":null}}', error('BAD_REQUEST')],
  [
    'join with a malformed since',
    '{"action":"join","room":"other","since":"yesterday"}',
    error('BAD_REQUEST'),
  ],
  ['join a room already joined', '{"action":"join","room":"lobby"}', error('ALREADY_JOINED')],
  ['send without msg', '{"action":"send","room":"lobby"}', error('BAD_REQUEST')],
  ['send an empty msg', '{"action":"send","room":"lobby","msg":""}', error('BAD_REQUEST')],
  ['send a whitespace-only msg', '{"action":"send","room":"lobby","msg":" \\n\\t "}', error('BAD_REQUEST')],
  ['send a number as msg', '{"action":"send","room":"lobby","msg":5}', error('BAD_REQUEST')],
  ['send an object as msg', '{"action":"send","room":"lobby","msg":{"text":"hi"}}', error('BAD_REQUEST')],
  [
    'send deeply nested JSON as msg',
    `{"action":"send","room":"lobby","msg":${nested(5000, '1')}}`,
    error('BAD_REQUEST'),
  ],
  [
    'send a msg over 16 KiB',
    `{"action":"send","room":"lobby","msg":"${'x'.repeat(16 * KB + 1)}"}`,
    error('MESSAGE_TOO_LARGE'),
  ],
  [
    'send control characters that escape past 16 KiB (6 bytes each)',
    JSON.stringify({ action: 'send', room: 'lobby', msg: '\u0001'.repeat(Math.floor((16 * KB) / 6) + 1) }),
    error('MESSAGE_TOO_LARGE'),
  ],
  [
    'send a msg of quotes that escapes past 16 KiB',
    JSON.stringify({ action: 'send', room: 'lobby', msg: '"'.repeat(8 * KB + 1) }),
    error('MESSAGE_TOO_LARGE'),
  ],
  ['send to a room not joined', '{"action":"send","room":"elsewhere","msg":"hi"}', error('NOT_A_MEMBER')],
  ['leave a room not joined', '{"action":"leave","room":"elsewhere"}', error('NOT_A_MEMBER')],
  ['leave with a slash in the room', '{"action":"leave","room":"a/b"}', error('BAD_REQUEST')],
  [
    'history with a malformed before',
    '{"action":"history","room":"lobby","before":"0"}',
    error('BAD_REQUEST'),
  ],
  ['history with a negative limit', '{"action":"history","room":"lobby","limit":-5}', error('BAD_REQUEST')],
  ['history of a room not joined', '{"action":"history","room":"elsewhere"}', error('NOT_A_MEMBER')],
];

test.each(refused)('%s: answered, nothing written, the connection keeps working', async (_, text, answer) => {
  const before = await table();
  const reply = member.next((f) => answer(f) || f.type === 'error' || f.type === 'help');
  member.send(text);
  const frame = await reply;
  expect(answer(frame)).toBe(true);
  if (frame.type === 'help') expect(frame.echo).toBe(text.slice(0, 1024));
  await stillWorks(member);
  expect(await table()).toEqual(before);
});

test('a 127 KB message (in 32 KB frames) reaches the handler: MESSAGE_TOO_LARGE, nothing written', async () => {
  const before = await table();
  const reply = member.next(error('MESSAGE_TOO_LARGE'));
  sendFragmented(member, JSON.stringify({ action: 'send', room: 'lobby', msg: 'x'.repeat(127 * KB - 40) }));
  await reply;
  await stillWorks(member);
  expect(await table()).toEqual(before);
});

describe('extra and prototype-polluting fields are ignored', () => {
  test.each([
    [
      'extra fields and a claimed sender',
      { from: { connectionId: 'FAKEFAKEFAKEFA=', name: 'Admin' }, admin: true },
    ],
    ['a __proto__ key', JSON.parse('{"__proto__":{"room":"elsewhere","isAdmin":true}}')],
    ['a constructor key', { constructor: { prototype: { isAdmin: true } } }],
  ])('%s', async (_, extra) => {
    const text = `m-${Math.random()}`;
    const echo = await member.request({ action: 'send', room: 'lobby', msg: text, ...extra }, 'message');
    expect(echo).toEqual({
      type: 'message',
      room: 'lobby',
      id: expect.any(String),
      from: { name: 'Member', handle: handleOf(memberId) },
      msg: text,
      sentAt: expect.any(String),
    });
    expect(({} as Record<string, unknown>).isAdmin).toBeUndefined();
  });
});

describe('frames API Gateway closes the connection for', () => {
  test.each([
    [
      'a message over 128 KB',
      1009,
      (c: TestClient) => sendFragmented(c, JSON.stringify({ action: 'send', msg: 'x'.repeat(129 * KB) })),
    ],
    [
      'a single frame over 32 KB',
      1009,
      (c: TestClient) => c.send({ action: 'send', room: 'lobby', msg: 'x'.repeat(40 * KB) }),
    ],
    ['a binary frame', 1003, (c: TestClient) => c.ws.send(Buffer.from([1, 2, 3]), { binary: true })],
  ])('%s: close %i, nothing written, the gateway keeps serving', async (_, code, act) => {
    const before = await table();
    const client = await TestClient.connect(stack.webSocketUrl);
    act(client);
    expect((await client.closed).code).toBe(code);
    await stillWorks(member);
    // $disconnect removes the connection item that $connect wrote; nothing else changed.
    await eventually(async () => expect(await table()).toEqual(before));
  });
});

describe('the name on $connect', () => {
  test.each([
    ['1 KB of text', 'n'.repeat(KB)],
    ['a control character', 'Ad\u0007a'],
    ['a bidirectional override', 'Ada\u202E'],
    ['only spaces', '   '],
    ['only a Hangul filler', '\u3164'],
    ['only braille blanks', '\u2800\u2800\u2800'],
    ['a lone combining mark', '\u0301'],
    ['a combining grapheme joiner', 'Ada\u034F'],
  ])('with %s refuses the handshake with 400 and writes nothing', async (_, name) => {
    const before = await table();
    await expect(TestClient.connect(stack.webSocketUrl, { name })).rejects.toMatchObject({ status: 400 });
    expect(await table()).toEqual(before);
  });

  test('with HTML is kept as text: other members see it verbatim', async () => {
    const name = '<img src=x onerror=alert(1)>';
    const client = await TestClient.connect(stack.webSocketUrl, { name });
    const seen = member.next((f) => f.type === 'joined' && f.name === name);
    await client.request({ action: 'join', room: 'lobby' }, 'joined');
    expect(await seen).toMatchObject({ name });
    await client.close();
  });
});

describe('the @connections API', () => {
  const call = (method: string, id: string, body?: string) =>
    connectionsFetch(`${stack.connectionsUrl}/${id}`, { method, ...(body === undefined ? {} : { body }) });

  test.each([
    ['POST', 'UnknownConnAAA='],
    ['GET', 'UnknownConnAAA='],
    ['DELETE', 'UnknownConnAAA='],
  ])('%s to an unknown connection: 410 GoneException', async (method, id) => {
    const response = await call(method, encodeURIComponent(id), method === 'POST' ? '{}' : undefined);
    expect(response.status).toBe(410);
    expect(response.headers.get('x-amzn-errortype')).toBe('GoneException');
  });

  test('percent-encoded junk as the id: 400 BadRequestException', async () => {
    const response = await call('POST', '%E0%A4%A', '{}');
    expect(response.status).toBe(400);
    expect(response.headers.get('x-amzn-errortype')).toBe('BadRequestException');
    await stillWorks(member);
  });

  test('a POST over 128 KB: 413 PayloadTooLargeException, nothing delivered', async () => {
    const response = await call('POST', encodeURIComponent(memberId), 'x'.repeat(129 * KB));
    expect(response.status).toBe(413);
    expect(response.headers.get('x-amzn-errortype')).toBe('PayloadTooLargeException');
    await stillWorks(member);
    expect(member.raw.some((text) => text.startsWith('xxx'))).toBe(false);
  });
});
