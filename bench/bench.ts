// `npm run bench`: what the service costs and how fast it goes on this machine. Absolute times here
// are noisy, so each figure that matters is a deterministic count or a ratio to a baseline measured in
// the same run. Prints a table and writes bench/results.json; `--quick` runs tiny sizes in seconds.
import { writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { fanoutConcurrency } from '../layers/chat-core/src/config';
import { type ClientCpuFigures, type ClientCpuOptions, measureClientCpu } from './client-cpu';
import { type ColdStartFigures, measureColdStart } from './cold-start';
import { benchDynamoDb, withTimeout } from './common';
import { type CostFigures, costModel, costReport } from './cost';
import {
  type FanoutOptions,
  type LatencyBoundFanout,
  type LatencyBoundOptions,
  measureFanout,
  measureLatencyBound,
  type RoomFanout,
} from './fanout';
import { type MemoryFigures, type MemoryOptions, measureGatewayMemory } from './gateway-memory';
import { Progress } from './progress';
import { measureReadCost, type ReadCostFigures, type ReadCostOptions } from './read-cost';
import { setStackInstanceLimit } from './server-process';
import { measureThroughput, type ThroughputFigures, type ThroughputOptions } from './throughput';

export const SECTIONS = [
  'readCost',
  'clientCpu',
  'fanout',
  'latencyBound',
  'throughput',
  'coldStart',
  'gatewayMemory',
  'cost',
] as const;
export type Section = (typeof SECTIONS)[number];

interface Sizes {
  readCost: ReadCostOptions;
  clientCpu: ClientCpuOptions;
  fanout: FanoutOptions;
  latencyBound: LatencyBoundOptions;
  throughput: ThroughputOptions;
  coldStart: { repeats: number };
  gatewayMemory: MemoryOptions;
  /** Instances per function in the stack processes (default: the local runtime's). */
  maxInstancesPerFunction?: number;
  /** Per section: it fails rather than run on. */
  sectionTimeoutMs: number;
}

/** The functions' default `FANOUT_CONCURRENCY`. */
const SHIPPED_CONCURRENCY = fanoutConcurrency();

const FULL: Sizes = {
  readCost: { tableConnections: 10_000, roomSizes: [10, 100, 1000], expiredMessages: 40_000 },
  clientCpu: { recipients: 2000, rounds: 18, concurrency: SHIPPED_CONCURRENCY },
  fanout: { roomSizes: [10, 100, 1000], warmup: () => 3, sends: (members) => (members >= 1000 ? 20 : 40) },
  latencyBound: { members: 1000, latenciesMs: [20, 50], sends: 10 },
  throughput: { sockets: 100, deliveries: 30_000, concurrency: 32 },
  coldStart: { repeats: 15 },
  gatewayMemory: { counts: [1000, 10_000], warmup: 100 },
  sectionTimeoutMs: 8 * 60_000,
};

const QUICK: Sizes = {
  // 120: above PRESENCE_LIST_LIMIT, so presence is a count there.
  readCost: { tableConnections: 200, roomSizes: [5, 20, 120], expiredMessages: 500 },
  clientCpu: { recipients: 50, rounds: 3, concurrency: SHIPPED_CONCURRENCY },
  fanout: { roomSizes: [5, 20], warmup: () => 1, sends: () => 3 },
  latencyBound: { members: 30, latenciesMs: [20], sends: 2 },
  throughput: { sockets: 10, deliveries: 500, concurrency: 8 },
  coldStart: { repeats: 1 },
  gatewayMemory: { counts: [50, 100], warmup: 10 },
  // Tiny rooms need no scaling out: connecting the clients would cold-start eight of each function.
  maxInstancesPerFunction: 2,
  sectionTimeoutMs: 2 * 60_000,
};

export interface BenchResults {
  date: string;
  cpus: number;
  node: string;
  mode: 'full' | 'quick';
  durationMs: number;
  readCost?: ReadCostFigures;
  clientCpu?: ClientCpuFigures;
  /** By room size (members). */
  fanout?: Record<string, RoomFanout>;
  /** By simulated `@connections` latency. */
  latencyBound?: Record<string, LatencyBoundFanout>;
  throughput?: ThroughputFigures;
  coldStart?: ColdStartFigures;
  gatewayMemory?: MemoryFigures;
  cost?: CostFigures;
}

export interface BenchOptions {
  quick?: boolean;
  /** Sections to run (default: all). */
  only?: readonly Section[];
  /** Progress lines. */
  log?: (line: string) => void;
}

export async function runBench(options: BenchOptions = {}): Promise<BenchResults> {
  const sizes = options.quick ? QUICK : FULL;
  const log = options.log ?? (() => {});
  const only = new Set(options.only ?? SECTIONS);
  const started = Date.now();
  const results: BenchResults = {
    date: new Date().toISOString(),
    cpus: cpus().length,
    node: process.version,
    mode: options.quick ? 'quick' : 'full',
    durationMs: 0,
  };
  const run = async <T>(
    section: Section,
    measure: (progress: Progress) => Promise<T>,
  ): Promise<T | undefined> => {
    if (!only.has(section)) return undefined;
    log(`${section}...`);
    const sectionStarted = Date.now();
    const progress = new Progress(section, log);
    try {
      const figures = await withTimeout(measure(progress), sizes.sectionTimeoutMs, section);
      log(`${section} done in ${((Date.now() - sectionStarted) / 1000).toFixed(1)} s`);
      return figures;
    } finally {
      progress.stop();
    }
  };
  results.coldStart = await run('coldStart', (progress) => measureColdStart(sizes.coldStart, progress));
  const dynamoDb = await benchDynamoDb();
  setStackInstanceLimit(sizes.maxInstancesPerFunction);
  try {
    const { endpoint } = dynamoDb;
    results.readCost = await run('readCost', (progress) =>
      measureReadCost(endpoint, sizes.readCost, progress),
    );
    results.clientCpu = await run('clientCpu', () => measureClientCpu(endpoint, sizes.clientCpu));
    results.fanout = await run('fanout', (progress) => measureFanout(endpoint, sizes.fanout, progress));
    results.latencyBound = await run('latencyBound', () =>
      measureLatencyBound(endpoint, sizes.latencyBound, SHIPPED_CONCURRENCY),
    );
    results.throughput = await run('throughput', (progress) =>
      measureThroughput(endpoint, sizes.throughput, progress),
    );
    results.gatewayMemory = await run('gatewayMemory', (progress) =>
      measureGatewayMemory(endpoint, sizes.gatewayMemory, progress),
    );
  } finally {
    await dynamoDb.stop();
    setStackInstanceLimit(undefined);
  }
  const { readCost, clientCpu } = results;
  if (readCost && clientCpu) results.cost = await run('cost', async () => costModel({ readCost, clientCpu }));
  results.durationMs = Date.now() - started;
  return results;
}

/** Columns padded to their widest cell; numbers right-aligned. */
function table(rows: (string | number)[][]): string {
  const widths = rows[0]!.map((_, col) => Math.max(...rows.map((row) => String(row[col] ?? '').length)));
  return rows
    .map((row) =>
      row
        .map((cell, col) =>
          typeof cell === 'number' ? String(cell).padStart(widths[col]!) : cell.padEnd(widths[col]!),
        )
        .join('  ')
        .trimEnd(),
    )
    .join('\n');
}

export function formatResults(r: BenchResults): string {
  const out = [
    `chat-rooms bench (${r.mode}) ${r.date}: ${r.cpus} cpus, node ${r.node}, ${Math.round(r.durationMs / 1000)} s`,
  ];
  if (r.readCost) {
    const c = r.readCost;
    out.push(
      '',
      `DynamoDB capacity per send: ${c.tableConnections} live connections in the table, ${c.messageBytes}-byte message`,
      table([
        [
          'members',
          'rcuPerSend',
          'of which Query',
          'rcuMinimum',
          'rcuScanBaseline',
          'entry bytes',
          'Query if ALL projected',
          'item bytes',
        ],
        ...Object.entries(c.byMembers).map(([n, m]) => [
          n,
          m.rcuPerSend,
          m.rcuMembersQuery,
          m.rcuMinimum,
          m.rcuScanBaseline,
          m.indexEntryBytes,
          m.rcuAllProjection,
          m.itemBytes,
        ]),
      ]),
      `wcuPerSend ${c.wcuPerSend} (with a clientMsgId; without: ${c.wcuPerPlainSend}; of each, the request ` +
        `token: ${c.wcuRequestToken}), rcuJoinWithHistory ${c.rcuJoinWithHistory}, wcuJoin ${c.wcuJoin}`,
      `history behind ${c.expiredTail.expiredMessages} expired messages: ${c.expiredTail.rcuHistory} RCU in ` +
        `${c.expiredTail.queriesHistory} Query (without the lifetime key bound: ` +
        `${c.expiredTail.rcuUnboundedBaseline} RCU in ${c.expiredTail.queriesUnboundedBaseline} Queries)`,
      '',
      'Presence per room size (RCU/WCU): a join up to its members answer, a `members` request, a relayed `typing`',
      table([
        ['members', 'members sent', 'join', 'members', 'typing'],
        ...Object.entries(c.byMembers).map(([n, { presence: p }]) => [
          n,
          p.listed ? 'list' : 'count only',
          `${p.rcuJoinWithMembers}/${p.wcuJoinWithMembers}`,
          `${p.rcuMembers}/${p.wcuMembers}`,
          `${p.rcuTyping}/${p.wcuTyping}`,
        ]),
      ]),
      `ping (heartbeat) ${c.rcuHeartbeat}/${c.wcuHeartbeat}, a typing dropped by the throttle ` +
        `${c.rcuTypingDropped}/${c.wcuTypingDropped}`,
    );
  }
  if (r.clientCpu) {
    const c = r.clientCpu;
    out.push(
      '',
      `Function CPU per recipient: one frame posted to ${c.recipients} connections, ${c.concurrency} in flight, median of ${c.rounds} fan-outs`,
      table([
        ['client', 'cpu us/recipient', 'failed POSTs'],
        ['AWS SDK ApiGatewayManagementApiClient', c.sdkCpuUsPerRecipient, c.failedPosts.sdk],
        ['shipped (SigV4 signer + keep-alive)', c.leanCpuUsPerRecipient, c.failedPosts.lean],
      ]),
      `ratio ${c.ratio}`,
    );
  }
  if (r.fanout) {
    out.push(
      '',
      'Fan-out: send leaves a client -> last member has the message (ms); sequential: FANOUT_CONCURRENCY=1;',
      'CPU per recipient (us) spent by the functions and by the gateway, with the default concurrency',
      table([
        ['members', 'p50', 'p99', 'seq. p50', 'seq. p99', 'speedup', 'sends', 'fn cpu us', 'gw cpu us'],
        ...Object.entries(r.fanout).map(([n, f]) => [
          n,
          f.fanoutP50Ms,
          f.fanoutP99Ms,
          f.sequentialP50Ms,
          f.sequentialP99Ms,
          f.speedupVsSequential,
          f.sends,
          f.functionCpuUsPerRecipient ?? '',
          f.gatewayCpuUsPerRecipient ?? '',
        ]),
      ]),
    );
    if (Object.values(r.fanout).some((f) => f.speedupVsSequential < 1))
      out.push(
        'speedup below 1: sequential posting was faster in this run; with few sends per room (--quick) or a busy machine, the two medians differ by less than the noise',
      );
  }
  if (r.latencyBound) {
    out.push(
      '',
      'Latency-bound fan-out: each @connections answer delayed (--connections-latency); ms until the last member has it;',
      "one at a time: measured on a room of at most 100 and scaled to the members; function: the send function's own",
      'posting, first POST to last answer (its log), shipped concurrency and one at a time',
      table([
        [
          'latency',
          'members',
          'p50',
          'p99',
          'one at a time',
          'speedup',
          'ideal',
          'function',
          'one at a time',
        ],
        ...Object.entries(r.latencyBound).map(([latency, f]) => [
          latency,
          f.members,
          f.fanoutP50Ms,
          f.fanoutP99Ms,
          f.sequentialMs,
          f.speedupVsSequential,
          f.idealMs,
          f.functionPostingP50Ms ?? '-',
          f.functionPostingSequentialMs ?? '-',
        ]),
      ]),
      ...Object.entries(r.latencyBound).flatMap(([latency, f]) => {
        const cpu = f.cpuUsPerRecipient;
        return cpu
          ? [
              `${latency}: CPU us per recipient: function ${cpu.function}, gateway ${cpu.gateway}, ` +
                `clients ${cpu.clients}, DynamoDB Local ${cpu.dynamoDbLocal}`,
            ]
          : [];
      }),
    );
  }
  if (r.throughput) {
    const t = r.throughput;
    out.push(
      '',
      `Delivery through @connections to ${t.sockets} sockets (${t.deliveries} frames, ${t.concurrency} POSTs in flight from a load process)`,
      table([
        ['server', 'frames/s', 'cpu us/delivery'],
        ['local API Gateway', t.gatewayPerSec, t.gatewayCpuUsPerDelivery],
        ['floor: minimal http + ws, same SigV4 check', t.floorPerSec, t.floorCpuUsPerDelivery],
      ]),
      `cpuRatio ${t.cpuRatio}`,
    );
  }
  if (r.coldStart) {
    const s = r.coldStart;
    out.push(
      '',
      `Cold start: module init in a fresh process (median ms${s.sourceMaps ? ', --enable-source-maps' : ''})`,
      table([
        ['function', 'bundle bytes', 'init ms'],
        ...Object.keys(s.bundleBytes).map((id) => [id, s.bundleBytes[id]!, s.initMs[id]!]),
        ['chat-core layer', s.layerBytes, ''],
      ]),
      `layer source map ${s.layerSourceMapBytes} bytes; AWS SDK alone ${s.sdkInitMs} ms; empty node process ${s.nodeBaselineMs} ms`,
    );
  }
  if (r.gatewayMemory) {
    const m = r.gatewayMemory;
    out.push(
      '',
      `Gateway memory per idle connection (baseline RSS ${Math.round(m.baselineRssBytes / 2 ** 20)} MB)`,
      table([
        ['connections', 'RSS bytes/connection', 'heap bytes/connection'],
        ...Object.keys(m.bytesPerConnection).map((n) => [
          n,
          m.bytesPerConnection[n] ?? 'below noise',
          m.heapBytesPerConnection[n] ?? 'below noise',
        ]),
      ]),
      [...Object.values(m.bytesPerConnection), ...Object.values(m.heapBytesPerConnection)].includes(null)
        ? 'below noise: memory did not grow measurably over the baseline at that size (garbage collection and allocator noise are larger)'
        : '',
      m.cappedAt === undefined ? '' : `capped at ${m.cappedAt} connections by ulimit -n ${m.openFileLimit}`,
    );
  }
  if (r.cost) {
    const report = costReport(r.cost);
    out.push('', ...report.heading, table(report.rows), report.batching);
  }
  return out.join('\n').trimEnd();
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      only: { type: 'string' },
      out: { type: 'string' },
    },
  });
  const only = values.only?.split(',').map((name) => {
    if (!(SECTIONS as readonly string[]).includes(name))
      throw new Error(`--only takes ${SECTIONS.join(', ')}`);
    return name as Section;
  });
  const results = await runBench({
    quick: values.quick,
    ...(only ? { only } : {}),
    log: (line) => console.error(line),
  });
  console.log(formatResults(results));
  // The committed figures are a full run of every section; other runs write only where told to.
  const out = values.out ?? (values.quick || only ? undefined : join(__dirname, 'results.json'));
  if (out) {
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`\nwritten to ${out}`);
  }
}

if (require.main === module) {
  main().then(
    // Stray handles (sockets, child processes of failed steps) must not keep the run alive.
    () => process.exit(0),
    (error: Error) => {
      console.error(`bench failed: ${error.stack ?? error.message}`);
      process.exit(1);
    },
  );
}
