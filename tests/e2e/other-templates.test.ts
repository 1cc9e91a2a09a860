// The local stack runs other people's SAM WebSocket templates unchanged (tests/fixtures/other-apps):
// tables as the template names them, a Lambda REQUEST authorizer on $connect as API Gateway runs it,
// callback and context.succeed handlers runtime by runtime, a non-proxy integration with request
// templates, per-route stage throttles, and the @connections API as AWS answers it.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect as tcpConnect } from 'node:net';
import { networkInterfaces, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type DynamoDBClient, GetItemCommand } from '@aws-sdk/client-dynamodb';
import { signedHeaders } from '../../local/connections-auth';
import { localDynamoDbClient } from '../../local/dynamodb';
import { WebSocketGateway } from '../../local/gateway/websocket-gateway';
import { LocalFunction } from '../../local/lambda/local-function';
import { loadLocalApp } from '../../local/local-app';
import { banner } from '../../local/start';
import { connectionsFetch } from '../support/connections-fetch';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { eventually, TestClient } from '../support/ws-client';

let stack: TestStack;
let db: DynamoDBClient;

beforeAll(async () => {
  stack = await startTestStack({ fixture: 'other-apps' });
  db = localDynamoDbClient(stack.dynamoDb.endpoint);
});
afterAll(async () => {
  db?.destroy();
  await stack?.stop();
});

/** A client that passed the authorizer with `token` (and the X-Client header it also requires). */
const connect = (token: string, headers: Record<string, string> = { 'X-Client': 'test' }) =>
  TestClient.connect(`${stack.webSocketUrl}?token=${encodeURIComponent(token)}`, { headers });

const refusal = (promise: Promise<TestClient>) =>
  promise.then(
    (client) => {
      void client.close();
      throw new Error('the handshake was accepted');
    },
    (error: { status?: number }) => error.status,
  );

/** What a fixture handler wrote to the template-named table under `key`. */
async function recorded(key: string): Promise<Record<string, string>> {
  let item: Record<string, string> = {};
  await eventually(async () => {
    const { Item } = await db.send(
      new GetItemCommand({
        TableName: 'fixture_connections',
        Key: { connectionId: { S: key } },
        ConsistentRead: true,
      }),
    );
    if (!Item) throw new Error(`nothing recorded under ${key}`);
    item = Object.fromEntries(Object.entries(Item).map(([k, v]) => [k, String(v.S)]));
  });
  return item;
}

/** The connection's own requestContext, as the `whoami` route sees it (posted back via @connections). */
async function whoami(client: TestClient): Promise<Record<string, unknown>> {
  const frame = await client.request({ action: 'whoami' }, 'whoami');
  return frame.requestContext as Record<string, unknown>;
}

describe('tables as the template names them', () => {
  test('TableName from a parameter, a literal and !Sub; SimpleTables with and without settings', async () => {
    const client = await connect('tables');
    const { tables } = (await client.request({ action: 'tables' }, 'tables')) as unknown as {
      tables: Record<string, Record<string, unknown>>;
    };
    await client.close();
    expect(tables.TABLE_NAME).toMatchObject({
      name: 'fixture_connections',
      keySchema: [{ AttributeName: 'connectionId', KeyType: 'HASH' }],
      billing: 'PROVISIONED',
      readCapacity: 5,
      stream: 'NEW_AND_OLD_IMAGES',
    });
    // `!Ref` of the table resolves to the same name as the parameter.
    expect(tables.CONNECTIONS_TABLE!.name).toBe('fixture_connections');
    expect(tables.LITERAL_TABLE).toMatchObject({
      name: 'fixture-literal-table',
      billing: 'PAY_PER_REQUEST',
      keySchema: [
        { AttributeName: 'pk', KeyType: 'HASH' },
        { AttributeName: 'sk', KeyType: 'RANGE' },
      ],
    });
    expect(tables.SUB_TABLE!.name).toBe('local-fixture_connections-sub');
    expect(tables.SIMPLE_TABLE).toMatchObject({
      name: 'fixture-simple-table',
      keySchema: [{ AttributeName: 'room', KeyType: 'HASH' }],
      attributes: [{ AttributeName: 'room', AttributeType: 'N' }],
      billing: 'PROVISIONED',
      readCapacity: 2,
    });
    // SAM's defaults: an `id` string key, on demand, named after the logical id.
    expect(tables.DEFAULT_SIMPLE_TABLE).toMatchObject({
      name: 'DefaultSimpleTable',
      keySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      attributes: [{ AttributeName: 'id', AttributeType: 'S' }],
      billing: 'PAY_PER_REQUEST',
    });
  });
});

