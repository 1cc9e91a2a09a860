// Builds a SAM template's functions and layers the way `sam build` does, into a local folder:
// esbuild functions from their own `Metadata.BuildProperties`, makefile functions and layers with
// `make build-<Id>` (as SAM's makefile builder runs it). Everything else is used in place, as Lambda
// would load it from `CodeUri` / `ContentUri`.
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { promisify } from 'node:util';
import { type BuildOptions, build, type Format, type Loader } from 'esbuild';
import { functionProperties, isPlainObject, loadTemplate, resourcesOfType, type Template } from './template';

export const DEFAULT_BUILD_DIR = '.build';

export interface BuiltFunction {
  /** The folder Lambda would see as the function's code root (`LAMBDA_TASK_ROOT`). */
  codeDir: string;
  /** `file.export`, relative to `codeDir`, as in the template. */
  handler: string;
  /** Whether SAM would add `--enable-source-maps` (esbuild `Sourcemap: true`). */
  sourceMaps: boolean;
}

export interface BuildResult {
  functions: Record<string, BuiltFunction>;
  /** Layer logical id → the folder Lambda would mount at /opt. */
  layers: Record<string, string>;
}

type BuildProperties = Record<string, unknown>;

function stringList(value: unknown, name: string): string[] {
  if (value === undefined) return [];
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  if (typeof value === 'string') return value.split(',').map((v) => v.trim());
  throw new Error(`BuildProperties.${name} must be a list of strings`);
}

/** `["ext=value", ...]` (SAM's form for Loader, OutExtension, Banner, Footer) as an object. */
function keyValueList(value: unknown, name: string): Record<string, string> {
  return Object.fromEntries(
    stringList(value, name).map((entry) => {
      const eq = entry.indexOf('=');
      if (eq < 0) throw new Error(`BuildProperties.${name} entry "${entry}" is not key=value`);
      return [entry.slice(0, eq), entry.slice(eq + 1)];
    }),
  );
}

function handlerEntry(codeDir: string, handler: string): string {
  const module = handler.slice(0, handler.lastIndexOf('.'));
  for (const ext of ['.ts', '.js', '.mjs', '.cjs']) {
    if (existsSync(join(codeDir, module + ext))) return module + ext;
  }
  throw new Error(`no source file for handler "${handler}" in ${codeDir}`);
}

/** The esbuild options `sam build` derives from a function's esbuild metadata. */
export function esbuildOptions(
  codeDir: string,
  handler: string,
  props: BuildProperties,
  outDir: string,
): BuildOptions {
  const entryPoints = stringList(props.EntryPoints, 'EntryPoints');
  const bool = (value: unknown, fallback: boolean) =>
    value === undefined ? fallback : value === true || value === 'true';
  return {
    absWorkingDir: codeDir,
    entryPoints: entryPoints.length > 0 ? entryPoints : [handlerEntry(codeDir, handler)],
    outdir: outDir,
    bundle: true,
    platform: 'node',
    format: ((props.Format as string | undefined) ?? 'cjs') as Format,
    target: (props.Target as string | undefined) ?? 'es2020',
    minify: bool(props.Minify, true),
    sourcemap: bool(props.Sourcemap, false),
    sourcesContent: bool(props.SourcesContent, true),
    external: stringList(props.External, 'External'),
    loader: keyValueList(props.Loader, 'Loader') as Record<string, Loader>,
    outExtension: keyValueList(props.OutExtension, 'OutExtension'),
    banner: keyValueList(props.Banner, 'Banner'),
    footer: keyValueList(props.Footer, 'Footer'),
    ...(props.MainFields ? { mainFields: stringList(props.MainFields, 'MainFields') } : {}),
    logLevel: 'warning',
  };
}

function localPath(templateDir: string, value: unknown, what: string): string {
  if (typeof value !== 'string') throw new Error(`${what} must be a local path to run locally`);
  return resolve(templateDir, value);
}

async function buildFunction(
  template: Template,
  templateDir: string,
  logicalId: string,
  buildDir: string,
): Promise<BuiltFunction> {
  const props = functionProperties(template, logicalId);
  const metadata = template.Resources[logicalId]?.Metadata ?? {};
  const codeDir = localPath(templateDir, props.CodeUri ?? '.', `${logicalId}.CodeUri`);
  const handler = props.Handler;
  if (typeof handler !== 'string') throw new Error(`${logicalId} has no Handler`);
  const outDir = join(buildDir, 'functions', logicalId);
  if (metadata.BuildMethod === 'makefile') {
    await replaceFolder(outDir, (staging) => runMake(templateDir, codeDir, metadata, logicalId, staging));
    return { codeDir: outDir, handler, sourceMaps: false };
  }
  if (metadata.BuildMethod !== 'esbuild') return { codeDir, handler, sourceMaps: false };

  const buildProperties = isPlainObject(metadata.BuildProperties) ? metadata.BuildProperties : {};
  let sourceMaps = false;
  await replaceFolder(outDir, async (staging) => {
    const options = esbuildOptions(codeDir, handler, buildProperties, staging);
    sourceMaps = options.sourcemap === true;
    await build(options);
  });
  return { codeDir: outDir, handler, sourceMaps };
}

