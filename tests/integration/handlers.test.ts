import {
  ACTIONS,
  ChatStore,
  chatService,
  handleOf,
  LIVENESS_MS,
  PRESENCE_LIST_LIMIT,
  TYPING_RELAY_INTERVAL_MS,
} from 'chat-core';
import { membershipOf, newConnection, Population } from '../../bench/population';
import { HandlerHarness, sampleEvent } from '../support/handler-harness';
import { scanTable } from '../support/table-contents';

const harness = new HandlerHarness();
beforeAll(() => harness.start({ QUERY_PAGE_SIZE: '10' }));
afterAll(() => harness.stop());
beforeEach(() => harness.recorder.clear());

const { recorder } = harness;
const join = (connectionId: string, room: string) =>
  harness.invoke('JoinFunction', sampleEvent('join', { connectionId, body: { action: 'join', room } }));
const send = (connectionId: string, body: unknown) =>
  harness.invoke('SendFunction', sampleEvent('send', { connectionId, body }));

async function room(name: string, members: number): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < members; i++) {
    const id = await harness.connection(`member${i}`);
    await harness.store.joinRoom(id, name);
    ids.push(id);
  }
  return ids;
}

/**
 * One member per entry of `rooms`, written straight into the table in batches (the items `$connect` and
 * `join` write, as the bench writes them): many members of a room without a transaction each.
 */
async function tableOnlyMembers(rooms: string[]): Promise<string[]> {
  const connections = rooms.map((_, i) => newConnection(i));
  const population = new Population(harness.db.client, harness.db.table);
  await population.putConnections(connections);
  await population.putMemberships(connections.map((connection, i) => membershipOf(connection, rooms[i]!)));
  return connections.map((connection) => connection.connectionId);
}

describe('$connect', () => {
  test('the sample event registers the connection with its name, source IP and user agent', async () => {
    const event = sampleEvent('connect');
    const outcome = await harness.invoke('ConnectFunction', event);
    expect(outcome.result).toEqual({ statusCode: 200 });
    const connection = await harness.store.getConnection(event.requestContext.connectionId as string);
    expect(connection).toMatchObject({ name: 'Ada', sourceIp: '203.0.113.17', userAgent: 'wscat/6.0.1' });
    expect(recorder.posts).toEqual([]);
  });

  test('without ?name the connection has no name', async () => {
    const event = sampleEvent('connect', { connectionId: 'NoNameConnAAA0=', query: null });
    expect((await harness.invoke('ConnectFunction', event)).result).toEqual({ statusCode: 200 });
    expect((await harness.store.getConnection('NoNameConnAAA0='))?.name).toBeUndefined();
  });

  test('a bad name refuses the handshake with 400 and writes nothing', async () => {
    const before = await scanTable(harness.db.client, harness.db.table);
    const event = sampleEvent('connect', {
      connectionId: 'BadNameConnAA0=',
      query: { name: 'x'.repeat(40) },
    });
    const outcome = await harness.invoke('ConnectFunction', event);
    expect(outcome.result).toEqual({
      statusCode: 400,
      headers: { 'Content-Type': 'text/plain; charset=utf-8' },
      body: '"name" must be 1-32 characters',
    });
    expect(await scanTable(harness.db.client, harness.db.table)).toEqual(before);
  });
});

