// A build that is reused while its sources are unchanged: repeated `npm run invoke` calls, and the test
// files that share one build of template.yaml, skip esbuild and the layer's make when nothing changed.
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type BuildResult, buildTemplate } from '../tools/build';

const STAMP = 'build-stamp.json';
/** Folders that are no source: dependencies (seen through their lock file), outputs, VCS. */
const SKIPPED = new Set(['node_modules', 'coverage']);

/** Every file a build may read, by path, size and modification time. */
function sourceListing(dir: string, into: string[], buildDir: string): void {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.name.startsWith('.') || SKIPPED.has(entry.name)) continue;
    const path = join(dir, entry.name);
    if (path === buildDir) continue;
    if (entry.isDirectory()) sourceListing(path, into, buildDir);
    else if (entry.isFile()) {
      const { size, mtimeMs } = statSync(path);
      into.push(`${path} ${size} ${mtimeMs}`);
    }
  }
}

/** Identifies the inputs of a build: the template's folder, the installed packages and the builder. */
export function sourceKey(templatePath: string, buildDir: string): string {
  const templateDir = dirname(resolve(templatePath));
  const outDir = resolve(buildDir);
  const listing: string[] = [resolve(templatePath), outDir];
  sourceListing(templateDir, listing, outDir);
  sourceListing(join(__dirname, '..', 'tools'), listing, outDir);
  for (const lock of [join(templateDir, 'node_modules', '.package-lock.json')]) {
    try {
      listing.push(`${lock} ${statSync(lock).mtimeMs}`);
    } catch {
      // no installed packages next to the template (a fixture's copy)
    }
  }
  return createHash('sha256').update(listing.join('\n')).digest('hex');
}

/**
 * The template built into `buildDir`, reusing the build already there when no source changed since.
 * Not for two processes building into one folder at once: the test setup builds before workers start.
 */
export async function cachedBuild(
  templatePath: string,
  buildDir: string,
): Promise<BuildResult & { reused: boolean }> {
  const key = sourceKey(templatePath, buildDir);
  const stampPath = join(resolve(buildDir), STAMP);
  try {
    const stamp = JSON.parse(readFileSync(stampPath, 'utf8')) as { key: string; result: BuildResult };
    if (stamp.key === key) return { ...stamp.result, reused: true };
  } catch {
    // no build yet, or an unreadable stamp: build
  }
  const result = await buildTemplate(templatePath, buildDir);
  // A template with nothing to build (plain JavaScript used in place) leaves no folder behind.
  mkdirSync(resolve(buildDir), { recursive: true });
  const temporary = `${stampPath}.${process.pid}`;
  writeFileSync(temporary, JSON.stringify({ key, result }));
  renameSync(temporary, stampPath);
  return { ...result, reused: false };
}
