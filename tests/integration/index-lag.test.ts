import { handleOf } from 'chat-core';
import { HandlerHarness } from '../support/handler-harness';

// On AWS the room index (a GSI) lags the table: a member who just joined can be missing from it, one who
// just left still listed. DynamoDB Local's indexes never lag, so a proxy replays the index's previous answer.
const harness = new HandlerHarness();
beforeAll(() => harness.start({}, { proxy: true }));
afterAll(() => harness.stop());
beforeEach(() => {
  harness.proxy!.indexLag = false;
  harness.recorder.clear();
});

const { recorder } = harness;
const invoke = harness.request.bind(harness);

const types = (connectionId: string) => recorder.framesTo(connectionId).map((f) => f.type);

/** A room of two whose index answer is recorded, then frozen: later joins and leaves do not show in it. */
async function laggingRoom(room: string) {
  const a = await harness.connection('Ada');
  const b = await harness.connection('Bob');
  await invoke('JoinFunction', a, { action: 'join', room });
  await invoke('JoinFunction', b, { action: 'join', room });
  recorder.clear();
  harness.proxy!.indexLag = true;
  return { a, b };
}

test('a joiner missing from the index still gets its own joined, members, history and first echo', async () => {
  const { a, b } = await laggingRoom('lag-join');
  const c = await harness.connection('Cy');
  await invoke('JoinFunction', c, { action: 'join', room: 'lag-join' });
  await invoke('SendFunction', c, { action: 'send', room: 'lag-join', msg: 'first words' });
  expect(types(c)).toEqual(['joined', 'members', 'history', 'message']);
  for (const other of [a, b]) expect(types(other)).toEqual(['joined', 'message']);
});

test('a joiner missing from the index is in its own member list, on join and when it asks again', async () => {
  const { a, b } = await laggingRoom('lag-members');
  const c = await harness.connection('Cy');
  await invoke('JoinFunction', c, { action: 'join', room: 'lag-members' });
  await invoke('MembersFunction', c, { action: 'members', room: 'lag-members' });
  const lists = recorder.framesTo(c).filter((f) => f.type === 'members');
  expect(lists).toHaveLength(2);
  for (const list of lists) {
    expect(list).toEqual({
      type: 'members',
      room: 'lag-members',
      count: 3,
      members: expect.arrayContaining(
        [a, b, c].map((id) => expect.objectContaining({ handle: handleOf(id) })),
      ),
    });
  }
});

test('a leaver still in the index gets its left once, and the others get it once', async () => {
  const { a, b } = await laggingRoom('lag-leave');
  await invoke('LeaveFunction', a, { action: 'leave', room: 'lag-leave' });
  expect(types(a)).toEqual(['left']);
  expect(types(b)).toEqual(['left']);
});

test('a send racing its own leave always answers the sender: its echo or an error', async () => {
  for (let trial = 0; trial < 10; trial++) {
    const { a } = await laggingRoom(`lag-race-${trial}`);
    await Promise.all([
      invoke('SendFunction', a, { action: 'send', room: `lag-race-${trial}`, msg: 'racing' }),
      invoke('LeaveFunction', a, { action: 'leave', room: `lag-race-${trial}` }),
    ]);
    const answers = recorder.framesTo(a).filter((f) => f.type === 'message' || f.type === 'error');
    expect(answers).toHaveLength(1);
    expect(types(a).filter((t) => t === 'left')).toHaveLength(1);
  }
});
