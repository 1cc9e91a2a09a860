// API Gateway WebSocket fidelity of the local stack, end to end: real `ws` clients, the fixture apps'
// plain-JavaScript handlers run by the local Lambda runtime, real DynamoDB Local. The handlers report
// what they were given (events, context, environment, module state) through @connections, route
// responses or the fixture's table. This file: routing, $connect, event shapes, the Lambda runtime.
// gateway-fidelity-limits.test.ts: the @connections API, quotas and close codes, failures.
import { tmpdir } from 'node:os';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoDbClient } from '../../local/dynamodb';
import { type GatewayEvent, ID, REQUEST_TIME, recordedEvent, whoAmI } from '../support/fidelity';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { type Frame, TestClient } from '../support/ws-client';

let stack: TestStack; // tests/fixtures/echo-api: $request.body.action, every kind of handler
let nested: TestStack; // tests/fixtures/nested-route: $request.body.a.b, no $connect, no $default
let db: DynamoDBClient;

beforeAll(async () => {
  [stack, nested] = await Promise.all([
    // One sandbox per function: a second invocation waits for the first one's, as the timeout test needs.
    startTestStack({ fixture: 'echo-api', tableId: 'EventsTable', maxInstancesPerFunction: 1 }),
    startTestStack({ fixture: 'nested-route' }),
  ]);
  db = localDynamoDbClient(stack.dynamoDb.endpoint);
});
afterAll(async () => {
  db?.destroy();
  await Promise.all([stack?.stop(), nested?.stop()]);
});

const connected = (query = '', options: Parameters<typeof TestClient.connect>[1] = {}) =>
  TestClient.connect(`${stack.webSocketUrl}${query}`, options);

/** Sends a message to the echo fixture and returns the event its handler was given. */
async function echoed(client: TestClient, text: string): Promise<GatewayEvent> {
  const reply = client.next((f) => f.type === 'echo');
  client.send(text);
  return (await reply).event as GatewayEvent;
}

/** Sends a message to a two-way route and returns the route response. */
async function routeResponse(client: TestClient, body: unknown, match: (f: Frame) => boolean) {
  const reply = client.next(match);
  client.send(body);
  return reply;
}

describe('route selection: $request.body.action', () => {
  let client: TestClient;
  beforeAll(async () => {
    client = await connected();
  });
  afterAll(() => client.close());

  test.each([
    ['a matching action', '{"action":"echo","x":1}', 'echo'],
    ['text that is not JSON', 'hello?', '$default'],
    ['JSON without the action', '{"room":"lobby"}', '$default'],
    ['an action no route has', '{"action":"shout"}', '$default'],
    ['an action in other case', '{"action":"ECHO"}', '$default'],
    ['an action naming a system route', '{"action":"$connect"}', '$default'],
    ['a JSON array', '["echo"]', '$default'],
  ])('%s (%s) goes to %s', async (_, text, routeKey) => {
    const event = await echoed(client, text);
    expect(event.requestContext.routeKey).toBe(routeKey);
    expect(event.body).toBe(text);
  });
});

describe('route selection: $request.body.a.b, no $default and no $connect route', () => {
  let client: TestClient;
  beforeAll(async () => {
    // Without a $connect route, the connection is simply accepted.
    client = await TestClient.connect(nested.webSocketUrl);
  });
  afterAll(() => client.close());

  test('a nested value selects the route', async () => {
    const text = '{"a":{"b":"deep"},"n":1}';
    expect(await routeResponse(client, text, (f) => f.routeKey !== undefined)).toEqual({
      routeKey: 'deep',
      body: text,
      connectionId: expect.stringMatching(ID),
    });
  });

  test.each([
    ['the value at another path', '{"action":"deep"}'],
    ['a value no route has', '{"a":{"b":"shallow"}}'],
    ['a path that stops short', '{"a":"deep"}'],
    ['text that is not JSON', 'deep'],
  ])('%s: the client gets Forbidden, nothing is invoked, the connection stays open', async (_, text) => {
    const invokedBefore = nested.dispatched.length;
    const forbidden = await routeResponse(client, text, (f) => f.message !== undefined);
    expect(forbidden).toEqual({
      message: 'Forbidden',
      connectionId: expect.stringMatching(ID),
      requestId: expect.stringMatching(ID),
    });
    const after = await routeResponse(client, '{"a":{"b":"deep"}}', (f) => f.routeKey !== undefined);
    expect(after.connectionId).toBe(forbidden.connectionId);
    expect(nested.dispatched.slice(invokedBefore).map((d) => d.routeKey)).toEqual(['deep']);
  });
});

