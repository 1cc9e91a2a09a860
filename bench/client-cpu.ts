// 1b. Function CPU per recipient of a fan-out: the shipped `@connections` client (layers/chat-core
// connections-api.ts) against the AWS SDK's ApiGatewayManagementApiClient configured as it used to ship,
// in the same run, posting one frame to every connection of a local stack. Each client posts from a process
// of its own (forked below) whose CPU time is only that: in one process, the SDK's garbage was collected
// (on V8's threads, counted in the process's CPU) during the other client's rounds. The stack and the
// receiving sockets are elsewhere.
import { type ChildProcess, fork } from 'node:child_process';
import { join } from 'node:path';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { forEachConcurrently } from '../layers/chat-core/src/concurrency';
import { ConnectionsApi, framePayload } from '../layers/chat-core/src/connections-api';
import { messageFrame } from '../layers/chat-core/src/protocol';
import { LOCAL_AWS_ENV } from '../local/dynamodb';
import { lambdaNodeFlags } from '../local/lambda/node-flags';
import { functionProperties, loadTemplate } from '../tools/template';
import { percentile, round, withTimeout } from './common';
import { StackWithClients } from './stack-room';

export interface ClientCpuOptions {
  recipients: number;
  /** Measured fan-outs per client (after one unmeasured one each). */
  rounds: number;
  concurrency: number;
}

export interface ClientCpuFigures {
  recipients: number;
  rounds: number;
  concurrency: number;
  /** Median over rounds of the posting process's CPU time per recipient. */
  sdkCpuUsPerRecipient: number;
  leanCpuUsPerRecipient: number;
  /** SDK / lean. */
  ratio: number;
  /** POSTs that failed after the client's own retries, over all rounds (a loaded machine times some out). */
  failedPosts: Record<'sdk' | 'lean', number>;
}

type Client = 'sdk' | 'lean';

/** What a worker is started with: the client it runs, and where it posts to. */
interface WorkerInput {
  client: Client;
  /** The send function's memory size in the template. */
  memoryMB: number;
  endpoint: string;
  ids: string[];
  concurrency: number;
}

/** One fan-out's figures, from the worker that ran it. */
interface RoundOutput {
  cpuUsPerRecipient: number;
  failed: number;
}

/** A chat message of 100 characters, as `send` fans it out. */
const FRAME = messageFrame({
  roomId: 'bench',
  id: '01JZ0000000000000000000000',
  senderId: 'bench-sender',
  senderName: 'Ada',
  msg: 'x'.repeat(100),
  sentAt: new Date(0).toISOString(),
} as Parameters<typeof messageFrame>[0]);

/** One fan-out of `FRAME` to `ids` per call, with the client as it was shipped before this one. */
function sdkFanout(endpoint: string, concurrency: number) {
  const client = new ApiGatewayManagementApiClient({
    endpoint,
    maxAttempts: 2,
    requestHandler: { connectionTimeout: 1000, requestTimeout: 1500, throwOnRequestTimeout: true },
  });
  return (ids: string[], failed: (error: unknown) => void) =>
    forEachConcurrently(ids, concurrency, async (id) => {
      await client
        .send(new PostToConnectionCommand({ ConnectionId: id, Data: Buffer.from(JSON.stringify(FRAME)) }))
        .catch(failed);
    });
}

function leanFanout(endpoint: string, concurrency: number) {
  const api = new ConnectionsApi(endpoint);
  return (ids: string[], failed: (error: unknown) => void) => {
    const payload = framePayload(FRAME);
    return forEachConcurrently(ids, concurrency, (id) => api.postPayload(id, payload).catch(failed));
  };
}

/** In the worker: one fan-out with its client per request, answered with its CPU time per recipient. */
function serve(input: WorkerInput): void {
  type Fanout = (ids: string[], failed: (error: unknown) => void) => Promise<void>;
  const fanout: Fanout = (input.client === 'sdk' ? sdkFanout : leanFanout)(input.endpoint, input.concurrency);
  process.on('message', () => {
    let failed = 0;
    const before = process.cpuUsage();
    fanout(input.ids, () => failed++).then(
      () => {
        const used = process.cpuUsage(before);
        process.send?.({ cpuUsPerRecipient: (used.user + used.system) / input.ids.length, failed });
      },
      (error: Error) => process.send?.({ error: error.stack ?? error.message }),
    );
  });
}

/** A process of its own running one client, so neither client's garbage and sockets weigh on the other. */
class ClientWorker {
  private readonly process: ChildProcess;
  private readonly exited: Promise<never>;

  constructor(input: WorkerInput) {
    this.process = fork(__filename, [], {
      // With the flags Lambda starts the send function with: its young generation sets how often GC runs.
      execArgv: ['--import', 'tsx', ...lambdaNodeFlags(input.memoryMB)],
      env: { ...process.env, ...LOCAL_AWS_ENV },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.exited = new Promise((_, reject) =>
      this.process.once('exit', (code) => reject(new Error(`client-cpu worker exited (code ${code})`))),
    );
    this.exited.catch(() => {});
    this.process.send(input);
  }

  /** Runs one fan-out in the worker. */
  round(): Promise<RoundOutput> {
    const answer = new Promise<RoundOutput>((resolve, reject) =>
      this.process.once('message', (message: RoundOutput | { error: string }) =>
        'error' in message ? reject(new Error(`client-cpu worker: ${message.error}`)) : resolve(message),
      ),
    );
    this.process.send('round');
    return Promise.race([answer, this.exited]);
  }

  stop(): void {
    this.process.kill();
  }
}

export async function measureClientCpu(
  dynamoDbEndpoint: string,
  options: ClientCpuOptions,
): Promise<ClientCpuFigures> {
  const stack = await StackWithClients.start(dynamoDbEndpoint, options.recipients);
  try {
    const input = {
      endpoint: `http://127.0.0.1:${stack.server.port}/dev`,
      ids: stack.ids,
      concurrency: options.concurrency,
      memoryMB: Number(
        functionProperties(loadTemplate(join(__dirname, '..', 'template.yaml')), 'SendFunction').MemorySize,
      ),
    };
    const workers: Record<Client, ClientWorker> = {
      sdk: new ClientWorker({ ...input, client: 'sdk' }),
      lean: new ClientWorker({ ...input, client: 'lean' }),
    };
    const samples: Record<Client, number[]> = { sdk: [], lean: [] };
    const failures: Record<Client, number> = { sdk: 0, lean: 0 };
    // Alternating rounds (the first of each unmeasured: it warms the client) so that both meet the same load.
    const rounds = async () => {
      for (let round = -1; round < options.rounds; round++) {
        const order: Client[] = round % 2 === 0 ? ['sdk', 'lean'] : ['lean', 'sdk'];
        for (const client of order) {
          const { cpuUsPerRecipient, failed } = await workers[client].round();
          failures[client] += failed;
          if (round >= 0) samples[client].push(cpuUsPerRecipient);
        }
      }
    };
    await withTimeout(rounds(), 180_000, 'client CPU bench').finally(() => {
      workers.sdk.stop();
      workers.lean.stop();
    });
    const median = (values: number[]) =>
      percentile(
        [...values].sort((a, b) => a - b),
        50,
      );
    const sdk = median(samples.sdk);
    const lean = median(samples.lean);
    return {
      ...options,
      sdkCpuUsPerRecipient: Math.round(sdk),
      leanCpuUsPerRecipient: Math.round(lean),
      ratio: round(sdk / lean),
      failedPosts: failures,
    };
  } finally {
    await stack.stop();
  }
}

if (require.main === module) process.once('message', serve);