describe('join', () => {
  test('every member gets joined, the joiner last (with you), then the joiner gets members and history', async () => {
    const [a, b] = await room('join-room', 2);
    const c = await harness.connection('Cy');
    expect((await join(c, 'join-room')).result).toEqual({ statusCode: 200 });
    const joined = { type: 'joined', room: 'join-room', name: 'Cy', handle: handleOf(c) };
    expect(recorder.framesTo(a!)).toEqual([joined]);
    expect(recorder.framesTo(b!)).toEqual([joined]);
    expect(recorder.framesTo(c)).toEqual([
      { ...joined, you: true },
      {
        type: 'members',
        room: 'join-room',
        count: 3,
        members: expect.arrayContaining([
          { handle: handleOf(a!), name: 'member0' },
          { handle: handleOf(b!), name: 'member1' },
          { handle: handleOf(c), name: 'Cy' },
        ]),
      },
      { type: 'history', room: 'join-room', messages: [], more: false },
    ]);
    expect(recorder.posts.slice(-3).map((p) => p.connectionId)).toEqual([c, c, c]);
    // No frame names a connection id.
    const sent = recorder.posts.map((post) => post.data).join('\n');
    for (const id of [a!, b!, c]) expect(sent).not.toContain(id);
  });

  test('a second join answers ALREADY_JOINED to the caller only and writes nothing', async () => {
    const [a, b] = await room('dup-room', 2);
    const before = await scanTable(harness.db.client, harness.db.table);
    await join(a!, 'dup-room');
    expect(recorder.framesTo(a!)).toEqual([
      {
        type: 'error',
        code: 'ALREADY_JOINED',
        message: 'Already a member of room "dup-room"',
        action: 'join',
        room: 'dup-room',
      },
    ]);
    expect(recorder.framesTo(b!)).toEqual([]);
    expect(await scanTable(harness.db.client, harness.db.table)).toEqual(before);
  });

  test('an invalid room is a BAD_REQUEST that names the field', async () => {
    const a = await harness.connection();
    await join(a, 'bad#room');
    expect(recorder.framesTo(a)).toEqual([
      {
        type: 'error',
        code: 'BAD_REQUEST',
        message: '"room" must be 1-64 characters from A-Z, a-z, 0-9, "_" and "-"',
        action: 'join',
      },
    ]);
  });
});

describe('send', () => {
  test('the message reaches every member, the sender last, from the server record', async () => {
    const [a, b, c] = await room('send-room', 3);
    await send(a!, { action: 'send', room: 'send-room', msg: 'hi' });
    const frames = [a, b, c].map((id) => recorder.framesTo(id!));
    for (const received of frames) {
      expect(received).toEqual([
        {
          type: 'message',
          room: 'send-room',
          id: expect.stringMatching(/^[0-9A-HJKMNP-TV-Z]{26}$/),
          from: { name: 'member0', handle: handleOf(a!) },
          msg: 'hi',
          sentAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        },
      ]);
    }
    expect(new Set(frames.map((f) => f[0]?.id)).size).toBe(1);
    expect(recorder.posts.at(-1)?.connectionId).toBe(a);
  });

  test('a spoofed from or connectionId in the body is ignored', async () => {
    const [a, b] = await room('spoof-room', 2);
    await send(a!, {
      action: 'send',
      room: 'spoof-room',
      msg: 'x',
      from: { connectionId: b, name: 'Boss' },
      connectionId: b,
    });
    expect(recorder.framesTo(b!)[0]).toMatchObject({ from: { handle: handleOf(a!), name: 'member0' } });
  });

  test("a non-member's send is refused with NOT_A_MEMBER and delivers nothing", async () => {
    const [a] = await room('closed-room', 1);
    const outsider = await harness.connection();
    await send(outsider, { action: 'send', room: 'closed-room', msg: 'let me in' });
    expect(recorder.posts).toEqual([
      {
        connectionId: outsider,
        data: JSON.stringify({
          type: 'error',
          code: 'NOT_A_MEMBER',
          message: 'Not a member of room "closed-room"',
          action: 'send',
          room: 'closed-room',
        }),
      },
    ]);
    expect(recorder.framesTo(a!)).toEqual([]);
  });

  test('fan-out covers a room larger than one query page', async () => {
    const members = await tableOnlyMembers(Array(25).fill('big-room'));
    await send(members[0]!, { action: 'send', room: 'big-room', msg: 'to all' });
    expect(new Set(recorder.posts.map((p) => p.connectionId))).toEqual(new Set(members));
    expect(recorder.posts).toHaveLength(25);
  });

  test('a stale member (410) is removed, the others still get the message, and its rooms hear `left` once', async () => {
    const [a, stale, c] = await room('stale-room', 3);
    await harness.store.joinRoom(stale!, 'other-room');
    const [watcher] = await room('other-room', 1);
    recorder.behaviour = (id) => (id === stale ? 'gone' : 'deliver');
    try {
      // Two sends meet the same 410 at once: the member is still announced once per room.
      await Promise.all([
        send(a!, { action: 'send', room: 'stale-room', msg: 'anyone?' }),
        send(c!, { action: 'send', room: 'stale-room', msg: 'hello?' }),
      ]);
    } finally {
      recorder.behaviour = () => 'deliver';
    }
    const left = (roomId: string) => ({
      type: 'left',
      room: roomId,
      name: 'member1',
      handle: handleOf(stale!),
    });
    for (const id of [a!, c!]) {
      expect(recorder.framesTo(id).filter((f) => f.type === 'message')).toHaveLength(2);
      expect(recorder.framesTo(id).filter((f) => f.type === 'left')).toEqual([left('stale-room')]);
    }
    expect(recorder.framesTo(watcher!)).toEqual([left('other-room')]);
    expect(await harness.store.getConnection(stale!)).toBeUndefined();
    expect(await harness.store.listRoomMembers('stale-room')).not.toContain(stale);
    expect(await harness.store.listRoomMembers('other-room')).not.toContain(stale);
  });

  test('recipients whose @connections call fails (5xx) or hangs do not stop the rest; failures are logged', async () => {
    const [sender, failing, hanging, d, e] = await room('faulty-room', 5);
    recorder.behaviour = (id) => (id === failing ? 'fail' : id === hanging ? 'hang' : 'deliver');
    try {
      const outcome = await send(sender!, { action: 'send', room: 'faulty-room', msg: 'through' });
      expect(outcome.result).toEqual({ statusCode: 200 });
    } finally {
      recorder.behaviour = () => 'deliver';
    }
    for (const id of [d, e])
      expect(recorder.framesTo(id!)).toEqual([expect.objectContaining({ msg: 'through' })]);
    // The sender is told nothing failed: it gets its own message, no error.
    expect(recorder.framesTo(sender!)).toEqual([
      expect.objectContaining({ type: 'message', msg: 'through' }),
    ]);
    const warnings = harness.logs.filter((line) => line.includes('could not deliver to a room member'));
    for (const id of [failing, hanging])
      expect(warnings.some((line) => line.includes(`"recipient":"${id}"`))).toBe(true);
    // A failed delivery is not a gone connection: both stay members.
    expect((await harness.store.listRoomMembers('faulty-room')).sort()).toEqual(
      [sender, failing, hanging, d, e].sort(),
    );
  });

  test('an oversized msg is MESSAGE_TOO_LARGE', async () => {
    const [a, b] = await room('big-msg-room', 2);
    await send(a!, { action: 'send', room: 'big-msg-room', msg: 'x'.repeat(16 * 1024 + 1) });
    expect(recorder.framesTo(a!)).toEqual([
      expect.objectContaining({ type: 'error', code: 'MESSAGE_TOO_LARGE' }),
    ]);
    expect(recorder.framesTo(b!)).toEqual([]);
  });

  test('message bodies never reach the logs at info level', async () => {
    const [a] = await room('quiet-room', 1);
    await send(a!, { action: 'send', room: 'quiet-room', msg: 'secret-words-123' });
    expect(harness.logs.some((line) => line.includes('fan-out done'))).toBe(true);
    expect(harness.logs.join('\n')).not.toContain('secret-words-123');
  });
});

