import { createSchema } from 'electrodb';

/**
 * A message as it was delivered, kept for replay (history, reconnect with `since`). Partitioned by
 * room and sorted by its time-sortable id, so a room's history is one Query that reads nothing else.
 */
export const messageSchema = createSchema({
  model: { service: 'chat', entity: 'message', version: '1' },
  attributes: {
    roomId: { type: 'string', required: true, readOnly: true },
    id: { type: 'string', required: true, readOnly: true },
    senderId: { type: 'string', required: true, readOnly: true },
    senderName: { type: 'string', readOnly: true },
    senderUserId: { type: 'string', readOnly: true },
    msg: { type: 'string', required: true, readOnly: true },
    sentAt: { type: 'string', required: true, readOnly: true },
    /**
     * Kept only on a batched message, for its batcher to put in the sender's copy (the echo); never in
     * anyone else's frames or in history.
     */
    clientMsgId: { type: 'string', readOnly: true },
    /** Epoch seconds; the table's TTL attribute (room history lifetime). */
    expiresAt: { type: 'number', required: true },
  },
  indexes: {
    byRoom: {
      pk: { field: 'pk', composite: ['roomId'], casing: 'none' },
      sk: { field: 'sk', composite: ['id'], casing: 'none' },
    },
  },
});
