import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Entity, type EntityItem, Service } from 'electrodb';
import { batchWindowSchema } from './batch-window';
import { connectionSchema } from './connection';
import { membershipSchema } from './membership';
import { messageSchema } from './message';
import { sendReceiptSchema } from './send-receipt';

function buildChatService(client: DynamoDBClient, table: string) {
  // Fresh entities per service: ElectroDB binds the client and table to the instances it is given.
  return new Service(
    {
      connection: new Entity(connectionSchema),
      membership: new Entity(membershipSchema),
      message: new Entity(messageSchema),
      sendReceipt: new Entity(sendReceiptSchema),
      batchWindow: new Entity(batchWindowSchema),
    },
    { client, table },
  );
}

export type ChatService = ReturnType<typeof buildChatService>;

// Building the entities validates their schemas (tens of milliseconds before the JIT warms up), and
// the services hold no request state: stores on the same client and table share one.
const services = new WeakMap<DynamoDBClient, Map<string, ChatService>>();

/** The single-table service: every entity bound to one client and one table (one per pair). */
export function chatService(client: DynamoDBClient, table: string): ChatService {
  const byTable = services.get(client) ?? new Map<string, ChatService>();
  services.set(client, byTable);
  const service = byTable.get(table) ?? buildChatService(client, table);
  byTable.set(table, service);
  return service;
}

export type ConnectionItem = EntityItem<ChatService['entities']['connection']>;
export type MembershipItem = EntityItem<ChatService['entities']['membership']>;
export type MessageItem = EntityItem<ChatService['entities']['message']>;
export type SendReceiptItem = EntityItem<ChatService['entities']['sendReceipt']>;
export type BatchWindowItem = EntityItem<ChatService['entities']['batchWindow']>;