describe('a Lambda REQUEST authorizer on $connect', () => {
  const authorizerRuns = () => stack.dispatched.filter((d) => d.routeKey === '$connect').length;

  test.each([
    ['no token query parameter', `?other=1`, { 'X-Client': 'test' }],
    ['no X-Client header', `?token=ada`, {}],
    ['an empty token', `?token=`, { 'X-Client': 'test' }],
  ])('%s: 401 without calling the authorizer', async (_, query, headers) => {
    const before = authorizerRuns();
    expect(await refusal(TestClient.connect(`${stack.webSocketUrl}${query}`, { headers }))).toBe(401);
    expect(authorizerRuns()).toBe(before);
    expect(stack.gatewayLog.some((line) => line.includes('identity source missing'))).toBe(true);
  });

  test.each([
    ['throws "Unauthorized"', 'unauthorized', 401],
    ['answers an explicit Deny', 'deny', 403],
    ['allows another resource only', 'other-route', 403],
    ['fails otherwise', 'boom', 500],
    ['answers a nested context', 'nested-context', 500],
  ])('an authorizer that %s (token %s): %d', async (_, token, status) => {
    expect(await refusal(connect(token))).toBe(status);
  });

  test('an Allow passes principalId and context to $connect, every message and $disconnect', async () => {
    const client = await connect('ada');
    const context = await whoami(client);
    const expected = { principalId: 'user-ada', user: 'ada', level: 3, admin: true };
    expect(context.authorizer).toEqual(expected);
    const connectionId = String(context.connectionId);
    const connectEvent = JSON.parse((await recorded(`CONNECT#${connectionId}`)).event!);
    expect(connectEvent.requestContext.authorizer).toEqual(expected);
    expect((await whoami(client)).authorizer).toEqual(expected);
    await client.close();
    const disconnectEvent = JSON.parse((await recorded(`DISCONNECT#${connectionId}`)).event!);
    expect(disconnectEvent.requestContext.authorizer).toEqual(expected);
  });

  test("the authorizer's event has API Gateway's shape", async () => {
    const client = await connect('shape', { 'X-Client': 'shape-client' });
    const { connectionId } = await whoami(client);
    await client.close();
    const event = JSON.parse((await recorded(`AUTH#${connectionId}`)).event!);
    const { apiId } = stack.app.webSocketApis[0]!;
    expect(event).toMatchObject({
      type: 'REQUEST',
      methodArn: `arn:aws:execute-api:us-east-1:123456789012:${apiId}/prod/$connect`,
      headers: expect.objectContaining({
        'X-Client': 'shape-client',
        Host: `localhost:${stack.port}`,
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
      }),
      multiValueHeaders: expect.objectContaining({ 'X-Client': ['shape-client'] }),
      queryStringParameters: { token: 'shape' },
      multiValueQueryStringParameters: { token: ['shape'] },
      stageVariables: { color: 'blue' },
      requestContext: expect.objectContaining({
        routeKey: '$connect',
        eventType: 'CONNECT',
        stage: 'prod',
        apiId,
        connectionId,
      }),
    });
    expect(event.requestContext.authorizer).toBeUndefined();
  });
});

