import { HandlerHarness } from '../support/handler-harness';
import { scanTable } from '../support/table-contents';

// The per-connection limits as the routes enforce them, with small values set the way the template sets
// them (environment variables from its parameters).
const harness = new HandlerHarness();
beforeAll(() =>
  harness.start({
    MAX_ROOMS_PER_CONNECTION: '3',
    MESSAGE_RATE_PER_CONNECTION: '1',
    MESSAGE_BURST_PER_CONNECTION: '4',
  }),
);
afterAll(() => harness.stop());
beforeEach(() => harness.recorder.clear());

const { recorder } = harness;
const invoke = harness.request.bind(harness);

const errors = (connectionId: string) => recorder.framesTo(connectionId).filter((f) => f.type === 'error');

test('a join past the room cap is TOO_MANY_ROOMS and writes nothing; leaving makes room', async () => {
  const ada = await harness.connection('Ada');
  for (const room of ['cap-1', 'cap-2', 'cap-3']) await invoke('JoinFunction', ada, { action: 'join', room });
  const before = await scanTable(harness.db.client, harness.db.table);
  recorder.clear();
  await invoke('JoinFunction', ada, { action: 'join', room: 'cap-4' });
  expect(recorder.framesTo(ada)).toEqual([
    {
      type: 'error',
      code: 'TOO_MANY_ROOMS',
      message: 'A connection can be in at most 3 rooms; leave one first',
      action: 'join',
      room: 'cap-4',
    },
  ]);
  expect(await scanTable(harness.db.client, harness.db.table)).toEqual(before);
  await invoke('LeaveFunction', ada, { action: 'leave', room: 'cap-1' });
  recorder.clear();
  await invoke('JoinFunction', ada, { action: 'join', room: 'cap-4' });
  expect(errors(ada)).toEqual([]);
});

test('sends past the request bucket are RATE_LIMITED with retryAfterMs, and store nothing', async () => {
  const bob = await harness.connection('Bob');
  await harness.store.joinRoom(bob, 'flood');
  const SENDS = 30;
  // All at once, as a client that pipelines them: the bucket holds 4 and refills 1 a second.
  await Promise.all(
    Array.from({ length: SENDS }, (_, i) =>
      invoke('SendFunction', bob, { action: 'send', room: 'flood', msg: `m${i}` }),
    ),
  );
  const echoes = recorder.framesTo(bob).filter((f) => f.type === 'message');
  const refused = errors(bob);
  expect(echoes.length + refused.length).toBe(SENDS);
  expect(refused.length).toBeGreaterThan(0);
  for (const frame of refused) {
    expect(frame).toEqual({
      type: 'error',
      code: 'RATE_LIMITED',
      message: 'Too many requests from this connection; try again in 1000 ms',
      action: 'send',
      room: 'flood',
      retryAfterMs: 1000,
    });
  }
  const stored = await harness.store.roomHistory('flood', { limit: 100 });
  expect(stored.messages.map((m) => m.msg).sort()).toEqual(echoes.map((f) => f.msg).sort());
});
