import { createSchema } from 'electrodb';

/**
 * A connection's membership of a room. Written under the connection's partition (disconnect
 * cleanup) and indexed by room on `gsi1` (fan-out). The display name is copied from the
 * connection so that `send` and `leave` need no second read to say who spoke or left.
 */
export const membershipSchema = createSchema({
  model: { service: 'chat', entity: 'membership', version: '1' },
  attributes: {
    roomId: { type: 'string', required: true, readOnly: true },
    connectionId: { type: 'string', required: true, readOnly: true },
    joinedAt: { type: 'number', required: true, readOnly: true },
    name: { type: 'string' },
    /** The connection's signed-in user, copied like the name. */
    userId: { type: 'string' },
    /** Epoch ms of the last `typing` relayed for this member: the relay's throttle (not projected to gsi1). */
    typingAt: { type: 'number' },
    /** Epoch seconds, equal to the connection's; the table's TTL attribute. */
    expiresAt: { type: 'number', required: true },
  },
  indexes: {
    byConnection: {
      collection: 'connection',
      pk: { field: 'pk', composite: ['connectionId'], casing: 'none' },
      sk: { field: 'sk', composite: ['roomId'], casing: 'none' },
    },
    byRoom: {
      index: 'gsi1',
      pk: { field: 'gsi1pk', composite: ['roomId'], casing: 'none' },
      sk: { field: 'gsi1sk', composite: ['connectionId'], casing: 'none' },
    },
  },
});
