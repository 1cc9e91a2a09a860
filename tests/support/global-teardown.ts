import { rm } from 'node:fs/promises';

export default async function globalTeardown(): Promise<void> {
  const resources = globalThis.__testResources;
  globalThis.__testResources = undefined;
  if (!resources) return;
  await resources.stop();
  await rm(resources.buildDir, { recursive: true, force: true });
}
