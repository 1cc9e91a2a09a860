import { randomUUID } from 'node:crypto';
import { DeleteTableCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { createTableFromResource, localDynamoDbClient } from '../../local/dynamodb';
import { loadTemplate } from '../../tools/template';

export const TEMPLATE_PATH = `${__dirname}/../../template.yaml`;

export interface TestTable {
  client: DynamoDBClient;
  table: string;
  drop(): Promise<void>;
}

/** A fresh table built from template.yaml's ChatTable resource, so code and template cannot drift. */
export async function createTestTable(): Promise<TestTable> {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB;
  if (!endpoint)
    throw new Error('AWS_ENDPOINT_URL_DYNAMODB is unset: run integration tests through jest (global setup)');
  const client = localDynamoDbClient(endpoint);
  const table = `chat-test-${randomUUID()}`;
  const resource = loadTemplate(TEMPLATE_PATH).Resources.ChatTable;
  if (!resource) throw new Error('template.yaml has no ChatTable');
  await createTableFromResource(client, resource, table);
  return {
    client,
    table,
    async drop() {
      await client.send(new DeleteTableCommand({ TableName: table }));
      client.destroy();
    },
  };
}
