// `npm run soak`: many real WebSocket clients against the real local stack, checking that every member
// received every message of its rooms exactly once and in each sender's order. With --churn, random
// connections are closed during the run; clients reconnect and resume with `since`.
import { parseArgs } from 'node:util';
import WebSocket from 'ws';
import { type LocalStack, startLocalStack } from '../local/local-stack';

export interface SoakOptions {
  connections: number;
  rooms: number;
  messagesPerConnection: number;
  /** Close random connections during the run (clients reconnect with `since`). */
  churn: boolean;
  /** Per-run deadline; the run fails rather than hang. */
  timeoutMs: number;
}

export interface SoakFigures {
  connections: number;
  rooms: number;
  messagesSent: number;
  deliveriesExpected: number;
  deliveriesReceived: number;
  lost: number;
  duplicates: number;
  reordered: number;
  errors: number;
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
  messages?: MessageFrame[];
  more?: boolean;
  msg?: string;
}

class ConnectionClosed extends Error {}

/** How long a reconnected client waits for its unacknowledged message before sending it again. */
const RESEND_AFTER_MS = 2000;

async function until(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
}

/** One chat user: a socket that may be replaced, the room it is in, and everything it received. */
class SoakClient {
  socket!: WebSocket;
  /** Message ids seen, in the order the client shows them (by id within the room). */
  readonly seen = new Map<string, { msg: string; receivedAt: number }>();
  lastId: string | undefined;
  errors: string[] = [];
  reconnects = 0;
  private waiting: { accept: (frame: Frame) => boolean; fail: (error: Error) => void }[] = [];

  constructor(
    readonly index: number,
    readonly room: string,
    private readonly url: string,
  ) {}

