// Idempotent send (`clientMsgId`): the built send handler against DynamoDB Local, through a proxy that
// makes chosen DynamoDB calls fail, so each point where a send can die is cut for real; a resend with
// the same clientMsgId must then finish the job: stored once, delivered to everyone.
import { createHash } from 'node:crypto';
import { chatService, handleOf, lowestIdAt, timeOfId } from 'chat-core';
import { DynamoDbFaultProxy, type Fault } from '../support/dynamodb-fault-proxy';
import { HandlerHarness, sampleEvent } from '../support/handler-harness';
import { scanTable } from '../support/table-contents';

const proxy = new DynamoDbFaultProxy(process.env.AWS_ENDPOINT_URL_DYNAMODB!);
const harness = new HandlerHarness();
beforeAll(async () => {
  await harness.start({ AWS_ENDPOINT_URL_DYNAMODB: await proxy.start() });
});
afterAll(async () => {
  await harness.stop();
  await proxy.stop();
});
beforeEach(() => harness.recorder.clear());
afterEach(() => {
  proxy.fault = () => 'pass';
  harness.recorder.behaviour = () => 'deliver';
});

const { recorder } = harness;
type Frame = Record<string, unknown>;
let rooms = 0;

/** A fresh room with the sender (Ada) and one other member (Bo). */
async function room(): Promise<{ room: string; ada: string; bo: string }> {
  const name = `idem-${++rooms}`;
  const ada = await member('Ada', name);
  const bo = await member('Bo', name);
  return { room: name, ada, bo };
}

async function member(name: string, room: string): Promise<string> {
  const id = await harness.connection(name);
  await harness.store.joinRoom(id, room);
  return id;
}

let clientIds = 0;
const newClientMsgId = () => `client-msg-${Date.now()}-${++clientIds}`.padEnd(24, 'x');

function send(connectionId: string, body: Frame) {
  return harness.invoke(
    'SendFunction',
    sampleEvent('send', { connectionId, body: { action: 'send', ...body } }),
  );
}

const messagesTo = (connectionId: string) =>
  recorder.framesTo(connectionId).filter((f) => f.type === 'message');
const errorsTo = (connectionId: string) => recorder.framesTo(connectionId).filter((f) => f.type === 'error');
const stored = async (room: string) => (await harness.store.roomHistory(room, { limit: 100 })).messages;

test('a repeat from the same connection is stored once and echoed with the same id; only the echo has the clientMsgId', async () => {
  const { room: r, ada, bo } = await room();
  const clientMsgId = newClientMsgId();
  await send(ada, { room: r, msg: 'once', clientMsgId });
  await send(ada, { room: r, msg: 'once', clientMsgId });
  const [message, ...others] = await stored(r);
  expect(others).toEqual([]);
  const echoes = messagesTo(ada);
  expect(echoes).toEqual([
    expect.objectContaining({ id: message!.id, msg: 'once', clientMsgId }),
    expect.objectContaining({ id: message!.id, msg: 'once', clientMsgId }),
  ]);
  // The other member is sent it again (and drops the repeat by id), never with the clientMsgId.
  expect(messagesTo(bo).map((f) => f.id)).toEqual([message!.id, message!.id]);
  expect(JSON.stringify(recorder.framesTo(bo))).not.toContain(clientMsgId);
});

test('a repeat from a new connection after a reconnect gets the first send’s message', async () => {
  const { room: r, ada, bo } = await room();
  const clientMsgId = newClientMsgId();
  await send(ada, { room: r, msg: 'across connections', clientMsgId });
  const again = await member('Ada', r);
  await send(again, { room: r, msg: 'across connections', clientMsgId });
  const messages = await stored(r);
  expect(messages).toHaveLength(1);
  expect(messagesTo(again)).toEqual([expect.objectContaining({ id: messages[0]!.id, clientMsgId })]);
  // The message still says who sent it first.
  expect(messagesTo(again)[0]!.from).toEqual({ name: 'Ada', handle: handleOf(ada) });
  expect(new Set(messagesTo(bo).map((f) => f.id))).toEqual(new Set([messages[0]!.id]));
});

