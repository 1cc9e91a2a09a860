// Faults: gone recipients, DynamoDB throttling, failing and down (its endpoint stops answering and comes
// back), lost $disconnects and clients dropped mid-fan-out. Nothing may be lost or left half-done.
import { connect } from 'node:net';
import { ChatStore, handleOf } from 'chat-core';
import { localDynamoDbClient } from '../../local/dynamodb';
import { connectionsFetch } from '../support/connections-fetch';
import { DynamoDbFaultProxy } from '../support/dynamodb-fault-proxy';
import { scanTable } from '../support/table-contents';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { eventually, type Frame, TestClient } from '../support/ws-client';

let proxy: DynamoDbFaultProxy;
let stack: TestStack;
let store: ChatStore;
/** DynamoDB Local itself, not through the proxy: what is really stored. */
const db = () => localDynamoDbClient(process.env.AWS_ENDPOINT_URL_DYNAMODB!);
/** Connections whose $disconnect the gateway drops, as AWS may. */
const lostDisconnects = new Set<string>();

beforeAll(async () => {
  // The stack reaches DynamoDB only through the proxy, so stopping the proxy is DynamoDB going down.
  proxy = new DynamoDbFaultProxy(process.env.AWS_ENDPOINT_URL_DYNAMODB!);
  stack = await startTestStack({
    dynamoDbEndpoint: await proxy.start(),
    dropInvocation: (routeKey, event) =>
      routeKey === '$disconnect' &&
      lostDisconnects.has(
        (event as { requestContext: { connectionId: string } }).requestContext.connectionId,
      ),
  });
  store = new ChatStore({ client: db(), table: stack.tableName, connectionLifetimeSeconds: 8100 });
});

afterAll(async () => {
  await stack.stop();
  await proxy.stop();
});

afterEach(() => {
  proxy.fault = () => 'pass';
});

async function member(room: string, name: string): Promise<{ client: TestClient; id: string }> {
  const client = await TestClient.connect(stack.webSocketUrl, { name });
  const joined = await client.request({ action: 'join', room }, 'joined');
  await client.next((f) => f.type === 'history', WAIT_MS, true);
  return { client, id: stack.connectionIdOf(joined.handle) };
}

const isError = (code: string) => (f: Frame) => f.type === 'error' && f.code === code;

test('a member whose connection is gone (410) is removed, everyone else still gets the message and hears it left', async () => {
  const a = await member('gone-room', 'A');
  const b = await member('gone-room', 'B');
  const x = await member('gone-room', 'X');
  lostDisconnects.add(x.id);
  await x.client.drop();
  await eventually(() =>
    expect(stack.gatewayLog.some((l) => l.startsWith(`$disconnect ${x.id}`))).toBe(true),
  );
  expect(await store.getConnection(x.id)).toBeDefined(); // still in the table: its $disconnect was lost

  const toB = b.client.next((f) => f.type === 'message');
  const leftSeen = [a, b].map(({ client }) =>
    client.next((f) => f.type === 'left' && f.handle === handleOf(x.id)),
  );
  await a.client.request({ action: 'send', room: 'gone-room', msg: 'still here?' }, 'message');
  expect(await toB).toMatchObject({ msg: 'still here?' });
  for (const left of leftSeen) expect(await left).toMatchObject({ room: 'gone-room', name: 'X' });
  await eventually(async () => expect(await store.getConnection(x.id)).toBeUndefined());
  expect(await store.listRoomMembers('gone-room')).not.toContain(x.id);
  await Promise.all([a.client.close(), b.client.close()]);
});

test('throttled DynamoDB calls are retried and the join succeeds', async () => {
  let throttled = 0;
  proxy.fault = (operation) => (operation === 'TransactWriteItems' && throttled++ < 2 ? 'throttle' : 'pass');
  const a = await member('throttled-room', 'A');
  expect(throttled).toBeGreaterThanOrEqual(2);
  expect(await store.getMembership(a.id, 'throttled-room')).toBeDefined();
  await a.client.close();
});

