import { ChatError, ChatStore, type ChatStoreOptions, ValidationError } from 'chat-core';
import { scanTable } from '../support/table-contents';
import { createTestTable, type TestTable } from '../support/test-table';

let db: TestTable;
beforeAll(async () => {
  db = await createTestTable();
});
afterAll(() => db.drop());

const LIFETIME = 3600;
let idCounter = 0;
/** Unique connection ids per test, in API Gateway's shape. */
const newId = () => `Test${String(++idCounter).padStart(11, '0')}=`;

function store(options: Partial<ChatStoreOptions> = {}) {
  return new ChatStore({
    client: db.client,
    table: db.table,
    connectionLifetimeSeconds: LIFETIME,
    ...options,
  });
}

async function connected(s = store(), name?: string) {
  const connectionId = newId();
  await s.registerConnection({ connectionId, connectedAt: Date.now(), ...(name ? { name } : {}) });
  return connectionId;
}

describe('connections', () => {
  test('registers a connection with its expiry and reads it back', async () => {
    const connectedAt = Date.now();
    const s = store({ now: () => connectedAt });
    const id = newId();
    await s.registerConnection({
      connectionId: id,
      connectedAt,
      name: 'Ada',
      sourceIp: '203.0.113.9',
      userAgent: 'test',
    });
    expect(await s.getConnection(id)).toEqual({
      connectionId: id,
      connectedAt,
      name: 'Ada',
      sourceIp: '203.0.113.9',
      userAgent: 'test',
      expiresAt: Math.floor(connectedAt / 1000) + LIFETIME,
      seenAt: connectedAt,
    });
  });

  test('connection ids are case-sensitive: AbC= and abc= are two connections', async () => {
    const s = store();
    await s.registerConnection({ connectionId: 'CaseTestAbCdE0=', connectedAt: 1_000, name: 'upper' });
    await s.registerConnection({ connectionId: 'casetestabcde0=', connectedAt: 2_000, name: 'lower' });
    const far = store({ now: () => 0 });
    expect((await far.getConnection('CaseTestAbCdE0='))?.name).toBe('upper');
    expect((await far.getConnection('casetestabcde0='))?.name).toBe('lower');
  });

  test('an expired connection is not returned', async () => {
    const id = await connected();
    const later = store({ now: () => Date.now() + (LIFETIME + 1) * 1000 });
    expect(await later.getConnection(id)).toBeUndefined();
  });

  test('an invalid display name is refused before anything is written', async () => {
    const before = await scanTable(db.client, db.table);
    for (const name of ['', '   ', 'a\u0000b', 'x'.repeat(33), 'rtl\u202Eoverride']) {
      await expect(
        store().registerConnection({ connectionId: newId(), connectedAt: Date.now(), name }),
      ).rejects.toThrow(ValidationError);
    }
    expect(await scanTable(db.client, db.table)).toEqual(before);
  });
});

