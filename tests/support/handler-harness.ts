import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ChatStore } from 'chat-core';
import { ConnectionsRecorder } from '../../local/connections-recorder';
import { InvokeEndpoint } from '../../local/lambda/invoke-endpoint';
import { type InvokeOutcome, LocalFunction } from '../../local/lambda/local-function';
import { loadLocalApp } from '../../local/local-app';
import { DynamoDbFaultProxy } from './dynamodb-fault-proxy';
import { createTestTable, sharedBuildDir, TEMPLATE_PATH, type TestTable } from './test-table';
import { FUNCTION_TIMEOUT_SCALE } from './timeouts';

const EVENTS_DIR = join(__dirname, '..', '..', 'events');
type Event = {
  requestContext: Record<string, unknown>;
  body?: string;
  queryStringParameters?: Record<string, string>;
};

/** A sample event from events/, re-addressed to another connection and carrying another body. */
export function sampleEvent(
  file: 'connect' | 'disconnect' | 'join' | 'send' | 'leave' | 'default' | 'history' | 'members' | 'typing',
  changes: { connectionId?: string; body?: unknown; query?: Record<string, string> | null } = {},
): Event {
  const event = JSON.parse(readFileSync(join(EVENTS_DIR, `${file}.json`), 'utf8')) as Event;
  if (changes.connectionId) event.requestContext.connectionId = changes.connectionId;
  if (changes.body !== undefined) {
    event.body = typeof changes.body === 'string' ? changes.body : JSON.stringify(changes.body);
  }
  if (changes.query !== undefined) {
    if (changes.query === null) delete event.queryStringParameters;
    else event.queryStringParameters = changes.query;
  }
  return event;
}

const ROUTE_SAMPLES = {
  JoinFunction: 'join',
  SendFunction: 'send',
  LeaveFunction: 'leave',
  HistoryFunction: 'history',
  MembersFunction: 'members',
  TypingFunction: 'typing',
  DefaultFunction: 'default',
} as const;

/**
 * The built handlers of template.yaml, run as the local Lambda runtime runs them, against a fresh
 * table in DynamoDB Local and a recording @connections endpoint that the events' domain routes to.
 */
export class HandlerHarness {
  readonly recorder = new ConnectionsRecorder();
  readonly logs: string[] = [];
  private functions: Record<string, LocalFunction> = {};
  /** Lambda's Invoke API for the functions' asynchronous invocations (batching windows, shards). */
  readonly lambda = new InvokeEndpoint({
    functions: () => Object.fromEntries(Object.values(this.functions).map((fn) => [fn.spec.name, fn])),
    log: (line) => this.logs.push(line),
  });
  db!: TestTable;
  store!: ChatStore;
  /** The recorder's base URL (`${recorderUrl}/{stage}` is an `@connections` endpoint). */
  recorderUrl!: string;
  /** With `{ proxy: true }`: the proxy the functions reach DynamoDB through (counts calls, injects faults). */
  proxy: DynamoDbFaultProxy | undefined;

  async start(
    environment: Record<string, string> = {},
    options: { proxy?: boolean; parameterOverrides?: Record<string, string> } = {},
  ): Promise<void> {
    if (options.proxy) {
      this.proxy = new DynamoDbFaultProxy(process.env.AWS_ENDPOINT_URL_DYNAMODB!);
      environment = { AWS_ENDPOINT_URL_DYNAMODB: await this.proxy.start(), ...environment };
    }
    this.db = await createTestTable();
    this.store = new ChatStore({
      client: this.db.client,
      table: this.db.table,
      connectionLifetimeSeconds: 8100,
    });
    const recorderUrl = await this.recorder.start();
    this.recorderUrl = recorderUrl;
    const lambdaUrl = await this.lambda.listen();
    const app = await loadLocalApp({
      templatePath: TEMPLATE_PATH,
      buildDir: sharedBuildDir(),
      tableNames: { ChatTable: this.db.table },
      functionTimeoutScale: FUNCTION_TIMEOUT_SCALE,
      ...(options.parameterOverrides ? { parameterOverrides: options.parameterOverrides } : {}),
      extraEnvironment: {
        AWS_ENDPOINT_URL_DYNAMODB: process.env.AWS_ENDPOINT_URL_DYNAMODB!,
        AWS_ENDPOINT_URL_LAMBDA: lambdaUrl,
        ...environment,
      },
    });
    const domainName = sampleEvent('join').requestContext.domainName as string;
    for (const [id, spec] of Object.entries(app.functions)) {
      this.functions[id] = new LocalFunction(spec, {
        maxInstances: 2,
        gateway: { url: recorderUrl, hosts: [domainName] },
        onLog: (_, line) => this.logs.push(line),
      });
    }
  }

  /** A message route's function, called with its sample event from `connectionId` carrying `body`. */
  request(
    functionId: keyof typeof ROUTE_SAMPLES,
    connectionId: string,
    body: unknown,
  ): Promise<InvokeOutcome> {
    return this.invoke(functionId, sampleEvent(ROUTE_SAMPLES[functionId], { connectionId, body }));
  }

  /** Ends a function's instances, so that its next invocation starts cold. */
  async restart(functionId: string): Promise<void> {
    const fn = this.functions[functionId];
    if (!fn) throw new Error(`no function ${functionId}`);
    await fn.stop();
    this.functions[functionId] = new LocalFunction(fn.spec, fn.options);
  }

  invoke(functionId: string, event: unknown): Promise<InvokeOutcome> {
    const fn = this.functions[functionId];
    if (!fn) throw new Error(`no function ${functionId}`);
    return fn.invoke(event);
  }

  /** Registers a connection straight in the table (what $connect does) and returns its id. */
  async connection(name?: string): Promise<string> {
    const connectionId = `${Math.random().toString(36).slice(2, 12).padEnd(10, 'x')}Test=`;
    await this.store.registerConnection({ connectionId, connectedAt: Date.now(), ...(name ? { name } : {}) });
    return connectionId;
  }

  async stop(): Promise<void> {
    await this.lambda.close();
    await Promise.all(Object.values(this.functions).map((fn) => fn.stop()));
    await this.recorder.stop();
    await this.proxy?.stop();
    await this.db.drop();
  }
}
