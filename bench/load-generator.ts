// The throughput bench's load: `@connections` POSTs from a process of its own, so that the server under
// measurement shares neither its event loop nor its CPU account with the client. It posts as the functions
// do (the shipped client, a 429 retried with backoff) and answers once every POST has an answer.
import { fork } from 'node:child_process';
import { forEachConcurrently } from '../layers/chat-core/src/concurrency';
import { ConnectionsApi } from '../layers/chat-core/src/connections-api';
import { payloadOf } from '../layers/chat-core/src/signed-http';
import { LOCAL_AWS_ENV } from '../local/dynamodb';
import { withTimeout } from './common';

export interface Load {
  /** The `@connections` endpoint (`http://host:port/stage`). */
  endpoint: string;
  /** Posted to round-robin. */
  connectionIds: string[];
  body: string;
  posts: number;
  concurrency: number;
}

/** POSTs that had no 2xx answer after the client's retries. */
type Outcome = { failed: number } | { error: string };

/** Runs one load in a fresh process; resolves when every POST has been answered. */
export async function generateLoad(load: Load, timeoutMs: number): Promise<{ failed: number }> {
  const child = fork(__filename, [], {
    execArgv: ['--import', 'tsx'],
    env: { ...process.env, ...LOCAL_AWS_ENV },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  try {
    const outcome = new Promise<Outcome>((resolve, reject) => {
      child.once('message', resolve);
      child.once('exit', (code) => reject(new Error(`load generator exited (code ${code})`)));
    });
    child.send(load);
    const result = await withTimeout(outcome, timeoutMs, `${load.posts} POSTs`);
    if ('error' in result) throw new Error(`load generator: ${result.error}`);
    return result;
  } finally {
    child.kill();
  }
}

async function run(load: Load): Promise<Outcome> {
  const api = new ConnectionsApi(load.endpoint);
  const payload = payloadOf(load.body);
  let failed = 0;
  const posts = Array.from(
    { length: load.posts },
    (_, i) => load.connectionIds[i % load.connectionIds.length]!,
  );
  await forEachConcurrently(posts, load.concurrency, (id) =>
    api.postPayload(id, payload).catch(() => {
      failed++;
    }),
  );
  return { failed };
}

if (require.main === module) {
  process.once('message', (load: Load) => {
    run(load).then(
      (outcome) => process.send?.(outcome),
      (error: Error) => process.send?.({ error: error.stack ?? error.message }),
    );
  });
}
