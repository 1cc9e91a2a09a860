// 2. Fan-out latency through the real local stack: from a `send` leaving a client until the last of a
// room's N members (the sender's own echo comes last) has the `message` frame. Measured twice in the
// same run: with the template's fan-out concurrency, and posting to one recipient at a time.
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { percentile, processTable, round, treeCpuMs, withTimeout } from './common';
import type { Progress } from './progress';
import type { ServerSpec } from './server-process';
import { StackWithClients } from './stack-room';

export interface FanoutOptions {
  roomSizes: number[];
  /** Unmeasured sends first, per room size. */
  warmup: (members: number) => number;
  /** Measured sends per room size. */
  sends: (members: number) => number;
  /** Per send. */
  timeoutMs?: number;
}

export interface RoomFanout {
  fanoutP50Ms: number;
  fanoutP99Ms: number;
  sequentialP50Ms: number;
  sequentialP99Ms: number;
  /** Sequential p50 / concurrent p50. */
  speedupVsSequential: number;
  sends: number;
  /** CPU time the functions (SendFunction) spent per recipient, from /proc (Linux only). */
  functionCpuUsPerRecipient?: number;
  /** CPU time the gateway spent per recipient (a POST in, a frame out). */
  gatewayCpuUsPerRecipient?: number;
}

/** CPU time per recipient, in us, of each process a fan-out runs through (Linux only). */
export interface CpuPerRecipient {
  /** The functions (SendFunction), children of the stack's process. */
  function: number;
  /** The stack's own process: the local API Gateway (a POST in, a frame out) and the Lambda runtime. */
  gateway: number;
  /** This process: the benchmark's WebSocket clients receiving their frames. */
  clients: number;
  /** DynamoDB Local when this process started it (else 0: it runs elsewhere). */
  dynamoDbLocal: number;
}

interface Latencies {
  p50: number;
  p99: number;
  sends: number;
  /** Median of the function's own posting time (first POST to last answer), from its log. */
  postingP50?: number;
  cpu?: CpuPerRecipient;
}

/**
 * CPU used so far by the stack's processes, this process and its other children (DynamoDB Local), from one
 * reading of /proc: the breakdown is by difference, which two readings a tick apart could make negative.
 */
function cpuSnapshot(stackPid: number) {
  const table = processTable();
  const stack = table && treeCpuMs(table, stackPid);
  const bench = table && treeCpuMs(table, process.pid);
  const { user, system } = process.cpuUsage();
  return stack && bench && { stack, bench, clientsMs: (user + system) / 1000 };
}

function cpuPerRecipient(
  before: NonNullable<ReturnType<typeof cpuSnapshot>>,
  after: NonNullable<ReturnType<typeof cpuSnapshot>>,
  recipients: number,
): CpuPerRecipient {
  const us = (ms: number) => Math.round((ms * 1000) / recipients);
  const stackTotal = (s: typeof before) => s.stack.self + s.stack.descendants;
  return {
    function: us(after.stack.descendants - before.stack.descendants),
    gateway: us(after.stack.self - before.stack.self),
    clients: us(after.clientsMs - before.clientsMs),
    dynamoDbLocal: us(
      after.bench.descendants - stackTotal(after) - (before.bench.descendants - stackTotal(before)),
    ),
  };
}

const FILLER = 'x'.repeat(100);

/** One send by the first client; resolves with the ms until all `members` clients have the message. */
async function timedSend(
  sockets: WebSocket[],
  members: number,
  room: string,
  timeoutMs: number,
): Promise<number> {
  const msg = `${randomUUID()} ${FILLER}`.slice(0, 100);
  let remaining = members;
  let finish: (at: number) => void = () => {};
  let fail: (error: Error) => void = () => {};
  const done = new Promise<number>((resolve, reject) => {
    finish = resolve;
    fail = reject;
  });
  const listeners = sockets.slice(0, members).map((ws) => {
    const listener = (data: WebSocket.RawData) => {
      const frame = JSON.parse(data.toString()) as { type?: string; msg?: string };
      if (frame.type === 'message' && frame.msg === msg) {
        if (--remaining === 0) finish(performance.now());
      } else if (ws === sockets[0] && frame.type === 'error') {
        fail(new Error(`send refused: ${JSON.stringify(frame)}`));
      }
    };
    ws.on('message', listener);
    return () => ws.off('message', listener);
  });
  try {
    const started = performance.now();
    sockets[0]!.send(JSON.stringify({ action: 'send', room, msg }));
    return (await withTimeout(done, timeoutMs, `fan-out to ${members} members`)) - started;
  } finally {
    for (const off of listeners) off();
  }
}

async function measureStack(
  endpoint: string,
  options: FanoutOptions,
  environment?: Record<string, string>,
  connections?: Extract<ServerSpec, { kind: 'stack' }>['connections'],
  progress?: Progress,
): Promise<Record<number, Latencies>> {
  const largest = Math.max(...options.roomSizes);
  const mode = environment ? 'sequential' : 'concurrent';
  progress?.stage(`${mode}: starting a stack and ${largest} clients`);
  const stack = await StackWithClients.start(endpoint, largest, environment, connections);
  try {
    const figures: Record<number, Latencies> = {};
    for (const members of options.roomSizes) {
      const room = `fanout-${members}`;
      await stack.fillRoom(room, members);
      const timeoutMs = options.timeoutMs ?? 30_000;
      const warmup = options.warmup(members);
      progress?.stage(`${mode}: ${members} members, sends`, warmup + options.sends(members));
      // Each send meets an idle stack: when the sender's echo arrives, its invocation still waits for
      // that POST's answer, and a send then would start a second, cold instance of the function.
      const send = async () => {
        const ms = await timedSend(stack.sockets, members, room, timeoutMs);
        await stack.server.settled();
        progress?.tick();
        return ms;
      };
      for (let i = 0; i < warmup; i++) await send();
      const latencies: number[] = [];
      await stack.server.fanouts();
      const cpuBefore = cpuSnapshot(stack.server.pid);
      for (let i = 0; i < options.sends(members); i++) latencies.push(await send());
      const cpuAfter = cpuSnapshot(stack.server.pid);
      const postings = (await stack.server.fanouts())
        .filter((fanout) => fanout.members === members)
        .map((fanout) => fanout.postingMs)
        .sort((a, b) => a - b);
      latencies.sort((a, b) => a - b);
      figures[members] = {
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        sends: latencies.length,
        ...(postings.length > 0 ? { postingP50: percentile(postings, 50) } : {}),
        ...(cpuBefore && cpuAfter
          ? { cpu: cpuPerRecipient(cpuBefore, cpuAfter, latencies.length * members) }
          : {}),
      };
    }
    return figures;
  } finally {
    await stack.stop();
  }
}

