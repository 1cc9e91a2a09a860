// API Gateway WebSocket fidelity of the local stack, end to end (see gateway-fidelity.test.ts):
// the @connections API through the real AWS SDK v3 client, the quotas with AWS's close codes, and
// failures the gateway must survive.
import type { Socket } from 'node:net';
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  GetConnectionCommand,
  GoneException,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { localDynamoDbClient } from '../../local/dynamodb';
import { connectionsFetch } from '../support/connections-fetch';
import { ID, recordedEvent, whoAmI } from '../support/fidelity';
import { startTestStack, type TestStack } from '../support/test-stack';
import { TestClient } from '../support/ws-client';

const KB = 1024;

let stack: TestStack; // tests/fixtures/echo-api with AWS's limits
// The same app with a 2 s idle timeout and a 5 s maximum connection duration: the keep-alive test's
// traffic every 300 ms leaves 1.7 s of slack, so a busy machine's scheduling delays cannot idle it out.
let short: TestStack;
let db: DynamoDBClient;

beforeAll(async () => {
  [stack, short] = await Promise.all([
    startTestStack({ fixture: 'echo-api', tableId: 'EventsTable' }),
    startTestStack({
      fixture: 'echo-api',
      tableId: 'EventsTable',
      idleTimeoutMs: 2000,
      maxConnectionMs: 5000,
    }),
  ]);
  db = localDynamoDbClient(stack.dynamoDb.endpoint);
});
afterAll(async () => {
  db?.destroy();
  await Promise.all([stack?.stop(), short?.stop()]);
});

/** The real SDK client, with dummy credentials, for a stack's @connections API. */
function managementApi(of: TestStack): ApiGatewayManagementApiClient {
  return new ApiGatewayManagementApiClient({
    endpoint: of.connectionsUrl.replace(/\/@connections$/, ''),
    region: 'us-east-1',
    credentials: { accessKeyId: 'LOCALACCESSKEY', secretAccessKey: 'LOCALSECRETKEY' },
  });
}

/** A client of `of` and its connection id. */
async function connection(of: TestStack, headers: Record<string, string> = {}) {
  const client = await TestClient.connect(of.webSocketUrl, { headers });
  return { client, id: await whoAmI(client) };
}

/**
 * A client of the short-lived stack and its connection id, from the `$connect` the gateway ran for it:
 * no echo round trip, which that stack's 2 s idle timeout can cut short on a loaded machine.
 */
async function shortLivedConnection() {
  const before = short.dispatched.length;
  const client = await TestClient.connect(short.webSocketUrl);
  const connects = short.dispatched.slice(before).filter((d) => d.routeKey === '$connect');
  if (connects.length !== 1) throw new Error(`expected one $connect for this client, got ${connects.length}`);
  return { client, id: connects[0]!.connectionId };
}

/** Sends text as one message in frames of `frameBytes` at most, as a client must past 32 KB. */
function sendInFrames(client: TestClient, text: string, frameBytes = 32 * KB): void {
  const data = Buffer.from(text);
  for (let offset = 0; offset < data.length; offset += frameBytes) {
    const fin = offset + frameBytes >= data.length;
    client.ws.send(data.subarray(offset, offset + frameBytes), { binary: false, fin });
  }
}

/** The next message a client receives, raw. */
function nextMessage(client: TestClient): Promise<{ text: string; isBinary: boolean }> {
  return new Promise((resolve) =>
    client.ws.once('message', (data, isBinary) => resolve({ text: data.toString(), isBinary })),
  );
}

/** The routes the gateway invoked for a connection, once its $disconnect has run. */
async function routesInvokedFor(of: TestStack, id: string): Promise<string[]> {
  await recordedEvent(db, of.tableName, 'DISCONNECT', id);
  return of.dispatched.filter((d) => d.connectionId === id).map((d) => d.routeKey);
}

