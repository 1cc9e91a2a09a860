// 5. What one send costs on AWS, per room size, from counts measured in the same run (DynamoDB capacity
// units from readCost, function CPU per recipient from clientCpu), the template's memory sizes, and AWS's
// list prices. Everything assumed is named here, once.
import { join } from 'node:path';
import { functionProperties, loadTemplate } from '../tools/template';
import type { ClientCpuFigures } from './client-cpu';
import { round } from './common';
import type { ReadCostFigures } from './read-cost';

/**
 * us-east-1 list prices (USD) as AWS's pricing pages give them (api-gateway, lambda, dynamodb), checked
 * 2026-11-28: WebSocket messages $1.00 per million (first billion a month), metered per 32 KB; $0.25 per
 * million connection minutes; Lambda arm64 (the template's architecture) $0.0000133334 per GB-second (first
 * 7.5 billion a month; x86 is $0.0000166667) and $0.20 per million requests (async invokes too); DynamoDB
 * on-demand $0.125 per million read and $0.625 per million write request units (since the 2024-11 cut).
 */
export const PRICES = {
  date: '2026-11-28',
  apiGatewayMessage: 1.0 / 1e6,
  apiGatewayConnectionMinute: 0.25 / 1e6,
  lambdaGbSecond: 0.0000133334,
  lambdaRequest: 0.2 / 1e6,
  dynamoDbReadUnit: 0.125 / 1e6,
  dynamoDbWriteUnit: 0.625 / 1e6,
} as const;

/** Stated assumptions: each is a guess about AWS that this machine cannot measure. */
export const ASSUMPTIONS = {
  /** Lambda's CPU share is memory / 1769 MB vCPU (AWS: 1 vCPU at 1,769 MB). */
  mbPerVcpu: 1769,
  /** A Lambda arm64 vCPU does this much less per second than one core of the bench machine. */
  cpuFactor: 1.25,
  /** A function's round trip to API Gateway's `@connections` inside the region. */
  postLatencyMs: 20,
  /** A send's own DynamoDB calls, Lambda overhead and logging, in wall time. */
  fixedMsPerInvocation: 30,
  /** Connection minutes are the room's, shared by its sends: a room of any size sees this many a minute. */
  sendsPerRoomMinute: 6,
  /** Frames here are well under 32 KB: one metered message each. */
  messagesPerPost: 1,
} as const;

export const COST_ROOM_SIZES = [10, 100, 1000, 10_000];

export interface CostTerms {
  apiGatewayMessages: number;
  apiGatewayConnectionMinutes: number;
  lambda: number;
  dynamoDb: number;
}

export interface RoomCost {
  /** USD per million sends, by term. */
  usdPerMillionSends: CostTerms;
  total: number;
  dominant: keyof CostTerms;
  /** The dominant term's share of the total. */
  dominantShare: number;
  /** Counts behind the dollars, per send. */
  counts: {
    messages: number;
    connectionMinutes: number;
    invocations: number;
    gbSeconds: number;
    readUnits: number;
    writeUnits: number;
  };
}

export interface CostFigures {
  prices: typeof PRICES;
  assumptions: typeof ASSUMPTIONS & { sendMemoryMb: number; fanoutMemoryMb: number; shardSize: number };
  cpuUsPerRecipient: number;
  byMembers: Record<string, RoomCost>;
  /** Item 7 (README, BatchWindowMs): several messages per POST in a busy 1,000-member room. */
  batching: Record<string, BatchingFigures>;
}

export interface BatchingFigures {
  sendsPerSecond: number;
  windowMs: number;
  /** Messages one POST carries on average. */
  messagesPerPost: number;
  /** Of the room's API Gateway message cost. */
  saving: number;
  /** Mean added delivery latency (ms): a message waits for the rest of its window. */
  addedLatencyMs: number;
  /** The batcher functions' cost (an invocation and its wait for the window's end), USD per million sends. */
  batcherUsdPerMillionSends: number;
}

interface TemplateSizes {
  sendMemoryMb: number;
  fanoutMemoryMb: number;
  batcherMemoryMb: number;
  shardSize: number;
}

