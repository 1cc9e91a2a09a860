import { ChatStore, HISTORY_MAX_LIMIT, lowestIdAt, timeOfId, timeSortableId } from 'chat-core';
import { HandlerHarness, sampleEvent } from '../support/handler-harness';

const harness = new HandlerHarness();
beforeAll(() => harness.start());
afterAll(() => harness.stop());
beforeEach(() => harness.recorder.clear());

const { recorder } = harness;
const SAMPLE = { JoinFunction: 'join', SendFunction: 'send', HistoryFunction: 'history' } as const;
const invoke = (fn: keyof typeof SAMPLE, connectionId: string, body: unknown) =>
  harness.invoke(fn, sampleEvent(SAMPLE[fn], { connectionId, body }));

/** A room with one member who has sent `count` messages (stored as `send` stores them). */
async function roomWithMessages(room: string, count: number) {
  const member = await harness.connection('Ada');
  await harness.store.joinRoom(member, room);
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const message = await harness.store.saveMessage({
      roomId: room,
      id: timeSortableId(),
      senderId: member,
      senderName: 'Ada',
      msg: `m${i}`,
      sentAt: new Date().toISOString(),
    });
    ids.push(message.id);
  }
  return { member, ids };
}

describe('the store', () => {
  test('history pages newest first with before/limit/more and returns each page oldest first', async () => {
    const { ids } = await roomWithMessages('paging', 7);
    const latest = await harness.store.roomHistory('paging', { limit: 3 });
    expect(latest.messages.map((m) => m.id)).toEqual(ids.slice(4));
    expect(latest.more).toBe(true);
    const older = await harness.store.roomHistory('paging', { before: ids[4]!, limit: 3 });
    expect(older.messages.map((m) => m.id)).toEqual(ids.slice(1, 4));
    expect(older.more).toBe(true);
    const oldest = await harness.store.roomHistory('paging', { before: ids[1]!, limit: 3 });
    expect(oldest).toMatchObject({ messages: [expect.objectContaining({ id: ids[0] })], more: false });
  });

  test('messages after an id (reconnect with since), and between two ids', async () => {
    const { ids } = await roomWithMessages('since', 5);
    const after = await harness.store.roomHistory('since', { after: ids[1]!, limit: 50 });
    expect(after.messages.map((m) => m.id)).toEqual(ids.slice(2));
    expect(after.more).toBe(false);
    const between = await harness.store.roomHistory('since', { after: ids[0]!, before: ids[4]!, limit: 50 });
    expect(between.messages.map((m) => m.id)).toEqual(ids.slice(1, 4));
  });

  test('expired messages are not returned', async () => {
    await roomWithMessages('expiring', 2);
    const tomorrow = new ChatStore({
      client: harness.db.client,
      table: harness.db.table,
      connectionLifetimeSeconds: 8100,
      now: () => Date.now() + 25 * 3600 * 1000,
    });
    expect(await tomorrow.roomHistory('expiring', { limit: 50 })).toEqual({ messages: [], more: false });
  });
});

describe('the routes', () => {
  test('send stores the message it delivers; join replays it', async () => {
    const ada = await harness.connection('Ada');
    await harness.store.joinRoom(ada, 'replay');
    await invoke('SendFunction', ada, { action: 'send', room: 'replay', msg: 'first' });
    const [delivered] = recorder.framesTo(ada);
    const bob = await harness.connection('Bob');
    recorder.clear();
    await invoke('JoinFunction', bob, { action: 'join', room: 'replay' });
    expect(recorder.framesTo(bob).at(-1)).toEqual({
      type: 'history',
      room: 'replay',
      messages: [delivered],
      more: false,
    });
  });

  test('join with since replays what came after it, from 10 s before it (clients drop the overlap by id)', async () => {
    const { member, ids } = await roomWithMessages('rejoin', 3);
    // A message from 20 s before the others: outside the overlap window.
    const old = lowestIdAt(timeOfId(ids[0]!) - 20_000).slice(0, 10) + 'Z'.repeat(16);
    await harness.store.saveMessage({ roomId: 'rejoin', id: old, senderId: member, msg: 'old', sentAt: '' });
    const back = await harness.connection();
    await invoke('JoinFunction', back, { action: 'join', room: 'rejoin', since: ids[1] });
    const history = recorder.framesTo(back).at(-1) as { messages: { id: string }[]; more: boolean };
    expect(history.messages.map((m) => m.id)).toEqual(ids);
  });

  test('history action: members only, before and limit, capped at 100', async () => {
    const { member, ids } = await roomWithMessages('scroll', 3);
    await invoke('HistoryFunction', member, { action: 'history', room: 'scroll', before: ids[2], limit: 1 });
    expect(recorder.framesTo(member)).toEqual([
      {
        type: 'history',
        room: 'scroll',
        messages: [expect.objectContaining({ id: ids[1], msg: 'm1' })],
        more: true,
      },
    ]);
    const outsider = await harness.connection();
    await invoke('HistoryFunction', outsider, { action: 'history', room: 'scroll' });
    expect(recorder.framesTo(outsider)).toEqual([
      expect.objectContaining({ type: 'error', code: 'NOT_A_MEMBER' }),
    ]);
  });

  test('a limit over the cap returns at most 100 messages', async () => {
    const { member } = await roomWithMessages('capped', HISTORY_MAX_LIMIT + 3);
    await invoke('HistoryFunction', member, { action: 'history', room: 'capped', limit: 1000 });
    const [history] = recorder.framesTo(member) as { messages: unknown[]; more: boolean }[];
    expect(history!.messages).toHaveLength(HISTORY_MAX_LIMIT);
    expect(history!.more).toBe(true);
  });

  test.each([
    [{ before: 'not-an-id' }, 'before'],
    [{ limit: 0 }, 'limit'],
    [{ limit: 'ten' }, 'limit'],
  ])('history with %p is a BAD_REQUEST naming %s', async (extra, field) => {
    const { member } = await roomWithMessages(`bad-${field}`, 1);
    await invoke('HistoryFunction', member, { action: 'history', room: `bad-${field}`, ...extra });
    expect(recorder.framesTo(member)).toEqual([
      expect.objectContaining({
        type: 'error',
        code: 'BAD_REQUEST',
        message: expect.stringContaining(`"${field}"`),
      }),
    ]);
  });

  test('join with a malformed since is refused before joining', async () => {
    const a = await harness.connection();
    await invoke('JoinFunction', a, { action: 'join', room: 'no-join', since: 'yesterday' });
    expect(recorder.framesTo(a)).toEqual([expect.objectContaining({ code: 'BAD_REQUEST', action: 'join' })]);
    expect(await harness.store.getMembership(a, 'no-join')).toBeUndefined();
  });

  test('ping is answered with pong by $default', async () => {
    const a = await harness.connection();
    await harness.invoke(
      'DefaultFunction',
      sampleEvent('default', { connectionId: a, body: { action: 'ping' } }),
    );
    expect(recorder.framesTo(a)).toEqual([{ type: 'pong' }]);
  });
});
