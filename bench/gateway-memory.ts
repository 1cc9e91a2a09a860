// 5. Gateway memory: resident memory per idle connection. The stack runs in a process of its own
// (its RSS is what is measured; the bench's client sockets live in this process), and every
// connection runs the real $connect function.
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { closeSockets, openSockets } from './clients';
import { dropTable } from './common';
import type { Progress } from './progress';
import { ServerProcess } from './server-process';

export interface MemoryOptions {
  /** Connection counts to measure at, ascending. */
  counts: number[];
  /** Connections opened before the baseline reading (warms the functions, buffers and JIT). */
  warmup: number;
}

/** Growth per connection, or null when the growth was not above zero: lost in the noise of GC at this size. */
export type PerConnection = number | null;

export interface MemoryFigures {
  bytesPerConnection: Record<string, PerConnection>;
  heapBytesPerConnection: Record<string, PerConnection>;
  baselineRssBytes: number;
  /** The soft limit on open files (`ulimit -n`) of this process, which holds every client socket. */
  openFileLimit: number;
  /** Set when the open-file limit made the bench measure fewer connections than asked. */
  cappedAt?: number;
}

/** `ulimit -n` as this process and its children inherit it (Infinity when unlimited). */
export function openFileLimit(): number {
  const result = spawnSync('sh', ['-c', 'ulimit -n'], { encoding: 'utf8' });
  const text = result.stdout.trim();
  return text === 'unlimited' ? Number.POSITIVE_INFINITY : Number(text) || 1024;
}

function perConnection(growth: number, count: number): PerConnection {
  const bytes = Math.round(growth / count);
  return bytes > 0 ? bytes : null;
}

/** Files the bench keeps open besides the client sockets (DynamoDB, IPC, stdio, libraries). */
const FILE_HEADROOM = 500;

export async function measureGatewayMemory(
  endpoint: string,
  options: MemoryOptions,
  progress?: Progress,
): Promise<MemoryFigures> {
  const limit = openFileLimit();
  const most = Math.max(...options.counts) + options.warmup;
  const cap = most + FILE_HEADROOM > limit ? limit - FILE_HEADROOM - options.warmup : undefined;
  const counts = options.counts.map((count) => Math.min(count, cap ?? count)).filter((c) => c > 0);
  const tableName = `chat-bench-${randomUUID()}`;
  const server = await ServerProcess.start({ kind: 'stack', dynamoDbEndpoint: endpoint, tableName });
  const sockets: WebSocket[] = [];
  try {
    sockets.push(...(await openSockets(server.webSocketUrl, options.warmup)));
    const baseline = await server.memory();
    const bytesPerConnection: Record<string, PerConnection> = {};
    const heapBytesPerConnection: Record<string, PerConnection> = {};
    for (const count of counts) {
      const open = sockets.length - options.warmup;
      progress?.stage(`opening connections (each runs $connect) up to ${count}`, count - open);
      const onOpen = () => progress?.tick();
      sockets.push(
        ...(await openSockets(server.webSocketUrl, count - open, { batch: 200, timeoutMs: 60_000, onOpen })),
      );
      const now = await server.memory();
      bytesPerConnection[count] = perConnection(now.rss - baseline.rss, count);
      heapBytesPerConnection[count] = perConnection(now.heapUsed - baseline.heapUsed, count);
    }
    return {
      bytesPerConnection,
      heapBytesPerConnection,
      baselineRssBytes: baseline.rss,
      openFileLimit: limit,
      ...(cap === undefined ? {} : { cappedAt: cap }),
    };
  } finally {
    // The stack first: it closes its side without running $disconnect for thousands of connections.
    await server.stop();
    closeSockets(sockets);
    await dropTable(endpoint, tableName);
  }
}
