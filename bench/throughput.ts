// 3. Delivery through `@connections`: the local gateway's CPU per delivered frame, beside the floor, a
// minimal `http` + `ws` server doing the same job (a signed POST in, the same SigV4 check, a frame out),
// measured in the same run with the same load. Each server runs in a process of its own; the POSTs come
// from another (load-generator.ts), and the receiving sockets are the bench's.
import type WebSocket from 'ws';
import { closeSockets, openSockets } from './clients';
import { round, withTimeout } from './common';
import { generateLoad } from './load-generator';
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
  /** Frames per second, first POST to last frame received. */
  gatewayPerSec: number;
  floorPerSec: number;
  /** CPU time of the server's process per delivered frame (us). */
  gatewayCpuUsPerDelivery: number;
  floorCpuUsPerDelivery: number;
  /** gateway / floor CPU per delivery (the goal: at most 1.2). */
  cpuRatio: number;
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

interface Server {
  process: ServerProcess;
  /** Its `@connections` endpoint. */
  endpoint: string;
  connectionIds: string[];
  sockets: WebSocket[];
}

/** Delivers `deliveries` frames through one server: its frames per second and CPU per delivery. */
async function deliver(server: Server, deliveries: number, options: ThroughputOptions) {
  const marker = `${Date.now()}-${deliveries}`;
  const frames = countFrames(server.sockets, marker, deliveries);
  const timeoutMs = options.timeoutMs ?? 60_000;
  try {
    const cpuBefore = await server.process.cpuMs();
    const started = performance.now();
    const { failed } = await generateLoad(
      {
        endpoint: server.endpoint,
        connectionIds: server.connectionIds,
        body: payload(marker),
        posts: deliveries,
        concurrency: options.concurrency,
      },
      timeoutMs,
    );
    if (failed > 0) throw new Error(`${failed} of ${deliveries} POSTs failed`);
    const lastAt = await withTimeout(frames.done, timeoutMs, `${deliveries} deliveries`);
    const cpuMs = (await server.process.cpuMs()) - cpuBefore;
    return { perSec: deliveries / ((lastAt - started) / 1000), cpuUs: (cpuMs * 1000) / deliveries };
  } finally {
    frames.stop();
  }
}

/** A warm-up, then the measured deliveries. */
async function measure(server: Server, options: ThroughputOptions) {
  await deliver(server, Math.ceil(options.deliveries / 10), options);
  return deliver(server, options.deliveries, options);
}

export async function measureThroughput(
  endpoint: string,
  options: ThroughputOptions,
  progress?: Progress,
): Promise<ThroughputFigures> {
  progress?.stage(`gateway: starting a stack and ${options.sockets} clients`);
  const stack = await StackWithClients.start(endpoint, options.sockets);
  let gateway: { perSec: number; cpuUs: number };
  try {
    progress?.stage(`gateway: ${options.deliveries} deliveries`);
    gateway = await measure(
      {
        process: stack.server,
        endpoint: `http://127.0.0.1:${stack.server.port}/dev`,
        connectionIds: stack.ids,
        sockets: stack.sockets,
      },
      options,
    );
  } finally {
    await stack.stop();
  }
  const floorProcess = await ServerProcess.start({ kind: 'floor' });
  let floor: { perSec: number; cpuUs: number };
  let sockets: WebSocket[] = [];
  try {
    progress?.stage(`floor (http + ws): ${options.deliveries} deliveries`);
    sockets = await openSockets(floorProcess.webSocketUrl, options.sockets);
    floor = await measure(
      {
        process: floorProcess,
        endpoint: `http://127.0.0.1:${floorProcess.port}/dev`,
        connectionIds: sockets.map((_, i) => `floor${i}`),
        sockets,
      },
      options,
    );
  } finally {
    closeSockets(sockets);
    await floorProcess.stop();
  }
  return {
    sockets: options.sockets,
    deliveries: options.deliveries,
    concurrency: options.concurrency,
    gatewayPerSec: Math.round(gateway.perSec),
    floorPerSec: Math.round(floor.perSec),
    gatewayCpuUsPerDelivery: Math.round(gateway.cpuUs),
    floorCpuUsPerDelivery: Math.round(floor.cpuUs),
    cpuRatio: round(gateway.cpuUs / floor.cpuUs),
  };
}