describe('$connect', () => {
  test('runs before the upgrade completes: the connection cannot be posted to yet', async () => {
    const client = await connected('?selfPost=1');
    const id = await whoAmI(client);
    // Read at once, no polling: the handler finished before the handshake did.
    const record = await recordedEvent(db, stack.tableName, 'CONNECT', id, 0);
    expect(record.event.requestContext.connectionId).toBe(id);
    expect(record.selfPost).toBe('GoneException');
    await client.close();
  });

  test.each([400, 401, 403, 429, 500])('a statusCode of %i refuses the handshake with it', async (status) => {
    const before = stack.dispatched.length;
    await expect(connected(`?status=${status}`)).rejects.toMatchObject({ status });
    const connects = stack.dispatched.slice(before).filter((d) => d.routeKey === '$connect');
    expect(connects).toHaveLength(1);
    // A connection that never opened never disconnects.
    const { connectionId } = connects[0]!;
    expect(stack.dispatched).not.toContainEqual({ routeKey: '$disconnect', connectionId });
  });

  test('any 2xx statusCode accepts', async () => {
    const client = await connected('?status=204');
    await whoAmI(client);
    await client.close();
  });

  test('a subprotocol is accepted when the $connect response echoes Sec-WebSocket-Protocol', async () => {
    const client = await connected('?protocol=echo', { protocols: ['chat.v2', 'chat.v1'] });
    expect(client.ws.protocol).toBe('chat.v2');
    const event = (await recordedEvent(db, stack.tableName, 'CONNECT', await whoAmI(client))).event;
    expect(event.headers?.['Sec-WebSocket-Protocol']).toBe('chat.v2,chat.v1');
    await client.close();
  });

  test('an offered subprotocol the $connect response does not echo fails the client', async () => {
    await expect(connected('', { protocols: ['chat.v2'] })).rejects.toThrow(/subprotocol/i);
  });
});