describe('presence', () => {
  const members = (connectionId: string, room: string) =>
    harness.request('MembersFunction', connectionId, { action: 'members', room });
  const typing = (connectionId: string, room: string) =>
    harness.request('TypingFunction', connectionId, { action: 'typing', room });
  /** A store whose clock runs `ms` behind: what it writes looks that old. */
  const storeAgo = (ms: number) =>
    new ChatStore({
      client: harness.db.client,
      table: harness.db.table,
      connectionLifetimeSeconds: 8100,
      now: () => Date.now() - ms,
    });

  test('members answers the room’s members (handles and names); a non-member gets NOT_A_MEMBER', async () => {
    const [a, b] = await room('members-room', 2);
    await members(a!, 'members-room');
    expect(recorder.framesTo(a!)).toEqual([
      {
        type: 'members',
        room: 'members-room',
        count: 2,
        members: expect.arrayContaining([
          { handle: handleOf(a!), name: 'member0' },
          { handle: handleOf(b!), name: 'member1' },
        ]),
      },
    ]);
    expect(recorder.framesTo(b!)).toEqual([]);
    const outsider = await harness.connection();
    await members(outsider, 'members-room');
    expect(recorder.framesTo(outsider)).toEqual([
      expect.objectContaining({
        type: 'error',
        code: 'NOT_A_MEMBER',
        action: 'members',
        room: 'members-room',
      }),
    ]);
  });

  test(`above ${PRESENCE_LIST_LIMIT} members: a count only, and no joined, left or typing for the room`, async () => {
    // One more than the limit: the room stays above it when the late joiner leaves again.
    const ids = await tableOnlyMembers(Array(PRESENCE_LIST_LIMIT + 1).fill('crowd-room'));
    const late = await harness.connection('Late');
    await join(late, 'crowd-room');
    expect(recorder.framesTo(late).map((f) => f.type)).toEqual(['joined', 'members', 'history']);
    expect(recorder.framesTo(late)[1]).toEqual({
      type: 'members',
      room: 'crowd-room',
      count: PRESENCE_LIST_LIMIT + 2,
    });
    await typing(late, 'crowd-room');
    await harness.request('LeaveFunction', late, { action: 'leave', room: 'crowd-room' });
    for (const id of ids) expect(recorder.framesTo(id)).toEqual([]);
    expect(recorder.framesTo(late).map((f) => f.type)).toEqual(['joined', 'members', 'history', 'left']);
  });

  test('typing reaches the other members, not the typist; one per 3 s is relayed, the rest dropped', async () => {
    const [a, b, c] = await room('typing-room', 3);
    await typing(a!, 'typing-room');
    const frame = { type: 'typing', room: 'typing-room', handle: handleOf(a!), name: 'member0' };
    expect(recorder.framesTo(b!)).toEqual([frame]);
    expect(recorder.framesTo(c!)).toEqual([frame]);
    expect(recorder.framesTo(a!)).toEqual([]);
    recorder.clear();
    // Too soon: dropped without reply, nothing posted.
    const outcome = await typing(a!, 'typing-room');
    expect(outcome.result).toEqual({ statusCode: 200 });
    expect(recorder.posts).toEqual([]);
    // Its last relayed typing 3 s back: relayed again.
    await chatService(harness.db.client, harness.db.table)
      .entities.membership.patch({ connectionId: a!, roomId: 'typing-room' })
      .set({ typingAt: Date.now() - TYPING_RELAY_INTERVAL_MS })
      .go();
    await typing(a!, 'typing-room');
    expect(recorder.framesTo(b!)).toEqual([frame]);
    // Another member's turn is its own.
    await typing(b!, 'typing-room');
    expect(recorder.framesTo(a!)).toEqual([
      expect.objectContaining({ type: 'typing', handle: handleOf(b!) }),
    ]);
    // Never stored as a message.
    expect((await harness.store.roomHistory('typing-room', { limit: 10 })).messages).toEqual([]);
  });

  test('typing in a room not joined is NOT_A_MEMBER and relays nothing', async () => {
    const [a] = await room('typing-closed', 1);
    const outsider = await harness.connection();
    await typing(outsider, 'typing-closed');
    expect(recorder.framesTo(outsider)).toEqual([
      expect.objectContaining({ type: 'error', code: 'NOT_A_MEMBER', action: 'typing' }),
    ]);
    expect(recorder.framesTo(a!)).toEqual([]);
  });

  test(`liveness: a member silent for ${LIVENESS_MS / 1000} s whose connection is gone is dropped, and the room hears left`, async () => {
    const [a, vanished, quiet, recent] = await room('live-room', 4);
    // vanished and quiet last pinged just over the bound ago; recent pinged just under it.
    await storeAgo(LIVENESS_MS + 1000).markSeen(vanished!);
    await storeAgo(LIVENESS_MS + 1000).markSeen(quiet!);
    await storeAgo(LIVENESS_MS - 10_000).markSeen(recent!);
    const gone = new Set([vanished, recent]);
    recorder.behaviour = (id) => (gone.has(id) ? 'gone' : 'deliver');
    try {
      await members(a!, 'live-room');
    } finally {
      recorder.behaviour = () => 'deliver';
    }
    const answer = recorder.framesTo(a!).find((f) => f.type === 'members');
    // quiet does not ping but is connected: listed. recent vanished inside the bound: not yet checked.
    expect(answer).toEqual({
      type: 'members',
      room: 'live-room',
      count: 3,
      members: expect.arrayContaining([
        { handle: handleOf(a!), name: 'member0' },
        { handle: handleOf(quiet!), name: 'member2' },
        { handle: handleOf(recent!), name: 'member3' },
      ]),
    });
    const left = { type: 'left', room: 'live-room', handle: handleOf(vanished!), name: 'member1' };
    for (const id of [a!, quiet!]) expect(recorder.framesTo(id)).toContainEqual(left);
    expect(await harness.store.getConnection(vanished!)).toBeUndefined();
    expect(await harness.store.listRoomMembers('live-room')).not.toContain(vanished);
    // A ping keeps a member from being checked: quiet pings, and is not asked after next time.
    await harness.request('DefaultFunction', quiet!, { action: 'ping' });
    expect(recorder.framesTo(quiet!).at(-1)).toEqual({ type: 'pong' });
    const seen = (await harness.store.getConnection(quiet!))!.seenAt!;
    expect(Date.now() - seen).toBeLessThan(LIVENESS_MS);
  });
});