  private onFrame(frame: Frame): void {
    if (frame.type === 'message') this.record(frame as MessageFrame);
    if (frame.type === 'history') for (const message of frame.messages ?? []) this.record(message);
    if (frame.type === 'error' || (frame.type === undefined && 'message' in frame)) {
      this.errors.push(JSON.stringify(frame));
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
    const answer = this.next((f) => f.type === 'history' || f.type === 'error', timeoutMs);
    socket.send(JSON.stringify({ action: 'join', room: this.room, ...(since ? { since } : {}) }));
    const history = await answer;
    if (history.type === 'error')
      throw new Error(`client ${this.index}: join refused: ${JSON.stringify(history)}`);
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

  /** Sends one message and waits for its echo (delivered to everyone else first), reconnecting if closed. */
  async send(seq: number, timeoutMs: number): Promise<void> {
    const text = `${this.index}:${seq}:${Date.now()}`;
    const isMine = () => [...this.seen.values()].some((m) => m.msg.startsWith(`${this.index}:${seq}:`));
    for (let attempt = 0; attempt < 5 && !isMine(); attempt++) {
      if (this.socket.readyState !== WebSocket.OPEN) {
        await this.reconnect(timeoutMs);
        // A send in flight when the socket went may still be stored and fanned out (to the new
        // connection too): give it a moment to show up before sending it again.
        if (attempt > 0) await until(isMine, RESEND_AFTER_MS);
        if (isMine()) return;
      }
      const echo = this.next(
        (f) => (f.type === 'message' && f.msg === text) || f.type === 'error',
        timeoutMs,
      );
      this.socket.send(JSON.stringify({ action: 'send', room: this.room, msg: text }));
      const answer = await echo.catch((error: Error) => {
        if (!(error instanceof ConnectionClosed)) throw error; // a timeout; a closed socket means: reconnect
      });
      if (answer?.type === 'error')
        throw new Error(`client ${this.index}: send refused: ${JSON.stringify(answer)}`);
    }
    if (!isMine()) throw new Error(`client ${this.index}: message ${seq} was never echoed`);
  }

  /** Reconnects with backoff (20 ms doubling to 1 s) until it works or `timeoutMs` has passed. */
  async reconnect(timeoutMs: number): Promise<void> {
    this.reconnects++;
    const deadline = Date.now() + timeoutMs;
    for (let attempt = 0; ; attempt++) {
      try {
        await new Promise((resolve) => setTimeout(resolve, Math.min(20 * 2 ** attempt, 1000)));
        await this.connect(timeoutMs);
        return;
      } catch (error) {
        if (Date.now() > deadline) throw error;
      }
    }
  }
}

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Runs the soak against a running stack and returns its figures (it asserts nothing itself). */
export async function runSoak(stack: LocalStack, options: SoakOptions): Promise<SoakFigures> {
  const started = Date.now();
  let peakRss = process.memoryUsage().rss;
  const sampler = setInterval(() => {
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }, 200);
  const step = Math.min(options.timeoutMs, 30_000);
  // Rooms of this run only: a room's history would replay an earlier run's messages.
  const run = Date.now().toString(36);
  const clients = Array.from(
    { length: options.connections },
    (_, i) => new SoakClient(i, `soak-${run}-${i % options.rooms}`, stack.webSocketUrl),
  );
  try {
    // Everyone joins before anyone sends, so every member is owed every message of its room.
    for (let i = 0; i < clients.length; i += 50)
      await Promise.all(clients.slice(i, i + 50).map((c) => c.connect(step)));
    // Churn closes each connection about once every 10 s on average (at most 20 closes a second).
    let churning = options.churn;
    const churnEveryMs = Math.max(50, 10_000 / clients.length);
    const churn = (async () => {
      while (churning) {
        await new Promise((resolve) => setTimeout(resolve, churnEveryMs));
        const victim = clients[Math.floor(Math.random() * clients.length)]!;
        if (victim.socket.readyState === WebSocket.OPEN) victim.socket.terminate();
      }
    })();
    await Promise.all(
      clients.map(async (client) => {
        for (let seq = 0; seq < options.messagesPerConnection; seq++) await client.send(seq, step);
      }),
    );
    churning = false;
    await churn;
    // Reconnect whoever is away and let the last deliveries land.
    await Promise.all(
      clients.filter((c) => c.socket.readyState !== WebSocket.OPEN).map((c) => c.reconnect(step)),
    );
    const expectedPerClient = (c: SoakClient) =>
      clients.filter((s) => s.room === c.room).length * options.messagesPerConnection;
    const deadline = Date.now() + step;
    while (Date.now() < deadline && clients.some((c) => c.seen.size < expectedPerClient(c))) {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return figures(clients, options, expectedPerClient, peakRss, Date.now() - started);
  } finally {
    clearInterval(sampler);
    for (const client of clients) client.socket?.terminate();
  }
}

function figures(
  clients: SoakClient[],
  options: SoakOptions,
  expectedPerClient: (c: SoakClient) => number,
  peakRss: number,
  durationMs: number,
): SoakFigures {
  let expected = 0;
  let received = 0;
  let lost = 0;
  let duplicates = 0;
  let reordered = 0;
  const latencies: number[] = [];
  for (const client of clients) {
    expected += expectedPerClient(client);
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
    duplicates += [...copies.values()].reduce((sum, n) => sum + n - 1, 0);
    const roomSenders = clients.filter((s) => s.room === client.room);
    for (const sender of roomSenders) {
      for (let seq = 0; seq < options.messagesPerConnection; seq++) {
        if (!copies.has(`${sender.index}:${seq}`)) lost++;
      }
    }
  }
  latencies.sort((a, b) => a - b);
  return {
    connections: clients.length,
    rooms: options.rooms,
    messagesSent: clients.length * options.messagesPerConnection,
    deliveriesExpected: expected,
    deliveriesReceived: received,
    lost,
    duplicates,
    reordered,
    errors: clients.reduce((sum, c) => sum + c.errors.length, 0),
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
      timeout: { type: 'string', default: '600000' },
    },
  });
  const options: SoakOptions = {
    connections: Number(values.connections),
    rooms: Number(values.rooms),
    messagesPerConnection: Number(values.messages),
    churn: values.churn,
    timeoutMs: Number(values.timeout),
  };
  const stack = await startLocalStack({ port: 0, log: () => {}, functionLog: () => {} });
  try {
    const result = await runSoak(stack, options);
    console.table(result);
    const ok = result.lost === 0 && result.duplicates === 0 && result.reordered === 0 && result.errors === 0;
    console.log(ok ? 'soak passed: nothing lost, duplicated or reordered' : 'soak FAILED');
    if (!ok) process.exitCode = 1;
  } finally {
    await stack.stop();
  }
}

if (require.main === module) {
  main().catch((error: Error) => {
    console.error(error.message);
    process.exit(1);
  });
}