function templateSizes(): TemplateSizes {
  const template = loadTemplate(join(__dirname, '..', 'template.yaml'));
  const memory = (id: string) => Number(functionProperties(template, id).MemorySize);
  return {
    sendMemoryMb: memory('SendFunction'),
    fanoutMemoryMb: memory('FanoutFunction'),
    batcherMemoryMb: memory('BatcherFunction'),
    shardSize: Number(template.Parameters?.FanoutShardSize?.Default),
  };
}

/** Wall time of one invocation posting to `recipients`: its CPU at its share of a vCPU, or the round trips. */
function invocationSeconds(recipients: number, cpuUs: number, memoryMb: number, concurrency: number): number {
  const vcpu = Math.min(1, memoryMb / ASSUMPTIONS.mbPerVcpu);
  const cpuBound = (recipients * cpuUs * ASSUMPTIONS.cpuFactor) / 1e6 / vcpu;
  const latencyBound = (Math.ceil(recipients / concurrency) * ASSUMPTIONS.postLatencyMs) / 1000;
  return ASSUMPTIONS.fixedMsPerInvocation / 1000 + Math.max(cpuBound, latencyBound);
}

export function costModel(
  measured: { readCost: ReadCostFigures; clientCpu: ClientCpuFigures },
  sizes: TemplateSizes = templateSizes(),
): CostFigures {
  const { readCost, clientCpu } = measured;
  const cpuUs = clientCpu.leanCpuUsPerRecipient;
  // Read units: a fixed part (the sender's records) and the room index Query, linear in members.
  const [largest, reads] = Object.entries(readCost.byMembers).sort(([a], [b]) => Number(b) - Number(a))[0]!;
  const readUnitsPerMember = reads.rcuMembersQuery / Number(largest);
  const fixedReadUnits = reads.rcuPerSend - reads.rcuMembersQuery;
  const byMembers: Record<string, RoomCost> = {};
  for (const members of COST_ROOM_SIZES) {
    const shards = members > sizes.shardSize ? Math.ceil(members / sizes.shardSize) : 0;
    const gbSeconds =
      shards === 0
        ? (sizes.sendMemoryMb / 1024) *
          invocationSeconds(members, cpuUs, sizes.sendMemoryMb, clientCpu.concurrency)
        : (sizes.sendMemoryMb / 1024) *
            invocationSeconds(0, cpuUs, sizes.sendMemoryMb, clientCpu.concurrency) +
          shards *
            (sizes.fanoutMemoryMb / 1024) *
            invocationSeconds(members / shards, cpuUs, sizes.fanoutMemoryMb, clientCpu.concurrency);
    const counts = {
      // the send as received, then one message out per member (the sender's echo among them)
      messages: (1 + members) * ASSUMPTIONS.messagesPerPost,
      connectionMinutes: members / ASSUMPTIONS.sendsPerRoomMinute,
      invocations: 1 + shards,
      gbSeconds,
      readUnits: fixedReadUnits + readUnitsPerMember * members,
      writeUnits: readCost.wcuPerSend,
    };
    const terms: CostTerms = {
      apiGatewayMessages: counts.messages * PRICES.apiGatewayMessage,
      apiGatewayConnectionMinutes: counts.connectionMinutes * PRICES.apiGatewayConnectionMinute,
      lambda: counts.gbSeconds * PRICES.lambdaGbSecond + counts.invocations * PRICES.lambdaRequest,
      dynamoDb: counts.readUnits * PRICES.dynamoDbReadUnit + counts.writeUnits * PRICES.dynamoDbWriteUnit,
    };
    const total = Object.values(terms).reduce((sum, value) => sum + value, 0);
    const dominant = (Object.keys(terms) as (keyof CostTerms)[]).reduce((a, b) =>
      terms[a] >= terms[b] ? a : b,
    );
    byMembers[members] = {
      usdPerMillionSends: Object.fromEntries(
        Object.entries(terms).map(([term, usd]) => [term, round(usd * 1e6)]),
      ) as unknown as CostTerms,
      total: round(total * 1e6),
      dominant,
      dominantShare: round(terms[dominant] / total, 3),
      counts: { ...counts, gbSeconds: round(gbSeconds, 4), readUnits: round(counts.readUnits, 1) },
    };
  }
  return {
    prices: PRICES,
    assumptions: { ...ASSUMPTIONS, ...sizes },
    cpuUsPerRecipient: cpuUs,
    byMembers,
    batching: Object.fromEntries(
      [1, 10, 100].map((rate) => [`${rate}/s`, batching(rate, BATCH_WINDOW_MS, sizes.batcherMemoryMb)]),
    ),
  };
}

