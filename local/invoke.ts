// `npm run invoke -- <FunctionLogicalId> -e events/<file>.json`: what `sam local invoke` does, without
// Docker. Builds the template (reusing the last build while no source changed), runs the function's
// bundle with the template's environment against DynamoDB Local (data kept in .build/invoke-db; the
// DynamoDB Local stays up for the next call), prints the result and every frame the handler posted to
// connections (caught by a recording @connections endpoint).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConnectionsRecorder } from './connections-recorder';
import {
  createTableFromResource,
  existingDynamoDb,
  lingeringDynamoDbJar,
  localDynamoDbClient,
} from './dynamodb';
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
  const event = readEvent(values.event);

  const existing = await existingDynamoDb();
  const dynamoDb = existing ?? (await lingeringDynamoDbJar(values['db-path']));
  if (!existing) {
    const lingering = dynamoDb as Awaited<ReturnType<typeof lingeringDynamoDbJar>>;
    console.error(
      `DynamoDB Local ${lingering.reused ? 'reused' : 'started'} at ${lingering.endpoint} (data in ${values['db-path']}; ` +
        `it stays up for the next invoke and stops after 30 idle minutes, or: kill -- -${lingering.pid})`,
    );
  }
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
  }
}

/** The event file as JSON, or an error that names the file (and the samples when it does not exist). */
function readEvent(path: string): { requestContext?: { domainName?: string } } {
  if (!existsSync(path)) {
    const samplesDir = join(__dirname, '..', 'events');
    const samples = existsSync(samplesDir)
      ? readdirSync(samplesDir)
          .filter((name) => name.endsWith('.json') && name !== 'env.json')
          .map((name) => `events/${name}`)
      : [];
    throw new Error(
      `event file not found: ${path} (${resolve(path)})` +
        (samples.length ? `\nsample events: ${samples.join(', ')}` : ''),
    );
  }
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch (error) {
    throw new Error(`event file ${path} is not valid JSON: ${(error as Error).message}`);
  }
}

main().catch((error: Error) => {
  console.error(error.message);
  process.exit(1);
});