describe('handlers as Lambda runs them, runtime by runtime', () => {
  let client: TestClient;
  beforeAll(async () => {
    client = await connect('handlers');
  });
  afterAll(() => client.close());

  const reply = async (action: string) => {
    const answer = client.next((f) => typeof f.unparsed === 'string' || f.message !== undefined || !!f.type);
    client.send({ action });
    return answer;
  };

  // $connect itself is a callback handler in a .cjs file on nodejs20.x, and `whoami` an .mjs module.
  test.each([
    ['a callback handler on nodejs22.x', 'callback22', 'callback ok on AWS_Lambda_nodejs22.x'],
    ['context.succeed on nodejs20.x', 'succeed20', 'succeed ok on AWS_Lambda_nodejs20.x'],
  ])('%s works', async (_, action, body) => {
    expect(await reply(action)).toEqual({ unparsed: body });
  });

  test('an async handler runs on nodejs24.x', async () => {
    expect(await reply('async24')).toEqual({
      type: 'async',
      route: 'async24',
      env: 'AWS_Lambda_nodejs24.x',
    });
  });

  test('nodejs24.x refuses a callback handler at init, with Lambda 24 error', async () => {
    expect(await reply('callback24')).toMatchObject({ message: 'Internal server error' });
    const error =
      'Runtime.CallbackHandlerDeprecated: ERROR: AWS Lambda has removed support for callback-based function ' +
      'handlers starting with Node.js 24. You need to modify this function to use a supported handler ' +
      'signature to use Node.js 24 or later. For more information see ' +
      'https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';
    expect(stack.gatewayLog.some((line) => line.includes(error))).toBe(true);
    await eventually(() => expect(stack.functionLog).toContain(error));
  });

  test('nodejs24.x has no context.succeed', async () => {
    expect(await reply('succeed24')).toMatchObject({ message: 'Internal server error' });
    expect(
      stack.gatewayLog.some((line) => line.includes('TypeError: context.succeed is not a function')),
    ).toBe(true);
  });
});

describe('Python handlers on python3.x, with boto3', () => {
  test('a handler answers on a two-way route with its context', async () => {
    const client = await connect('py');
    expect(await client.request({ action: 'pyecho' }, 'python')).toEqual({
      type: 'python',
      route: 'pyecho',
      principalId: 'user-py',
      functionName: 'PyEchoFunction',
      remaining: true,
      env: 'AWS_Lambda_python3.12',
    });
    await client.close();
  });

  test('boto3 reaches the template-named table and the @connections API (signed, routed locally)', async () => {
    const client = await connect('py');
    const body = JSON.stringify({ action: 'pysend', text: 'from python' });
    const answer = client.next((f) => f.type === 'python-sent');
    client.send(body);
    expect(await answer).toEqual({ type: 'python-sent', stored: body });
    await client.close();
  });

  test('an exception is an integration error, its type and message logged', async () => {
    const client = await connect('py');
    const answer = client.next((f) => f.message !== undefined);
    client.send({ action: 'pyfail' });
    expect(await answer).toMatchObject({ message: 'Internal server error' });
    expect(
      stack.gatewayLog.some((line) => line.includes('ValueError: python handler failed on purpose')),
    ).toBe(true);
    expect(
      stack.gatewayLog.some((line) => line.includes("functions on python3.12 run on this machine's Python")),
    ).toBe(true);
    await client.close();
  });
});

describe('a non-proxy integration with request templates', () => {
  test('the template chosen by TemplateSelectionExpression renders $context, $input, $util, $stageVariables', async () => {
    const client = await connect('vtl');
    const { connectionId } = await whoami(client);
    const data = { items: ['alpha', 'beta'], text: 'say "hi" a/b & c', n: 7 };
    const body = JSON.stringify({ action: 'mapped', kind: 'full', data });
    const answer = client.next((f) => f.type === 'mapped');
    client.send(body);
    expect((await answer).payload).toEqual({
      template: 'full',
      connectionId,
      routeKey: 'mapped',
      eventType: 'MESSAGE',
      stage: 'prod',
      principalId: 'user-vtl',
      user: 'vtl',
      color: 'blue',
      data,
      first: 'alpha',
      escaped: 'say "hi" a/b & c',
      urlEncoded: 'say+%22hi%22+a%2Fb+%26+c',
      base64: Buffer.from('say "hi" a/b & c').toString('base64'),
      parsedN: 7,
      raw: body,
    });
    // No template for this kind: the $default template.
    const other = JSON.stringify({ action: 'mapped', kind: 'unknown' });
    const fallback = client.next((f) => f.type === 'mapped');
    client.send(other);
    expect((await fallback).payload).toEqual({ template: 'default', body: other });
    await client.close();
  });
});

describe('stage throttles per route', () => {
  test('past the route burst, messages are refused with 429 Too Many Requests; other routes still run', async () => {
    const client = await connect('throttle');
    const id = (await whoami(client)).connectionId;
    const answered = () =>
      client.frames.filter((f) => f.route === 'throttled' || f.message === 'Too Many Requests');
    for (let i = 0; i < 5; i++) client.send({ action: 'throttled' });
    await eventually(() => expect(answered()).toHaveLength(5), WAIT_MS);
    expect(answered().filter((f) => f.route === 'throttled')).toHaveLength(2);
    const refused = answered().filter((f) => f.message === 'Too Many Requests');
    expect(refused).toHaveLength(3);
    expect(refused[0]).toMatchObject({ connectionId: id, requestId: expect.any(String) });
    expect(await client.request({ action: 'async24' }, 'async')).toMatchObject({ route: 'async24' });
    await client.close();
  });
});

