// Batching end to end (template parameter BatchWindowMs on): real `ws` clients against the local stack,
// whose send function invokes the batcher function through the local Lambda Invoke API.
import type { Browser } from 'playwright-core';
import {
  chooseName,
  describeInChromium,
  joinRoom,
  launchChromium,
  messages,
  send,
} from '../support/chat-page';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { eventually, type Frame, TestClient } from '../support/ws-client';

let stack: TestStack;
const open: TestClient[] = [];

beforeAll(async () => {
  // The longest window the template allows: sends of a burst land in one however loaded the machine is.
  stack = await startTestStack({ parameterOverrides: { BatchWindowMs: '1000' } });
});
afterAll(async () => {
  await Promise.all(open.map((client) => (client.ws.readyState <= 1 ? client.close() : undefined)));
  await stack?.stop();
});

async function member(name: string, room: string): Promise<TestClient> {
  const client = await TestClient.connect(stack.webSocketUrl, { name });
  open.push(client);
  const history = client.next((f) => f.type === 'history' && f.room === room);
  await client.request({ action: 'join', room }, 'joined');
  await history;
  return client;
}

/** Every chat message a client got, from `message` and `messages` frames alike, in order. */
const messagesOf = (client: TestClient): Frame[] =>
  client.frames.flatMap((f) =>
    f.type === 'message' ? [f] : f.type === 'messages' ? (f.messages as Frame[]) : [],
  );

test('a quiet room’s first message comes at once; a burst comes in `messages` frames, each message once to each member, each sender’s with its clientMsgId', async () => {
  const room = 'batched';
  const clients = [await member('Ada', room), await member('Bo', room), await member('Cy', room)];
  const [ada, bo, cy] = clients as [TestClient, TestClient, TestClient];

  const first = await ada.request(
    { action: 'send', room, msg: 'first', clientMsgId: 'first-message-id-0001' },
    'message',
  );
  expect(first).toMatchObject({ type: 'message', msg: 'first', clientMsgId: 'first-message-id-0001' });
  for (const other of [bo, cy])
    await other.next((f) => f.type === 'message' && f.id === first.id, WAIT_MS, true);

  // A burst: two sends from each member at once, each with its clientMsgId.
  const sent = clients.flatMap((client, i) =>
    [0, 1].map((n) => ({ client, msg: `burst ${i}.${n}`, clientMsgId: `burst-message-id-${i}-${n}-000` })),
  );
  for (const { client, msg, clientMsgId } of sent) client.send({ action: 'send', room, msg, clientMsgId });
  // Each sender's echoes come, each with its clientMsgId: then everyone else has been sent them.
  await eventually(() => {
    for (const { client, clientMsgId } of sent)
      expect(messagesOf(client).some((m) => m.clientMsgId === clientMsgId)).toBe(true);
  });
  // A barrier: a ping's pong comes after every frame posted to a client before it.
  await Promise.all(clients.map((client) => client.request({ action: 'ping' }, 'pong')));

  const expected = ['first', ...sent.map((s) => s.msg)].sort();
  for (const client of clients) {
    const got = messagesOf(client);
    expect(got.map((m) => m.msg).sort()).toEqual(expected);
    expect(new Set(got.map((m) => m.id)).size).toBe(expected.length);
    // Its own messages carry its clientMsgIds, nobody else's do.
    const own = sent.filter((s) => s.client === client).map((s) => s.clientMsgId);
    const withIds = got.filter((m) => m.clientMsgId !== undefined).map((m) => m.clientMsgId);
    expect(withIds.sort()).toEqual(client === ada ? ['first-message-id-0001', ...own].sort() : own.sort());
    expect(client.frames.filter((f) => f.type === 'error')).toEqual([]);
  }
  // The burst came batched, in `messages` frames.
  expect(clients.every((c) => c.frames.some((f) => f.type === 'messages'))).toBe(true);
  // Stored at once and replayed like any other: history has them all, without clientMsgIds.
  const history = await bo.request({ action: 'history', room }, 'history');
  expect((history.messages as Frame[]).map((m) => m.msg).sort()).toEqual(expected);
  expect(JSON.stringify(history)).not.toContain('clientMsgId');
});

describeInChromium('tests/e2e/batching.test.ts')('the chat page in a batched room', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  test('shows each message of a `messages` frame once, and its own ones confirm its outbox', async () => {
    const room = 'batched-page';
    const page = await (await browser.newContext()).newPage();
    page.setDefaultTimeout(WAIT_MS);
    const pageErrors: string[] = [];
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(stack.pageUrl);
    await chooseName(page, 'Ada');
    await joinRoom(page, room);
    const bo = await member('Bo', room);
    // Bo's burst reaches the page batched (all but maybe the first); the page's own messages are echoed
    // by batches too while the room is busy.
    const burst = ['one', 'two', 'three', 'four'];
    for (const msg of burst) bo.send({ action: 'send', room, msg });
    for (const msg of ['mine 1', 'mine 2']) await send(page, msg);
    for (const msg of burst) await messages(page, room, msg, 'Bo').waitFor();
    for (const msg of ['mine 1', 'mine 2']) await messages(page, room, msg, 'Ada').waitFor();
    await page.waitForFunction(() => document.querySelectorAll('#outbox li').length === 0);
    for (const msg of burst) expect(await messages(page, room, msg).count()).toBe(1);
    expect(bo.frames.some((f) => f.type === 'messages')).toBe(true);
    expect(pageErrors).toEqual([]);
  });
});