export async function measureFanout(
  endpoint: string,
  options: FanoutOptions,
  progress?: Progress,
): Promise<Record<string, RoomFanout>> {
  const concurrent = await measureStack(endpoint, options, undefined, undefined, progress);
  const sequential = await measureStack(endpoint, options, { FANOUT_CONCURRENCY: '1' }, undefined, progress);
  return Object.fromEntries(
    options.roomSizes.map((members) => {
      const c = concurrent[members]!;
      const s = sequential[members]!;
      return [
        members,
        {
          fanoutP50Ms: round(c.p50),
          fanoutP99Ms: round(c.p99),
          sequentialP50Ms: round(s.p50),
          sequentialP99Ms: round(s.p99),
          speedupVsSequential: round(s.p50 / c.p50),
          sends: c.sends,
          ...(c.cpu
            ? { functionCpuUsPerRecipient: c.cpu.function, gatewayCpuUsPerRecipient: c.cpu.gateway }
            : {}),
        },
      ];
    }),
  );
}

export interface LatencyBoundOptions {
  members: number;
  /** Simulated round trips of one `@connections` POST (the stack's `connectionsLatency`). */
  latenciesMs: number[];
  /** Measured sends with the shipped concurrency (sequential: one; it takes members x latency). */
  sends: number;
}

export interface LatencyBoundFanout {
  members: number;
  fanoutP50Ms: number;
  fanoutP99Ms: number;
  /** One at a time, scaled up from a room of `sequentialSample` members. */
  sequentialMs: number;
  sequentialSample: number;
  speedupVsSequential: number;
  /** members x latency / shipped concurrency: the best a fan-out could do. */
  idealMs: number;
  /**
   * The send function's own fan-out, from its first `@connections` POST to the last answer (its log's
   * `postingMs`): p50 with the shipped concurrency, and one at a time (scaled as `sequentialMs`).
   */
  functionPostingP50Ms?: number;
  functionPostingSequentialMs?: number;
  /** Where the CPU of the shipped concurrency's fan-outs went, per recipient. */
  cpuUsPerRecipient?: CpuPerRecipient;
}

/**
 * Members of the room posted to one at a time: 1,000 at 20 ms each would outlast the send function's
 * 10 s timeout, so the sequential time is measured on this many and scaled (it is linear in members).
 */
const SEQUENTIAL_SAMPLE = 100;

/**
 * 2b. Fan-out when each `@connections` POST waits on the network, as it does on AWS: the local stack
 * delays each answer by a fixed latency; the shipped concurrency against posting one at a time.
 */
export async function measureLatencyBound(
  endpoint: string,
  options: LatencyBoundOptions,
  shippedConcurrency: number,
): Promise<Record<string, LatencyBoundFanout>> {
  const figures: Record<string, LatencyBoundFanout> = {};
  for (const latencyMs of options.latenciesMs) {
    const connections = { connectionsLatency: { minMs: latencyMs, maxMs: latencyMs } };
    // A one-member room first warms the function; with the shipped concurrency, one unmeasured send to
    // the whole room also opens the function's keep-alive sockets (one at a time, it would take seconds).
    const run = (roomSizes: number[], sends: number, environment?: Record<string, string>) =>
      measureStack(
        endpoint,
        {
          roomSizes,
          warmup: (members) => (members === 1 || !environment ? 1 : 0),
          sends: (members) => (members === 1 ? 1 : sends),
          // Posting one at a time on a busy machine costs CPU beyond the latency: generous, never hanging.
          timeoutMs: options.members * (latencyMs + 50) * 2 + 30_000,
        },
        environment,
        connections,
      );
    const concurrent = (await run([1, options.members], options.sends))[options.members]!;
    const sample = Math.min(options.members, SEQUENTIAL_SAMPLE);
    const sequential = (await run([1, sample], 1, { FANOUT_CONCURRENCY: '1' }))[sample]!;
    figures[`${latencyMs}ms`] = {
      members: options.members,
      fanoutP50Ms: round(concurrent.p50),
      fanoutP99Ms: round(concurrent.p99),
      sequentialMs: round((sequential.p50 * options.members) / sample),
      sequentialSample: sample,
      speedupVsSequential: round((sequential.p50 * options.members) / sample / concurrent.p50),
      idealMs: round(Math.ceil(options.members / shippedConcurrency) * latencyMs),
      ...(concurrent.postingP50 !== undefined && sequential.postingP50 !== undefined
        ? {
            functionPostingP50Ms: round(concurrent.postingP50),
            functionPostingSequentialMs: round((sequential.postingP50 * options.members) / sample),
          }
        : {}),
      ...(concurrent.cpu ? { cpuUsPerRecipient: concurrent.cpu } : {}),
    };
  }
  return figures;
}