describe('a throttled $connect', () => {
  test('is refused with HTTP 429 once its burst is spent', async () => {
    const api = stack.app.webSocketApis[0]!;
    // The fixture's API with a $connect (no authorizer) allowing one handshake, then none for hours.
    const gateway = new WebSocketGateway({
      api: {
        ...api,
        routes: {
          ...api.routes,
          $connect: { ...api.routes.async24!, throttle: { burstLimit: 1, rateLimit: 0.0001 } },
        },
      },
      invoke: (functionId, event) => stack.functions[functionId]!.invoke(event),
      log: () => {},
    });
    const port = await gateway.listen(0);
    try {
      const url = `ws://localhost:${port}/prod`;
      const first = await TestClient.connect(url);
      expect(await refusal(TestClient.connect(url))).toBe(429);
      await first.close();
    } finally {
      await gateway.close();
    }
  });
});

describe("a function's queue of invocations is bounded", () => {
  test('past maxQueued waiting invocations, Lambda throttling answers at once; the rest run', async () => {
    const fn = new LocalFunction(stack.app.functions.Async24Function!, {
      maxInstances: 1,
      maxQueued: 2,
      onLog: () => {},
    });
    try {
      const event = { requestContext: { routeKey: 'queued' } };
      const outcomes = await Promise.all(Array.from({ length: 5 }, () => fn.invoke(event)));
      const throttled = outcomes.filter((o) => o.error?.errorType === 'TooManyRequestsException');
      expect(throttled).toHaveLength(2);
      expect(throttled[0]!.error!.errorMessage).toBe('Rate Exceeded.');
      expect(outcomes.filter((o) => o.result !== undefined)).toHaveLength(3);
    } finally {
      await fn.stop();
    }
  });
});

