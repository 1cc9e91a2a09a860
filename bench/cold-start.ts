// 4. Cold start: each function bundle's size and the layer's (deterministic), and the time a fresh
// Node process takes to load each bundle (module initialisation, the handler's own code, the layer
// and the AWS SDK, resolved through NODE_PATH as the Lambda runtime does), beside an empty process.
import { spawnSync } from 'node:child_process';
import { mkdirSync, statSync, symlinkSync } from 'node:fs';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, relative, resolve, sep } from 'node:path';
import { SHARED_BUILD_CACHE } from '../local/cached-build';
import { loadLocalApp } from '../local/local-app';
import { median, round, TEMPLATE_PATH } from './common';
import type { Progress } from './progress';

export interface ColdStartOptions {
  /** Fresh processes per bundle (and for the baselines). */
  repeats: number;
}

export interface ColdStartFigures {
  /** Whether the bundles load with `--enable-source-maps`, as SAM runs esbuild functions with `Sourcemap: true`. */
  sourceMaps: boolean;
  bundleBytes: Record<string, number>;
  layerBytes: number;
  layerSourceMapBytes: number;
  /** Median ms to `require` each function's bundle in a fresh process. */
  initMs: Record<string, number>;
  /** Median ms to `require` the AWS SDK clients the layer uses, alone: the floor for every bundle. */
  sdkInitMs: number;
  /** Median wall-clock ms of starting and ending an empty Node process. */
  nodeBaselineMs: number;
}

const SDK_MODULES = [
  '@aws-sdk/client-dynamodb',
  '@aws-sdk/lib-dynamodb',
  '@aws-sdk/client-apigatewaymanagementapi',
];

/** Runs `node -e` with a script that prints how long its `require`s took. */
function timedRequire(files: string[], env: NodeJS.ProcessEnv, cwd: string, sourceMaps: boolean): number {
  const requires = files.map((file) => `require(${JSON.stringify(file)});`).join('');
  const script = `const t=performance.now();${requires}process.stdout.write(String(performance.now()-t))`;
  const result = spawnSync(
    process.execPath,
    [...(sourceMaps ? ['--enable-source-maps'] : []), '-e', script],
    {
      cwd,
      env,
      encoding: 'utf8',
      timeout: 30_000,
    },
  );
  const ms = Number(result.stdout);
  if (result.status !== 0 || !Number.isFinite(ms)) {
    throw new Error(`loading ${files.join(', ')} failed: ${result.stderr || result.error?.message}`);
  }
  return ms;
}

/** A function's bundle: the handler's module in its code folder (`index.handler` → `index.js`). */
function bundleOf(spec: { codeDir: string; handler: string }): string {
  return join(spec.codeDir, `${spec.handler.slice(0, spec.handler.lastIndexOf('.'))}.js`);
}

function emptyProcessMs(): number {
  const started = performance.now();
  const result = spawnSync(process.execPath, ['-e', ''], { timeout: 30_000 });
  if (result.status !== 0) throw new Error('an empty node process failed');
  return performance.now() - started;
}

export async function measureColdStart(
  options: ColdStartOptions,
  progress?: Progress,
): Promise<ColdStartFigures> {
  const workDir = await mkdtemp(join(tmpdir(), 'chat-bench-cold-'));
  try {
    // The build the stacks run (rebuilt only when a source changed), copied outside the repository so
    // that nothing resolves from its node_modules by accident.
    const app = await loadLocalApp({ templatePath: TEMPLATE_PATH, buildDir: SHARED_BUILD_CACHE });
    const firstCodeDir = Object.values(app.functions)[0]!.codeDir;
    const sharedBuild = join(SHARED_BUILD_CACHE, relative(SHARED_BUILD_CACHE, firstCodeDir).split(sep)[0]!);
    const buildDir = join(workDir, 'build');
    await cp(sharedBuild, buildDir, { recursive: true });
    const copied = (path: string) => join(buildDir, relative(sharedBuild, path));
    // The Lambda Node.js runtime ships AWS SDK v3: this project's copy, in a folder of its own.
    const sdkDir = join(workDir, 'runtime-sdk', 'node_modules');
    mkdirSync(sdkDir, { recursive: true });
    symlinkSync(resolve(__dirname, '..', 'node_modules', '@aws-sdk'), join(sdkDir, '@aws-sdk'), 'dir');

    const functions = Object.entries(app.functions).map(
      ([id, spec]) =>
        [id, { ...spec, codeDir: copied(spec.codeDir), layerDirs: spec.layerDirs.map(copied) }] as const,
    );
    const layerDirs = [...new Set(functions.flatMap(([, spec]) => spec.layerDirs))];
    if (layerDirs.length !== 1) throw new Error(`expected one layer, found ${layerDirs.length}`);
    const layerBundle = join(layerDirs[0]!, 'nodejs', 'node_modules', 'chat-core', 'index.js');
    const sourceMaps = functions.every(([, spec]) => spec.sourceMaps);

    const environmentOf = (layers: string[], variables: Record<string, string>): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      LANG: 'en_US.UTF-8',
      TZ: 'UTC',
      NODE_PATH: [
        ...layers.flatMap((dir) => [
          join(dir, 'nodejs', 'node22', 'node_modules'),
          join(dir, 'nodejs', 'node_modules'),
        ]),
        sdkDir,
      ].join(':'),
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...variables,
    });
    const samples: Record<string, number[]> = Object.fromEntries(
      [...functions.map(([id]) => id), 'sdk', 'node'].map((key) => [key, []]),
    );
    // Round-robin, so that a noisy moment of the machine spreads over every figure.
    for (let pass = 0; pass < options.repeats; pass++) {
      progress?.stage(`pass ${pass + 1}/${options.repeats}, processes`, functions.length + 2);
      for (const [id, spec] of functions) {
        progress?.tick();
        const file = bundleOf(spec);
        const env = environmentOf(spec.layerDirs, spec.environment);
        samples[id]!.push(timedRequire([file], env, spec.codeDir, spec.sourceMaps));
      }
      samples.sdk!.push(timedRequire(SDK_MODULES, environmentOf([], {}), workDir, false));
      samples.node!.push(emptyProcessMs());
    }
    const size = (file: string) => statSync(file).size;
    return {
      sourceMaps,
      bundleBytes: Object.fromEntries(functions.map(([id, spec]) => [id, size(bundleOf(spec))])),
      layerBytes: size(layerBundle),
      layerSourceMapBytes: size(`${layerBundle}.map`),
      initMs: Object.fromEntries(functions.map(([id]) => [id, round(median(samples[id]!), 1)])),
      sdkInitMs: round(median(samples.sdk!), 1),
      nodeBaselineMs: round(median(samples.node!), 1),
    };
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}
