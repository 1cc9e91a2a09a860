import { DynamoDBClient } from '@aws-sdk/client-dynamodb';

let client: DynamoDBClient | undefined;

/**
 * One client per runtime, reused across invocations (connections stay warm). The SDK itself
 * honours `AWS_ENDPOINT_URL_DYNAMODB`, which is how the local stack and tests point it at DynamoDB Local.
 */
export function dynamoDbClient(): DynamoDBClient {
  client ??= new DynamoDBClient({});
  return client;
}
