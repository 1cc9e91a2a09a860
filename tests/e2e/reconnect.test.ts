import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { type Frame, TestClient } from '../support/ws-client';

let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack.stop());

test('a client that drops mid-conversation and reconnects with since ends with every message once, in order', async () => {
  const room = 'reconnect';
  const bob = await TestClient.connect(stack.webSocketUrl, { name: 'Bob' });
  await bob.request({ action: 'join', room }, 'history');
  const ada = await TestClient.connect(stack.webSocketUrl, { name: 'Ada' });
  await ada.request({ action: 'join', room }, 'history');

  // What Ada's client shows: one copy per id, in id order.
  const shown = new Map<string, string>();
  const keep = (frames: Frame[]) => {
    for (const frame of frames) {
      const messages =
        frame.type === 'history' ? (frame.messages as Frame[]) : frame.type === 'message' ? [frame] : [];
      for (const m of messages) shown.set(String(m.id), String(m.msg));
    }
  };

  const first = ada.next((f) => f.type === 'message');
  await bob.request({ action: 'send', room, msg: 'm1' }, 'message');
  await first;
  keep(ada.frames);
  const since = [...shown.keys()].sort().at(-1)!;
  await ada.drop();
  for (const msg of ['m2', 'm3', 'm4']) await bob.request({ action: 'send', room, msg }, 'message');

  const back = await TestClient.connect(stack.webSocketUrl, { name: 'Ada' });
  const history = await back.request({ action: 'join', room, since }, 'history');
  expect(history).toMatchObject({ type: 'history', room, more: false });
  await bob.request({ action: 'send', room, msg: 'm5' }, 'message');
  await back.next((f) => f.type === 'message' && f.msg === 'm5', WAIT_MS, true);
  keep(back.frames);
  const inOrder = [...shown.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, msg]) => msg);
  expect(inOrder).toEqual(['m1', 'm2', 'm3', 'm4', 'm5']);
  await Promise.all([bob.close(), back.close()]);
});
