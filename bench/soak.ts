// `npm run soak`: many real WebSocket clients against the real local stack, checking that every member
// received every message of its rooms exactly once and in each sender's order, and that every send was
// stored exactly once. With --churn, random connections are closed during the run; clients reconnect,
// resume with `since` and resend what was not confirmed with its clientMsgId.
import { randomUUID } from 'node:crypto';
import { parseArgs } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { ChatStore, DEFAULT_CONNECTION_LIFETIME_SECONDS } from 'chat-core';
import WebSocket from 'ws';
import { localDynamoDbClient } from '../local/dynamodb';
import { type LocalStack, startLocalStack } from '../local/local-stack';
import { percentile, sleep } from './common';
import { Progress } from './progress';

export interface SoakOptions {
  connections: number;
  rooms: number;
  messagesPerConnection: number;
  /** Close random connections during the run (clients reconnect with `since`). */
  churn: boolean;
  /** Sends per second over all clients (default: each client sends as soon as its last is echoed). */
  sendsPerSecond?: number;
  /** With churn: connections closed per second (default 3). */
  closesPerSecond?: number;
  /** Per-run deadline; the run fails rather than hang. */
  timeoutMs: number;
  /** Reports each stage and its count every few seconds. */
  progress?: Progress;
}

export interface SoakFigures {
  connections: number;
  rooms: number;
  /** Sends attempted. */
  messagesSent: number;
  /** Messages the rooms' history holds: each send once. */
  messagesStored: number;
  /** Sends resent with their clientMsgId because their connection closed (churn) or no echo came in time. */
  resends: number;
  /** Each member times the messages stored in its room. */
  deliveriesExpected: number;
  deliveriesReceived: number;
  /** Stored messages a member never received. */
  lost: number;
  /** Messages a member received that its room's history does not hold. */
  notStored: number;
  duplicates: number;
  reordered: number;
  errors: number;
  /** Errors by code or message. */
  errorKinds: Record<string, number>;
  reconnects: number;
  p50LatencyMs: number;
  p99LatencyMs: number;
  peakRssMb: number;
  durationMs: number;
}

interface MessageFrame {
  type: 'message';
  room: string;
  id: string;
  from: { connectionId: string };
  msg: string;
  sentAt: string;
}
interface Frame {
  type?: string;
  code?: string;
  clientMsgId?: string;
  messages?: MessageFrame[];
  more?: boolean;
  msg?: string;
  retryAfterMs?: number;
}

class ConnectionClosed extends Error {}

/** API Gateway's own error frames (no `type`), e.g. "Endpoint request timed out": the request may or may not have run. */
const isGatewayError = (frame: Frame) => frame.type === undefined && 'message' in frame;

/** One chat user: a socket that may be replaced, the room it is in, and everything it received. */
class SoakClient {
  socket!: WebSocket;
  /** Message ids seen, in the order the client shows them (by id within the room). */
  readonly seen = new Map<string, { msg: string; receivedAt: number }>();
  lastId: string | undefined;
  /** Error frames received: `error` events by code, API Gateway's own by message. */
  errors: string[] = [];
  reconnects = 0;
  /** Sends resent because their connection closed before their echo came, or it took too long. */
  resends = 0;
  private waiting: { accept: (frame: Frame) => boolean; fail: (error: Error) => void }[] = [];

  constructor(
    readonly index: number,
    readonly room: string,
    private readonly url: string,
  ) {}

  private onFrame(frame: Frame): void {
    if (frame.type === 'message') this.record(frame as MessageFrame);
    if (frame.type === 'history') for (const message of frame.messages ?? []) this.record(message);
    // SEND_IN_PROGRESS is the recipe's "send it again shortly", not a failure.
    if ((frame.type === 'error' && frame.code !== 'SEND_IN_PROGRESS') || isGatewayError(frame)) {
      const { code, message } = frame as { code?: string; message?: string };
      this.errors.push(code ?? message ?? JSON.stringify(frame));
    }
    this.waiting = this.waiting.filter((waiter) => !waiter.accept(frame));
  }

  /** A closed socket answers nothing more: whoever waits on it hears so at once. */
  private failWaiters(): void {
    const waiting = this.waiting;
    this.waiting = [];
    for (const waiter of waiting)
      waiter.fail(new ConnectionClosed(`client ${this.index}: connection closed`));
  }

  /** Keeps one copy per id (a replay may repeat what arrived live), as a chat client does. */
  private record(message: MessageFrame): void {
    if (this.seen.has(message.id)) return;
    this.seen.set(message.id, { msg: message.msg, receivedAt: Date.now() });
    if (!this.lastId || message.id > this.lastId) this.lastId = message.id;
  }