describe('rooms', () => {
  test('join, list members, list rooms, leave', async () => {
    const s = store();
    const a = await connected(s, 'Ada');
    const b = await connected(s);
    const joined = await s.joinRoom(a, 'lobby');
    expect(joined).toMatchObject({ roomId: 'lobby', connectionId: a, name: 'Ada' });
    await s.joinRoom(b, 'lobby');
    await s.joinRoom(a, 'other');
    expect((await s.listRoomMembers('lobby')).sort()).toEqual([a, b].sort());
    expect((await s.listConnectionRooms(a)).map((m) => m.roomId).sort()).toEqual(['lobby', 'other']);
    expect(await s.getMembership(a, 'lobby')).toMatchObject({ name: 'Ada' });

    const left = await s.leaveRoom(a, 'lobby');
    expect(left).toMatchObject({ roomId: 'lobby', connectionId: a, name: 'Ada' });
    expect(await s.listRoomMembers('lobby')).toEqual([b]);
    expect(await s.getMembership(a, 'lobby')).toBeUndefined();
  });

  test('joining twice reports ALREADY_JOINED and writes once', async () => {
    const s = store();
    const a = await connected(s);
    await s.joinRoom(a, 'twice');
    const after = await scanTable(db.client, db.table);
    await expect(s.joinRoom(a, 'twice')).rejects.toMatchObject({ code: 'ALREADY_JOINED' });
    expect(await scanTable(db.client, db.table)).toEqual(after);
  });

  test('joining with an unknown or expired connection is refused and writes nothing', async () => {
    const before = await scanTable(db.client, db.table);
    await expect(store().joinRoom('NoSuchConnXXXX=', 'lobby')).rejects.toMatchObject({
      code: 'UNKNOWN_CONNECTION',
    });
    const expiredAt = Date.now() - (LIFETIME + 10) * 1000;
    const id = newId();
    await store({ now: () => expiredAt }).registerConnection({ connectionId: id, connectedAt: expiredAt });
    const withExpired = await scanTable(db.client, db.table);
    await expect(store().joinRoom(id, 'lobby')).rejects.toMatchObject({ code: 'UNKNOWN_CONNECTION' });
    expect(await scanTable(db.client, db.table)).toEqual(withExpired);
    expect(withExpired.length).toBe(before.length + 1);
  });

  test('the transaction refuses a connection that expires between read and write', async () => {
    // The read sees a live connection; by the time of the write the clock has passed its expiry.
    const id = await connected();
    let calls = 0;
    const s = store({ now: () => (++calls <= 1 ? Date.now() : Date.now() + (LIFETIME + 5) * 1000) });
    const before = await scanTable(db.client, db.table);
    await expect(s.joinRoom(id, 'race')).rejects.toMatchObject({ code: 'UNKNOWN_CONNECTION' });
    expect(await scanTable(db.client, db.table)).toEqual(before);
  });

  test('leaving a room you are not in is NOT_A_MEMBER', async () => {
    const s = store();
    const a = await connected(s);
    await expect(s.leaveRoom(a, 'never-joined')).rejects.toMatchObject({ code: 'NOT_A_MEMBER' });
  });

  test.each([
    ['a # in it', 'room#1'],
    ['a key delimiter and prefix', 'x#roomId_y'],
    ['spaces', 'my room'],
    ['a slash', 'a/b'],
    ['65 characters', 'r'.repeat(65)],
    ['nothing', ''],
    ['a lookalike letter', 'r\u043Eom'],
    ['a control character', 'room\n1'],
    ['a $', '$chat'],
  ])('a room id with %s is rejected and writes nothing', async (_, room) => {
    const s = store();
    const a = await connected(s);
    const before = await scanTable(db.client, db.table);
    await expect(s.joinRoom(a, room)).rejects.toThrow(ValidationError);
    await expect(s.leaveRoom(a, room)).rejects.toThrow(ValidationError);
    await expect(s.listRoomMembers(room)).rejects.toThrow(ValidationError);
    expect(await scanTable(db.client, db.table)).toEqual(before);
  });

  test('a room with more members than one page returns all of them', async () => {
    let queries = 0;
    const s = store({ pageSize: 3 });
    const members = await Promise.all(Array.from({ length: 10 }, () => connected(s)));
    await Promise.all(members.map((id) => s.joinRoom(id, 'big-room')));
    db.client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === 'QueryCommand') queries++;
        return next(args);
      },
      { step: 'initialize', name: 'countQueries' },
    );
    try {
      expect((await s.listRoomMembers('big-room')).sort()).toEqual(members.sort());
    } finally {
      db.client.middlewareStack.remove('countQueries');
    }
    expect(queries).toBeGreaterThanOrEqual(4);
  });

  test('a room listed up to n members, counted, and its members read in batches: expired ones left out', async () => {
    const s = store({ pageSize: 3 });
    const members = await Promise.all(Array.from({ length: 7 }, () => connected(s)));
    await Promise.all(members.map((id) => s.joinRoom(id, 'counted-room')));
    const old = newId();
    const connectedAt = Date.now() - (LIFETIME - 20) * 1000;
    await store({ now: () => connectedAt }).registerConnection({ connectionId: old, connectedAt });
    await s.joinRoom(old, 'counted-room');
    const inHalfAMinute = store({ pageSize: 3, now: () => Date.now() + 30_000 });
    const five = await inHalfAMinute.listRoomMembers('counted-room', 5);
    expect(five).toHaveLength(5);
    expect(members).toEqual(expect.arrayContaining(five));
    expect(await inHalfAMinute.countRoomMembers('counted-room')).toBe(7);
    expect(await s.countRoomMembers('counted-room')).toBe(8);
    expect(await s.countRoomMembers('empty-room')).toBe(0);
    const read = await inHalfAMinute.getConnections([...members, old, newId()]);
    expect(read.map((c) => c.connectionId).sort()).toEqual([...members].sort());
  });

  test('expired memberships are not returned', async () => {
    const s = store();
    const old = newId();
    // Expires 20 s from now: time enough for the first reads even on a loaded machine.
    const connectedAt = Date.now() - (LIFETIME - 20) * 1000;
    await store({ now: () => connectedAt }).registerConnection({ connectionId: old, connectedAt });
    const fresh = await connected(s);
    await s.joinRoom(old, 'ttl-room');
    await s.joinRoom(fresh, 'ttl-room');
    expect((await s.listRoomMembers('ttl-room')).sort()).toEqual([old, fresh].sort());
    const inHalfAMinute = store({ now: () => Date.now() + 30_000 });
    expect(await inHalfAMinute.listRoomMembers('ttl-room')).toEqual([fresh]);
    expect(await inHalfAMinute.listConnectionRooms(old)).toEqual([]);
    expect(await inHalfAMinute.getMembership(old, 'ttl-room')).toBeUndefined();
  });

  test('concurrent joins and leaves leave a consistent member list', async () => {
    const s = store();
    const ids = await Promise.all(Array.from({ length: 20 }, () => connected(s)));
    await Promise.all(ids.map((id) => s.joinRoom(id, 'busy')));
    const leaving = ids.filter((_, i) => i % 2 === 0);
    const rejoining = ids.filter((_, i) => i % 3 === 0);
    const results = await Promise.allSettled([
      ...leaving.map((id) => s.leaveRoom(id, 'busy')),
      ...ids.map((id) => s.joinRoom(id, 'busy')),
    ]);
    // Every join either raced ahead of its leave or found the membership still there.
    for (const r of results) {
      if (r.status === 'rejected')
        expect((r.reason as ChatError).code).toMatch(/ALREADY_JOINED|NOT_A_MEMBER/);
    }
    const members = new Set(await s.listRoomMembers('busy'));
    for (const id of ids) {
      const rooms = await s.listConnectionRooms(id);
      expect(members.has(id)).toBe(rooms.some((m) => m.roomId === 'busy'));
    }
    await Promise.all(rejoining.filter((id) => !members.has(id)).map((id) => s.joinRoom(id, 'busy')));
    expect(new Set(await s.listRoomMembers('busy')).size).toBe(new Set([...members, ...rejoining]).size);
  });
});

