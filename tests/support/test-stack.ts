import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LocalStack, type LocalStackOptions, startLocalStack } from '../../local/local-stack';
import { TEMPLATE_PATH } from './test-table';

export interface TestStack extends LocalStack {
  /** The gateway's one-line-per-invocation log. */
  gatewayLog: string[];
  /** Every line the functions printed. */
  functionLog: string[];
  tableName: string;
}

/**
 * The real local stack (gateway + built handlers + DynamoDB Local from the global setup) on a free
 * port, with its own table and build folder so test files can run side by side.
 */
export async function startTestStack(options: LocalStackOptions = {}): Promise<TestStack> {
  const buildDir = await mkdtemp(join(tmpdir(), 'chat-stack-'));
  const tableName = `chat-e2e-${randomUUID()}`;
  const gatewayLog: string[] = [];
  const functionLog: string[] = [];
  const stack = await startLocalStack({
    templatePath: TEMPLATE_PATH,
    port: 0,
    buildDir,
    tableNames: { ChatTable: tableName },
    log: (line) => gatewayLog.push(line),
    functionLog: (_, line) => functionLog.push(line),
    ...options,
  });
  return {
    ...stack,
    gatewayLog,
    functionLog,
    tableName,
    async stop() {
      await stack.stop();
      await rm(buildDir, { recursive: true, force: true });
    },
  };
}
