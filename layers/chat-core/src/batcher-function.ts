import * as z from 'zod/mini';
import { deliverWindow } from './batcher';
import { invokedFunction } from './invoked-function';

/** What a send hands over; anything else is refused before anything is read or posted. */
const batchEvent = z.object({
  endpoint: z.url({ protocol: /^https?$/ }),
  room: z.string().check(z.minLength(1)),
  windowId: z.string().check(z.minLength(1)),
  endsAt: z.number(),
});

/**
 * The batcher function. A failure to close the window or read its messages fails the invocation, which
 * Lambda retries (members drop what they get twice, by id); undeliverable members are logged, never retried (a retry
 * would post again to everyone who has the frame).
 */
export const batcherHandler = invokedFunction(
  batchEvent,
  'batching window',
  (deps, { endpoint, ...window }) => deliverWindow(deps, window),
);