describe('events as AWS sends them', () => {
  const userAgent = 'fidelity-test/1.0';
  let client: TestClient;
  let id: string;
  let connect: GatewayEvent;
  let message: GatewayEvent;
  let disconnect: GatewayEvent;
  beforeAll(async () => {
    client = await connected('?name=Ada&tag=a&tag=b', {
      headers: { 'User-Agent': userAgent, 'X-Team': 'blue' },
    });
    message = await echoed(client, '{"action":"echo","hello":"world"}');
    id = message.requestContext.connectionId;
    connect = (await recordedEvent(db, stack.tableName, 'CONNECT', id)).event;
    expect((await client.close()).code).toBe(1000);
    disconnect = (await recordedEvent(db, stack.tableName, 'DISCONNECT', id)).event;
  });

  const commonContext = () => ({
    connectionId: expect.stringMatching(ID),
    requestId: expect.stringMatching(ID),
    extendedRequestId: expect.stringMatching(ID),
    domainName: `localhost:${stack.port}`,
    stage: 'fidelity',
    apiId: stack.app.webSocketApis[0]!.apiId,
    requestTime: expect.stringMatching(REQUEST_TIME),
    requestTimeEpoch: expect.any(Number),
    connectedAt: expect.any(Number),
    messageDirection: 'IN',
    identity: expect.objectContaining({ sourceIp: '127.0.0.1', userAgent }),
  });

  test('every event has the same connection and its own request id', () => {
    const contexts = [connect, message, disconnect].map((event) => event.requestContext);
    for (const context of contexts) {
      expect(context).toMatchObject(commonContext());
      expect(context.extendedRequestId).toBe(context.requestId);
      expect(context.connectionId).toBe(id);
      expect(context.connectedAt).toBe(connect.requestContext.connectedAt);
      expect(Math.abs(context.requestTimeEpoch - Date.parse(toIso(context.requestTime)))).toBeLessThan(1000);
    }
    expect(new Set(contexts.map((context) => context.requestId)).size).toBe(3);
  });

  test('CONNECT: the handshake headers (both forms), the query string, no messageId', () => {
    expect(connect.requestContext).toMatchObject({ routeKey: '$connect', eventType: 'CONNECT' });
    expect(connect.requestContext.messageId).toBeUndefined();
    expect(connect.headers).toMatchObject({
      Host: `localhost:${stack.port}`,
      'User-Agent': userAgent,
      'X-Team': 'blue',
      'Sec-WebSocket-Key': expect.any(String),
      'Sec-WebSocket-Version': '13',
      'X-Forwarded-For': '127.0.0.1',
      'X-Forwarded-Port': String(stack.port),
      'X-Forwarded-Proto': expect.any(String),
      'X-Amzn-Trace-Id': expect.stringMatching(/^Root=1-[0-9a-f]{8}-[0-9a-f]{24}$/),
    });
    for (const [name, value] of Object.entries(connect.headers ?? {}))
      expect(connect.multiValueHeaders?.[name]).toEqual([value]);
    expect(connect.queryStringParameters).toEqual({ name: 'Ada', tag: 'b' });
    expect(connect.multiValueQueryStringParameters).toEqual({ name: ['Ada'], tag: ['a', 'b'] });
    expect(connect.isBase64Encoded).toBe(false);
  });

  test('CONNECT without a query string has no query string fields', async () => {
    const other = await connected();
    const event = (await recordedEvent(db, stack.tableName, 'CONNECT', await whoAmI(other))).event;
    expect(Object.keys(event)).not.toContain('queryStringParameters');
    expect(Object.keys(event)).not.toContain('multiValueQueryStringParameters');
    await other.close();
  });

  test('MESSAGE: the raw body and a messageId; no headers, no query string', () => {
    expect(message.requestContext).toMatchObject({
      routeKey: 'echo',
      eventType: 'MESSAGE',
      messageId: expect.stringMatching(ID),
    });
    expect(message.body).toBe('{"action":"echo","hello":"world"}');
    expect(message.isBase64Encoded).toBe(false);
    expect(Object.keys(message)).toEqual(expect.not.arrayContaining(['headers', 'queryStringParameters']));
  });

  test('DISCONNECT: fixed headers, the close status and reason', () => {
    expect(disconnect.requestContext).toMatchObject({
      routeKey: '$disconnect',
      eventType: 'DISCONNECT',
      disconnectStatusCode: 1000,
      disconnectReason: expect.any(String),
    });
    expect(disconnect.requestContext.messageId).toBeUndefined();
    expect(disconnect.headers).toEqual({
      Host: `localhost:${stack.port}`,
      'x-api-key': '',
      'X-Forwarded-For': '',
      'x-restapi': '',
    });
    expect(disconnect.multiValueHeaders).toEqual({
      Host: [`localhost:${stack.port}`],
      'x-api-key': [''],
      'X-Forwarded-For': [''],
      'x-restapi': [''],
    });
  });

  test('DISCONNECT after a dropped TCP connection: 1006', async () => {
    const other = await connected();
    const otherId = await whoAmI(other);
    await other.drop();
    const event = (await recordedEvent(db, stack.tableName, 'DISCONNECT', otherId)).event;
    expect(event.requestContext).toMatchObject({ disconnectStatusCode: 1006, connectionId: otherId });
  });
});