describe('@connections through the AWS SDK', () => {
  let api: ApiGatewayManagementApiClient;
  beforeAll(() => {
    api = managementApi(stack);
  });
  afterAll(() => api.destroy());

  test('PostToConnection: 200, and the client gets the data as one text frame', async () => {
    const { client, id } = await connection(stack);
    const arrived = nextMessage(client);
    const output = await api.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'hello, client' }));
    expect(output.$metadata.httpStatusCode).toBe(200);
    expect(await arrived).toEqual({ text: 'hello, client', isBinary: false });
    await client.close();
  });

  test('GetConnection: connectedAt, lastActiveAt and identity', async () => {
    const { client, id } = await connection(stack, { 'User-Agent': 'fidelity-sdk/1.0' });
    const { event } = await recordedEvent(db, stack.tableName, 'CONNECT', id);
    const output = await api.send(new GetConnectionCommand({ ConnectionId: id }));
    expect(output.$metadata.httpStatusCode).toBe(200);
    // The SDK reads the wire's connectedAt / lastActiveAt / identity into its own member names.
    expect(output.ConnectedAt).toBeInstanceOf(Date);
    expect(output.ConnectedAt?.getTime()).toBe(event.requestContext.connectedAt);
    expect(output.LastActiveAt!.getTime()).toBeGreaterThanOrEqual(output.ConnectedAt!.getTime());
    expect(output.Identity).toEqual({ SourceIp: '127.0.0.1', UserAgent: 'fidelity-sdk/1.0' });
    await client.close();
  });

  test('DeleteConnection: 204, the client is closed and $disconnect runs', async () => {
    const { client, id } = await connection(stack);
    const output = await api.send(new DeleteConnectionCommand({ ConnectionId: id }));
    expect(output.$metadata.httpStatusCode).toBe(204);
    await client.closed;
    const { event } = await recordedEvent(db, stack.tableName, 'DISCONNECT', id);
    expect(event.requestContext).toMatchObject({ eventType: 'DISCONNECT', connectionId: id });
  });

  test.each([
    ['PostToConnection', () => new PostToConnectionCommand({ ConnectionId: 'L0SM9cOFvHcCIhw=', Data: 'x' })],
    ['GetConnection', () => new GetConnectionCommand({ ConnectionId: 'L0SM9cOFvHcCIhw=' })],
    ['DeleteConnection', () => new DeleteConnectionCommand({ ConnectionId: 'L0SM9cOFvHcCIhw=' })],
  ])('%s for an unknown connection throws a real GoneException', async (_, command) => {
    const error = await api.send(command() as PostToConnectionCommand).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(GoneException);
    expect(error).toMatchObject({ name: 'GoneException', $metadata: { httpStatusCode: 410 } });
  });

  test('a POST of 128 KB is delivered as one message (200, empty body of length 0); over 128 KB: 413 PayloadTooLargeException', async () => {
    const { client, id } = await connection(stack);
    const url = `${stack.connectionsUrl}/${encodeURIComponent(id)}`;
    const arrived = nextMessage(client);
    const posted = await connectionsFetch(url, { method: 'POST', body: 'a'.repeat(128 * KB) });
    expect(posted.status).toBe(200);
    // As AWS answers it: a body of known length 0, not a chunked one.
    expect(posted.headers.get('content-length')).toBe('0');
    expect(posted.headers.get('transfer-encoding')).toBeNull();
    expect((await arrived).text).toBe('a'.repeat(128 * KB));

    const tooLarge = await connectionsFetch(url, { method: 'POST', body: 'b'.repeat(128 * KB + 1) });
    expect(tooLarge.status).toBe(413);
    expect(tooLarge.headers.get('x-amzn-ErrorType')).toBe('PayloadTooLargeException');
    await whoAmI(client);
    expect(client.raw.some((text) => text.startsWith('b'))).toBe(false);
    await client.close();
  });

  test.each([
    ['https://${domainName}/${stage}', 'echo', () => `https://localhost:${stack.port}/fidelity`],
    [
      'https://${apiId}.execute-api.${region}.amazonaws.com/${stage}',
      'echo-apiid',
      () => `https://${stack.app.webSocketApis[0]!.apiId}.execute-api.us-east-1.amazonaws.com/fidelity`,
    ],
  ])('a handler that builds its client as %s reaches the local gateway', async (_, action, endpoint) => {
    const { client } = await connection(stack);
    const reply = client.next((f) => f.type === 'echo' && f.endpoint === endpoint());
    client.send({ action });
    expect((await reply).connectionId).toMatch(ID);
    await client.close();
  });
});

