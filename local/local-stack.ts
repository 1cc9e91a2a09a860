import { spawnSync } from 'node:child_process';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { resolve } from 'node:path';
import { type DevIssuer, startDevIssuer, tokenEndpoint } from './dev-issuer';
import {
  createTableFromResource,
  existingDynamoDb,
  LOCAL_AWS_ENV,
  localDynamoDbClient,
  type RunningDynamoDb,
  startDynamoDbJar,
} from './dynamodb';
import { WebSocketGateway } from './gateway/websocket-gateway';
import { InvokeEndpoint } from './lambda/invoke-endpoint';
import { LocalFunction } from './lambda/local-function';
import { type LocalApp, loadLocalApp } from './local-app';
import { chatPageServer } from './web/serve-chat-page';

export interface LocalStackOptions {
  templatePath?: string;
  /** 0 picks a free port. */
  port?: number;
  host?: string;
  /** Keep DynamoDB Local's data in this folder (default: in memory). */
  dbPath?: string;
  /** Use this DynamoDB endpoint instead of `AWS_ENDPOINT_URL_DYNAMODB` or a new DynamoDB Local. */
  dynamoDbEndpoint?: string;
  buildDir?: string;
  /** Local table names by logical id (tests use fresh ones). */
  tableNames?: Record<string, string>;
  /** Variables added to every function's environment. */
  environment?: Record<string, string>;
  /** Template parameter values over the template's defaults (as `sam deploy --parameter-overrides`). */
  parameterOverrides?: Record<string, string>;
  /**
   * Sign-in: runs the local development issuer and the template with AuthMode jwt pointed at it, and
   * serves `POST /auth/token` for a token per name. `header` puts the token in Sec-WebSocket-Protocol.
   */
  auth?: boolean | { tokenSource: 'query' | 'header' };
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  integrationTimeoutMs?: number;
  /** See LocalAppOptions. */
  functionTimeoutScale?: number;
  maxInstancesPerFunction?: number;
  /** Invocations that may wait for an instance of one function (default 200); more are refused at once. */
  maxQueuedPerFunction?: number;
  verbose?: boolean;
  log?: (line: string) => void;
  functionLog?: (functionName: string, line: string) => void;
  dropInvocation?: (routeKey: string, event: unknown) => boolean;
  /** Delay of each `@connections` answer (see GatewayOptions). */
  connectionsLatency?: { minMs: number; maxMs: number };
  /** Throttle on `@connections` calls (see GatewayOptions). */
  connectionsRate?: { rateLimit: number; burstLimit: number };
  /** Waits before an asynchronous invocation's first and second retry (see InvokeEndpoint). */
  asyncRetryDelaysMs?: [number, number];
}