test('a join whose write fails is all-or-nothing: INTERNAL, nothing written, the connection keeps working', async () => {
  const client = await TestClient.connect(stack.webSocketUrl, { name: 'J' });
  const inRoom = async () =>
    (await scanTable(db(), stack.tableName)).filter((item) => item.roomId === 'failing-room');
  proxy.fault = (operation) => (operation === 'TransactWriteItems' ? 'fail' : 'pass');
  const reply = await client.request({ action: 'join', room: 'failing-room' }, 'joined');
  expect(reply).toMatchObject({ type: 'error', code: 'INTERNAL', action: 'join', room: 'failing-room' });
  expect(JSON.stringify(reply)).not.toMatch(/InternalServerError|injected|stack/i);
  expect(await inRoom()).toEqual([]);
  proxy.fault = () => 'pass';
  expect(await client.request({ action: 'join', room: 'failing-room' }, 'joined')).toMatchObject({
    type: 'joined',
  });
  await client.close();
});

test('a send whose history write fails delivers nothing and tells only the sender', async () => {
  const a = await member('unstored-room', 'A');
  const b = await member('unstored-room', 'B');
  proxy.fault = (operation) => (operation === 'PutItem' ? 'fail' : 'pass');
  expect(
    await a.client.request({ action: 'send', room: 'unstored-room', msg: 'lost?' }, 'message'),
  ).toMatchObject({
    type: 'error',
    code: 'INTERNAL',
  });
  proxy.fault = () => 'pass';
  const after = await a.client.request({ action: 'send', room: 'unstored-room', msg: 'now' }, 'message');
  expect(after).toMatchObject({ msg: 'now' });
  expect(b.client.frames.filter((f) => f.type === 'message').map((f) => f.msg)).toEqual(['now']);
  await Promise.all([a.client.close(), b.client.close()]);
});

test('DynamoDB down: INTERNAL answers and refused handshakes, then the service recovers by itself', async () => {
  const a = await member('outage-room', 'A');
  const b = await member('outage-room', 'B');
  const port = proxy.port;
  await proxy.stop();
  try {
    expect(
      await a.client.request({ action: 'send', room: 'outage-room', msg: 'anyone?' }, 'message'),
    ).toMatchObject({
      code: 'INTERNAL',
    });
    await expect(TestClient.connect(stack.webSocketUrl, { name: 'Late' })).rejects.toMatchObject({
      status: 500,
    });
    await b.client.close(); // its $disconnect fails: B's items stay, carrying their expiresAt
    await eventually(() =>
      expect(stack.gatewayLog.some((l) => l.startsWith(`$disconnect ${b.id}`))).toBe(true),
    );
  } finally {
    await proxy.start(port);
  }
  expect(
    await a.client.request({ action: 'send', room: 'outage-room', msg: 'back' }, 'message'),
  ).toMatchObject({
    msg: 'back',
  });
  // The fan-out met B's leftover membership, got 410 and cleaned it up.
  await eventually(async () => expect(await store.getConnection(b.id)).toBeUndefined());
  const late = await member('outage-room', 'Late');
  await Promise.all([a.client.close(), late.client.close()]);
});

test('clients dropped without a close frame mid-fan-out: the rest get the message, no errors', async () => {
  // One at a time, so that the first `joined` each client sees is its own.
  const members: { client: TestClient; id: string }[] = [];
  for (let i = 0; i < 16; i++) members.push(await member('drop-room', `M${i}`));
  const [sender, ...others] = members;
  const dropped = others.slice(0, 6);
  const staying = others.slice(6);
  const arrivals = staying.map((m) => m.client.next((f) => f.type === 'message' && f.msg === 'mid-flight'));
  const echo = sender!.client.next((f) => f.type === 'message' || f.type === 'error');
  sender!.client.send({ action: 'send', room: 'drop-room', msg: 'mid-flight' });
  await Promise.all(dropped.map((m) => m.client.drop()));
  expect(await echo).toMatchObject({ type: 'message', msg: 'mid-flight' });
  await Promise.all(arrivals);
  for (const m of members) expect(m.client.frames.filter(isError('INTERNAL'))).toEqual([]);
  await eventually(async () => {
    const live = await store.listRoomMembers('drop-room');
    expect(live.sort()).toEqual([sender!, ...staying].map((m) => m.id).sort());
  });
  await Promise.all([sender!, ...staying].map((m) => m.client.close()));
});