describe('removing a connection', () => {
  test('removes the connection and all its memberships, and nothing of others', async () => {
    const s = store();
    const gone = await connected(s, 'Gone');
    const stays = await connected(s);
    for (const room of ['r1', 'r2', 'r3']) {
      await s.joinRoom(gone, room);
      await s.joinRoom(stays, room);
    }
    const before = await scanTable(db.client, db.table);
    const removed = await s.removeConnection(gone);
    expect(removed.connection?.name).toBe('Gone');
    expect(removed.memberships.map((m) => m.roomId).sort()).toEqual(['r1', 'r2', 'r3']);
    const after = await scanTable(db.client, db.table);
    expect(after).toEqual(before.filter((item) => item.connectionId !== gone));
    expect(await s.getConnection(stays)).toBeDefined();
    expect(await s.listRoomMembers('r2')).toEqual([stays]);
  });

  test('removing an unknown connection is a no-op', async () => {
    expect(await store().removeConnection('NeverWasHere00=')).toEqual({
      connection: undefined,
      memberships: [],
    });
  });

  test('a disconnect racing a fan-out 410 returns each membership to exactly one of them', async () => {
    const s = store();
    const id = await connected(s, 'Racer');
    const rooms = ['x1', 'x2', 'x3', 'x4', 'x5', 'x6'];
    for (const room of rooms) await s.joinRoom(id, room);
    const [a, b] = await Promise.all([s.removeConnection(id), s.removeConnection(id)]);
    const announced = [...a.memberships, ...b.memberships].map((m) => m.roomId).sort();
    expect(announced).toEqual(rooms);
    expect((await scanTable(db.client, db.table)).filter((item) => item.connectionId === id)).toEqual([]);
  });
});

