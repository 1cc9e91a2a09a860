import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import { handleOf } from 'chat-core';

/** Every item of a table as plain objects, sorted by key, for before/after comparisons. */
export async function scanTable(client: DynamoDBClient, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  const pages = paginateScan(
    { client: DynamoDBDocumentClient.from(client) },
    { TableName: table, ConsistentRead: true },
  );
  for await (const page of pages) items.push(...(page.Items ?? []));
  const key = (item: Record<string, unknown>) => JSON.stringify([item.pk, item.sk]);
  return items.sort((a, b) => key(a).localeCompare(key(b)));
}

/**
 * The connection id behind a handle (clients are never told connection ids): the connection item whose id
 * hashes to it. For tests that look a client's items up in the table.
 */
export async function connectionIdOf(client: DynamoDBClient, table: string, handle: string): Promise<string> {
  const ids = (await scanTable(client, table))
    .filter((item) => item.__edb_e__ === 'connection' && handleOf(item.connectionId as string) === handle)
    .map((item) => item.connectionId as string);
  if (ids.length !== 1) throw new Error(`${ids.length} connections have the handle ${handle}`);
  return ids[0]!;
}
