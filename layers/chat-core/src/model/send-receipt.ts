import { createSchema } from 'electrodb';

/**
 * The record that a client's send (by its `clientMsgId`) was taken in a room, and which message id it
 * got, so that a resend stores nothing twice. Small (one write unit) and in its own partition, apart
 * from the room's messages. The sender's name and a hash of the text are kept so that a repeat from
 * someone else, or with other text, is refused instead of answered with this message.
 */
export const sendReceiptSchema = createSchema({
  model: { service: 'chat', entity: 'sendReceipt', version: '1' },
  attributes: {
    roomId: { type: 'string', required: true, readOnly: true },
    clientMsgId: { type: 'string', required: true, readOnly: true },
    /** The message this send was given; changed only when its first holder died before storing it. */
    messageId: { type: 'string', required: true },
    senderName: { type: 'string', readOnly: true },
    /** SHA-256 of the message text, base64url. */
    msgHash: { type: 'string', required: true, readOnly: true },
    /** Epoch seconds, the message's: a repeat is recognised as long as the message is kept. */
    expiresAt: { type: 'number', required: true },
  },
  indexes: {
    byClientMsgId: {
      pk: { field: 'pk', composite: ['roomId', 'clientMsgId'], casing: 'none' },
      sk: { field: 'sk', composite: [], casing: 'none' },
    },
  },
});
