// A build that is reused while its sources are unchanged: repeated `npm run invoke` calls, the test files
// and the bench's server processes share one build of template.yaml, and skip esbuild and make when nothing
// changed. Several processes may ask at once (jest workers, bench servers), also while files are edited.
import { createHash } from 'node:crypto';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { type BuildResult, buildTemplate } from '../tools/build';
import { functionProperties, loadTemplate, resourcesOfType } from '../tools/template';

const STAMP = 'build-stamp.json';

/**
 * The cache of this repository's template.yaml build that the tests' stacks and harnesses and the bench's
 * stack processes share: in a fresh clone, one build serves the test run and the quick bench in it.
 */
export const SHARED_BUILD_CACHE = join(__dirname, '..', '.build', 'stacks');
/** Builds kept beside the newest: a local stack still running an older one can start its functions cold. */
const KEPT_BUILDS = 3;

/** Every file under `path` (or `path` itself), by path, size and modification time. */
function listing(path: string, into: string[]): void {
  const stat = statSync(path, { throwIfNoEntry: false });
  if (!stat) into.push(`${path} missing`);
  else if (stat.isFile()) into.push(`${path} ${stat.size} ${stat.mtimeMs}`);
  if (!stat?.isDirectory()) return;
  for (const entry of readdirSync(path).sort()) {
    if (entry.startsWith('.') || entry === 'node_modules') continue;
    listing(join(path, entry), into);
  }
}

/**
 * What a build of the template reads: the template, each function's and layer's code folder (`CodeUri`,
 * `ContentUri`, `ProjectRootDirectory`) and Makefile (`ContextPath`), the installed packages (seen through
 * npm's lock file) and the builder itself. Not the rest of the folder: tests, docs and data written while
 * a build is in use leave its key alone.
 */
export function buildInputs(templatePath: string): string[] {
  const template = loadTemplate(templatePath);
  const templateDir = dirname(resolve(templatePath));
  const inputs = new Set([
    resolve(templatePath),
    join(templateDir, 'node_modules', '.package-lock.json'),
    join(__dirname, '..', 'tools'),
  ]);
  const local = (value: unknown) => {
    if (typeof value === 'string') inputs.add(resolve(templateDir, value));
  };
  const code = [
    ...resourcesOfType(template, 'AWS::Serverless::Function').map(([id, resource]) => ({
      folder: functionProperties(template, id).CodeUri ?? '.',
      metadata: resource.Metadata ?? {},
    })),
    ...resourcesOfType(template, 'AWS::Serverless::LayerVersion').map(([, resource]) => ({
      folder: resource.Properties?.ContentUri,
      metadata: resource.Metadata ?? {},
    })),
  ];
  for (const { folder, metadata } of code) {
    local(folder);
    local(metadata.ProjectRootDirectory);
    if (metadata.BuildMethod === 'makefile') {
      const context = metadata.ContextPath ?? metadata.ProjectRootDirectory ?? folder;
      if (typeof context === 'string') inputs.add(resolve(templateDir, context, 'Makefile'));
    }
  }
  return [...inputs];
}

/** Identifies a build by its inputs: a changed file gives another key, and so another build. */
export function sourceKey(templatePath: string): string {
  const files: string[] = [];
  for (const input of buildInputs(templatePath)) listing(input, files);
  return createHash('sha256').update(files.join('\n')).digest('hex').slice(0, 16);
}

function readStamp(dir: string): BuildResult | undefined {
  try {
    return (JSON.parse(readFileSync(join(dir, STAMP), 'utf8')) as { result: BuildResult }).result;
  } catch {
    return undefined; // not built (yet)
  }
}

/**
 * The template built under `cacheDir`, in a folder named by its source key, reusing that build when it
 * is there. A build goes into a folder of its own and is renamed into place when complete, so a reader
 * never sees half a build, and of two processes building the same sources at once the first rename wins.
 */
export async function cachedBuild(
  templatePath: string,
  cacheDir: string,
): Promise<BuildResult & { reused: boolean }> {
  const root = resolve(cacheDir);
  const finalDir = join(root, `build-${sourceKey(templatePath)}`);
  const existing = readStamp(finalDir);
  if (existing) return { ...existing, reused: true };
  mkdirSync(root, { recursive: true });
  // At the depth of finalDir, so the relative paths in source maps hold after the rename.
  const staging = mkdtempSync(join(root, 'staging-'));
  try {
    const built = await buildTemplate(templatePath, staging);
    const moved = (path: string) => (path.startsWith(staging) ? finalDir + path.slice(staging.length) : path);
    const result: BuildResult = {
      functions: Object.fromEntries(
        Object.entries(built.functions).map(([id, fn]) => [id, { ...fn, codeDir: moved(fn.codeDir) }]),
      ),
      layers: Object.fromEntries(Object.entries(built.layers).map(([id, dir]) => [id, moved(dir)])),
    };
    writeFileSync(join(staging, STAMP), JSON.stringify({ result }));
    try {
      renameSync(staging, finalDir);
    } catch (error) {
      // Another process renamed the same build into place first: use that one.
      const theirs = readStamp(finalDir);
      if (!theirs) throw error;
      return { ...theirs, reused: true };
    }
    removeOldBuilds(root, finalDir);
    return { ...result, reused: false };
  } finally {
    rmSync(staging, { recursive: true, force: true });
  }
}

function removeOldBuilds(root: string, newest: string): void {
  const builds = readdirSync(root)
    .filter((name) => name.startsWith('build-') && join(root, name) !== newest)
    // Another process may be removing the same ones: a build already gone is skipped.
    .flatMap((name) => {
      const stat = statSync(join(root, name), { throwIfNoEntry: false });
      return stat ? [{ dir: join(root, name), mtimeMs: stat.mtimeMs }] : [];
    })
    .sort((a, b) => b.mtimeMs - a.mtimeMs);
  for (const { dir } of builds.slice(KEPT_BUILDS)) rmSync(dir, { recursive: true, force: true });
}
