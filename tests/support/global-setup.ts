import { startDynamoDbForTests, testEnvironment } from './dynamodb-for-tests';

declare global {
  var __dynamoDbForTests: { stop(): Promise<void> } | undefined;
}

export default async function globalSetup(): Promise<void> {
  const dynamoDb = await startDynamoDbForTests();
  console.log(`\nDynamoDB for tests: ${dynamoDb.source}`);
  // Test workers start after this and inherit the environment.
  Object.assign(process.env, testEnvironment(dynamoDb.endpoint));
  globalThis.__dynamoDbForTests = dynamoDb;
}