test('concurrent repeats from three connections store one message and all get its id', async () => {
  const r = `idem-${++rooms}`;
  const senders = [await member('Ada', r), await member('Ada', r), await member('Ada', r)];
  const clientMsgId = newClientMsgId();
  await Promise.all(senders.map((id) => send(id, { room: r, msg: 'raced', clientMsgId })));
  const messages = await stored(r);
  expect(messages).toHaveLength(1);
  for (const id of senders)
    expect(messagesTo(id).find((f) => f.clientMsgId === clientMsgId)).toMatchObject({ id: messages[0]!.id });
});

test.each([
  ['another sender name', 'Eve', 'same text'],
  ['other text', 'Ada', 'changed text'],
])('a repeat with %s is CLIENT_MSG_ID_CONFLICT and changes nothing', async (_, name, text) => {
  const { room: r, ada } = await room();
  const clientMsgId = newClientMsgId();
  await send(ada, { room: r, msg: 'same text', clientMsgId });
  const before = await scanTable(harness.db.client, harness.db.table);
  const other = await member(name, r);
  recorder.clear();
  await send(other, { room: r, msg: text, clientMsgId });
  expect(recorder.posts.map((p) => p.connectionId)).toEqual([other]);
  expect(errorsTo(other)).toEqual([
    {
      type: 'error',
      code: 'CLIENT_MSG_ID_CONFLICT',
      message: `"clientMsgId" was already used in room "${r}" for another message`,
      action: 'send',
      room: r,
    },
  ]);
  const after = await scanTable(harness.db.client, harness.db.table);
  expect(after.filter((item) => item.roomId === r && item.connectionId !== other)).toEqual(
    before.filter((item) => item.roomId === r),
  );
});

test.each([
  ['too short', 'abc'],
  ['with a key delimiter', `${'a'.repeat(20)}#x`],
  ['too long', 'a'.repeat(65)],
  ['not a string', 1234567890123456],
])('a clientMsgId %s is BAD_REQUEST and writes nothing', async (_, clientMsgId) => {
  const { room: r, ada } = await room();
  const before = await scanTable(harness.db.client, harness.db.table);
  await send(ada, { room: r, msg: 'hi', clientMsgId });
  expect(errorsTo(ada)).toEqual([expect.objectContaining({ code: 'BAD_REQUEST', action: 'send' })]);
  expect(await scanTable(harness.db.client, harness.db.table)).toEqual(before);
});

test('history never carries a clientMsgId, not even to the sender', async () => {
  const { room: r, ada, bo } = await room();
  const clientMsgId = newClientMsgId();
  await send(ada, { room: r, msg: 'private id', clientMsgId });
  recorder.clear();
  for (const id of [ada, bo]) {
    await harness.invoke(
      'HistoryFunction',
      sampleEvent('history', { connectionId: id, body: { action: 'history', room: r } }),
    );
  }
  expect(recorder.posts).toHaveLength(2);
  for (const post of recorder.posts) {
    expect(post.data).toContain('private id');
    expect(post.data).not.toContain(clientMsgId);
  }
});

/** Matches a DynamoDB request by operation and a fragment of its JSON. */
const call = (operation: string, fragment: string) => (op: string, request: string) =>
  op === operation && request.includes(fragment);