/**
 * Builds into a staging folder and swaps it in, so that a running local stack whose functions
 * start cold during a rebuild (`npm run dev`, `npm run invoke` beside `npm start`) never sees a half-built folder.
 */
async function replaceFolder(target: string, fill: (staging: string) => Promise<void> | void): Promise<void> {
  const staging = `${target}.staging-${process.pid}`;
  const previous = `${target}.previous-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  try {
    await fill(staging);
    if (existsSync(target)) renameSync(target, previous);
    renameSync(staging, target);
  } finally {
    rmSync(staging, { recursive: true, force: true });
    rmSync(previous, { recursive: true, force: true });
  }
}

async function buildLayer(
  template: Template,
  templateDir: string,
  logicalId: string,
  buildDir: string,
): Promise<string> {
  const resource = template.Resources[logicalId]!;
  const contentDir = localPath(templateDir, resource.Properties?.ContentUri, `${logicalId}.ContentUri`);
  const metadata = resource.Metadata ?? {};
  if (metadata.BuildMethod !== 'makefile') return contentDir;
  const artifactsDir = join(buildDir, 'layers', logicalId);
  await replaceFolder(artifactsDir, (staging) =>
    runMake(templateDir, contentDir, metadata, logicalId, staging),
  );
  return artifactsDir;
}

const execFileAsync = promisify(execFile);

/**
 * `make --makefile <ContextPath>/Makefile build-<Id>` with ARTIFACTS_DIR set, as SAM's makefile builder runs
 * it: in a scratch copy of the code folder (`ProjectRootDirectory`, else `CodeUri`), or in
 * `WorkingDirectory` (mapped into the copy when it lies inside the code folder).
 */
async function runMake(
  templateDir: string,
  codeUriDir: string,
  metadata: Record<string, unknown>,
  logicalId: string,
  artifactsDir: string,
): Promise<void> {
  const option = (name: string) =>
    typeof metadata[name] === 'string' ? resolve(templateDir, metadata[name] as string) : undefined;
  const sourceDir = option('ProjectRootDirectory') ?? codeUriDir;
  const makefile = join(option('ContextPath') ?? sourceDir, 'Makefile');
  const scratch = mkdtempSync(join(tmpdir(), 'make-build-'));
  try {
    cpSync(sourceDir, scratch, {
      recursive: true,
      filter: (path) => !['.aws-sam', '.git'].includes(basename(path)),
    });
    const workingDir = option('WorkingDirectory');
    const inSource = workingDir !== undefined && !relative(sourceDir, workingDir).startsWith('..');
    const cwd =
      workingDir === undefined
        ? scratch
        : inSource
          ? join(scratch, relative(sourceDir, workingDir))
          : workingDir;
    await execFileAsync('make', ['--makefile', makefile, `build-${logicalId}`], {
      cwd,
      env: { ...process.env, ARTIFACTS_DIR: artifactsDir },
    }).catch((error: Error & { stdout?: string; stderr?: string }) => {
      throw new Error(
        `make build-${logicalId} failed: ${error.message}${error.stderr ?? ''}${error.stdout ?? ''}`,
      );
    });
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

/** Builds every function and layer of a template (all in parallel; esbuild is fast). */
export async function buildTemplate(
  templatePath: string,
  buildDir = DEFAULT_BUILD_DIR,
): Promise<BuildResult> {
  const template = loadTemplate(templatePath);
  const templateDir = dirname(resolve(templatePath));
  const outDir = resolve(buildDir);
  const layerIds = resourcesOfType(template, 'AWS::Serverless::LayerVersion').map(([id]) => id);
  const functionIds = resourcesOfType(template, 'AWS::Serverless::Function').map(([id]) => id);
  const [layerDirs, built] = await Promise.all([
    Promise.all(layerIds.map((id) => buildLayer(template, templateDir, id, outDir))),
    Promise.all(functionIds.map((id) => buildFunction(template, templateDir, id, outDir))),
  ]);
  return {
    functions: Object.fromEntries(functionIds.map((id, i) => [id, built[i]!])),
    layers: Object.fromEntries(layerIds.map((id, i) => [id, layerDirs[i]!])),
  };
}

if (require.main === module) {
  const templatePath = process.argv[2] ?? 'template.yaml';
  const started = Date.now();
  buildTemplate(templatePath)
    .then((result) => {
      for (const [id, fn] of Object.entries(result.functions)) console.log(`function ${id}: ${fn.codeDir}`);
      for (const [id, dir] of Object.entries(result.layers)) console.log(`layer ${id}: ${dir}`);
      console.log(`built in ${Date.now() - started} ms`);
    })
    .catch((error: Error) => {
      console.error(`build failed: ${error.message}`);
      process.exit(1);
    });
}
