import {
  ChatStore,
  HISTORY_MAX_LIMIT,
  lowestIdAt,
  MESSAGE_MAX_BYTES,
  type MessageRecord,
  SINCE_OVERLAP_MS,
  timeOfId,
  timeSortableId,
} from 'chat-core';
import { Population } from '../../bench/population';
import { HandlerHarness, sampleEvent } from '../support/handler-harness';
import { LONG_TEST_MS } from '../support/timeouts';

// The functions reach DynamoDB through a pass-through proxy that counts their calls.
const harness = new HandlerHarness();
beforeAll(() => harness.start({}, { proxy: true }));
afterAll(() => harness.stop());
beforeEach(() => harness.recorder.clear());

const { recorder } = harness;
const invoke = harness.request.bind(harness);

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

  test('join with since replays what came after it, from SINCE_OVERLAP_MS before it (clients drop the overlap by id)', async () => {
    const { member, ids } = await roomWithMessages('rejoin', 3);
    // A message from 5 s more than the overlap before the others: outside the window.
    const old = lowestIdAt(timeOfId(ids[0]!) - SINCE_OVERLAP_MS - 5_000).slice(0, 10) + 'Z'.repeat(16);
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

/** API Gateway's limit on one message as sent. */
const FRAME_LIMIT = 128 * 1024;

describe('worst-case messages never make a frame over 128 KB', () => {
  // Each costs 16 KiB in a frame: a quote is escaped as two bytes.
  const worstCase = (i: number) => `${i}`.padEnd(MESSAGE_MAX_BYTES / 2, '"');
  const COUNT = 20;
  type History = { type: string; messages: { id: string; msg: string }[]; more: boolean };

  test('join, history paging and a reconnect with since all stay within the frame limit and lose nothing', async () => {
    const room = 'worst-case';
    const ada = await harness.connection('Ada');
    await harness.store.joinRoom(ada, room);
    const ids: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      // Through the send route, as a member would (within the request burst of 60).
      await invoke('SendFunction', ada, { action: 'send', room, msg: worstCase(i) });
      ids.push((recorder.framesTo(ada).at(-1) as { id: string }).id);
    }
    recorder.clear();
    const bob = await harness.connection('Bob');
    await invoke('JoinFunction', bob, { action: 'join', room });
    let page = recorder.framesTo(bob).at(-1) as History;
    expect(page.type).toBe('history');
    const seen = page.messages.map((m) => m.id);
    while (page.more) {
      await invoke('HistoryFunction', bob, { action: 'history', room, before: seen[0], limit: 100 });
      page = recorder.framesTo(bob).at(-1) as History;
      expect(page.type).toBe('history');
      expect(page.messages.length).toBeGreaterThan(0);
      seen.unshift(...page.messages.map((m) => m.id));
    }
    expect(seen).toEqual(ids);

    // A reconnect after the 5th message: the replay and its pages hold everything after it.
    const back = await harness.connection('Bob');
    await invoke('JoinFunction', back, { action: 'join', room, since: ids[4] });
    page = recorder.framesTo(back).at(-1) as History;
    const replayed = page.messages.map((m) => m.id);
    while (page.more && !replayed.includes(ids[5]!)) {
      await invoke('HistoryFunction', back, { action: 'history', room, before: replayed[0], limit: 100 });
      page = recorder.framesTo(back).at(-1) as History;
      replayed.unshift(...page.messages.map((m) => m.id));
    }
    expect(replayed.filter((id) => id > ids[4]!)).toEqual(ids.slice(5));

    expect(recorder.posts.length).toBeGreaterThan(3);
    for (const post of recorder.posts) expect(Buffer.byteLength(post.data)).toBeLessThanOrEqual(FRAME_LIMIT);
  });
});

describe('reads never touch expired messages in bulk', () => {
  // The bench (`npm run bench`) measures 40,000; the Query count does not depend on how many there are.
  // Enough that reading through them would take many Queries at every limit tested (a Query reads at
  // most limit + 1 items); live messages enough for several pages at limit 10.
  const EXPIRED = 1_000;
  const LIVE = 21;
  const room = 'long-tail';
  let member: string;
  let live: string[];

  beforeAll(async () => {
    // Messages from two days ago, past their 24-hour lifetime; DynamoDB's TTL has not deleted them yet.
    const start = Date.now() - 2 * 24 * 3600 * 1000;
    const expired: MessageRecord[] = Array.from({ length: EXPIRED }, (_, i) => ({
      roomId: room,
      // (timeSortableId never goes back in time within a process: these ids are made by hand.)
      id: lowestIdAt(start + i),
      senderId: 'OldSender0000A=',
      senderName: 'Old',
      msg: `expired ${i}`,
      sentAt: new Date(start + i).toISOString(),
      expiresAt: Math.floor((start + i) / 1000) + 24 * 3600,
    }));
    await new Population(harness.db.client, harness.db.table).putMessages(expired);
    ({ member, ids: live } = await roomWithMessages(room, LIVE));
  }, LONG_TEST_MS);

  const queriesFor = async (run: () => Promise<unknown>) => {
    const calls = harness.proxy!.calls;
    const before = calls.get('Query') ?? 0;
    await run();
    return (calls.get('Query') ?? 0) - before;
  };

  test.each([1, 10, 50, 100])(
    'history with limit %i reaches the oldest live message in one or two Queries',
    async (limit) => {
      let before: string | undefined;
      const received: string[] = [];
      for (;;) {
        recorder.clear();
        const queries = await queriesFor(() =>
          invoke('HistoryFunction', member, {
            action: 'history',
            room,
            limit,
            ...(before ? { before } : {}),
          }),
        );
        expect(queries).toBeLessThanOrEqual(2);
        const page = recorder.framesTo(member).at(-1) as { messages: { id: string }[]; more: boolean };
        received.unshift(...page.messages.map((m) => m.id));
        if (!page.more) break;
        before = page.messages[0]!.id;
      }
      expect(received).toEqual(live);
    },
  );

  test('join (with and without since) answers in one history Query beside the fan-out Query', async () => {
    const joiner = await harness.connection();
    recorder.clear();
    // One Query on the room index for the fan-out, one or two on the room's history.
    expect(
      await queriesFor(() => invoke('JoinFunction', joiner, { action: 'join', room })),
    ).toBeLessThanOrEqual(3);
    expect((recorder.framesTo(joiner).at(-1) as { messages: unknown[] }).messages).toHaveLength(LIVE);
    const again = await harness.connection();
    const since = lowestIdAt(Date.now() - 3 * 24 * 3600 * 1000);
    expect(
      await queriesFor(() => invoke('JoinFunction', again, { action: 'join', room, since })),
    ).toBeLessThanOrEqual(3);
    expect((recorder.framesTo(again).at(-1) as { messages: unknown[] }).messages).toHaveLength(LIVE);
  });
});