export interface LocalStack {
  app: LocalApp;
  gateway: WebSocketGateway;
  functions: Record<string, LocalFunction>;
  port: number;
  webSocketUrl: string;
  connectionsUrl: string;
  /** The chat page (served only for this project's own template: see `servesChatPage`). */
  pageUrl: string;
  servesChatPage: boolean;
  /** The local development issuer (with `auth`). */
  issuer?: DevIssuer;
  /** The template's Outputs with the API's AWS URLs replaced by the local ones they map to. */
  outputs: Record<string, string>;
  dynamoDb: RunningDynamoDb;
  /** Lambda's Invoke API for the functions, at AWS_ENDPOINT_URL_LAMBDA. */
  lambda: InvokeEndpoint;
  /**
   * Rebuilds the code and swaps in fresh function instances for new invocations; those under way
   * finish on the old ones. Open connections stay open.
   */
  reload(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * The whole service on this machine: DynamoDB Local with the template's tables, the template's
 * functions built and run as Lambda runs them, and its WebSocket API served as API Gateway serves it.
 */
export async function startLocalStack(options: LocalStackOptions = {}): Promise<LocalStack> {
  const log = options.log ?? ((line: string) => console.log(line));
  const dynamoDb = options.dynamoDbEndpoint
    ? { endpoint: options.dynamoDbEndpoint, stop: async () => {} }
    : ((await existingDynamoDb()) ??
      (await startDynamoDbJar(options.dbPath ? { dbPath: resolve(options.dbPath) } : {})));
  const started: { stop(): Promise<void> }[] = [dynamoDb];
  const stopAll = async () => {
    for (const part of started.reverse()) await part.stop().catch(() => {});
  };
  try {
    const issuer = options.auth ? await startDevIssuer() : undefined;
    if (issuer) started.push(issuer);
    const signIn = issuer ? devSignIn(issuer, options.auth) : undefined;
    const functions: Record<string, LocalFunction> = {};
    const lambda = new InvokeEndpoint({
      functions: () => Object.fromEntries(Object.values(functions).map((fn) => [fn.spec.name, fn])),
      log,
      ...(options.asyncRetryDelaysMs ? { retryDelaysMs: options.asyncRetryDelaysMs } : {}),
    });
    const lambdaEndpoint = await lambda.listen();
    started.push({ stop: () => lambda.close() });
    const load = () =>
      loadLocalApp({
        templatePath: options.templatePath ?? 'template.yaml',
        ...(options.buildDir ? { buildDir: options.buildDir } : {}),
        ...(options.tableNames ? { tableNames: options.tableNames } : {}),
        ...(options.functionTimeoutScale ? { functionTimeoutScale: options.functionTimeoutScale } : {}),
        parameterOverrides: { ...options.parameterOverrides, ...signIn?.parameters },
        extraEnvironment: {
          AWS_ENDPOINT_URL_DYNAMODB: dynamoDb.endpoint,
          AWS_ENDPOINT_URL_LAMBDA: lambdaEndpoint,
          ...signIn?.environment,
          ...options.environment,
        },
      });
    const app = await load();
    const client = localDynamoDbClient(dynamoDb.endpoint);
    for (const table of app.tables) await createTableFromResource(client, table.resource, table.name);
    client.destroy();

    const [api, ...others] = app.webSocketApis;
    if (!api)
      throw new Error(
        'the template has no WebSocket API (AWS::ApiGatewayV2::Api with ProtocolType WEBSOCKET)',
      );
    if (others.length > 0)
      log(`serving ${api.logicalId}; other WebSocket APIs are not served: ${others.map((o) => o.logicalId)}`);

    for (const note of runtimeNotes(app)) log(note);

    const ownTemplate = resolve(options.templatePath ?? 'template.yaml') === OWN_TEMPLATE;
    const gateway = new WebSocketGateway({
      api,
      invoke: (functionId, event) => functions[functionId]!.invoke(event),
      log,
      ...httpServers([
        ...(ownTemplate
          ? [chatPageServer(api.stageName, signIn ? signIn.parameters.AuthTokenSource : 'none')]
          : []),
        ...(issuer ? [tokenEndpoint(issuer)] : []),
      ]),
      ...pick(options, [
        'idleTimeoutMs',
        'maxConnectionMs',
        'integrationTimeoutMs',
        'verbose',
        'dropInvocation',
        'connectionsLatency',
        'connectionsRate',
      ]),
    });
    const port = await gateway.listen(options.port ?? 3001, options.host ?? '127.0.0.1');
    const gatewayHosts = [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `${api.apiId}.execute-api.${LOCAL_AWS_ENV.AWS_REGION}.amazonaws.com`,
    ];
    const startFunctions = (specs: LocalApp['functions']) => {
      for (const [id, spec] of Object.entries(specs)) {
        functions[id] = new LocalFunction(spec, {
          gateway: { url: `http://127.0.0.1:${port}`, hosts: gatewayHosts },
          ...(options.maxInstancesPerFunction ? { maxInstances: options.maxInstancesPerFunction } : {}),
          ...(options.maxQueuedPerFunction ? { maxQueued: options.maxQueuedPerFunction } : {}),
          ...(options.functionLog ? { onLog: options.functionLog } : {}),
        });
      }
    };
    startFunctions(app.functions);
    // Stopped in reverse: the gateway first (no more invocations), then the functions.
    started.push({ stop: () => Promise.all(Object.values(functions).map((fn) => fn.stop())).then(() => {}) });
    started.push({ stop: () => gateway.close() });
    return {
      app,
      gateway,
      functions,
      port,
      webSocketUrl: `ws://localhost:${port}/${api.stageName}`,
      connectionsUrl: `http://localhost:${port}/${api.stageName}/@connections`,
      pageUrl: `http://localhost:${port}/`,
      servesChatPage: ownTemplate,
      ...(issuer ? { issuer } : {}),
      outputs: Object.fromEntries(
        Object.entries(app.outputs).map(([name, value]) => [name, localUrls(value, api.apiId, port)]),
      ),
      dynamoDb,
      lambda,
      async reload() {
        const previous = Object.values(functions);
        startFunctions((await load()).functions);
        await Promise.all(previous.map((fn) => fn.drain()));
      },
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

type HttpServer = (req: IncomingMessage, res: ServerResponse) => boolean;

/** The gateway's `serveHttp`: the first of these that serves the request. */
function httpServers(servers: HttpServer[]): { serveHttp?: HttpServer } {
  return servers.length === 0 ? {} : { serveHttp: (req, res) => servers.some((serve) => serve(req, res)) };
}

/**
 * The template's jwt parameters pointed at the local issuer (its JWKS found through its discovery
 * document, as for any OIDC issuer), and the functions trusting its self-signed certificate.
 */
function devSignIn(issuer: DevIssuer, auth: LocalStackOptions['auth']) {
  return {
    parameters: {
      AuthMode: 'jwt',
      AuthTokenSource: typeof auth === 'object' ? auth.tokenSource : 'query',
      JwtIssuer: issuer.issuer,
      JwtAudience: issuer.audience,
      JwtJwksUri: '',
    },
    environment: { NODE_EXTRA_CA_CERTS: issuer.caFile },
  };
}

/** This project's own template: the chat page belongs to it. */
const OWN_TEMPLATE = resolve(__dirname, '..', 'template.yaml');

/** `wss://{apiId}.execute-api.{region}.amazonaws.com` (and https://) → the local gateway's URL. */
function localUrls(value: string, apiId: string, port: number): string {
  const host = `${apiId}.execute-api.${LOCAL_AWS_ENV.AWS_REGION}.amazonaws.com`;
  return value
    .replaceAll(`wss://${host}`, `ws://localhost:${port}`)
    .replaceAll(`https://${host}`, `http://localhost:${port}`);
}

/** One line per runtime whose Node.js major differs from the one running the functions here. */
function runtimeNotes(app: LocalApp): string[] {
  const local = Number(process.versions.node.split('.')[0]);
  const runtimes = [...new Set(Object.values(app.functions).map((fn) => fn.runtime))];
  const notes = runtimes
    .filter((runtime) => runtime.startsWith('nodejs') && Number(/nodejs(\d+)/.exec(runtime)?.[1]) !== local)
    .map(
      (runtime) =>
        `note: functions on ${runtime} run on this machine's Node.js ${process.versions.node} ` +
        `(the runtime's rules, such as callback handlers, follow ${runtime})`,
    );
  const python = runtimes.filter((runtime) => runtime.startsWith('python'));
  if (python.length > 0) notes.push(...pythonNotes(python));
  return notes;
}

/** Python functions run on this machine's python3: it must exist; boto3 (which Lambda ships) should. */
function pythonNotes(runtimes: string[]): string[] {
  const version = spawnSync('python3', ['-c', 'import sys; print("%d.%d" % sys.version_info[:2])'], {
    encoding: 'utf8',
  });
  if (version.error || version.status !== 0)
    throw new Error(
      `functions on ${runtimes.join(', ')} need python3 on the PATH (e.g. apt-get install python3); it was not found`,
    );
  const local = version.stdout.trim();
  const notes = runtimes
    .filter((runtime) => runtime !== `python${local}`)
    .map((runtime) => `note: functions on ${runtime} run on this machine's Python ${local}`);
  if (spawnSync('python3', ['-c', 'import boto3']).status !== 0)
    notes.push(
      'warning: boto3 is not installed for python3 (pip install boto3): Lambda ships it, so Python handlers ' +
        'that import it fail here with ModuleNotFoundError',
    );
  return notes;
}

function pick<T extends object, K extends keyof T>(source: T, keys: K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(
    keys.filter((key) => source[key] !== undefined).map((key) => [key, source[key]]),
  ) as Partial<Pick<T, K>>;
}