describe('per-connection limits', () => {
  test('a connection can be in at most maxRoomsPerConnection rooms; leaving frees a place', async () => {
    const s = store({ maxRoomsPerConnection: 3 });
    const id = await connected(s);
    for (const room of ['c1', 'c2', 'c3']) await s.joinRoom(id, room);
    await expect(s.joinRoom(id, 'c4')).rejects.toMatchObject({ code: 'TOO_MANY_ROOMS' });
    expect(await s.getMembership(id, 'c4')).toBeUndefined();
    await s.leaveRoom(id, 'c1');
    await s.joinRoom(id, 'c4');
    expect((await s.listConnectionRooms(id)).map((m) => m.roomId).sort()).toEqual(['c2', 'c3', 'c4']);
  });

  test('concurrent joins cannot pass the cap (the count is kept in the join transaction)', async () => {
    const s = store({ maxRoomsPerConnection: 4 });
    const id = await connected(s);
    const rooms = Array.from({ length: 12 }, (_, i) => `cc${i}`);
    const outcomes = await Promise.allSettled(rooms.map((room) => s.joinRoom(id, room)));
    const joined = outcomes.filter((o) => o.status === 'fulfilled').length;
    expect(joined).toBeLessThanOrEqual(4);
    expect((await s.listConnectionRooms(id)).length).toBe(joined);
    for (const o of outcomes) {
      if (o.status === 'rejected')
        expect(['TOO_MANY_ROOMS', undefined]).toContain((o.reason as ChatError).code);
    }
    // What a canceled transaction (conflict) refused can be joined afterwards, up to the cap.
    for (const room of rooms) await s.joinRoom(id, room).catch(() => {});
    expect((await s.listConnectionRooms(id)).length).toBe(4);
  });

  test('the request bucket holds `burst` tokens and refills at `rate` per second', async () => {
    let now = 1_000_000;
    const s = store({ now: () => now, messageRateLimit: { rate: 2, burst: 3 } });
    const id = await connected(s);
    for (let i = 0; i < 3; i++) await s.takeRequestToken(id);
    await expect(s.takeRequestToken(id)).rejects.toMatchObject({ code: 'RATE_LIMITED', retryAfterMs: 500 });
    now += 500; // one token back
    await s.takeRequestToken(id);
    await expect(s.takeRequestToken(id)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
    now += 10_000; // full again, and no more than full
    for (let i = 0; i < 3; i++) await s.takeRequestToken(id);
    await expect(s.takeRequestToken(id)).rejects.toMatchObject({ code: 'RATE_LIMITED' });
  });

  test('joins and request tokens of one connection at once all go through (conflicts are retried)', async () => {
    const s = store({ messageRateLimit: { rate: 1, burst: 100 } });
    const id = await connected(s);
    const rooms = Array.from({ length: 10 }, (_, i) => `busy${i}`);
    await Promise.all([
      ...rooms.map((room) => s.joinRoom(id, room)),
      ...rooms.map(() => s.takeRequestToken(id)),
    ]);
    expect((await s.listConnectionRooms(id)).length).toBe(10);
  });

  test('concurrent requests share one bucket exactly', async () => {
    const s = store({ now: () => 5_000_000, messageRateLimit: { rate: 1, burst: 5 } });
    const id = await connected(s);
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => s.takeRequestToken(id)));
    expect(outcomes.filter((o) => o.status === 'fulfilled')).toHaveLength(5);
  });
});

test('ChatError carries its code', () => {
  expect(new ChatError('NOT_A_MEMBER', 'x').code).toBe('NOT_A_MEMBER');
});
