import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';

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
