// Security: identity, authorization, key injection and what reaches the logs, through the real stack.
import { ChatStore, handleOf } from 'chat-core';
import { LOCAL_AWS_ENV, localDynamoDbClient } from '../../local/dynamodb';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { TestClient } from '../support/ws-client';

let stack: TestStack;
let store: ChatStore;
beforeAll(async () => {
  stack = await startTestStack();
  store = new ChatStore({
    client: localDynamoDbClient(stack.dynamoDb.endpoint),
    table: stack.tableName,
    connectionLifetimeSeconds: 8100,
  });
});
afterAll(() => stack.stop());

/** A connected client that has joined `room`, with its connection id. */
async function joined(room: string, name: string) {
  const client = await TestClient.connect(stack.webSocketUrl, { name });
  const frame = await client.request({ action: 'join', room }, 'joined');
  await client.next((f) => f.type === 'history', WAIT_MS, true);
  return { client, id: stack.connectionIdOf(frame.handle) };
}

test('identity: `from` is the server record of the sender, whatever the body claims', async () => {
  const mallory = await joined('identity', 'Mallory');
  const alice = await joined('identity', 'Alice');
  const seen = alice.client.next((f) => f.type === 'message');
  mallory.client.send({
    action: 'send',
    room: 'identity',
    msg: 'I am Alice',
    from: { connectionId: alice.id, name: 'Alice' },
    connectionId: alice.id,
    name: 'Alice',
  });
  expect(await seen).toMatchObject({
    from: { handle: handleOf(mallory.id), name: 'Mallory' },
    msg: 'I am Alice',
  });
  await Promise.all([mallory.client.close(), alice.client.close()]);
});

describe('authorization', () => {
  test.each([
    ['send', { action: 'send', msg: 'let me in' }],
    ['leave', { action: 'leave' }],
    ['history', { action: 'history' }],
    ['members', { action: 'members' }],
    ['typing', { action: 'typing' }],
  ])('%s on a room not joined is NOT_A_MEMBER and reaches no member', async (action, body) => {
    const room = `private-${action}`;
    const insider = await joined(room, 'Insider');
    const outsider = await TestClient.connect(stack.webSocketUrl, { name: 'Outsider' });
    expect(await outsider.request({ ...body, room }, 'never')).toMatchObject({
      type: 'error',
      code: 'NOT_A_MEMBER',
    });
    await insider.client.request({ action: 'ping' }, 'pong');
    expect(
      insider.client.frames.filter((f) => !['joined', 'members', 'history', 'pong'].includes(String(f.type))),
    ).toEqual([]);
    expect(await store.getMembership(insider.id, room)).toBeDefined();
    await Promise.all([insider.client.close(), outsider.close()]);
  });

  test('no request makes the server post to a connection id the client names', async () => {
    const target = await joined('target-room', 'Target');
    const attacker = await joined('attacker-room', 'Attacker');
    for (const body of [
      { action: 'send', room: 'attacker-room', msg: 'hi', to: target.id, connectionId: target.id },
      { action: 'send', room: target.id.replace(/[^A-Za-z0-9_-]/g, ''), msg: 'hi' },
      { action: 'join', room: 'attacker-room', connectionId: target.id },
      { action: 'leave', room: 'target-room', connectionId: target.id },
      { action: 'history', room: 'target-room', connectionId: target.id },
      { action: 'members', room: 'target-room', connectionId: target.id },
      { action: 'typing', room: 'target-room', connectionId: target.id },
    ]) {
      await attacker.client.request(body, 'message');
    }
    await target.client.request({ action: 'ping' }, 'pong');
    expect(target.client.frames.map((f) => f.type)).toEqual(['joined', 'members', 'history', 'pong']);
    expect(await store.getMembership(target.id, 'target-room')).toBeDefined();
    await Promise.all([target.client.close(), attacker.client.close()]);
  });
});

test('key injection: room ids that look like key parts stay separate rooms or are refused', async () => {
  const rooms = ['a', 'a_b', 'roomId_a', 'a-', '_a'];
  const members = [];
  for (const room of rooms) members.push({ room, ...(await joined(room, room)) });
  for (const { room, client } of members) {
    await client.request({ action: 'send', room, msg: `to ${room}` }, 'message');
  }
  for (const { room, client } of members) {
    expect(client.frames.filter((f) => f.type === 'message').map((f) => f.msg)).toEqual([`to ${room}`]);
    expect(await store.listRoomMembers(room)).toHaveLength(1);
  }
  const prober = members[0]!.client;
  for (const room of ['a#', '#a', 'a#roomId_b', '$chat#roomId_a', 'a%23b', 'a\u0000', 'A'.repeat(65)]) {
    expect(await prober.request({ action: 'join', room }, 'joined')).toMatchObject({ code: 'BAD_REQUEST' });
  }
  await Promise.all(members.map(({ client }) => client.close()));
});

test('logs hold no message bodies at info level and no credentials at any level', async () => {
  const secretText = `secret-message-${Date.now()}`;
  const a = await joined('logged', 'A');
  const b = await joined('logged', 'B');
  await a.client.request({ action: 'send', room: 'logged', msg: secretText }, 'message');
  await a.client.request({ action: 'send', room: 'logged', msg: '' }, 'error');
  await Promise.all([a.client.close(), b.client.close()]);
  const logs = [...stack.functionLog, ...stack.gatewayLog].join('\n');
  expect(stack.functionLog.some((line) => line.includes('"fan-out done"'))).toBe(true);
  expect(logs).not.toContain(secretText);
  expect(logs).not.toContain(LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY);
  expect(logs).not.toContain(LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID);
});