/** The batching window the README's figures are for (BatchWindowMs=200). */
export const BATCH_WINDOW_MS = 200;

/**
 * The built design (layers/chat-core/src/batcher.ts), with Poisson sends at `rate`: a send that finds no
 * open window opens one of `windowMs`; it is posted at once if the room was quiet (no window ended within
 * the last `windowMs`), else it waits in its window. Sends during a window wait for its end; the batcher
 * then posts them in one frame. A cycle is a window and the gap after it; with a = rate x window and
 * p = 1 - e^-a (a window gets a send, and equally a gap is short, the room busy):
 * - messages per cycle: 1 + a;
 * - POSTs per member per cycle: a quiet opener (1 - p of cycles) is posted itself, plus its window's batch
 *   if any (p); a busy opener (p) rides in its batch: (1 - p)(1 + p) + p = 1 + p - p^2;
 * - added latency per cycle: a busy opener waits the whole window, later sends half of it on average.
 * Frames stay under 32 KB (short messages), and the batcher's own start (an async invoke, a write and a
 * Query: tens of ms) is left out of the latency.
 */
export function batching(rate: number, windowMs: number, batcherMemoryMb: number): BatchingFigures {
  const later = (rate * windowMs) / 1000;
  const busy = 1 - Math.exp(-later);
  const messages = 1 + later;
  const posts = 1 + busy - busy * busy;
  const windowSeconds = windowMs / 1000;
  const batcherUsd =
    PRICES.lambdaRequest +
    (batcherMemoryMb / 1024) *
      (windowSeconds + ASSUMPTIONS.fixedMsPerInvocation / 1000) *
      PRICES.lambdaGbSecond;
  return {
    sendsPerSecond: rate,
    windowMs,
    messagesPerPost: round(messages / posts),
    saving: round(1 - posts / messages, 3),
    addedLatencyMs: round((busy * windowMs + later * (windowMs / 2)) / messages),
    batcherUsdPerMillionSends: round((batcherUsd * 1e6) / messages),
  };
}

const usd = (value: number) => `$${value < 10 ? value.toFixed(2) : Math.round(value)}`;

/** The cost table, as `npm run bench` prints it and the README shows it: heading, rows, batching line. */
export function costReport(c: CostFigures): { heading: string[]; rows: string[][]; batching: string } {
  const a = c.assumptions;
  const rows = Object.entries(c.byMembers).map(([members, room]) => {
    const t = room.usdPerMillionSends;
    return [
      members,
      usd(t.apiGatewayMessages),
      usd(t.apiGatewayConnectionMinutes),
      usd(t.lambda),
      usd(t.dynamoDb),
      usd(room.total),
      `${room.dominant} ${Math.round(room.dominantShare * 100)}%`,
    ];
  });
  const batching = Object.values(c.batching).map(
    (b) =>
      `${b.sendsPerSecond}/s: ${b.messagesPerPost} per POST, saves ${Math.round(b.saving * 100)}%, +${b.addedLatencyMs} ms, batcher ${usd(b.batcherUsdPerMillionSends)}`,
  );
  return {
    heading: [
      `Cost per million sends on AWS (USD, us-east-1 list prices checked ${c.prices.date}): ${c.cpuUsPerRecipient} us CPU per recipient x ${a.cpuFactor} on Lambda,`,
      `send ${a.sendMemoryMb} MB, fan-out ${a.fanoutMemoryMb} MB, shards of ${a.shardSize}, ${a.postLatencyMs} ms per POST, ${a.sendsPerRoomMinute} sends per room-minute`,
    ],
    rows: [
      ['members', 'API GW messages', 'connection min', 'Lambda', 'DynamoDB', 'total', 'dominant'],
      ...rows,
    ],
    batching: `Batching (${BATCH_WINDOW_MS} ms window, 1,000 members): ${batching.join('; ')}`,
  };
}