describe('@connections as AWS answers it', () => {
  let client: TestClient;
  let url: string;
  beforeAll(async () => {
    client = await connect('connections');
    url = `${stack.connectionsUrl}/${encodeURIComponent(String((await whoami(client)).connectionId))}`;
  });
  afterAll(() => client.close());

  test('unsigned: 403 ForbiddenException, nothing delivered', async () => {
    const response = await fetch(url, { method: 'POST', body: 'unsigned' });
    expect(response.status).toBe(403);
    expect(response.headers.get('x-amzn-errortype')).toBe('ForbiddenException');
    expect((await fetch(url, { method: 'DELETE' })).status).toBe(403);
  });

  test('signed but from a browser (Origin header): 403', async () => {
    const response = await connectionsFetch(url, {
      method: 'POST',
      body: 'from a page',
      headers: { Origin: 'http://evil.example' },
    });
    expect(response.status).toBe(403);
  });

  test('a tampered body or signature: 403 InvalidSignatureException', async () => {
    const headers = await signedHeaders(url, 'POST', 'signed text');
    const tamperedBody = await fetch(url, { method: 'POST', body: 'other text', headers });
    expect(tamperedBody.status).toBe(403);
    expect(tamperedBody.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    const authorization = headers.authorization!.replace(/.$/, (c) => (c === '0' ? '1' : '0'));
    const tamperedSignature = await fetch(url, {
      method: 'POST',
      body: 'signed text',
      headers: { ...headers, authorization },
    });
    expect(tamperedSignature.status).toBe(403);
    expect(tamperedSignature.headers.get('x-amzn-errortype')).toBe('InvalidSignatureException');
    await whoami(client);
    expect(client.raw).not.toContain('other text');
    expect(client.raw).not.toContain('signed text');
  });

  test('POSTs to a client that stops reading are answered at once, then 429 LimitExceededException; nothing is duplicated', async () => {
    const reader = await connect('slow-reader');
    const readerUrl = `${stack.connectionsUrl}/${encodeURIComponent(String((await whoami(reader)).connectionId))}`;
    const socket = (reader.ws as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    socket.pause();
    const body = (i: number) => `${String(i).padStart(6, '0')}${'x'.repeat(64 * 1024)}`;
    let delivered = 0;
    let limited: Response | undefined;
    for (let i = 0; i < 2000 && !limited; i++) {
      const response = await connectionsFetch(readerUrl, { method: 'POST', body: body(i) });
      if (response.status === 200) delivered++;
      else limited = response;
    }
    expect(limited?.status).toBe(429);
    expect(limited?.headers.get('x-amzn-errortype')).toBe('LimitExceededException');
    expect(delivered).toBeGreaterThan(0);
    socket.resume();
    await whoami(reader); // frames arrive in order: every accepted POST is in before this answer
    const received = reader.raw.filter((text) => text.endsWith('x'.repeat(100)));
    expect(received).toEqual(Array.from({ length: delivered }, (_, i) => body(i)));
    await reader.close();
  });
});

describe('the banner fits the template', () => {
  test("Outputs resolved for the local stack; no chat page; a wscat line for this API's routes", () => {
    const lines = banner(stack, 'Data: in memory');
    expect(lines).toContain(`WebSocketURI: ws://localhost:${stack.port}/prod`);
    expect(lines).toContain('ConnectionsTableName: fixture_connections');
    expect(lines.some((line) => line.startsWith('Chat page'))).toBe(false);
    expect(lines).toContain(`Try: npx wscat -c '${stack.webSocketUrl}'   then   {"action":"whoami"}`);
  });
});

describe('DynamoDB Local', () => {
  /** Whether a TCP connection to host:port is accepted. */
  const reachable = (host: string, port: number) =>
    new Promise<boolean>((resolve) => {
      const socket = tcpConnect({ host, port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });

  test('the jar listens on loopback only', async () => {
    const port = Number(new URL(stack.dynamoDb.endpoint).port);
    expect(await reachable('127.0.0.1', port)).toBe(true);
    const external = Object.values(networkInterfaces())
      .flat()
      .filter((address) => address && !address.internal && address.family === 'IPv4');
    expect(external.length).toBeGreaterThan(0); // else this machine cannot show the difference
    for (const address of external) expect(await reachable(address!.address, port)).toBe(false);
  });
});

describe('what the local stack refuses, with a clear error', () => {
  const base = (extra: { integration?: string; route?: string; runtime?: string; resources?: string }) => `
Resources:
  Fn:
    Type: AWS::Serverless::Function
    Properties: { Runtime: ${extra.runtime ?? 'nodejs22.x'}, CodeUri: ./, Handler: index.handler }
  Api:
    Type: AWS::ApiGatewayV2::Api
    Properties: { Name: x, ProtocolType: WEBSOCKET, RouteSelectionExpression: $request.body.action }
  Integration:
    Type: AWS::ApiGatewayV2::Integration
    Properties:
      ApiId: !Ref Api
      ${extra.integration ?? 'IntegrationType: AWS_PROXY'}
      IntegrationUri: !Sub arn:aws:apigateway:\${AWS::Region}:lambda:path/2015-03-31/functions/\${Fn.Arn}/invocations
  Route:
    Type: AWS::ApiGatewayV2::Route
    Properties:
      ApiId: !Ref Api
      Target: !Sub integrations/\${Integration}
      ${extra.route ?? 'RouteKey: $default'}
${extra.resources ?? ''}`;

  test.each([
    [
      'an HTTP_PROXY integration',
      { integration: 'IntegrationType: HTTP_PROXY' },
      /IntegrationType HTTP_PROXY/,
    ],
    ['a MOCK integration', { integration: 'IntegrationType: MOCK' }, /IntegrationType MOCK/],
    [
      'IAM authorization on $connect',
      { route: 'RouteKey: $connect\n      AuthorizationType: AWS_IAM' },
      /AuthorizationType AWS_IAM is not supported/,
    ],
    [
      'an authorizer on a message route',
      { route: 'RouteKey: send\n      AuthorizationType: CUSTOM\n      AuthorizerId: x' },
      /authorizer on \$connect only/,
    ],
    ['a java runtime', { runtime: 'java21' }, /Runtime java21 is not supported/],
  ])('%s', async (_, extra, message) => {
    const dir = await mkdtemp(join(tmpdir(), 'refused-template-'));
    try {
      await writeFile(join(dir, 'index.js'), 'exports.handler = async () => ({});');
      await writeFile(join(dir, 'template.yaml'), base(extra));
      await expect(
        loadLocalApp({ templatePath: join(dir, 'template.yaml'), buildDir: join(dir, '.build') }),
      ).rejects.toThrow(message);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
