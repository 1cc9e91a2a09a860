// Batching (template parameter BatchWindowMs): the hand-off between sends and a room's batching window on
// DynamoDB Local. The built send function and batcher (through the local Lambda Invoke API) for the
// opener's path; the layer in this process, with a clock of the test's, where the outcome depends on
// when a send comes; and many concurrent sends, each of which must reach every member exactly once.
import {
  ChatStore,
  ConnectionsApi,
  chatService,
  type MessageRecord,
  type SavedMessage,
  timeSortableId,
} from 'chat-core';
import { deliverWindow, startBatcher } from '../../layers/chat-core/src/batcher';
import { type FanoutDeps, fanOut } from '../../layers/chat-core/src/fanout';
import { messageFrame } from '../../layers/chat-core/src/protocol';
import { LOCAL_AWS_ENV } from '../../local/dynamodb';
import { HandlerHarness } from '../support/handler-harness';
import { eventually } from '../support/ws-client';

const WINDOW_MS = 200;
const harness = new HandlerHarness();
const { recorder } = harness;
let clock = Date.now();
/** The layer in this process: a store on the test's clock, posting to the harness's recorder. */
let deps: FanoutDeps;

beforeAll(async () => {
  await harness.start({}, { parameterOverrides: { BatchWindowMs: String(WINDOW_MS) } });
  Object.assign(process.env, LOCAL_AWS_ENV); // what this process signs its `@connections` POSTs with
  const store = new ChatStore({
    client: harness.db.client,
    table: harness.db.table,
    connectionLifetimeSeconds: 8100,
    batchWindowMs: WINDOW_MS,
    now: () => clock,
  });
  deps = { store, connections: new ConnectionsApi(`${harness.recorderUrl}/dev`), concurrency: 16 };
});
afterAll(() => harness.stop());
beforeEach(() => recorder.clear());

type Frame = Record<string, unknown> & { messages?: Frame[] };
let rooms = 0;

async function roomOf(...names: string[]): Promise<{ room: string; members: string[] }> {
  const room = `batch-${++rooms}`;
  const members: string[] = [];
  for (const name of names) {
    const id = await harness.connection(name);
    await harness.store.joinRoom(id, room);
    members.push(id);
  }
  return { room, members };
}

/** Every chat message a connection was posted, as (frame type, message id, clientMsgId), in order. */
function messagesTo(connectionId: string): { via: string; id: unknown; clientMsgId: unknown }[] {
  return recorder.framesTo(connectionId).flatMap((frame: Frame) => {
    if (frame.type === 'message') return [{ via: 'message', id: frame.id, clientMsgId: frame.clientMsgId }];
    if (frame.type === 'messages')
      return frame.messages!.map((m) => ({ via: 'messages', id: m.id, clientMsgId: m.clientMsgId }));
    return [];
  });
}

const windowOf = async (room: string) =>
  (
    await chatService(harness.db.client, harness.db.table).entities.batchWindow.get({ roomId: room }).go({
      consistent: true,
    })
  ).data;

let clientIds = 0;
const newClientMsgId = () => `batching-test-${Date.now()}-${++clientIds}`;

/** A send as the send function makes it, on the test's clock. */
function save(room: string, senderId: string, msg: string, clientMsgId?: string): Promise<SavedMessage> {
  const draft = { roomId: room, senderId, msg, sentAt: new Date(clock).toISOString() };
  return clientMsgId
    ? deps.store.saveMessageOnce(draft, clientMsgId)
    : deps.store.saveMessage({ ...draft, id: timeSortableId(clock) });
}