describe('the Lambda runtime', () => {
  let client: TestClient;
  beforeAll(async () => {
    client = await connected();
  });
  afterAll(() => client.close());

  const state = (action: 'state' | 'other-state') =>
    routeResponse(client, { action }, (f) => f.type === 'state') as Promise<{
      functionName: string;
      invocations: number;
      env: Record<string, string | null>;
      requirable: Record<string, boolean>;
    }>;

  test('context: awsRequestId, functionName, getRemainingTimeInMillis() under the Timeout', async () => {
    const reply = client.next((f) => f.type === 'echo');
    client.send({ action: 'echo' });
    const { context } = (await reply) as { context: Record<string, unknown> };
    expect(context.awsRequestId).toMatch(/^[0-9a-f-]{36}$/);
    expect(context.functionName).toBe('EchoFunction');
    expect(context.remainingTimeMs).toBeGreaterThan(0);
    expect(context.remainingTimeMs).toBeLessThanOrEqual(5000);
  });

  test("each function has its template's environment (Globals merged, !Ref resolved) and no other", async () => {
    const one = await state('state');
    const other = await state('other-state');
    const runtime = {
      TABLE_NAME: stack.tableName,
      GREETING: 'from-globals',
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: expect.any(String),
      AWS_SECRET_ACCESS_KEY: expect.any(String),
      AWS_ENDPOINT_URL_DYNAMODB: stack.dynamoDb.endpoint,
      // Nothing leaks from the process that runs the stack.
      JEST_WORKER_ID: null,
    };
    expect(one.env).toMatchObject({
      ...runtime,
      OVERRIDDEN: 'from-state-function',
      ONLY_STATE: 'only-here',
      AWS_LAMBDA_FUNCTION_NAME: 'StateFunction',
    });
    expect(other.env).toMatchObject({
      ...runtime,
      OVERRIDDEN: 'from-other-state-function',
      ONLY_STATE: null,
      AWS_LAMBDA_FUNCTION_NAME: 'OtherStateFunction',
    });
    // The fixture runs from a copy outside the repository: no node_modules above its handlers.
    expect(one.env.LAMBDA_TASK_ROOT?.startsWith(tmpdir())).toBe(true);
  });

  test('module state stays warm between invocations, separately for each function', async () => {
    const otherBefore = (await state('other-state')).invocations;
    const first = (await state('state')).invocations;
    expect((await state('state')).invocations).toBe(first + 1);
    expect((await state('other-state')).invocations).toBe(otherBefore + 1);
  });

  test('an SDK client built with only a region reaches DynamoDB Local', async () => {
    // The $connect handler wrote its event with `new DynamoDBClient({ region })`.
    const record = await recordedEvent(db, stack.tableName, 'CONNECT', await whoAmI(client));
    expect(record.event.requestContext.eventType).toBe('CONNECT');
  });

  test('a CommonJS handler requires the AWS SDK it does not bundle, and no other package', async () => {
    expect((await echoed(client, '{"action":"echo"}')).requestContext.routeKey).toBe('echo');
    expect((await state('state')).requirable).toEqual({ '@aws-sdk/client-dynamodb': true, ws: false });
  });

  test('an ES-module handler (.mjs) imports the AWS SDK it does not bundle, and no other package', async () => {
    const reply = client.next((f) => f.type === 'esm');
    client.send({ action: 'esm' });
    expect(await reply).toEqual({
      type: 'esm',
      invocations: 1,
      isModule: true,
      // Its first invocation: loading the module (and the SDK) did not count against the Timeout.
      remainingTimeMs: expect.any(Number),
      wsImportable: false,
    });
    // Had the 1.5 s init counted, under 3.5 s would remain; the margin absorbs a loaded machine's delays.
    expect((await reply).remainingTimeMs).toBeGreaterThan(3500);
  });

  test('the Timeout is enforced: Internal server error, and a fresh sandbox serves the next invocation', async () => {
    const id = await whoAmI(client);
    await routeResponse(client, { action: 'sleep', ms: 0 }, (f) => f.type === 'slept'); // a warm sandbox
    const failed = client.next((f) => f.message !== undefined);
    const slept = client.next((f) => f.type === 'slept' && f.ms === 10);
    const started = Date.now();
    client.send({ action: 'sleep', ms: 4000 });
    // Waits for the only sandbox, which times out and is discarded; it must get a fresh one.
    client.send({ action: 'sleep', ms: 10 });
    expect(await failed).toEqual({
      message: 'Internal server error',
      connectionId: id,
      requestId: expect.stringMatching(ID),
    });
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    // No upper bound on the time (a loaded machine stretches it): the log below shows the cut-off.
    expect((await slept).remainingTimeMs).toBeLessThanOrEqual(1000);
    expect(stack.gatewayLog.filter((line) => line.startsWith(`sleep ${id} `))).toEqual([
      expect.stringMatching(/ 200$/),
      expect.stringMatching(/Sandbox.Timedout/),
      expect.stringMatching(/ 200$/),
    ]);
  });

  test('without a route response, the return value is not sent to the client', async () => {
    const id = await whoAmI(client);
    // The echo handler returns a body after posting; once its invocation is logged, any frame the
    // gateway would send for it precedes the next route response on the socket.
    const logged = stack.gatewayLog.filter((line) => line.startsWith(`echo ${id} `)).length;
    await echoed(client, '{"action":"echo"}');
    await waitFor(() => stack.gatewayLog.filter((line) => line.startsWith(`echo ${id} `)).length > logged);
    await state('state');
    expect(client.raw).not.toContain('not for the client');
  });
});

/** `23/Nov/2026:10:17:47 +0000` → an ISO date `Date.parse` reads. */
function toIso(requestTime: string): string {
  const [, day, month, year, time] = /^(\d{2})\/(\w{3})\/(\d{4}):(\S+) \+0000$/.exec(requestTime)!;
  return `${day} ${month} ${year} ${time} GMT`;
}

async function waitFor(check: () => boolean, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
