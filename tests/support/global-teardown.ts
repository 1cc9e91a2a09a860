export default async function globalTeardown(): Promise<void> {
  const resources = globalThis.__testResources;
  globalThis.__testResources = undefined;
  await resources?.stop();
}