  next(match: (frame: Frame) => boolean, timeoutMs: number): Promise<Frame> {
    const promise = new Promise<Frame>((resolve, reject) => {
      if (this.socket.readyState > WebSocket.OPEN) {
        reject(new ConnectionClosed(`client ${this.index}: connection closed`));
        return;
      }
      const timer = setTimeout(() => reject(new Error(`client ${this.index}: timed out waiting`)), timeoutMs);
      this.waiting.push({
        accept: (frame) => {
          if (!match(frame)) return false;
          clearTimeout(timer);
          resolve(frame);
          return true;
        },
        fail: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
    });
    promise.catch(() => {}); // awaited by the caller; never an unhandled rejection
    return promise;
  }

  /** Connects (again) and joins the room, replaying what was missed since the last id seen. */
  async connect(timeoutMs: number): Promise<void> {
    const socket = new WebSocket(`${this.url}?name=c${this.index}`, { perMessageDeflate: false });
    this.socket = socket;
    socket.on('message', (data) => this.onFrame(JSON.parse(data.toString()) as Frame));
    socket.on('error', () => {});
    socket.on('close', () => {
      if (this.socket === socket) this.failWaiters();
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('open', () => resolve());
      socket.once('error', reject);
    });
    const since = this.lastId;
    // `history` ends a join (other members' `joined` frames may arrive first).
    const answer = this.next(
      (f) => f.type === 'history' || f.type === 'error' || isGatewayError(f),
      timeoutMs,
    );
    socket.send(JSON.stringify({ action: 'join', room: this.room, ...(since ? { since } : {}) }));
    const history = await answer.catch((error: Error) => ({ type: 'error', message: error.message }));
    if (history.type !== 'history') {
      socket.terminate(); // a failed attempt leaves no member behind
      throw new Error(`client ${this.index}: join failed: ${JSON.stringify(history)}`);
    }
    await this.catchUp(history, since, timeoutMs);
  }

  /** A replay says `more` when over its limit: page back with `history before` down to `since`. */
  private async catchUp(page: Frame, since: string | undefined, timeoutMs: number): Promise<void> {
    let current = page;
    while (current.more && current.messages?.length) {
      const oldest = current.messages[0]!.id;
      if (since && oldest <= since) break;
      const next = this.next((f) => f.type === 'history', timeoutMs);
      this.socket.send(JSON.stringify({ action: 'history', room: this.room, before: oldest, limit: 100 }));
      current = await next;
    }
  }

  /**
   * Sends one message and waits for its echo (delivered to everyone else first). A close before the
   * echo, no echo in time or a gateway timeout leaves the send unconfirmed: it may be stored or not. The client reconnects
   * if need be and resends it with the same clientMsgId, which the server stores once, until the echo
   * comes (the recipe in the README); only a closed connection resends without limit.
   */
  async send(seq: number, timeoutMs: number): Promise<void> {
    const text = `${this.index}:${seq}:${Date.now()}`;
    const clientMsgId = randomUUID();
    let internal = 0;
    for (let timeouts = 0; ; ) {
      if (this.socket.readyState !== WebSocket.OPEN) await this.reconnect(timeoutMs);
      const echo = this.next(
        (f) =>
          (f.type === 'message' && f.clientMsgId === clientMsgId) || f.type === 'error' || isGatewayError(f),
        timeoutMs,
      );
      this.socket.send(JSON.stringify({ action: 'send', room: this.room, msg: text, clientMsgId }));
      const answer = await echo.catch((error: Error) => {
        if (error instanceof ConnectionClosed) return undefined;
        if (++timeouts >= 3) throw error;
        return undefined;
      });
      // INTERNAL may pass (the recipe): resend after a pause, a bounded number of times.
      if (answer?.type === 'error' && answer.code === 'SEND_IN_PROGRESS') {
        this.resends++;
        await sleep(answer.retryAfterMs ?? 1000);
        continue;
      }
      if (answer?.type === 'error' && (answer.code !== 'INTERNAL' || ++internal > 5))
        throw new Error(`client ${this.index}: send refused: ${JSON.stringify(answer)}`);
      if (answer?.type === 'message') return;
      // Closed, timed out, failed, or the gateway gave up waiting for the function: unconfirmed, so resend.
      this.resends++;
      if (answer) await sleep(1000);
    }
  }

  /** Reconnects with backoff (20 ms doubling to 1 s) until it works or `timeoutMs` has passed. */
  async reconnect(timeoutMs: number): Promise<void> {
    this.reconnects++;
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await sleep(Math.min(20 * 2 ** attempt, 1000));
        await this.connect(timeoutMs);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  }
}

/** Runs the soak against a running stack and returns its figures (it asserts nothing itself). */
export async function runSoak(stack: LocalStack, options: SoakOptions): Promise<SoakFigures> {
  const started = Date.now();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 200);
  // A step fails only when it is clearly stuck: on a saturated box a wait includes queueing.
  const step = Math.min(options.timeoutMs, 120_000);
  // Rooms of this run only: a room's history would replay an earlier run's messages.
  const run = Date.now().toString(36);
  const clients = Array.from(
    { length: options.connections },
    (_, i) => new SoakClient(i, `soak-${run}-${i % options.rooms}`, stack.webSocketUrl),
  );
  const history = new StoredHistory(
    stack,
    [...new Set(clients.map((c) => c.room))],
    options.connections * options.messagesPerConnection,
  );
  try {
    // Everyone joins before anyone sends, so every member is owed every message of its room.
    const { progress } = options;
    progress?.stage('connecting and joining', clients.length);
    for (let i = 0; i < clients.length; i += 50) {
      await Promise.all(clients.slice(i, i + 50).map((c) => c.connect(step)));
      progress?.tick(Math.min(50, clients.length - i));
    }
    let churning = options.churn;
    const churnEveryMs = 1000 / (options.closesPerSecond ?? 3);
    const churn = (async () => {
      while (churning) {
        await sleep(churnEveryMs);
        const victim = clients[Math.floor(Math.random() * clients.length)]!;
        if (victim.socket.readyState === WebSocket.OPEN) victim.socket.terminate();
      }
    })();
    // Sends are spread evenly over the run at `sendsPerSecond` (client i's message seq is due at
    // (seq * connections + i) / rate); a client whose previous message is not yet echoed sends when it is.
    const sendsStarted = Date.now();
    const rate = options.sendsPerSecond ?? Number.POSITIVE_INFINITY;
    progress?.stage('sends echoed', clients.length * options.messagesPerConnection);
    await Promise.all(
      clients.map(async (client) => {
        for (let seq = 0; seq < options.messagesPerConnection; seq++) {
          const dueAt = sendsStarted + ((seq * clients.length + client.index) / rate) * 1000;
          if (dueAt > Date.now()) await sleep(dueAt - Date.now());
          await client.send(seq, step);
          progress?.tick();
        }
      }),
    );
    churning = false;
    await churn;
    // Reconnect whoever is away and let the last deliveries land.
    progress?.stage('reconnecting the clients still away');
    await Promise.all(
      clients.filter((c) => c.socket.readyState !== WebSocket.OPEN).map((c) => c.reconnect(step)),
    );
    // Every member is owed every message its room's history holds (the last deliveries may still be
    // landing, so the history is read again until everyone has everything or the step runs out).
    progress?.stage('checking every member against the stored history');
    let stored = await history.read();
    const deadline = Date.now() + step;
    while (Date.now() < deadline && clients.some((c) => missing(c, stored) > 0)) {
      await sleep(250);
      stored = await history.read();
    }
    return figures(clients, stored, options, peakRss, Date.now() - started);
  } finally {
    clearInterval(sampler);
    history.close();
    for (const client of clients) client.socket?.terminate();
  }
}

function countEach(values: string[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** Each room's messages as the table holds them: what the service accepted and can replay. */
class StoredHistory {
  private readonly client: DynamoDBClient;
  private readonly store: ChatStore;

  constructor(
    stack: LocalStack,
    private readonly rooms: string[],
    /** More than any room can hold: every send of the run. */
    private readonly mostPerRoom: number,
  ) {
    const table = stack.app.tables.find((t) => t.logicalId === 'ChatTable');
    if (!table) throw new Error('the stack has no ChatTable');
    this.client = localDynamoDbClient(stack.dynamoDb.endpoint);
    this.store = new ChatStore({
      client: this.client,
      table: table.name,
      connectionLifetimeSeconds: DEFAULT_CONNECTION_LIFETIME_SECONDS,
    });
  }

  /** Message ids by room. */
  async read(): Promise<Map<string, Set<string>>> {
    const pages = await Promise.all(
      this.rooms.map((room) => this.store.roomHistory(room, { limit: this.mostPerRoom })),
    );
    return new Map(this.rooms.map((room, i) => [room, new Set(pages[i]!.messages.map((m) => m.id))]));
  }

  close(): void {
    this.client.destroy();
  }
}

/** Stored messages of the client's room it has not received. */
function missing(client: SoakClient, stored: Map<string, Set<string>>): number {
  let count = 0;
  for (const id of stored.get(client.room)!) if (!client.seen.has(id)) count++;
  return count;
}

function figures(
  clients: SoakClient[],
  stored: Map<string, Set<string>>,
  options: SoakOptions,
  peakRss: number,
  durationMs: number,
): SoakFigures {
  let expected = 0;
  let received = 0;
  let lost = 0;
  let notStored = 0;
  let duplicates = 0;
  let reordered = 0;
  const latencies: number[] = [];
  for (const client of clients) {
    const roomIds = stored.get(client.room)!;
    expected += roomIds.size;
    lost += missing(client, stored);
    for (const id of client.seen.keys()) if (!roomIds.has(id)) notStored++;
    const perSender = new Map<string, number>();
    const copies = new Map<string, number>();
    // Shown by id (time order); each sender's sequence numbers must rise.
    const byId = [...client.seen.entries()]
      .sort(([a], [b]) => (a < b ? -1 : 1))
      .map(([, message]) => message);
    for (const { msg, receivedAt } of byId) {
      const [sender, seqText, sentAt] = msg.split(':');
      const key = `${sender}:${seqText}`;
      copies.set(key, (copies.get(key) ?? 0) + 1);
      const seq = Number(seqText);
      if ((perSender.get(sender!) ?? -1) > seq) reordered++;
      perSender.set(sender!, Math.max(perSender.get(sender!) ?? -1, seq));
      latencies.push(receivedAt - Number(sentAt));
    }
    received += client.seen.size;
    // One send stored twice would reach a client as two ids with one text.
    duplicates += [...copies.values()].reduce((sum, n) => sum + n - 1, 0);
  }
  latencies.sort((a, b) => a - b);
  return {
    connections: clients.length,
    rooms: options.rooms,
    messagesSent: clients.length * options.messagesPerConnection,
    messagesStored: [...stored.values()].reduce((sum, ids) => sum + ids.size, 0),
    resends: clients.reduce((sum, c) => sum + c.resends, 0),
    deliveriesExpected: expected,
    deliveriesReceived: received,
    lost,
    notStored,
    duplicates,
    reordered,
    errors: clients.reduce((sum, c) => sum + c.errors.length, 0),
    errorKinds: countEach(clients.flatMap((c) => c.errors)),
    reconnects: clients.reduce((sum, c) => sum + c.reconnects, 0),
    p50LatencyMs: percentile(latencies, 50),
    p99LatencyMs: percentile(latencies, 99),
    peakRssMb: Math.round(peakRss / 1024 / 1024),
    durationMs,
  };
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      connections: { type: 'string', default: '1000' },
      rooms: { type: 'string', default: '50' },
      messages: { type: 'string', default: '10' },
      churn: { type: 'boolean', default: false },
      'closes-per-second': { type: 'string', default: '3' },
      // What this 2-core machine delivers with room to spare (about 800 of its ~1,000 deliveries/s).
      'sends-per-second': { type: 'string', default: '40' },
      timeout: { type: 'string', default: '600000' },
    },
  });
  const options: SoakOptions = {
    connections: Number(values.connections),
    rooms: Number(values.rooms),
    messagesPerConnection: Number(values.messages),
    churn: values.churn,
    closesPerSecond: Number(values['closes-per-second']),
    sendsPerSecond: Number(values['sends-per-second']),
    timeoutMs: Number(values.timeout),
  };
  const progress = new Progress('soak', (line) => console.error(line));
  progress.stage('starting the local stack');
  const stack = await startLocalStack({ port: 0, log: () => {}, functionLog: () => {} });
  try {
    const result = await runSoak(stack, { ...options, progress });
    progress.stop();
    const { errorKinds, ...counts } = result;
    console.table(counts);
    if (result.errors > 0) console.log('errors:', errorKinds);
    const ok =
      result.lost === 0 &&
      result.notStored === 0 &&
      result.duplicates === 0 &&
      result.reordered === 0 &&
      result.errors === 0 &&
      // Every send stored exactly once, churn or not.
      result.messagesStored === result.messagesSent;
    console.log(ok ? 'soak passed: nothing lost, duplicated or reordered' : 'soak FAILED');
    if (!ok) process.exitCode = 1;
  } finally {
    progress.stop();
    await stack.stop();
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
