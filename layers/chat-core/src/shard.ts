import * as z from 'zod/mini';
import { fanOutShard, type ShardEvent } from './fanout';
import { invokedFunction } from './invoked-function';

/** What a send hands over (fanout.ts ShardEvent); anything else is refused before a POST is made. */
const shardEvent = z.object({
  endpoint: z.url({ protocol: /^https?$/ }),
  room: z.string().check(z.minLength(1)),
  frame: z.looseObject({ type: z.string() }),
  members: z.array(z.string().check(z.minLength(1))).check(z.minLength(1)),
});

/**
 * The fan-out function: posts one shard of a room's fan-out. It returns normally even when some members
 * could not be reached (they are logged): an error would make Lambda retry the whole shard, posting
 * again to everyone who already has the frame.
 */
export const fanoutShardHandler = invokedFunction(shardEvent, 'fan-out shard', (deps, event) =>
  fanOutShard(deps, event as ShardEvent),
);