describe("quotas, with AWS's close codes", () => {
  test('a message over 128 KB (in 32 KB frames): close 1009, no route invoked', async () => {
    const { client, id } = await connection(stack);
    sendInFrames(client, JSON.stringify({ action: 'echo', pad: 'x'.repeat(129 * KB) }));
    expect((await client.closed).code).toBe(1009);
    expect(await routesInvokedFor(stack, id)).toEqual(['$connect', 'echo', '$disconnect']);
  });

  test('a single frame over 32 KB: close 1009, no route invoked', async () => {
    const { client, id } = await connection(stack);
    client.send({ action: 'echo', pad: 'x'.repeat(40 * KB) });
    expect((await client.closed).code).toBe(1009);
    expect(await routesInvokedFor(stack, id)).toEqual(['$connect', 'echo', '$disconnect']);
  });

  test('a 100 KB message sent as 32 KB fragments is accepted', async () => {
    const { client } = await connection(stack);
    const text = JSON.stringify({ action: 'size', pad: 'x'.repeat(100 * KB) });
    const reply = client.next((f) => f.type === 'size');
    sendInFrames(client, text);
    expect(await reply).toEqual({ type: 'size', length: text.length });
    await client.close();
  });

  test('a binary frame: close 1003, no route invoked', async () => {
    const { client, id } = await connection(stack);
    client.ws.send(Buffer.from('{"action":"echo"}'), { binary: true });
    expect((await client.closed).code).toBe(1003);
    expect(await routesInvokedFor(stack, id)).toEqual(['$connect', 'echo', '$disconnect']);
  });

  test('a server push over 32 KB arrives as one message', async () => {
    const { client } = await connection(stack);
    const arrived = nextMessage(client);
    client.send({ action: 'push', size: 100 * KB });
    expect(await arrived).toEqual({ text: 'p'.repeat(100 * KB), isBinary: false });
    await client.close();
  });

  test('the idle timeout closes a quiet connection with 1001 and fires $disconnect', async () => {
    const { client, id } = await shortLivedConnection();
    const quietSince = Date.now();
    expect((await client.closed).code).toBe(1001);
    expect(Date.now() - quietSince).toBeGreaterThanOrEqual(1900);
    const { event } = await recordedEvent(db, short.tableName, 'DISCONNECT', id);
    expect(event.requestContext.disconnectStatusCode).toBe(1001);
  });

  test('traffic either way keeps a connection alive until the maximum duration: 1001', async () => {
    const opened = Date.now();
    const { client, id } = await shortLivedConnection();
    const api = managementApi(short);
    // Past the 2 s idle timeout, alternately a client message and a server push every 300 ms.
    let turn = 0;
    const keepAlive = setInterval(() => {
      turn += 1;
      if (turn % 2) client.send({ action: 'echo', keepAlive: turn });
      else api.send(new PostToConnectionCommand({ ConnectionId: id, Data: 'ping' })).catch(() => {});
    }, 300);
    const { code } = await client.closed;
    clearInterval(keepAlive);
    api.destroy();
    expect(code).toBe(1001);
    expect(Date.now() - opened).toBeGreaterThanOrEqual(4900);
    const { event } = await recordedEvent(db, short.tableName, 'DISCONNECT', id);
    expect(event.requestContext.disconnectStatusCode).toBe(1001);
  });
});

describe('failures the gateway survives', () => {
  test('a handler that throws: the client gets Internal server error and the connection serves on', async () => {
    const { client, id } = await connection(stack);
    const reply = client.next((f) => f.message !== undefined);
    client.send({ action: 'fail' });
    expect(await reply).toEqual({
      message: 'Internal server error',
      connectionId: id,
      requestId: expect.stringMatching(ID),
    });
    expect(await whoAmI(client)).toBe(id);
    await client.close();
  });

  test.each([
    ['a reserved opcode', 1002, [0x83, 0x80, 0, 0, 0, 0]],
    ['an unmasked client frame', 1002, [0x81, 0x02, 0x68, 0x69]],
    ['invalid UTF-8 in a text frame', 1007, [0x81, 0x82, 0, 0, 0, 0, 0xff, 0xfe]],
  ])('%s closes that connection only (%i) and fires $disconnect', async (_, code, bytes) => {
    const bystander = await connection(stack);
    const { client, id } = await connection(stack);
    (client.ws as unknown as { _socket: Socket })._socket.write(Buffer.from(bytes));
    expect((await client.closed).code).toBe(code);
    expect(await routesInvokedFor(stack, id)).toEqual(['$connect', 'echo', '$disconnect']);
    expect(await whoAmI(bystander.client)).toBe(bystander.id);
    await bystander.client.close();
  });

  test('an abrupt TCP drop fires $disconnect with 1006; the gateway serves on', async () => {
    const { client, id } = await connection(stack);
    await client.drop();
    const { event } = await recordedEvent(db, stack.tableName, 'DISCONNECT', id);
    expect(event.requestContext.disconnectStatusCode).toBe(1006);
    const next = await connection(stack);
    expect(next.id).toMatch(ID);
    await next.client.close();
  });
});
