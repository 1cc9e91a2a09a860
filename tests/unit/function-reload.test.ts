// `npm run dev` swaps in new function instances when the code changes. An invocation under way must
// finish on its old instance (a `$disconnect` cut off there would lose that connection's cleanup).
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

test('drain lets the running invocation finish, then ends the instance', async () => {
  const started = join(dir, 'started');
  const gate = join(dir, 'gate');
  const spec: FunctionSpec = {
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
  const fn = new LocalFunction(spec, { onLog: () => {} });
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
