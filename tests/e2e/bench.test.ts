import { PRESENCE_LIST_LIMIT } from 'chat-core';
import { type BenchResults, formatResults, runBench } from '../../bench/bench';
import { LONG_TEST_MS } from '../support/timeouts';

// `npm run bench -- --quick` once: every figure is there and sane. Benchmarks are not timed tests:
// nothing here compares a speed with a threshold.
let results: BenchResults;
beforeAll(async () => {
  results = await runBench({ quick: true });
}, LONG_TEST_MS);

const positive = expect.any(Number);
function expectPositive(values: Record<string, number>, keys?: string[]) {
  if (keys) expect(Object.keys(values).sort()).toEqual([...keys].sort());
  for (const [key, value] of Object.entries(values)) {
    expect([key, Number.isFinite(value) && value > 0]).toEqual([key, true]);
  }
}

test('the run is described: date, cpus, node version', () => {
  expect(new Date(results.date).toString()).not.toBe('Invalid Date');
  expect(results).toMatchObject({ cpus: positive, node: process.version, mode: 'quick' });
  expect(results.durationMs).toBeGreaterThan(0);
});

test('read cost per send: per room size, with its minimum and the Scan baseline', () => {
  const cost = results.readCost!;
  // A send with a clientMsgId writes the request token, its receipt and the message: one unit each (small
  // items), never a transaction's doubled units; without a clientMsgId, no receipt.
  expect(cost.wcuRequestToken).toBe(1);
  expect(cost.wcuPerSend).toBe(3);
  expect(cost.wcuPerPlainSend).toBe(2);
  expect(cost.rcuJoinWithHistory).toBeGreaterThan(0);
  // The join transaction writes two items at (at least) two units each, plus the request token.
  expect(cost.wcuJoin).toBeGreaterThanOrEqual(5);
  // Expired messages behind the live ones are never read by history; without the key bound, all are.
  const tail = cost.expiredTail;
  expect(tail.queriesHistory).toBe(1);
  expect(tail.rcuHistory).toBeLessThanOrEqual(1);
  expect(tail.rcuUnboundedBaseline).toBeGreaterThan(tail.rcuHistory);
  expect(Object.keys(cost.byMembers).length).toBeGreaterThan(1);
  // A ping writes one small item and reads nothing; a typing the throttle drops costs its refused write only
  expect([cost.wcuHeartbeat, cost.rcuHeartbeat]).toEqual([1, 0]);
  // (DynamoDB reports no capacity for a refused conditional write; AWS bills it as one write unit.)
  expect(cost.rcuTypingDropped).toBe(0);
  expect(cost.wcuTypingDropped).toBeLessThanOrEqual(1);
  const sizes = Object.keys(cost.byMembers).map(Number);
  // The quick run has a room above the presence limit, where only a count is sent.
  expect(sizes.some((size) => size > PRESENCE_LIST_LIMIT)).toBe(true);
  for (const [size, { presence, ...room }] of Object.entries(cost.byMembers)) {
    expect(presence.listed).toBe(Number(size) <= PRESENCE_LIST_LIMIT);
    // The join writes what a join writes; the members answer and typing only read (typing: one throttle write).
    expect(presence.wcuJoinWithMembers).toBe(cost.wcuJoin);
    expect(presence.wcuMembers).toBe(cost.wcuRequestToken);
    expect(presence.wcuTyping).toBe(1);
    expectPositive({
      rcuJoin: presence.rcuJoinWithMembers,
      rcuMembers: presence.rcuMembers,
      rcuTyping: presence.rcuTyping,
    });
    // A listed member's connection item costs at least half a unit; typing's bounded index read is no
    // more than the full read a send makes of the same room.
    if (presence.listed) expect(presence.rcuMembers).toBeGreaterThanOrEqual(Number(size) / 2);
    expect(presence.rcuTyping).toBeLessThanOrEqual(room.rcuMembersQuery);
    expectPositive({ ...room });
    expect(Object.keys(room)).toEqual(
      expect.arrayContaining(['rcuPerSend', 'rcuMinimum', 'rcuScanBaseline', 'rcuMembersQuery']),
    );
    // Deterministic counts: a send reads at least the members' entries, a Scan reads everything.
    expect(room.rcuPerSend).toBeGreaterThanOrEqual(room.rcuMinimum);
    expect(room.rcuScanBaseline).toBeGreaterThanOrEqual(room.rcuMembersQuery);
  }
});

