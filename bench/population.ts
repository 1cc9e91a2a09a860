// Fills a chat table fast (ElectroDB batch writes of the app's own entities) with items exactly as the
// handlers write them, and checks that claim against items written through ChatStore itself.
import { type AttributeValue, type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import {
  type ChatService,
  type ChatStore,
  type ConnectionRecord,
  chatService,
  DEFAULT_CONNECTION_LIFETIME_SECONDS,
  type MembershipRecord,
  type MessageRecord,
} from 'chat-core';
import { gatewayId } from '../local/gateway/events';

/**
 * A connection item as `$connect` registers it (ChatStore.registerConnection: a `ws` client, no user
 * agent) and one `join` leaves it: every bench connection is a member of one room.
 */
export function newConnection(index: number, nowMs = Date.now()): ConnectionRecord {
  return {
    connectionId: gatewayId(),
    connectedAt: nowMs,
    expiresAt: Math.floor(nowMs / 1000) + DEFAULT_CONNECTION_LIFETIME_SECONDS,
    name: `user${String(index).padStart(5, '0')}`,
    sourceIp: '127.0.0.1',
    roomCount: 1,
    seenAt: nowMs,
  };
}

/** The membership `join` writes for a connection (ChatStore.joinRoom): expiry and name copied from it. */
export function membershipOf(
  connection: ConnectionRecord,
  roomId: string,
  nowMs = Date.now(),
): MembershipRecord {
  return {
    roomId,
    connectionId: connection.connectionId,
    joinedAt: nowMs,
    expiresAt: connection.expiresAt,
    ...(connection.name === undefined ? {} : { name: connection.name }),
  };
}

const BATCH_ATTEMPTS = 5;

/** BatchWriteItem in pages of 25, a few in flight; unprocessed items are written again. */
async function batchPut<T extends object>(
  put: (items: T[]) => Promise<{ unprocessed: object[] }>,
  items: T[],
  keyOf: (item: object) => string,
): Promise<void> {
  let pending = items;
  for (let attempt = 1; pending.length > 0; attempt++) {
    const { unprocessed } = await put(pending);
    const left = new Set(unprocessed.map(keyOf));
    pending = pending.filter((item) => left.has(keyOf(item)));
    if (pending.length > 0 && attempt >= BATCH_ATTEMPTS) {
      throw new Error(`${pending.length} items unprocessed after ${BATCH_ATTEMPTS} batch writes`);
    }
  }
}

export class Population {
  private readonly service: ChatService;

  constructor(
    private readonly client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.service = chatService(client, table);
  }

  async putConnections(connections: ConnectionRecord[]): Promise<void> {
    const { connection } = this.service.entities;
    const key = (item: object) => (item as ConnectionRecord).connectionId;
    await batchPut((items) => connection.put(items).go({ concurrent: 4 }), connections, key);
  }

  async putMemberships(memberships: MembershipRecord[]): Promise<void> {
    const { membership } = this.service.entities;
    const key = (item: object) => {
      const { connectionId, roomId } = item as MembershipRecord;
      return `${connectionId}/${roomId}`;
    };
    await batchPut((items) => membership.put(items).go({ concurrent: 4 }), memberships, key);
  }

  async putMessages(messages: MessageRecord[]): Promise<void> {
    const { message } = this.service.entities;
    const key = (item: object) => (item as MessageRecord).id;
    await batchPut((items) => message.put(items).go({ concurrent: 4 }), messages, key);
  }

  /** The connections' items as stored, by batch get (for copying expiry and name into memberships). */
  async getConnections(connectionIds: string[]): Promise<ConnectionRecord[]> {
    const { data, unprocessed } = await this.service.entities.connection
      .get(connectionIds.map((connectionId) => ({ connectionId })))
      .go({ concurrent: 4 });
    if (unprocessed.length > 0) throw new Error(`${unprocessed.length} connections not read`);
    return data;
  }

  /** Every connection in the table by its `name` (the bench's clients name themselves `bench{index}`). */
  async connectionIdsByName(): Promise<Map<string, string>> {
    const { data } = await this.service.entities.connection.scan.go({ pages: 'all' });
    return new Map(data.map((connection) => [connection.name ?? '', connection.connectionId]));
  }

  /**
   * Writes one connection and one membership through ChatStore (as `$connect` and `join` do) and the
   * same through the batch path, then checks both pairs of stored items are alike: same attributes,
   * same types, same key layout. Throws if the bench would be measuring different items.
   */
  async checkSameItemsAsTheApp(store: ChatStore, roomId: string): Promise<void> {
    const [viaApp, viaBatch] = [newConnection(0), newConnection(1)];
    await store.registerConnection(viaApp);
    await this.putConnections([viaBatch]);
    await store.joinRoom(viaApp.connectionId, roomId);
    await this.putMemberships([
      membershipOf((await this.getConnections([viaBatch.connectionId]))[0]!, roomId),
    ]);
    for (const [entity, sk] of [
      ['connection', '$connection#connection_1'],
      ['membership', `$connection#membership_1#roomId_${roomId}`],
    ] as const) {
      const [a, b] = await Promise.all(
        [viaApp, viaBatch].map((c) => this.rawItem(`$chat#connectionId_${c.connectionId}`, sk)),
      );
      const shapeA = shape(a!, viaApp.connectionId);
      const shapeB = shape(b!, viaBatch.connectionId);
      if (shapeA !== shapeB) {
        throw new Error(
          `bench ${entity} items differ from the app's:\n  app:   ${shapeA}\n  bench: ${shapeB}`,
        );
      }
    }
    await store.removeConnection(viaApp.connectionId);
    await store.removeConnection(viaBatch.connectionId);
  }

  private async rawItem(pk: string, sk: string): Promise<Record<string, AttributeValue>> {
    const { Item } = await this.client.send(
      new GetItemCommand({
        TableName: this.table,
        Key: { pk: { S: pk }, sk: { S: sk } },
        ConsistentRead: true,
      }),
    );
    if (!Item) throw new Error(`no item ${pk} ${sk}`);
    return Item;
  }
}

/** Attribute names and types; key and marker values with the connection id blanked out. */
function shape(item: Record<string, AttributeValue>, connectionId: string): string {
  return Object.keys(item)
    .sort()
    .map((name) => {
      const [type, value] = Object.entries(item[name]!)[0]!;
      const layout = /^(pk|sk|gsi1pk|gsi1sk|__edb_e__|__edb_v__)$/.test(name)
        ? `=${String(value).replace(connectionId, '<id>')}`
        : '';
      return `${name}:${type}${layout}`;
    })
    .join(' ');
}