describe('a send that dies at any point is finished by a resend with its clientMsgId', () => {
  const cuts: [string, (op: string, request: string) => boolean][] = [
    ['before anything is written (the receipt write fails)', call('PutItem', '"S":"sendReceipt"')],
    ['between the receipt and the message write', call('PutItem', '"__edb_e__":{"S":"message"}')],
    ['after storing, before fan-out (the members Query fails)', call('Query', '"IndexName":"gsi1"')],
  ];
  test.each(cuts)('%s', async (_, isCut) => {
    const { room: r, ada, bo } = await room();
    const clientMsgId = newClientMsgId();
    proxy.fault = (op, request): Fault => (isCut(op, request) ? 'fail' : 'pass');
    await send(ada, { room: r, msg: 'cut short', clientMsgId });
    proxy.fault = () => 'pass';
    expect(errorsTo(ada)).toEqual([expect.objectContaining({ code: 'INTERNAL', action: 'send' })]);
    expect(messagesTo(bo)).toEqual([]);

    // The sender reconnects (a new connection) and resends.
    const again = await member('Ada', r);
    await send(again, { room: r, msg: 'cut short', clientMsgId });
    const messages = await stored(r);
    expect(messages.map((m) => m.msg)).toEqual(['cut short']);
    expect(messagesTo(bo)).toEqual([expect.objectContaining({ id: messages[0]!.id, msg: 'cut short' })]);
    expect(messagesTo(again)).toEqual([expect.objectContaining({ id: messages[0]!.id, clientMsgId })]);
  });

  test('during fan-out (the echo to the sender fails)', async () => {
    const { room: r, ada, bo } = await room();
    const clientMsgId = newClientMsgId();
    recorder.behaviour = (id) => (id === ada ? 'fail' : 'deliver');
    await send(ada, { room: r, msg: 'unconfirmed', clientMsgId });
    recorder.behaviour = () => 'deliver';
    expect(messagesTo(ada)).toEqual([]);
    const again = await member('Ada', r);
    await send(again, { room: r, msg: 'unconfirmed', clientMsgId });
    const messages = await stored(r);
    expect(messages).toHaveLength(1);
    expect(new Set(messagesTo(bo).map((f) => f.id))).toEqual(new Set([messages[0]!.id]));
    expect(messagesTo(again)).toEqual([expect.objectContaining({ id: messages[0]!.id, clientMsgId })]);
  });

  test('while the first send might still store its message under its id (8-13 s), a repeat is told to try again and stores nothing', async () => {
    const { room: r, ada } = await room();
    const clientMsgId = newClientMsgId();
    const receipts = chatService(harness.db.client, harness.db.table).entities.sendReceipt;
    await receipts
      .put({
        roomId: r,
        clientMsgId,
        messageId: lowestIdAt(Date.now() - 10_000),
        senderName: 'Ada',
        msgHash: createHash('sha256').update('in limbo').digest('base64url'),
        expiresAt: Math.floor(Date.now() / 1000) + 3600,
      })
      .go();
    const before = await scanTable(harness.db.client, harness.db.table);
    await send(ada, { room: r, msg: 'in limbo', clientMsgId });
    expect(errorsTo(ada)).toEqual([
      expect.objectContaining({ code: 'SEND_IN_PROGRESS', retryAfterMs: expect.any(Number) }),
    ]);
    // Only the sender's request token was spent (an accepted request, answered "try again").
    const withoutBucket = (items: Record<string, unknown>[]) =>
      items.map(({ bucketFullAt: _, ...item }) => item);
    expect(withoutBucket(await scanTable(harness.db.client, harness.db.table))).toEqual(
      withoutBucket(before),
    );
  });

  test('long after a send died between its writes, the resend stores it under a fresh id (a replay after `since` finds it)', async () => {
    const { room: r, ada, bo } = await room();
    const clientMsgId = newClientMsgId();
    // What a send that died a minute ago between its two writes left: the receipt alone.
    const receipts = chatService(harness.db.client, harness.db.table).entities.sendReceipt;
    const deadId = lowestIdAt(Date.now() - 60_000);
    await receipts
      .put({
        roomId: r,
        clientMsgId,
        messageId: deadId,
        senderName: 'Ada',
        msgHash: createHash('sha256').update('late').digest('base64url'),
        expiresAt: Math.floor(Date.now() / 1000) + 3600,
      })
      .go();

    const before = Date.now();
    await send(ada, { room: r, msg: 'late', clientMsgId });
    const late = (await stored(r)).filter((m) => m.msg === 'late');
    expect(late).toHaveLength(1);
    expect(late[0]!.id).not.toBe(deadId);
    expect(timeOfId(late[0]!.id)).toBeGreaterThanOrEqual(before - 1000);
    const { data: receipt } = await receipts.get({ roomId: r, clientMsgId }).go();
    expect(receipt?.messageId).toBe(late[0]!.id);
    expect(messagesTo(bo).filter((f) => f.msg === 'late')).toEqual([
      expect.objectContaining({ id: late[0]!.id }),
    ]);
    // And a further repeat keeps that id.
    await send(ada, { room: r, msg: 'late', clientMsgId });
    expect((await stored(r)).filter((m) => m.msg === 'late')).toHaveLength(1);
    expect(messagesTo(ada).at(-1)).toMatchObject({ id: late[0]!.id, clientMsgId });
  });
});
