// Helpers the benchmark modules share: statistics, deadlines, DynamoDB Local and bench tables.
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { DeleteTableCommand } from '@aws-sdk/client-dynamodb';
import {
  createScratchTable,
  existingDynamoDb,
  localDynamoDbClient,
  type RunningDynamoDb,
  type ScratchTable,
  startDynamoDbJar,
} from '../local/dynamodb';

export const TEMPLATE_PATH = `${__dirname}/../template.yaml`;

/** The p-th percentile (nearest rank) of ascending numbers; p99 of fewer than 100 samples is their maximum. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return 0;
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Rounds for the results file: figures are noisy well before the third decimal. */
export function round(value: number, digits = 2): number {
  const scale = 10 ** digits;
  return Math.round(value * scale) / scale;
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** `promise`, or a rejection naming `what` after `ms`: no benchmark step may hang the run. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no result within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs `task` for indexes 0..count-1, at most `limit` at a time. */
export async function inBatches(count: number, limit: number, task: (index: number) => Promise<void>) {
  for (let start = 0; start < count; start += limit) {
    const end = Math.min(count, start + limit);
    await Promise.all(Array.from({ length: end - start }, (_, i) => task(start + i)));
  }
}

/** The DynamoDB Local the user runs (`AWS_ENDPOINT_URL_DYNAMODB`), or the jar, started in memory. */
export async function benchDynamoDb(): Promise<RunningDynamoDb> {
  return (await existingDynamoDb()) ?? (await startDynamoDbJar());
}

/** A fresh table made from template.yaml's ChatTable (the very keys, index and projection deployed). */
export function createBenchTable(endpoint: string): Promise<ScratchTable> {
  return createScratchTable(endpoint, {
    templatePath: TEMPLATE_PATH,
    logicalId: 'ChatTable',
    prefix: 'chat-bench',
  });
}

/** Drops a table some other process created (a stack in a child process). */
export async function dropTable(endpoint: string, table: string): Promise<void> {
  const client = localDynamoDbClient(endpoint);
  await client.send(new DeleteTableCommand({ TableName: table })).catch(() => {});
  client.destroy();
}

let clockTicks: number | undefined;

interface ProcessEntry {
  parent: number;
  ownMs: number;
  reapedMs: number;
}

/** Every process's parent and CPU time, in one reading of /proc (Linux; undefined elsewhere). Trees taken
 * from one reading add up exactly. */
export function processTable(): Map<number, ProcessEntry> | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc').filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  clockTicks ??= Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout) || 100;
  const ms = (ticks: number) => (ticks * 1000) / (clockTicks ?? 100);
  const processes = new Map<number, ProcessEntry>();
  for (const pid of entries) {
    try {
      // After the command name (which may hold spaces): state, ppid, ... utime is field 14, stime 15,
      // cutime 16, cstime 17.
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      processes.set(Number(pid), {
        parent: Number(fields[1]),
        ownMs: ms(Number(fields[11]) + Number(fields[12])),
        reapedMs: ms(Number(fields[13]) + Number(fields[14])),
      });
    } catch {
      // The process ended meanwhile.
    }
  }
  return processes;
}

/**
 * CPU time (user + system, ms) used so far by a process and, separately, by all its descendants, ended ones
 * included (a reaped child's time is its parent's `cutime`/`cstime`: without it, a function instance that
 * ended between two readings took its CPU with it). Robust where wall-clock times are not: other load on
 * the machine stretches latencies far more than it changes the CPU time a piece of work needs.
 */
export function treeCpuMs(
  processes: Map<number, ProcessEntry>,
  rootPid: number,
): { self: number; descendants: number } | undefined {
  const root = processes.get(rootPid);
  if (!root) return undefined;
  let descendants = root.reapedMs;
  for (const [pid, { ownMs, reapedMs }] of processes) {
    for (let up = processes.get(pid)?.parent, hops = 0; up !== undefined && hops < 64; hops++) {
      if (up === rootPid) {
        descendants += ownMs + reapedMs;
        break;
      }
      up = processes.get(up)?.parent;
    }
  }
  return { self: root.ownMs, descendants };
}
