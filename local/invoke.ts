// `npm run invoke -- <FunctionLogicalId> -e events/<file>.json`: what `sam local invoke` does, without
// Docker. Builds the template, runs the function's bundle with the template's environment against
// DynamoDB Local (started if needed, data kept in .build/invoke-db between runs), prints the result
// and every frame the handler posted to connections (caught by a recording @connections endpoint).
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConnectionsRecorder } from './connections-recorder';
import { createTableFromResource, existingDynamoDb, localDynamoDbClient, startDynamoDbJar } from './dynamodb';
import { LocalFunction } from './lambda/local-function';
import { loadLocalApp } from './local-app';

const USAGE =
  'usage: npm run invoke -- <FunctionLogicalId> -e <event.json> [--template template.yaml] [--db-path DIR]';

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      event: { type: 'string', short: 'e' },
      template: { type: 'string', short: 't', default: 'template.yaml' },
      'db-path': { type: 'string', default: '.build/invoke-db' },
    },
  });
  const [functionId] = positionals;
  if (!functionId || !values.event) throw new Error(USAGE);
  const event = JSON.parse(readFileSync(values.event, 'utf8')) as {
    requestContext?: { domainName?: string };
  };

  const dynamoDb =
    (await existingDynamoDb()) ?? (await startDynamoDbJar({ dbPath: resolve(values['db-path']) }));
  const recorder = new ConnectionsRecorder();
  let fn: LocalFunction | undefined;
  try {
    const app = await loadLocalApp({
      templatePath: values.template,
      extraEnvironment: { AWS_ENDPOINT_URL_DYNAMODB: dynamoDb.endpoint },
    });
    const spec = app.functions[functionId];
    if (!spec)
      throw new Error(
        `${functionId} is not a function of ${values.template}: ${Object.keys(app.functions).join(', ')}`,
      );
    const client = localDynamoDbClient(dynamoDb.endpoint);
    for (const table of app.tables) await createTableFromResource(client, table.resource, table.name);
    client.destroy();

    const recorderUrl = await recorder.start();
    const domainName = event.requestContext?.domainName;
    fn = new LocalFunction(spec, { gateway: { url: recorderUrl, hosts: domainName ? [domainName] : [] } });
    const outcome = await fn.invoke(event);

    console.log(`\n${functionId} (${outcome.durationMs} ms, ${outcome.coldStart ? 'cold' : 'warm'})`);
    console.log(
      outcome.error
        ? `error: ${JSON.stringify(outcome.error, null, 2)}`
        : `result: ${JSON.stringify(outcome.result)}`,
    );
    console.log(`frames posted to connections: ${recorder.posts.length}`);
    for (const post of recorder.posts) console.log(`  -> ${post.connectionId}: ${post.data}`);
    if (outcome.error) process.exitCode = 1;
  } finally {
    await fn?.stop();
    await recorder.stop();
    await dynamoDb.stop();
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