test('the built send: a quiet room’s first message is posted at once and opens a window its batcher closes', async () => {
  const { room, members } = await roomOf('Ada', 'Bo', 'Cy');
  const [ada, bo, cy] = members as [string, string, string];
  const clientMsgId = newClientMsgId();
  const sent = await harness.request('SendFunction', ada, {
    action: 'send',
    room,
    msg: 'first',
    clientMsgId,
  });
  expect(sent.error).toBeUndefined();
  const [stored] = (await harness.store.roomHistory(room, { limit: 10 })).messages;
  // Posted by the send itself, before it returned: a `message` each, the echo with its clientMsgId.
  expect(messagesTo(bo)).toEqual([{ via: 'message', id: stored!.id, clientMsgId: undefined }]);
  expect(messagesTo(cy)).toEqual([{ via: 'message', id: stored!.id, clientMsgId: undefined }]);
  expect(messagesTo(ada)).toEqual([{ via: 'message', id: stored!.id, clientMsgId }]);
  // Its window was opened under its id and is closed by the batcher function, which has nothing to post.
  await eventually(async () =>
    expect(await windowOf(room)).toMatchObject({ windowId: stored!.id, closed: true, messageIds: [] }),
  );
  await eventually(() => expect(harness.lambda.inFlight).toBe(0));
  expect(recorder.posts.filter((p) => JSON.parse(p.data).type === 'messages')).toEqual([]);
});

test('sends during a window are stored at once and posted once, in one `messages` frame, each sender’s copy last with its clientMsgId', async () => {
  const { room, members } = await roomOf('Ada', 'Bo', 'Cy', 'Dee');
  const [ada, bo, cy, dee] = members as [string, string, string, string];
  clock = Date.now();
  const opener = await save(room, ada, 'opens');
  expect(opener).toMatchObject({
    postNow: true,
    opened: { room, windowId: opener.id, endsAt: clock + WINDOW_MS },
  });
  clock += 50;
  const second = await save(room, bo, 'joins');
  clock += 50;
  const clientMsgId = newClientMsgId();
  const third = await save(room, cy, 'joins too', clientMsgId);
  for (const joined of [second, third]) {
    expect(joined.postNow).toBe(false);
    expect(joined.opened).toBeUndefined();
  }
  expect(await windowOf(room)).toMatchObject({ windowId: opener.id, messageIds: [second.id, third.id] });
  // Stored at once: history and replays have them before the window ends.
  const history = (await deps.store.roomHistory(room, { limit: 10 })).messages;
  expect(history.map((m) => m.id)).toEqual([opener.id, second.id, third.id]);
  expect(history.map(messageFrame).every((f) => !('clientMsgId' in f))).toBe(true);

  clock = opener.opened!.endsAt;
  await deliverWindow(deps, opener.opened!);
  for (const member of members) {
    expect(messagesTo(member).map((m) => m.id)).toEqual([second.id, third.id]);
    expect(recorder.framesTo(member)).toHaveLength(1);
  }
  expect(messagesTo(cy).map((m) => m.clientMsgId)).toEqual([undefined, clientMsgId]);
  for (const member of [ada, bo, dee])
    expect(JSON.stringify(recorder.framesTo(member))).not.toContain(clientMsgId);
  // The senders' copies come after everyone else's.
  const order = recorder.posts.map((p) => p.connectionId);
  for (const sender of [bo, cy])
    for (const other of [ada, dee]) expect(order.indexOf(sender)).toBeGreaterThan(order.indexOf(other));
  expect(recorder.framesTo(ada)[0]).toEqual({
    type: 'messages',
    room,
    messages: [messageFrame(second), messageFrame(third)],
  });

  // Closed: a send now opens a new window; the room is busy, so it waits in it and is posted by its batcher.
  recorder.clear();
  clock += 10;
  const next = await save(room, dee, 'after the close');
  expect(next).toMatchObject({ postNow: false, opened: { windowId: next.id } });
  expect(await windowOf(room)).toMatchObject({ windowId: next.id, closed: false, messageIds: [next.id] });
  clock = next.opened!.endsAt;
  await deliverWindow(deps, next.opened!);
  for (const member of members)
    expect(messagesTo(member)).toEqual([{ via: 'messages', id: next.id, clientMsgId: undefined }]);

  // Quiet again (no window ended within the last one): posted at once.
  clock += 2 * WINDOW_MS;
  expect(await save(room, ada, 'quiet again')).toMatchObject({ postNow: true, opened: expect.anything() });
});

