// The chat protocol end to end: real `ws` clients against the real local stack (gateway, built
// handlers, DynamoDB Local). Each test uses rooms of its own, so the tests share one stack.
import { connect as netConnect } from 'node:net';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ChatStore, handleOf } from 'chat-core';
import { localDynamoDbClient } from '../../local/dynamodb';
import { scanTable } from '../support/table-contents';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { eventually, type Frame, TestClient } from '../support/ws-client';

let stack: TestStack;
let db: DynamoDBClient;
let store: ChatStore;

beforeAll(async () => {
  stack = await startTestStack();
  db = localDynamoDbClient(stack.dynamoDb.endpoint);
  store = new ChatStore({ client: db, table: stack.tableName, connectionLifetimeSeconds: 8100 });
});
afterAll(async () => {
  db?.destroy();
  await stack?.stop();
});

// Every client a test opens is closed after it, whatever happened.
const open: TestClient[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((client) => (client.ws.readyState <= 1 ? client.close() : undefined)));
});

let rooms = 0;
/** A room id no other test uses. */
const newRoom = (label: string) => `${label}-${++rooms}`;

async function connect(name?: string): Promise<TestClient> {
  const client = await TestClient.connect(stack.webSocketUrl, name === undefined ? {} : { name });
  open.push(client);
  return client;
}

/**
 * Joins a room and returns the client's own connection id: its handle is in the `joined` frame it gets for
 * itself (`you: true`), and the stack knows which connection has it.
 */
async function join(client: TestClient, room: string): Promise<string> {
  const history = client.next((f) => f.type === 'history' && f.room === room);
  const joined = await client.request({ action: 'join', room }, 'joined');
  expect(joined).toMatchObject({ type: 'joined', room, handle: expect.any(String), you: true });
  await history;
  return stack.connectionIdOf(joined.handle);
}

/**
 * A barrier: a `ping` round trip on each client. Frames on one connection arrive in order, so once the
 * `pong` is in, every frame posted to that client before the ping was answered has arrived too.
 */
async function settle(...clients: TestClient[]): Promise<void> {
  await Promise.all(clients.map((client) => client.request({ action: 'ping' }, 'pong')));
}

/** The frames a client got after the first `from` of them, without the barrier's `pong`s. */
const framesSince = (client: TestClient, from: number) =>
  client.frames.slice(from).filter((f) => f.type !== 'pong');

const ofType =
  (type: string, fields: Frame = {}) =>
  (f: Frame) =>
    f.type === type && Object.entries(fields).every(([key, value]) => f[key] === value);

const MESSAGE_ID = /^[0-9A-HJKMNP-TV-Z]{26}$/;