describe('leave and $disconnect', () => {
  test('leave tells the remaining members and confirms to the leaver; a second leave is NOT_A_MEMBER', async () => {
    const [a, b] = await room('leave-room', 2);
    const leave = () =>
      harness.invoke(
        'LeaveFunction',
        sampleEvent('leave', { connectionId: a!, body: { action: 'leave', room: 'leave-room' } }),
      );
    await leave();
    const left = { type: 'left', room: 'leave-room', name: 'member0', handle: handleOf(a!) };
    expect(recorder.framesTo(b!)).toEqual([left]);
    expect(recorder.framesTo(a!)).toEqual([left]);
    recorder.clear();
    await leave();
    expect(recorder.framesTo(a!)).toEqual([
      expect.objectContaining({ code: 'NOT_A_MEMBER', action: 'leave' }),
    ]);
  });

  test('$disconnect removes the connection and its memberships and tells each room', async () => {
    const [a, b] = await room('dc-room-1', 2);
    const c = await harness.connection();
    await harness.store.joinRoom(a!, 'dc-room-2');
    await harness.store.joinRoom(c, 'dc-room-2');
    const outcome = await harness.invoke(
      'DisconnectFunction',
      sampleEvent('disconnect', { connectionId: a! }),
    );
    expect(outcome.result).toEqual({ statusCode: 200 });
    const handle = handleOf(a!);
    expect(recorder.framesTo(b!)).toEqual([{ type: 'left', room: 'dc-room-1', name: 'member0', handle }]);
    expect(recorder.framesTo(c)).toEqual([{ type: 'left', room: 'dc-room-2', name: 'member0', handle }]);
    expect(await harness.store.getConnection(a!)).toBeUndefined();
    expect(await harness.store.listConnectionRooms(a!)).toEqual([]);
  });
});