test('a handshake abandoned while $connect runs leaves nothing any other connection reads as live', async () => {
  const watcher = await member('abandon-room', 'Watcher');
  const seenBefore = new Set(stack.gatewayLog.filter((l) => l.startsWith('$connect ')));
  // $connect's write is throttled a few times (the SDK backs off and retries), so it is still running
  // when the client gives up.
  let throttled = 0;
  proxy.fault = (operation) => (operation === 'PutItem' && throttled++ < 3 ? 'throttle' : 'pass');
  const started = stack.dispatched.length;
  const socket = connect(stack.port, '127.0.0.1');
  socket.write(
    `GET /${stack.app.webSocketApis[0]!.stageName}?name=Quitter HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n` +
      'Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n',
  );
  await eventually(() =>
    expect(stack.dispatched.slice(started).some((d) => d.routeKey === '$connect')).toBe(true),
  );
  socket.destroy();
  let line = '';
  await eventually(() => {
    line = stack.gatewayLog.find((l) => l.startsWith('$connect ') && !seenBefore.has(l)) ?? '';
    expect(line).toMatch(/ 200$/);
  });
  const quitter = line.split(' ')[1]!;
  // Its connection item may stay until TTL (no $disconnect comes for a connection that never opened), but it
  // is in no room, the gateway answers 410 for it, and rooms go on without it.
  const items = (await scanTable(db(), stack.tableName)).filter((item) => item.connectionId === quitter);
  expect(items.every((item) => String(item.sk).startsWith('$connection#connection'))).toBe(true);
  expect(await store.listConnectionRooms(quitter)).toEqual([]);
  const status = await connectionsFetch(`${stack.connectionsUrl}/${encodeURIComponent(quitter)}`, {
    method: 'GET',
  });
  expect(status.status).toBe(410);
  expect(
    await watcher.client.request({ action: 'send', room: 'abandon-room', msg: 'alone?' }, 'message'),
  ).toMatchObject({
    msg: 'alone?',
  });
  expect(await store.listRoomMembers('abandon-room')).toEqual([watcher.id]);
  await watcher.client.close();
});

test("$disconnect never arrives: the connection's items carry an expiresAt and fan-out skips them once it passes", async () => {
  const ghost = await member('ttl-room', 'Ghost');
  lostDisconnects.add(ghost.id);
  await ghost.client.drop();
  await eventually(() =>
    expect(stack.gatewayLog.some((l) => l.startsWith(`$disconnect ${ghost.id}`))).toBe(true),
  );
  const lifetime = 8100; // the template's default ConnectionLifetimeSeconds
  const ghostItems = (await scanTable(db(), stack.tableName)).filter(
    (item) => item.connectionId === ghost.id,
  );
  expect(ghostItems).toHaveLength(2); // connection + membership, left behind
  for (const item of ghostItems)
    expect(item.expiresAt).toBeLessThanOrEqual(Math.floor(Date.now() / 1000) + lifetime);

  // The same leftovers, written as if their connection had gone three hours ago: past their expiresAt,
  // not yet deleted by TTL (DynamoDB takes days).
  const threeHoursAgo = new ChatStore({
    client: db(),
    table: stack.tableName,
    connectionLifetimeSeconds: lifetime,
    now: () => Date.now() - 3 * 3600 * 1000,
  });
  await threeHoursAgo.registerConnection({ connectionId: 'LongGoneConn00=', connectedAt: 0, name: 'Old' });
  await threeHoursAgo.joinRoom('LongGoneConn00=', 'expired-room');
  expect(await store.listRoomMembers('expired-room')).toEqual([]);
  const a = await member('expired-room', 'A');
  stack.functionLog.length = 0;
  await a.client.request({ action: 'send', room: 'expired-room', msg: 'alone' }, 'message');
  // The fan-out's summary line comes after its last delivery.
  await eventually(() => {
    const fanout = stack.functionLog
      .filter((line) => line.startsWith('{'))
      .map((line) => JSON.parse(line) as Record<string, unknown>)
      .find((line) => line.message === 'fan-out done' && line.frameType === 'message');
    expect(fanout).toMatchObject({ members: 1, delivered: 1, gone: 0 });
  });
  await a.client.close();
});