/** A WebSocket handshake over a raw socket: the whole HTTP answer as text (what `curl -i` would show). */
function rawUpgrade(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(stack.port, '127.0.0.1');
    let answer = '';
    socket.on('data', (chunk) => {
      answer += chunk.toString('utf8');
    });
    socket.on('end', () => resolve(answer));
    socket.on('error', reject);
    socket.write(
      `GET ${path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        'Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
    );
  });
}
const ISO_TIME = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/;

test('two clients join a room and exchange a message through the local stack', async () => {
  const ada = await connect('Ada');
  const bob = await connect('Bob');
  expect(await ada.request({ action: 'join', room: 'room1' }, 'joined')).toMatchObject({
    room: 'room1',
    name: 'Ada',
  });
  const adaSeesBob = ada.next((f) => f.type === 'joined' && f.name === 'Bob');
  expect(await bob.request({ action: 'join', room: 'room1' }, 'joined')).toMatchObject({ name: 'Bob' });
  await adaSeesBob;
  const toAda = ada.next((f) => f.type === 'message');
  const echo = await bob.request({ action: 'send', room: 'room1', msg: 'hi' }, 'message');
  expect(echo).toMatchObject({ room: 'room1', msg: 'hi', from: { name: 'Bob' } });
  expect(await toAda).toEqual(echo);
});

describe('a room session: join, duplicate join, send, leave, second leave, disconnect', () => {
  test('every step reaches exactly the members the protocol names', async () => {
    const room = newRoom('session');
    const ada = await connect('Ada');
    const bob = await connect('Bob');

    // join: the joiner gets its own `joined`, with the server's record of its name.
    const adaJoined = ada.next(ofType('joined', { room }));
    const adaId = await join(ada, room);
    expect(await adaJoined).toEqual({
      type: 'joined',
      room,
      name: 'Ada',
      handle: handleOf(adaId),
      you: true,
    });

    // A second member: both get `joined` for Bob, the same frame.
    const adaSeesBob = ada.next(ofType('joined', { name: 'Bob' }));
    const bobJoined = bob.next(ofType('joined', { room }));
    const bobId = await join(bob, room);
    expect(bobId).not.toBe(adaId);
    const bobJoinedFrame = { type: 'joined', room, name: 'Bob', handle: handleOf(bobId) };
    expect(await bobJoined).toEqual({ ...bobJoinedFrame, you: true });
    expect(await adaSeesBob).toEqual(bobJoinedFrame);
    expect((await store.listRoomMembers(room)).sort()).toEqual([adaId, bobId].sort());

    // Duplicate join: ALREADY_JOINED to Ada only; nobody is told Ada joined again.
    let adaMark = ada.frames.length;
    let bobMark = bob.frames.length;
    expect(await ada.request({ action: 'join', room }, 'joined')).toEqual({
      type: 'error',
      code: 'ALREADY_JOINED',
      message: expect.any(String),
      action: 'join',
      room,
    });
    await settle(ada, bob);
    expect(framesSince(ada, adaMark)).toHaveLength(1); // the error
    expect(framesSince(bob, bobMark)).toEqual([]);
    expect((await store.listRoomMembers(room)).sort()).toEqual([adaId, bobId].sort());

    // send: every member gets the same `message`, from the server's record of the sender.
    const toAda = ada.next(ofType('message', { room }));
    const echo = await bob.request({ action: 'send', room, msg: 'hi Ada' }, 'message');
    expect(echo).toEqual({
      type: 'message',
      room,
      id: expect.stringMatching(MESSAGE_ID),
      from: { name: 'Bob', handle: handleOf(bobId) },
      msg: 'hi Ada',
      sentAt: expect.stringMatching(ISO_TIME),
    });
    expect(await toAda).toEqual(echo);

    // leave: Ada gets `left`; so does Bob, as confirmation.
    const bobLeft = { type: 'left', room, name: 'Bob', handle: handleOf(bobId) };
    const adaSeesBobLeave = ada.next(ofType('left', { room }));
    expect(await bob.request({ action: 'leave', room }, 'left')).toEqual(bobLeft);
    expect(await adaSeesBobLeave).toEqual(bobLeft);
    expect(await store.listRoomMembers(room)).toEqual([adaId]);

    // Once out, Bob gets nothing of the room.
    bobMark = bob.frames.length;
    await ada.request({ action: 'send', room, msg: 'still there?' }, 'message');
    await settle(bob);
    expect(framesSince(bob, bobMark)).toEqual([]);

    // Second leave: NOT_A_MEMBER to Bob only.
    adaMark = ada.frames.length;
    expect(await bob.request({ action: 'leave', room }, 'left')).toEqual({
      type: 'error',
      code: 'NOT_A_MEMBER',
      message: expect.any(String),
      action: 'leave',
      room,
    });
    await settle(ada);
    expect(framesSince(ada, adaMark)).toEqual([]);

    // Disconnect: Carol joins, Ada closes; Carol gets `left` for Ada, and Ada is gone from the table.
    const carol = await connect('Carol');
    const carolId = await join(carol, room);
    const carolSeesAdaLeave = carol.next(ofType('left', { room }));
    await ada.close();
    expect(await carolSeesAdaLeave).toEqual({ type: 'left', room, name: 'Ada', handle: handleOf(adaId) });
    expect(await store.listRoomMembers(room)).toEqual([carolId]);
    expect(await store.getConnection(adaId)).toBeUndefined();
  });

  test('a disconnect tells each of its rooms, and only them', async () => {
    const [roomX, roomY, roomZ] = [newRoom('x'), newRoom('y'), newRoom('z')];
    const ada = await connect('Ada');
    const bob = await connect('Bob');
    const carol = await connect('Carol');
    const dave = await connect('Dave');
    const adaId = await join(ada, roomX);
    await join(ada, roomY);
    await join(bob, roomX);
    await join(carol, roomY);
    await join(dave, roomZ);
    const daveMark = dave.frames.length;

    const bobSees = bob.next(ofType('left', { handle: handleOf(adaId) }));
    const carolSees = carol.next(ofType('left', { handle: handleOf(adaId) }));
    await ada.close();
    expect(await bobSees).toEqual({ type: 'left', room: roomX, name: 'Ada', handle: handleOf(adaId) });
    expect(await carolSees).toEqual({ type: 'left', room: roomY, name: 'Ada', handle: handleOf(adaId) });
    await settle(dave);
    expect(framesSince(dave, daveMark)).toEqual([]);
    expect(await store.listConnectionRooms(adaId)).toEqual([]);
  });

  test('a member without a name is known by its handle alone', async () => {
    const room = newRoom('anonymous');
    const anon = await connect();
    const ada = await connect('Ada');
    await join(ada, room);
    const adaSees = ada.next(ofType('joined', { room }));
    const anonId = await join(anon, room);
    expect(await adaSees).toEqual({ type: 'joined', room, handle: handleOf(anonId) });
    const toAda = ada.next(ofType('message', { room }));
    const echo = await anon.request({ action: 'send', room, msg: 'who am I?' }, 'message');
    expect(echo.from).toEqual({ handle: handleOf(anonId) });
    expect(await toAda).toEqual(echo);
  });
});

describe('$default: anything the routes do not take gets `help`', () => {
  const cases: [string, string][] = [
    ['text that is not JSON', 'hello?'],
    ['JSON without an action', '{"room":"lobby","msg":"hi"}'],
    ['an unknown action', '{"action":"shout","room":"lobby","msg":"hi"}'],
  ];
  test.each(cases)('%s', async (_, text) => {
    const client = await connect('Helpme');
    client.send(text);
    expect(await client.next(ofType('help'))).toEqual({
      type: 'help',
      echo: text,
      actions: expect.objectContaining({
        join: expect.objectContaining({ example: { action: 'join', room: expect.any(String) } }),
        send: expect.objectContaining({
          example: { action: 'send', room: expect.any(String), msg: expect.any(String) },
        }),
        leave: expect.objectContaining({ example: { action: 'leave', room: expect.any(String) } }),
      }),
      connection: {
        connectedAt: expect.stringMatching(ISO_TIME),
        lastActiveAt: expect.stringMatching(ISO_TIME),
        identity: expect.objectContaining({ sourceIp: '127.0.0.1' }),
      },
    });
  });

  test('every example in help works pasted as it stands (no placeholder the server refuses)', async () => {
    const client = await connect('Paster');
    const watcher = await connect('Watcher');
    client.send('help?');
    const { actions } = await client.next(ofType('help'));
    const examples = Object.fromEntries(
      Object.entries(actions as Record<string, { example: Frame }>).map(([name, { example }]) => [
        name,
        example,
      ]),
    );
    // In an order that makes each one meaningful: join first, leave last; what each answers with.
    const answers: Record<string, string> = {
      join: 'history',
      send: 'message',
      history: 'history',
      members: 'members',
      ping: 'pong',
      leave: 'left',
    };
    expect(Object.keys(examples).sort()).toEqual([...Object.keys(answers), 'typing'].sort());
    await watcher.request(examples.join, 'history');
    for (const name of ['join', 'send', 'history', 'members', 'typing', 'ping', 'leave']) {
      if (name === 'typing') {
        // No answer to the typist: the other member sees it.
        const seen = watcher.next(ofType('typing'));
        client.send(JSON.stringify(examples.typing));
        expect(await seen).toMatchObject({ type: 'typing', name: 'Paster' });
        continue;
      }
      expect(await client.request(JSON.stringify(examples[name]), answers[name]!)).toMatchObject({
        type: answers[name],
      });
    }
    expect(client.frames.filter((f) => f.type === 'error')).toEqual([]);
  });

  test('echoes at most the first 1024 characters', async () => {
    const client = await connect();
    const text = `not json ${'x'.repeat(3000)}`;
    client.send(text);
    expect((await client.next(ofType('help'))).echo).toBe(text.slice(0, 1024));
  });
});

describe('$connect: the optional ?name=', () => {
  const bad: [string, string][] = [
    ['empty', ''],
    ['only spaces', '   '],
    ['over 32 characters', 'n'.repeat(33)],
    ['a control character', 'Ada\u0007'],
    ['a bidi override', 'Ada\u202Eevil'],
    ['a zero-width space', 'A\u200Bda'],
  ];
  test.each(bad)('a name that is %s refuses the handshake with 400 and stores nothing', async (_, name) => {
    // Earlier tests' $disconnects may still be removing items, so look for new items only.
    const key = (item: Record<string, unknown>) => `${item.pk} ${item.sk}`;
    const before = new Set((await scanTable(db, stack.tableName)).map(key));
    const logMark = stack.gatewayLog.length;
    await expect(TestClient.connect(stack.webSocketUrl, { name })).rejects.toMatchObject({ status: 400 });
    const connects = stack.gatewayLog.slice(logMark).filter((line) => line.startsWith('$connect '));
    expect(connects).toEqual([expect.stringMatching(/ 400$/)]);
    expect((await scanTable(db, stack.tableName)).filter((item) => !before.has(key(item)))).toEqual([]);
  });

  test('a refused handshake says why in a text/plain body', async () => {
    // What `curl -i` with the upgrade headers shows (wscat prints only the status).
    const response = await rawUpgrade(`/${stack.app.webSocketApis[0]!.stageName}?name=${'n'.repeat(33)}`);
    expect(response).toMatch(/^HTTP\/1\.1 400 Bad Request\r\n/);
    expect(response).toMatch(/\r\nContent-Type: text\/plain; charset=utf-8\r\n/i);
    expect(response.split('\r\n\r\n')[1]).toBe('"name" must be 1-32 characters');
  });

  test('32 printable characters (markup included) are a name, kept as sent', async () => {
    const name = `<b>${'n'.repeat(25)}</b>`;
    expect([...name]).toHaveLength(32);
    const room = newRoom('names');
    const client = await connect(name);
    const joined = await client.request({ action: 'join', room }, 'joined');
    expect(joined).toMatchObject({ type: 'joined', name });
  });
});

describe('presence', () => {
  test('members on join, joined/left to keep it current, typing to the others, members again', async () => {
    const room = newRoom('presence');
    const ada = await connect('Ada');
    const adaList = ada.next(ofType('members', { room }));
    const adaId = await join(ada, room);
    const adaMember = { handle: handleOf(adaId), name: 'Ada' };
    expect(await adaList).toEqual({ type: 'members', room, count: 1, members: [adaMember] });

    const bob = await connect('Bob');
    const adaSeesBob = ada.next(ofType('joined', { room }));
    const bobList = bob.next(ofType('members', { room }));
    const bobId = await join(bob, room);
    const bobMember = { handle: handleOf(bobId), name: 'Bob' };
    expect(await adaSeesBob).toEqual({ type: 'joined', room, ...bobMember });
    expect(await bobList).toEqual({
      type: 'members',
      room,
      count: 2,
      members: expect.arrayContaining([adaMember, bobMember]),
    });

    // typing: Ada sees it, Bob (the typist) does not; a second one at once is dropped.
    const adaSeesTyping = ada.next(ofType('typing', { room }));
    const bobMark = bob.frames.length;
    bob.send({ action: 'typing', room });
    expect(await adaSeesTyping).toEqual({ type: 'typing', room, ...bobMember });
    const adaMark = ada.frames.length;
    bob.send({ action: 'typing', room });
    await settle(bob, ada);
    expect(framesSince(ada, adaMark)).toEqual([]);
    expect(framesSince(bob, bobMark)).toEqual([]);

    expect(await ada.request({ action: 'members', room }, 'members')).toEqual({
      type: 'members',
      room,
      count: 2,
      members: expect.arrayContaining([adaMember, bobMember]),
    });
    const outsider = await connect('Outsider');
    expect(await outsider.request({ action: 'members', room }, 'members')).toMatchObject({
      type: 'error',
      code: 'NOT_A_MEMBER',
      action: 'members',
    });

    // Bob's tab closes: Ada hears `left`, and the list no longer has him.
    const adaSeesBobLeave = ada.next(ofType('left', { room }));
    await bob.close();
    expect(await adaSeesBobLeave).toEqual({ type: 'left', room, ...bobMember });
    expect(await ada.request({ action: 'members', room }, 'members')).toEqual({
      type: 'members',
      room,
      count: 1,
      members: [adaMember],
    });
  });
});

describe('send', () => {
  test('from a non-member is refused and delivers nothing', async () => {
    const room = newRoom('members-only');
    const member = await connect('Member');
    const outsider = await connect('Outsider');
    await join(member, room);
    const mark = member.frames.length;

    expect(await outsider.request({ action: 'send', room, msg: 'let me in' }, 'message')).toEqual({
      type: 'error',
      code: 'NOT_A_MEMBER',
      message: expect.any(String),
      action: 'send',
      room,
    });
    // The same for a room that has no members at all.
    expect(
      await outsider.request({ action: 'send', room: newRoom('empty'), msg: 'anyone?' }, 'message'),
    ).toMatchObject({ type: 'error', code: 'NOT_A_MEMBER' });

    await settle(member);
    expect(framesSince(member, mark)).toEqual([]);
    expect((await store.roomHistory(room, { limit: 10 })).messages).toEqual([]);
  });

  test('ignores a `from`, `connectionId` or `name` in the body: the sender is the server’s record', async () => {
    const room = newRoom('spoof');
    const ada = await connect('Ada');
    const mallory = await connect('Mallory');
    const adaId = await join(ada, room);
    const malloryId = await join(mallory, room);
    await ada.next(ofType('joined', { handle: handleOf(malloryId) }), WAIT_MS, true);

    const toAda = ada.next(ofType('message', { room }));
    const echo = await mallory.request(
      {
        action: 'send',
        room,
        msg: 'this is Ada speaking',
        from: { connectionId: adaId, name: 'Ada' },
        connectionId: adaId,
        senderId: adaId,
        name: 'Ada',
        id: '01ARZ3NDEKTSV4RRFFQ69G5FAV',
        sentAt: '2000-01-01T00:00:00.000Z',
      },
      'message',
    );
    expect(echo).toEqual({
      type: 'message',
      room,
      id: expect.stringMatching(MESSAGE_ID),
      from: { name: 'Mallory', handle: handleOf(malloryId) },
      msg: 'this is Ada speaking',
      sentAt: expect.stringMatching(ISO_TIME),
    });
    expect(echo.id).not.toBe('01ARZ3NDEKTSV4RRFFQ69G5FAV');
    expect(echo.sentAt).not.toBe('2000-01-01T00:00:00.000Z');
    expect(await toAda).toEqual(echo);

    // Nor can a join or leave act for another connection.
    const other = newRoom('spoof-join');
    expect(await mallory.request({ action: 'join', room: other, connectionId: adaId }, 'joined')).toEqual({
      type: 'joined',
      room: other,
      name: 'Mallory',
      handle: handleOf(malloryId),
      you: true,
    });
    expect(await store.getMembership(adaId, other)).toBeUndefined();
    const adaSeesLeave = ada.next(ofType('left', { room }));
    expect(await mallory.request({ action: 'leave', room, connectionId: adaId }, 'left')).toMatchObject({
      handle: handleOf(malloryId),
    });
    expect(await adaSeesLeave).toMatchObject({ handle: handleOf(malloryId) });
    expect(await store.listRoomMembers(room)).toEqual([adaId]);
  });

  test('over 16 KiB of UTF-8 is MESSAGE_TOO_LARGE; exactly 16 KiB is delivered intact', async () => {
    const room = newRoom('sizes');
    const ada = await connect('Ada');
    const bob = await connect('Bob');
    await join(ada, room);
    await join(bob, room);
    const mark = bob.frames.length;

    const tooLarge = {
      type: 'error',
      code: 'MESSAGE_TOO_LARGE',
      message: expect.any(String),
      action: 'send',
      room,
    };
    // 16 385 bytes, in ASCII and in 2-byte characters (8 193 characters: the limit is bytes, not characters).
    expect(await ada.request({ action: 'send', room, msg: 'x'.repeat(16 * 1024 + 1) }, 'message')).toEqual(
      tooLarge,
    );
    expect(await ada.request({ action: 'send', room, msg: `${'é'.repeat(8192)}x` }, 'message')).toEqual(
      tooLarge,
    );
    await settle(bob);
    expect(framesSince(bob, mark)).toEqual([]);

    const largest = 'é'.repeat(8192); // 16 384 bytes
    const toBob = bob.next(ofType('message', { room }));
    const echo = await ada.request({ action: 'send', room, msg: largest }, 'message');
    expect(echo).toMatchObject({ type: 'message', msg: largest });
    expect((await toBob).msg).toBe(largest);
  });
});

test('two rooms are isolated: nothing of one reaches the members of the other', async () => {
  const [red, blue] = [newRoom('red'), newRoom('blue')];
  const reds = [await connect('Red1'), await connect('Red2')];
  const blues = [await connect('Blue1'), await connect('Blue2')];
  for (const client of reds) await join(client, red);
  for (const client of blues) await join(client, blue);

  const redEcho = reds[0]!.request({ action: 'send', room: red, msg: 'red only' }, 'message');
  const blueEcho = blues[0]!.request({ action: 'send', room: blue, msg: 'blue only' }, 'message');
  expect(await redEcho).toMatchObject({ room: red, msg: 'red only' });
  expect(await blueEcho).toMatchObject({ room: blue, msg: 'blue only' });
  // Leaves and joins are room-scoped too.
  await reds[1]!.request({ action: 'leave', room: red }, 'left');
  await settle(...reds, ...blues);

  for (const [clients, room, msg] of [
    [reds, red, 'red only'],
    [blues, blue, 'blue only'],
  ] as const) {
    for (const client of clients) {
      const roomFrames = client.frames.filter((f) => 'room' in f);
      expect(roomFrames.length).toBeGreaterThan(0);
      for (const frame of roomFrames) expect(frame.room).toBe(room);
      expect(client.frames.filter((f) => f.type === 'message').map((f) => f.msg)).toEqual([msg]);
    }
  }
});

test('a client dropped without a close frame is cleaned up and later fan-outs skip it', async () => {
  const room = newRoom('drop');
  const ada = await connect('Ada');
  const bob = await connect('Bob');
  const ghost = await TestClient.connect(stack.webSocketUrl, { name: 'Ghost' });
  const adaId = await join(ada, room);
  const bobId = await join(bob, room);
  const ghostId = await join(ghost, room);
  await join(ghost, newRoom('drop-other')); // a second membership, which must go too
  await ada.next(ofType('joined', { handle: handleOf(ghostId) }), WAIT_MS, true);
  await bob.next(ofType('joined', { handle: handleOf(ghostId) }), WAIT_MS, true);
  expect(await store.listConnectionRooms(ghostId)).toHaveLength(2);

  // TCP closed without a close frame: $disconnect runs, and the remaining members get `left`.
  const ghostLeft = { type: 'left', room, name: 'Ghost', handle: handleOf(ghostId) };
  const adaSees = ada.next(ofType('left', { handle: handleOf(ghostId) }));
  const bobSees = bob.next(ofType('left', { handle: handleOf(ghostId) }));
  await ghost.drop();
  expect(await adaSees).toEqual(ghostLeft);
  expect(await bobSees).toEqual(ghostLeft);
  await eventually(() => {
    expect(stack.gatewayLog.find((line) => line.startsWith(`$disconnect ${ghostId} `))).toMatch(/ 200$/);
  });

  // The table holds nothing of it: no connection, no memberships.
  const items = await scanTable(db, stack.tableName);
  expect(items.filter((item) => item.connectionId === ghostId)).toEqual([]);
  expect(await store.getConnection(ghostId)).toBeUndefined();
  expect(await store.listConnectionRooms(ghostId)).toEqual([]);
  expect((await store.listRoomMembers(room)).sort()).toEqual([adaId, bobId].sort());

  // A later fan-out reaches the two live members and does not try the dropped one.
  const toBob = bob.next(ofType('message', { room }));
  const echo = await ada.request({ action: 'send', room, msg: 'is the ghost gone?' }, 'message');
  expect(await toBob).toEqual(echo);
  // The function logs its fan-out summary after the last post, so the line may trail the echo a little.
  await eventually(() => {
    const fanOuts = stack.functionLog
      .filter((line) => line.startsWith('{') && line.includes('"fan-out done"'))
      .map((line) => JSON.parse(line) as Frame)
      .filter((entry) => entry.room === room && entry.frameType === 'message');
    // Bob, then Ada, the sender, her echo (straight to her, not through the room index).
    expect(fanOuts).toEqual([
      expect.objectContaining({
        members: 2,
        delivered: 2,
        gone: 0,
        failed: 0,
        postingMs: expect.any(Number),
      }),
    ]);
  });
  expect(ghost.frames.filter((f) => f.type === 'message')).toEqual([]);
});