test('fan-out latency: p50, p99 and the speedup over sequential posting, per room size', () => {
  const fanout = results.fanout!;
  expect(Object.keys(fanout).length).toBeGreaterThan(1);
  for (const room of Object.values(fanout)) {
    const { functionCpuUsPerRecipient, gatewayCpuUsPerRecipient, ...timings } = room;
    expectPositive(timings);
    expect(room.fanoutP99Ms).toBeGreaterThanOrEqual(room.fanoutP50Ms);
    // CPU time is read in clock ticks (10 ms): a quick run's few deliveries may cost less than one
    // tick, and on a busy machine the work may land in other processes' ticks, so zero is a fair figure.
    for (const cpu of [functionCpuUsPerRecipient, gatewayCpuUsPerRecipient]) {
      if (cpu !== undefined) expect([cpu, Number.isFinite(cpu) && cpu >= 0]).toEqual([cpu, true]);
    }
  }
});

test('function CPU per recipient: the shipped client beside the SDK client, in the same run', () => {
  const { sdkCpuUsPerRecipient, leanCpuUsPerRecipient, ratio } = results.clientCpu!;
  expectPositive({ sdkCpuUsPerRecipient, leanCpuUsPerRecipient, ratio });
});

test('latency-bound fan-out: concurrent and sequential with each answer delayed', () => {
  for (const [latency, room] of Object.entries(results.latencyBound!)) {
    const { cpuUsPerRecipient, ...figures } = room;
    expectPositive(figures);
    for (const cpu of Object.values(cpuUsPerRecipient ?? {}))
      expect([cpu, Number.isFinite(cpu) && cpu >= 0]).toEqual([cpu, true]);
    // Deterministic floor: one at a time, every POST but the last waits its latency (the last is the
    // sender's echo, whose frame goes out as the POST arrives).
    const { members, sequentialSample: sample } = room;
    expect(room.sequentialMs).toBeGreaterThanOrEqual(
      ((members * (sample - 1)) / sample) * Number.parseInt(latency, 10),
    );
    // The function's own posting, from its log: one at a time, each of its POSTs (the echo too) waits
    // the latency (less a millisecond: a timer may fire that early by the clock the function reads).
    expect(room.functionPostingP50Ms).toBeGreaterThan(0);
    expect(room.functionPostingSequentialMs).toBeGreaterThanOrEqual(
      members * (Number.parseInt(latency, 10) - 1),
    );
  }
});

test('cost model: every room size priced, the terms adding up to the total, the dominant one named', () => {
  const cost = results.cost!;
  expect(Object.keys(cost.byMembers)).toEqual(['10', '100', '1000', '10000']);
  for (const room of Object.values(cost.byMembers)) {
    const terms = Object.values(room.usdPerMillionSends);
    expect(terms.reduce((a, b) => a + b, 0)).toBeCloseTo(room.total, 0);
    expect(room.usdPerMillionSends[room.dominant]).toBe(Math.max(...terms));
  }
  expect(cost.byMembers['10000']!.counts.invocations).toBeGreaterThan(1);
});

test('delivery through @connections: the gateway beside the minimal http + ws floor', () => {
  const { gatewayPerSec, floorPerSec, gatewayCpuUsPerDelivery, floorCpuUsPerDelivery, cpuRatio } =
    results.throughput!;
  expectPositive({ gatewayPerSec, floorPerSec, gatewayCpuUsPerDelivery, floorCpuUsPerDelivery, cpuRatio });
});

test('cold start: bundle sizes and init times of every function, the layer and the baselines', () => {
  const cold = results.coldStart!;
  const functions = Object.keys(cold.bundleBytes);
  expect(functions).toEqual(expect.arrayContaining(['ConnectFunction', 'SendFunction', 'JoinFunction']));
  expectPositive(cold.bundleBytes);
  expectPositive(cold.initMs, functions);
  expectPositive({
    layerBytes: cold.layerBytes,
    sdkInitMs: cold.sdkInitMs,
    nodeBaselineMs: cold.nodeBaselineMs,
  });
});

test('gateway memory: bytes per idle connection at each size', () => {
  const memory = results.gatewayMemory!;
  expect(Object.keys(memory.bytesPerConnection)).toHaveLength(2);
  // Per-connection figures are growths of memory over a baseline: positive, or null where this
  // run's growth was lost in the noise of garbage collection (at tiny sizes it can be).
  const perConnection = [
    ...Object.values(memory.bytesPerConnection),
    ...Object.values(memory.heapBytesPerConnection),
  ];
  for (const value of perConnection) expect([value, value === null || value > 0]).toEqual([value, true]);
  expect(memory.baselineRssBytes).toBeGreaterThan(0);
});

test('the table names every section', () => {
  const text = formatResults(results);
  for (const heading of [
    'DynamoDB capacity',
    'Fan-out',
    'Delivery through @connections',
    'Cold start',
    'Gateway memory',
    'Function CPU per recipient',
    'Latency-bound fan-out',
    'Cost per million sends',
  ]) {
    expect(text).toContain(heading);
  }
});
