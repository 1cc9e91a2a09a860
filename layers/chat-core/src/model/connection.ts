import { createSchema } from 'electrodb';

/**
 * One open WebSocket connection. It shares its partition with its memberships (the `connection`
 * collection), so a disconnect finds everything it must delete with one Query.
 */
export const connectionSchema = createSchema({
  model: { service: 'chat', entity: 'connection', version: '1' },
  attributes: {
    connectionId: { type: 'string', required: true, readOnly: true },
    connectedAt: { type: 'number', required: true, readOnly: true },
    name: { type: 'string' },
    /** The signed-in user (the token's subject) when sign-in is on: every connection of one user shares it. */
    userId: { type: 'string', readOnly: true },
    sourceIp: { type: 'string' },
    userAgent: { type: 'string' },
    /** Memberships held; the join transaction keeps it below the per-connection cap. */
    roomCount: { type: 'number' },
    /**
     * Epoch ms when the connection's request token bucket is full again (the state of a token bucket
     * kept as one number, the "theoretical arrival time" of the generic cell rate algorithm).
     */
    bucketFullAt: { type: 'number' },
    /** Epoch ms of the connection's last `ping` (or its connect): members silent for long are checked. */
    seenAt: { type: 'number' },
    /** Epoch seconds; the table's TTL attribute. */
    expiresAt: { type: 'number', required: true },
  },
  indexes: {
    byConnection: {
      collection: 'connection',
      // Connection ids are case-sensitive: ElectroDB would lower-case them by default.
      pk: { field: 'pk', composite: ['connectionId'], casing: 'none' },
      sk: { field: 'sk', composite: [], casing: 'none' },
    },
  },
});