test('a late batcher still gets what joined its window after its end; an abandoned window is replaced and a resend posts its message', async () => {
  const { room, members } = await roomOf('Ada', 'Bo');
  const [ada, bo] = members as [string, string];
  clock = Date.now();
  const opener = await save(room, ada, 'opens');
  clock += 10;
  const joined = await save(room, bo, 'joins');
  // Past its end, before its batcher came: still open, so the next send joins it too.
  clock = opener.opened!.endsAt + 1;
  const late = await save(room, bo, 'after the end');
  expect(late.postNow).toBe(false);
  await deliverWindow(deps, opener.opened!);
  for (const member of members) expect(messagesTo(member).map((m) => m.id)).toEqual([joined.id, late.id]);

  // A window whose batcher never comes: 10 s after its end the next send replaces it.
  recorder.clear();
  clock += 10 * WINDOW_MS;
  const second = await save(room, ada, 'quiet again');
  clock += 10;
  const clientMsgId = newClientMsgId();
  const stranded = await save(room, bo, 'its batcher never comes', clientMsgId);
  expect(stranded.postNow).toBe(false);
  clock = second.opened!.endsAt + 10_000;
  const replacing = await save(room, ada, 'replaces it');
  expect(replacing).toMatchObject({ postNow: true, opened: { windowId: replacing.id } });
  await deliverWindow(deps, second.opened!); // came too late: posts nothing
  expect(messagesTo(bo).map((m) => m.id)).toEqual([]);
  // The stranded sender got no echo, so it resends: stored once, and posted now.
  const resent = await save(room, bo, 'its batcher never comes', clientMsgId);
  expect(resent).toMatchObject({ id: stranded.id, postNow: true });
});

test('many concurrent sends in one room: each is stored once and reaches every member exactly once', async () => {
  const { room, members } = await roomOf('Ada', 'Bo', 'Cy', 'Dee');
  // The test's clock stands still: however slow DynamoDB Local is under load, every send after the first
  // finds the room busy, while the batchers (each sleeping one window) close windows under them.
  clock = Date.now();
  const batchers: Promise<void>[] = [];
  const sends = Array.from({ length: 24 }, async (_, i) => {
    const sender = members[i % members.length]!;
    const clientMsgId = newClientMsgId();
    const draft = { roomId: room, senderId: sender, msg: `m${i}`, sentAt: new Date(clock).toISOString() };
    const saved = await deps.store.saveMessageOnce(draft, clientMsgId);
    // What the send function does with it.
    if (saved.opened) batchers.push(startBatcher(deps, saved.opened, undefined));
    if (saved.postNow) {
      const frame = messageFrame(saved);
      await fanOut(deps, room, frame, { requester: sender, requesterFrame: { ...frame, clientMsgId } });
    }
    return { id: saved.id, sender, clientMsgId };
  });
  const sent = await Promise.all(sends);
  await Promise.all(batchers);
  const stored: MessageRecord[] = (await deps.store.roomHistory(room, { limit: 100 })).messages;
  expect(stored.map((m) => m.id).sort()).toEqual(sent.map((s) => s.id).sort());
  for (const member of members) {
    const got = messagesTo(member);
    expect(got.map((m) => m.id).sort()).toEqual(sent.map((s) => s.id).sort());
    // Each sender's own messages come back with their clientMsgId, nobody else's do.
    for (const { id, clientMsgId } of got) {
      const own = sent.find((s) => s.id === id)!;
      expect(clientMsgId).toBe(own.sender === member ? own.clientMsgId : undefined);
    }
  }
  // Only the first found the room quiet.
  expect(recorder.posts.some((p) => JSON.parse(p.data).type === 'messages')).toBe(true);
});
