import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { handleOf } from 'chat-core';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/local-stack';
import { sharedBuildDir, TEMPLATE_PATH } from './test-table';
import { FUNCTION_TIMEOUT_SCALE } from './timeouts';

const FIXTURES_DIR = join(__dirname, '..', 'fixtures');

export interface TestStackOptions extends LocalStackOptions {
  /**
   * A folder of tests/fixtures whose template.yaml to serve. It runs from a copy outside the
   * repository, so its handlers find no node_modules above them: only what Lambda would give them.
   */
  fixture?: string;
  /** The logical id of the table that `tableName` names (default: the chat app's ChatTable). */
  tableId?: string;
  /** Use this existing table (a restarted stack keeps its data; give `port` too to keep its URL). */
  tableName?: string;
}

/** An invocation the gateway started: its route and connection, in the order they started. */
export interface Dispatch {
  routeKey: string;
  connectionId: string;
}

export interface TestStack extends LocalStack {
  /** The gateway's one-line-per-invocation log. */
  gatewayLog: string[];
  /** Every line the functions printed. */
  functionLog: string[];
  /** Every invocation the gateway started, recorded as it starts it. */
  dispatched: Dispatch[];
  tableName: string;
  /**
   * The connection behind a handle without sign-in (clients are never told connection ids): the one the
   * gateway connected whose id hashes to it. For tests that act on a client's connection (@connections).
   */
  connectionIdOf(handle: unknown): string;
}

/**
 * The real local stack (gateway + built handlers + DynamoDB Local from the global setup) on a free
 * port, with its own table so test files can run side by side on the run's one build.
 */
export async function startTestStack(options: TestStackOptions = {}): Promise<TestStack> {
  const { fixture, tableId = 'ChatTable', tableName = `chat-e2e-${randomUUID()}`, ...stackOptions } = options;
  // A fixture runs from a copy of its own, built there; the chat app from the run's shared build.
  const fixtureDir = fixture ? await mkdtemp(join(tmpdir(), `fixture-${fixture}-`)) : undefined;
  if (fixture && fixtureDir) await cp(join(FIXTURES_DIR, fixture), fixtureDir, { recursive: true });
  const buildDir = fixtureDir ? join(fixtureDir, '.build') : sharedBuildDir();
  const gatewayLog: string[] = [];
  const functionLog: string[] = [];
  const dispatched: Dispatch[] = [];
  const removeFolders = async () => {
    if (fixtureDir) await rm(fixtureDir, { recursive: true, force: true });
  };
  let stack: LocalStack;
  try {
    stack = await startLocalStack({
      templatePath: fixtureDir ? join(fixtureDir, 'template.yaml') : TEMPLATE_PATH,
      port: 0,
      buildDir,
      tableNames: { [tableId]: tableName },
      log: (line) => gatewayLog.push(line),
      functionLog: (_, line) => functionLog.push(line),
      // The chat app's functions and the gateway's wait for them get more time on a loaded machine;
      // a fixture keeps its Timeouts and the runtime's scaling, which its tests check.
      ...(fixture
        ? {}
        : {
            functionTimeoutScale: FUNCTION_TIMEOUT_SCALE,
            integrationTimeoutMs: 29_000 * FUNCTION_TIMEOUT_SCALE,
            // Each instance is a Node process whose cold start costs a few hundred ms of CPU: a burst of
            // handshakes started eight of a function (the runtime's default), adding start-ups, not speed.
            maxInstancesPerFunction: 2,
          }),
      ...stackOptions,
      dropInvocation: (routeKey, event) => {
        const { connectionId } = (event as { requestContext: { connectionId: string } }).requestContext;
        dispatched.push({ routeKey, connectionId });
        return stackOptions.dropInvocation?.(routeKey, event) ?? false;
      },
    });
  } catch (error) {
    await removeFolders();
    throw error;
  }
  return {
    ...stack,
    gatewayLog,
    functionLog,
    dispatched,
    tableName,
    connectionIdOf(handle) {
      const ids = new Set(dispatched.map((d) => d.connectionId).filter((id) => handleOf(id) === handle));
      if (ids.size !== 1) throw new Error(`${ids.size} connections have the handle ${String(handle)}`);
      return [...ids][0]!;
    },
    async stop() {
      await stack.stop();
      await removeFolders();
    },
  };
}
