import { type BenchResults, formatResults, runBench } from '../../bench/bench';

// `npm run bench -- --quick` once: every figure is there and sane. Benchmarks are not timed tests:
// nothing here compares a speed with a threshold.
let results: BenchResults;
beforeAll(async () => {
  results = await runBench({ quick: true });
}, 240_000);

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
  expect(cost.wcuPerSend).toBeGreaterThan(0);
  expect(cost.rcuJoinWithHistory).toBeGreaterThan(0);
  expect(Object.keys(cost.byMembers).length).toBeGreaterThan(1);
  for (const room of Object.values(cost.byMembers)) {
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
    expectPositive({ ...room });
    expect(room.fanoutP99Ms).toBeGreaterThanOrEqual(room.fanoutP50Ms);
  }
});

test('function CPU per recipient: the shipped client beside the SDK client, in the same run', () => {
  const { sdkCpuUsPerRecipient, leanCpuUsPerRecipient, ratio } = results.clientCpu!;
  expectPositive({ sdkCpuUsPerRecipient, leanCpuUsPerRecipient, ratio });
});

test('latency-bound fan-out: concurrent and sequential with each answer delayed', () => {
  for (const [latency, room] of Object.entries(results.latencyBound!)) {
    expectPositive({ ...room });
    // Deterministic floor: one at a time, every POST waits its latency.
    expect(room.sequentialMs).toBeGreaterThanOrEqual(room.members * Number.parseInt(latency, 10));
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

test('delivery throughput: the gateway beside a bare ws server', () => {
  const { deliveriesPerSec, rawWsPerSec, fractionOfRaw } = results.throughput!;
  expectPositive({ deliveriesPerSec, rawWsPerSec, fractionOfRaw });
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
  // Per-connection figures are differences of two RSS readings: finite, but at tiny sizes even negative.
  for (const value of Object.values(memory.bytesPerConnection)) expect(Number.isFinite(value)).toBe(true);
  expect(memory.baselineRssBytes).toBeGreaterThan(0);
});

test('the table names every section', () => {
  const text = formatResults(results);
  for (const heading of [
    'DynamoDB capacity',
    'Fan-out',
    'Delivery throughput',
    'Cold start',
    'Gateway memory',
    'Function CPU per recipient',
    'Latency-bound fan-out',
    'Cost per million sends',
  ]) {
    expect(text).toContain(heading);
  }
});
