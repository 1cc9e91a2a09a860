// 3. Delivery throughput ceiling: frames per second the gateway delivers when driven by many
// concurrent `@connections` POSTs over keep-alive HTTP, beside what a bare `ws` server pushes to the
// same number of sockets on this machine in the same run. Both servers run in a process of their own.
import http from 'node:http';
import type WebSocket from 'ws';
import { signedHeaders } from '../local/connections-auth';
import { closeSockets, openSockets } from './clients';
import { round, withTimeout } from './common';
import type { Progress } from './progress';
import { ServerProcess } from './server-process';
import { StackWithClients } from './stack-room';

export interface ThroughputOptions {
  sockets: number;
  /** Frames delivered per measurement (the same number for both servers). */
  deliveries: number;
  /** POSTs in flight. */
  concurrency: number;
  timeoutMs?: number;
}

export interface ThroughputFigures {
  sockets: number;
  deliveries: number;
  concurrency: number;
  deliveriesPerSec: number;
  rawWsPerSec: number;
  /** deliveriesPerSec / rawWsPerSec. */
  fractionOfRaw: number;
  /** CPU time the gateway's process used per second of the run (1 = one core busy). */
  gatewayCpuLoad: number;
  rawCpuLoad: number;
}

/** A `message` frame of a typical size, as fan-out posts it. */
function payload(marker: string): string {
  return JSON.stringify({
    type: 'message',
    room: 'throughput',
    id: '01M83XEX2N0KRN024X0WXQ7XFA',
    from: { connectionId: 'L0SM9cOFvHcCIhw=', name: 'bench' },
    msg: `${marker} ${'x'.repeat(80)}`,
    sentAt: new Date().toISOString(),
  });
}

/** Resolves with the time the `count`-th frame carrying `marker` arrived on any of the sockets. */
function countFrames(sockets: WebSocket[], marker: string, count: number) {
  let received = 0;
  let finish: (at: number) => void = () => {};
  const done = new Promise<number>((resolve) => {
    finish = resolve;
  });
  const needle = Buffer.from(marker);
  const listener = (data: WebSocket.RawData) => {
    if ((data as Buffer).includes(needle) && ++received === count) finish(performance.now());
  };
  for (const ws of sockets) ws.on('message', listener);
  return {
    done,
    received: () => received,
    stop: () => {
      for (const ws of sockets) ws.off('message', listener);
    },
  };
}

/** One signed POST; a 429 (the recipient's buffer is full) is retried shortly, as a sender would. */
async function post(agent: http.Agent, url: string, body: string): Promise<void> {
  for (;;) {
    const headers = await signedHeaders(url, 'POST', body);
    const status = await new Promise<number | undefined>((resolve, reject) => {
      const request = http.request(
        url,
        {
          method: 'POST',
          agent,
          headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        },
        (response) => {
          response.resume();
          response.on('end', () => resolve(response.statusCode));
        },
      );
      request.on('error', reject);
      request.end(body);
    });
    if (status === 200) return;
    if (status !== 429) throw new Error(`POST answered ${status}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** Frames per second through the gateway's `@connections` API, and the gateway's CPU load meanwhile. */
async function throughGateway(stack: StackWithClients, deliveries: number, options: ThroughputOptions) {
  const marker = `gw-${Date.now()}-${deliveries}`;
  const body = payload(marker);
  const urls = stack.ids.map((id) => stack.server.connectionUrl(id));
  const agent = new http.Agent({ keepAlive: true, maxSockets: options.concurrency });
  const frames = countFrames(stack.sockets, marker, deliveries);
  try {
    const cpuBefore = await stack.server.cpuMs();
    const started = performance.now();
    let next = 0;
    const worker = async () => {
      while (next < deliveries) {
        const i = next++;
        await post(agent, urls[i % urls.length]!, body);
      }
    };
    await Promise.all(Array.from({ length: options.concurrency }, worker));
    const lastAt = await withTimeout(frames.done, options.timeoutMs ?? 60_000, `${deliveries} deliveries`);
    const seconds = (lastAt - started) / 1000;
    const cpu = (await stack.server.cpuMs()) - cpuBefore;
    return { perSec: deliveries / seconds, cpuLoad: cpu / 1000 / seconds };
  } finally {
    frames.stop();
    agent.destroy();
  }
}

/** Frames per second a bare `ws` server pushes to its sockets, and its CPU load meanwhile. */
async function throughRawServer(
  server: ServerProcess,
  sockets: WebSocket[],
  deliveries: number,
  timeoutMs: number,
) {
  const marker = `raw-${Date.now()}-${deliveries}`;
  const frames = countFrames(sockets, marker, deliveries);
  try {
    const cpuBefore = await server.cpuMs();
    const started = performance.now();
    await server.push(deliveries, payload(marker));
    const lastAt = await withTimeout(frames.done, timeoutMs, `${deliveries} raw deliveries`);
    const seconds = (lastAt - started) / 1000;
    const cpu = (await server.cpuMs()) - cpuBefore;
    return { perSec: deliveries / seconds, cpuLoad: cpu / 1000 / seconds };
  } finally {
    frames.stop();
  }
}

export async function measureThroughput(
  endpoint: string,
  options: ThroughputOptions,
  progress?: Progress,
): Promise<ThroughputFigures> {
  const warmup = Math.ceil(options.deliveries / 10);
  const timeoutMs = options.timeoutMs ?? 60_000;
  progress?.stage(`gateway: starting a stack and ${options.sockets} clients`);
  const stack = await StackWithClients.start(endpoint, options.sockets);
  let gateway: { perSec: number; cpuLoad: number };
  try {
    progress?.stage(`gateway: ${warmup} warm-up and ${options.deliveries} measured deliveries`);
    await throughGateway(stack, warmup, options);
    gateway = await throughGateway(stack, options.deliveries, options);
  } finally {
    await stack.stop();
  }
  const raw = await ServerProcess.start({ kind: 'raw' });
  let bare: { perSec: number; cpuLoad: number };
  let sockets: WebSocket[] = [];
  try {
    progress?.stage(`bare ws server: ${warmup} warm-up and ${options.deliveries} measured deliveries`);
    sockets = await openSockets(raw.webSocketUrl, options.sockets);
    await throughRawServer(raw, sockets, warmup, timeoutMs);
    bare = await throughRawServer(raw, sockets, options.deliveries, timeoutMs);
  } finally {
    await raw.stop();
    closeSockets(sockets);
  }
  return {
    sockets: options.sockets,
    deliveries: options.deliveries,
    concurrency: options.concurrency,
    deliveriesPerSec: Math.round(gateway.perSec),
    rawWsPerSec: Math.round(bare.perSec),
    fractionOfRaw: round(gateway.perSec / bare.perSec, 3),
    gatewayCpuLoad: round(gateway.cpuLoad),
    rawCpuLoad: round(bare.cpuLoad),
  };
}
