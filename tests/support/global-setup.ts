import { cachedBuild, SHARED_BUILD_CACHE } from '../../local/cached-build';
import { startDynamoDbForTests, testEnvironment } from './dynamodb-for-tests';
import { TEMPLATE_PATH } from './test-table';

declare global {
  var __testResources: { stop(): Promise<void> } | undefined;
}

// Runs once per jest project that needs it, before any worker starts; the second project reuses
// what the first started. Workers inherit the environment set here.
export default async function globalSetup(): Promise<void> {
  if (globalThis.__testResources) return;
  // Kept between runs (in the ignored .build/), so a run whose functions and layer did not change skips
  // the build; every stack of the run (and of the quick bench) asks the same cache, which rebuilds only if
  // a source changes.
  const buildDir = SHARED_BUILD_CACHE;
  const [dynamoDb] = await Promise.all([startDynamoDbForTests(), cachedBuild(TEMPLATE_PATH, buildDir)]);
  console.log(`\nDynamoDB for tests: ${dynamoDb.source}`);
  Object.assign(process.env, testEnvironment(dynamoDb.endpoint), { CHAT_TEST_BUILD_DIR: buildDir });
  globalThis.__testResources = { stop: () => dynamoDb.stop() };
}