test('$disconnect of a connection in the most rooms allowed tells every room, well within the timeout', async () => {
  const busy = await harness.connection('Busy');
  const rooms = Array.from({ length: 50 }, (_, i) => `many-${i}`);
  // The busy connection joins as the app joins (the room cap counts); each room's watcher is an item only.
  for (const roomId of rooms) await harness.store.joinRoom(busy, roomId);
  const watchers = await tableOnlyMembers(rooms);
  const outcome = await harness.invoke(
    'DisconnectFunction',
    sampleEvent('disconnect', { connectionId: busy }),
  );
  expect(outcome.result).toEqual({ statusCode: 200 });
  rooms.forEach((roomId, i) => {
    expect(recorder.framesTo(watchers[i]!)).toEqual([
      expect.objectContaining({ type: 'left', room: roomId }),
    ]);
  });
  expect(await harness.store.listConnectionRooms(busy)).toEqual([]);
});

test("$default answers help with the echo, the actions and the caller's connection", async () => {
  const a = await harness.connection();
  await harness.invoke('DefaultFunction', sampleEvent('default', { connectionId: a, body: 'what?' }));
  expect(recorder.framesTo(a)).toEqual([
    {
      type: 'help',
      echo: 'what?',
      actions: ACTIONS,
      connection: {
        connectedAt: expect.any(String),
        lastActiveAt: expect.any(String),
        identity: { sourceIp: '127.0.0.1', userAgent: 'recorder' },
      },
    },
  ]);
});

test("the function logs' cold_start is the invocation's own: true on a fresh instance, then false", async () => {
  await harness.restart('JoinFunction');
  const a = await harness.connection();
  const outcomes = [await join(a, 'bad#room'), await join(a, 'bad#room')];
  expect(outcomes.map((outcome) => outcome.coldStart)).toEqual([true, false]);
  for (const outcome of outcomes) {
    const logged = harness.logs
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .filter((line) => line.function_request_id === outcome.requestId);
    expect(logged).toEqual([
      expect.objectContaining({ message: 'request refused', cold_start: outcome.coldStart }),
    ]);
  }
});

test('a non-WebSocket event is answered 400 without throwing', async () => {
  expect((await harness.invoke('SendFunction', { hello: 'world' })).result).toEqual({
    statusCode: 400,
    body: 'Bad event',
  });
});
