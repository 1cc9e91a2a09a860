// 1b. Function CPU per recipient of a fan-out: the shipped `@connections` client (layers/chat-core
// connections-api.ts) against the AWS SDK's ApiGatewayManagementApiClient configured as it used to ship,
// in the same run, posting one frame to every connection of a local stack. The posting runs in a process
// of its own (forked below) whose CPU time is only that; the stack and the receiving sockets are elsewhere.
import { fork } from 'node:child_process';
import {
  ApiGatewayManagementApiClient,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { forEachConcurrently } from '../layers/chat-core/src/concurrency';
import { ConnectionsApi, framePayload } from '../layers/chat-core/src/connections-api';
import { messageFrame } from '../layers/chat-core/src/protocol';
import { LOCAL_AWS_ENV } from '../local/dynamodb';
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

interface WorkerInput {
  endpoint: string;
  ids: string[];
  rounds: number;
  concurrency: number;
}

type Client = 'sdk' | 'lean';

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

/** In the worker: alternating fan-outs with each client; CPU µs per recipient of each measured one. */
async function work(input: WorkerInput): Promise<WorkerOutput> {
  type Fanout = (ids: string[], failed: (error: unknown) => void) => Promise<void>;
  const fanouts: Record<Client, Fanout> = {
    sdk: sdkFanout(input.endpoint, input.concurrency),
    lean: leanFanout(input.endpoint, input.concurrency),
  };
  const samples: Record<Client, number[]> = { sdk: [], lean: [] };
  const failures: Record<Client, number> = { sdk: 0, lean: 0 };
  for (let round = -1; round < input.rounds; round++) {
    const order: Client[] = round % 2 === 0 ? ['sdk', 'lean'] : ['lean', 'sdk'];
    for (const client of order) {
      const before = process.cpuUsage();
      await fanouts[client](input.ids, () => failures[client]++);
      const used = process.cpuUsage(before);
      if (round >= 0) samples[client].push((used.user + used.system) / input.ids.length);
    }
  }
  return { samples, failures };
}

interface WorkerOutput {
  samples: Record<Client, number[]>;
  /** POSTs that failed after the client's own retries (a loaded machine can time some out). */
  failures: Record<Client, number>;
}

export async function measureClientCpu(
  dynamoDbEndpoint: string,
  options: ClientCpuOptions,
): Promise<ClientCpuFigures> {
  const stack = await StackWithClients.start(dynamoDbEndpoint, options.recipients);
  try {
    const worker = fork(__filename, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, ...LOCAL_AWS_ENV },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const answer = new Promise<WorkerOutput>((resolve, reject) => {
      worker.once('message', (message: WorkerOutput | { error: string }) =>
        'error' in message ? reject(new Error(`client-cpu worker: ${message.error}`)) : resolve(message),
      );
      worker.once('exit', (code) => reject(new Error(`client-cpu worker exited (code ${code})`)));
    });
    const input: WorkerInput = {
      endpoint: `http://127.0.0.1:${stack.server.port}/dev`,
      ids: stack.ids,
      rounds: options.rounds,
      concurrency: options.concurrency,
    };
    worker.send(input);
    const { samples, failures } = await withTimeout(answer, 180_000, 'client CPU bench').finally(() =>
      worker.kill(),
    );
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

if (require.main === module) {
  process.once('message', (input: WorkerInput) => {
    work(input).then(
      (samples) => process.send?.(samples),
      (error: Error) => process.send?.({ error: error.stack ?? error.message }),
    );
  });
}
