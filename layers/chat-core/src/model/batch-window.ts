import { createSchema } from 'electrodb';

/**
 * A room's batching window (template parameter BatchWindowMs): while it is open, a send stores its message
 * as always, adds its id here and posts nothing; when it ends, the window's batcher closes it and posts its
 * messages to every member in `messages` frames. One item per room, in the room's message partition
 * (sorting before every message), replaced by each new window. Every change is a conditional write of
 * this one item (no transaction, so concurrent sends never conflict): once `closed` is set, no send can
 * add an id, and the close returns the ids it ended with.
 */
export const batchWindowSchema = createSchema({
  model: { service: 'chat', entity: 'batchWindow', version: '1' },
  attributes: {
    roomId: { type: 'string', required: true, readOnly: true },
    /** The id of the message that opened the window. */
    windowId: { type: 'string', required: true },
    /** Epoch ms when the window stops taking messages and its batcher posts them. */
    endsAt: { type: 'number', required: true },
    closed: { type: 'boolean', required: true },
    /** The messages the batcher posts, in the order they joined. */
    messageIds: { type: 'list', items: { type: 'string' }, required: true },
    /** Epoch seconds; the table's TTL attribute (a window outlives its end only to tell busy rooms). */
    expiresAt: { type: 'number', required: true },
  },
  indexes: {
    byRoom: {
      pk: { field: 'pk', composite: ['roomId'], casing: 'none' },
      sk: { field: 'sk', composite: [], casing: 'none' },
    },
  },
});
