import { randomUUID } from 'node:crypto';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { membershipOf, newConnection, Population } from '../../bench/population';
import { localDynamoDbClient } from '../../local/dynamodb';
import { connectionsFetch } from '../support/connections-fetch';
import { startTestStack, type TestStack } from '../support/test-stack';
import { TEST_MS, WAIT_MS } from '../support/timeouts';
import { eventually, TestClient } from '../support/ws-client';

// Fan-out at scale on the real local stack: big rooms split into shards run by the fan-out function
// through the local Lambda Invoke endpoint (asynchronous, with Lambda's retries), `@connections` calls
// throttled by `connectionsRate` and retried by the functions, and answers delayed by `connectionsLatency`.
//
// The 10,000-member room: a sample of 10 real WebSocket clients joined through the table, and 9,990 members
// that are table items only. The functions' `@connections` endpoint (CONNECTIONS_ENDPOINT) is a stand-in
// in front of the gateway: it records POSTs to the table-only members and answers 200 for them, and passes
// every other request through to the gateway untouched (the signature still holds there).

const SHARD_SIZE = 2000;
const ROOM_SIZE = 10_000;
const SAMPLE = 10;
const RATE = { rateLimit: 50, burstLimit: 5 };
const LATENCY = { minMs: 20, maxMs: 30 };
/** How long the big room's work may take before a wait gives up (every shard, throttled, on a busy machine). */
const ROOM_WAIT_MS = 6 * WAIT_MS;

class ConnectionsStandIn {
  readonly received = new Map<string, string[]>();
  private readonly server: Server;

  constructor(
    private readonly tableOnly: Set<string>,
    private readonly gatewayPort: () => number,
  ) {
    this.server = createServer((req, res) => {
      const id = decodeURIComponent((req.url ?? '').split('/@connections/')[1] ?? '');
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        const body = Buffer.concat(chunks);
        if (this.tableOnly.has(id)) {
          const frames = this.received.get(id) ?? [];
          frames.push(body.toString());
          this.received.set(id, frames);
          res.writeHead(200).end();
          return;
        }
        const forward = request(
          {
            host: '127.0.0.1',
            port: this.gatewayPort(),
            method: req.method,
            path: req.url,
            headers: req.headers,
          },
          (answer) => {
            res.writeHead(answer.statusCode ?? 502, answer.headers);
            answer.pipe(res);
          },
        );
        forward.on('error', () => res.writeHead(502).end());
        forward.end(body);
      });
    });
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    return (this.server.address() as AddressInfo).port;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

let stack: TestStack;
let standIn: ConnectionsStandIn;
const tableOnly = new Set<string>();
const clients: TestClient[] = [];
const room = `big-${randomUUID().slice(0, 8)}`;
/** The live clients alone, joined one by one: each join and the send burst POSTs at the bucket of 5. */
const burstRoom = `burst-${randomUUID().slice(0, 8)}`;

beforeAll(async () => {
  const synthetic = Array.from({ length: ROOM_SIZE - SAMPLE }, (_, i) => newConnection(i));
  for (const connection of synthetic) tableOnly.add(connection.connectionId);
  standIn = new ConnectionsStandIn(tableOnly, () => stack.port);
  const standInPort = await standIn.listen();
  stack = await startTestStack({
    environment: {
      CONNECTIONS_ENDPOINT: `http://127.0.0.1:${standInPort}/dev`,
      FANOUT_SHARD_SIZE: String(SHARD_SIZE),
      // Two busy cores serve every POST here (Lambda, the stand-in and the gateway share them).
      FANOUT_CONCURRENCY: '16',
    },
    maxInstancesPerFunction: 2,
    connectionsRate: RATE,
    connectionsLatency: LATENCY,
  });
  for (let i = 0; i < SAMPLE; i++)
    clients.push(await TestClient.connect(stack.webSocketUrl, { name: `live${i}` }));
  const db = localDynamoDbClient(stack.dynamoDb.endpoint);
  try {
    const population = new Population(db, stack.tableName);
    const byName = await population.connectionIdsByName();
    const live = await population.getConnections(clients.map((_, i) => byName.get(`live${i}`)!));
    await population.putMemberships(
      [...live, ...synthetic].map((connection) => membershipOf(connection, room)),
    );
  } finally {
    db.destroy();
  }
}, ROOM_WAIT_MS);

afterAll(async () => {
  for (const client of clients) await client.close().catch(() => {});
  await stack?.stop();
  await standIn?.close();
});

test(
  'a 10,000-member room gets every message to every member, in shards, within every timeout',
  async () => {
    const messages = [`first ${randomUUID()}`, `second ${randomUUID()}`];
    for (const [i, msg] of messages.entries()) {
      const echo = clients[i]!.next((f) => f.type === 'message' && f.msg === msg, 2 * WAIT_MS);
      clients[i]!.send({ action: 'send', room, msg });
      await echo;
      await eventually(() => expect(stack.lambda.inFlight).toBe(0), ROOM_WAIT_MS);
    }
    // Every live member has both messages through the gateway, throttled or not.
    for (const client of clients) {
      for (const msg of messages)
        await client.next((f) => f.type === 'message' && f.msg === msg, TEST_MS, true);
    }
    // Every table-only member has both, exactly once each, once the shard invocations are done.
    await eventually(() => {
      expect(stack.lambda.inFlight).toBe(0);
      expect(standIn.received.size).toBe(tableOnly.size);
    }, ROOM_WAIT_MS);
    for (const frames of standIn.received.values()) {
      expect(frames.map((f) => (JSON.parse(f) as { msg: string }).msg).sort()).toEqual([...messages].sort());
    }
    // The work went through shard invocations, none failed or ran out of time.
    const shardRuns = stack.functionLog.filter((line) => line.includes('shard fan-out done'));
    expect(shardRuns.length).toBeGreaterThanOrEqual(2 * Math.ceil((ROOM_SIZE - 1) / SHARD_SIZE));
    expect(stack.lambda.failed).toEqual([]);
    expect(stack.functionLog.join('\n')).not.toMatch(/Task timed out/);
  },
  3 * ROOM_WAIT_MS,
);

test("@connections calls past connectionsRate are answered 429 and the functions' retries deliver them", async () => {
  const throttledBefore = stack.gateway.throttledConnectionsCalls;
  for (const client of clients) {
    expect(await client.request({ action: 'join', room: burstRoom }, 'joined', 2 * WAIT_MS)).toMatchObject({
      type: 'joined',
    });
  }
  const msg = `burst ${randomUUID()}`;
  clients[0]!.send({ action: 'send', room: burstRoom, msg });
  for (const client of clients)
    await client.next((f) => f.type === 'message' && f.msg === msg, 2 * WAIT_MS, true);
  expect(stack.gateway.throttledConnectionsCalls).toBeGreaterThan(throttledBefore);
  expect(stack.functionLog.join('\n')).not.toMatch(/could not deliver to a room member/);
});

test('connectionsLatency delays each @connections answer by at least its minimum', async () => {
  const started = performance.now();
  const answer = await connectionsFetch(`${stack.connectionsUrl}/${encodeURIComponent('no-such-id')}`, {
    method: 'GET',
  });
  expect(answer.status).toBe(410);
  expect(performance.now() - started).toBeGreaterThanOrEqual(LATENCY.minMs);
});
