import { startTestStack, type TestStack } from '../support/test-stack';
import { TestClient } from '../support/ws-client';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
}, 60_000);
afterAll(() => stack.stop());

test('two clients join a room and exchange a message through the local stack', async () => {
  const ada = await TestClient.connect(stack.webSocketUrl, { name: 'Ada' });
  const bob = await TestClient.connect(stack.webSocketUrl, { name: 'Bob' });
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
  await Promise.all([ada.close(), bob.close()]);
});
