import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { Entity, type EntityItem, Service } from 'electrodb';
import { batchWindowSchema } from './batch-window';
import { connectionSchema } from './connection';
import { membershipSchema } from './membership';
import { messageSchema } from './message';
import { sendReceiptSchema } from './send-receipt';

/** The single-table service: every entity bound to one client and one table. */
export function createChatService(client: DynamoDBClient, table: string) {
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

export type ChatService = ReturnType<typeof createChatService>;
export type ConnectionItem = EntityItem<ChatService['entities']['connection']>;
export type MembershipItem = EntityItem<ChatService['entities']['membership']>;
export type MessageItem = EntityItem<ChatService['entities']['message']>;
export type SendReceiptItem = EntityItem<ChatService['entities']['sendReceipt']>;
export type BatchWindowItem = EntityItem<ChatService['entities']['batchWindow']>;
