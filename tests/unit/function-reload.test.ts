// `npm run dev` swaps in new function instances when the code changes. An invocation under way must
// finish on its old instance (a `$disconnect` cut off there would lose that connection's cleanup).
// A stopped function settles every invocation it was given and leaves no process behind.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type FunctionSpec, LocalFunction } from '../../local/lambda/local-function';
import { eventually } from '../support/ws-client';

// A handler that tells when it started, then holds until the test opens its gate.
const HANDLER = `
const { existsSync, writeFileSync } = require('node:fs');
exports.handler = async () => {
  writeFileSync(process.env.STARTED, '');
  while (!existsSync(process.env.GATE)) await new Promise((resolve) => setTimeout(resolve, 20));
  return 'finished';
};
`;

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chat-reload-'));
  await writeFile(join(dir, 'index.js'), HANDLER);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

function holdFunction(started: string, gate: string): FunctionSpec {
  return {
    name: 'HoldFunction',
    codeDir: dir,
    handler: 'index.handler',
    layerDirs: [],
    environment: { STARTED: started, GATE: gate },
    timeoutSeconds: 600,
    memoryMB: 128,
    sourceMaps: false,
    runtime: 'nodejs22.x',
    async: { maximumRetryAttempts: 2 },
  };
}

const processes = () => process.getActiveResourcesInfo().filter((type) => type === 'ProcessWrap').length;

test('drain lets the running invocation finish, then ends the instance', async () => {
  const started = join(dir, 'started');
  const gate = join(dir, 'gate');
  const fn = new LocalFunction(holdFunction(started, gate), { onLog: () => {} });
  const outcome = fn.invoke({});
  await eventually(() => expect(existsSync(started)).toBe(true));

  let drained = false;
  const draining = fn.drain().then(() => {
    drained = true;
  });
  // The reload has begun while the handler holds: it must wait, not kill the instance.
  await new Promise((resolve) => setTimeout(resolve, 100));
  expect(drained).toBe(false);
  await writeFile(gate, '');
  expect(await outcome).toMatchObject({ result: 'finished' });
  await draining;
  await expect(fn.invoke({})).rejects.toThrow('HoldFunction is stopped');
});

test('stop settles the invocations waiting for an instance (a gateway waits on each of them)', async () => {
  const started = join(dir, 'started-queued');
  const fn = new LocalFunction(holdFunction(started, join(dir, 'never')), {
    maxInstances: 1,
    onLog: () => {},
  });
  const running = fn.invoke({});
  await eventually(() => expect(existsSync(started)).toBe(true));
  const queued = fn.invoke({});
  await fn.stop();
  expect(await queued).toMatchObject({
    error: { errorType: 'Runtime.ExitError', errorMessage: 'HoldFunction was stopped before it ran' },
  });
  expect(await running).toMatchObject({ error: { errorType: 'Runtime.ExitError' } });
});

test('an instance still being started when the function stops is never started', async () => {
  const before = processes();
  const fn = new LocalFunction(holdFunction(join(dir, 'started-late'), join(dir, 'never')), {
    onLog: () => {},
  });
  const invocation = fn.invoke({});
  await fn.stop();
  expect(await invocation).toMatchObject({
    error: { errorMessage: 'HoldFunction was stopped before it ran' },
  });
  expect(processes()).toBe(before);
});
