import { runSoak } from '../../bench/soak';
import { startTestStack, type TestStack } from '../support/test-stack';
import { LONG_TEST_MS, WAIT_MS } from '../support/timeouts';

// A small run of `npm run soak` (the full size runs outside the test suite and prints its figures).
let stack: TestStack;
beforeAll(async () => {
  stack = await startTestStack();
});
afterAll(() => stack.stop());

test(
  "every member receives every message of its rooms exactly once, in each sender's order",
  async () => {
    const figures = await runSoak(stack, {
      connections: 60,
      rooms: 6,
      messagesPerConnection: 3,
      churn: false,
      timeoutMs: 2 * WAIT_MS,
    });
    expect(figures).toMatchObject({
      messagesSent: 180,
      messagesStored: 180,
      unconfirmedSends: 0,
      deliveriesExpected: 1800,
      deliveriesReceived: 1800,
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
  'with connections closed at random, clients reconnect with since and still lose nothing',
  async () => {
    const figures = await runSoak(stack, {
      connections: 30,
      rooms: 3,
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
    // Every echoed send is in the history; only sends cut off by a close may be missing from it.
    expect(figures.messagesStored).toBeGreaterThanOrEqual(figures.messagesSent - figures.unconfirmedSends);
  },
  LONG_TEST_MS,
);
