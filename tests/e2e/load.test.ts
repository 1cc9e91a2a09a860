import { runSoak } from '../../bench/soak';
import { startTestStack, type TestStack } from '../support/test-stack';
import { LONG_TEST_MS, WAIT_MS } from '../support/timeouts';

// A small run of `npm run soak` (the full size runs outside the test suite and prints its figures): rooms
// of several members, each sending at once, are enough to show loss, duplicates and reordering; more
// clients only add CPU time (and Lambda timeouts on a saturated machine) without proving more.
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack.stop());

test(
  "every member receives every message of its rooms exactly once, in each sender's order",
  async () => {
    const figures = await runSoak(stack, {
      connections: 24,
      rooms: 4,
      messagesPerConnection: 3,
      churn: false,
      timeoutMs: 2 * WAIT_MS,
    });
    expect(figures).toMatchObject({
      messagesSent: 72,
      messagesStored: 72,
      resends: 0,
      deliveriesExpected: 432,
      deliveriesReceived: 432,
      lost: 0,
      notStored: 0,
      duplicates: 0,
      reordered: 0,
      errors: 0,
    });
  },
  LONG_TEST_MS,
);

test(
  'with connections closed at random, clients reconnect with since, resend with their clientMsgId and lose nothing',
  async () => {
    const figures = await runSoak(stack, {
      connections: 16,
      rooms: 2,
      messagesPerConnection: 4,
      churn: true,
      timeoutMs: 2 * WAIT_MS,
    });
    expect(figures.reconnects).toBeGreaterThan(0);
    expect(figures).toMatchObject({
      deliveriesReceived: figures.deliveriesExpected,
      lost: 0,
      notStored: 0,
      duplicates: 0,
      reordered: 0,
      errors: 0,
    });
    expect(figures.errorKinds).toEqual({});
    // Every send is stored exactly once, those cut off by a close and resent too.
    expect(figures.messagesStored).toBe(figures.messagesSent);
  },
  LONG_TEST_MS,
);
