import { type ChildProcess, fork, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, renameSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { build } from 'esbuild';
import type { InvokeMessage, ResultMessage } from './bootstrap';
import { lambdaNodeFlags } from './node-flags';

const REPO_ROOT = resolve(__dirname, '../..');
const RUNTIME_DIR = join(REPO_ROOT, '.build', 'local');

/** A function as Lambda would run it: code, handler, layers, environment, limits. */
export interface FunctionSpec {
  name: string;
  codeDir: string;
  handler: string;
  /** Folders Lambda would mount at /opt, in order. */
  layerDirs: string[];
  environment: Record<string, string>;
  timeoutSeconds: number;
  memoryMB: number;
  sourceMaps: boolean;
  runtime: string;
  /** Asynchronous invocations (EventInvokeConfig): retries after a failed attempt, where a failed event goes. */
  async: { maximumRetryAttempts: number; onFailure?: string };
}

export interface LambdaError {
  errorType: string;
  errorMessage: string;
  stack?: string[];
}

export interface InvokeOutcome {
  requestId: string;
  result?: unknown;
  error?: LambdaError;
  durationMs: number;
  coldStart: boolean;
}

export interface RuntimeOptions {
  /** Concurrent instances at most; more invocations wait. Lambda scales further, this box has 2 cores. */
  maxInstances?: number;
  /**
   * Invocations that may wait for a free instance; past it, an invocation is refused at once as a
   * throttled Lambda refuses it, instead of queueing without bound.
   */
  maxQueued?: number;
  /** Where the functions' own output goes, one line at a time. */
  onLog?: (functionName: string, line: string) => void;
  /** The local gateway that the API's `https://` hosts are routed to inside each function. */
  gateway?: { url: string; hosts: string[] };
}

let bootstrapBuild: Promise<string> | undefined;

/** The runtime's bootstrap, compiled once per process; and an @aws-sdk folder to put on NODE_PATH. */
function prepareRuntime(): Promise<string> {
  bootstrapBuild ??= (async () => {
    const outfile = join(RUNTIME_DIR, 'bootstrap.js');
    const { outputFiles } = await build({
      entryPoints: [join(__dirname, 'bootstrap.ts')],
      bundle: true,
      write: false,
      platform: 'node',
      format: 'cjs',
      target: 'node20',
      logLevel: 'warning',
    });
    // Written aside then renamed: parallel test workers may prepare the runtime at the same time.
    mkdirSync(RUNTIME_DIR, { recursive: true });
    const temporary = `${outfile}.${process.pid}`;
    writeFileSync(temporary, outputFiles[0]!.contents);
    renameSync(temporary, outfile);
    // The Lambda Node.js runtime ships AWS SDK v3: expose this project's copy the same way.
    const sdkDir = join(RUNTIME_DIR, 'runtime-sdk', 'node_modules');
    mkdirSync(sdkDir, { recursive: true });
    try {
      symlinkSync(join(REPO_ROOT, 'node_modules', '@aws-sdk'), join(sdkDir, '@aws-sdk'), 'dir');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    return outfile;
  })();
  return bootstrapBuild;
}

interface Pending {
  resolve: (message: ResultMessage) => void;
}

/** One sandbox: a child process that runs one invocation at a time and keeps its module state. */
class Instance {
  readonly ready: Promise<void>;
  invocations = 0;
  private pending: Pending | undefined;
  private exited = false;
  private killed = false;

  constructor(
    readonly child: ChildProcess,
    private readonly onExit: (instance: Instance) => void,
  ) {
    this.ready = new Promise((resolveReady, rejectReady) => {
      child.once('message', () => resolveReady());
      child.once('exit', (code) =>
        rejectReady(new Error(`function process exited during init (code ${code})`)),
      );
    });
    this.ready.catch(() => {});
    child.on('error', () => {}); // e.g. a signal that cannot be delivered; 'exit' reports the end
    child.on('message', (message: ResultMessage | { type: 'ready' }) => {
      if (message.type === 'ready' || !this.pending) return;
      const { resolve: done } = this.pending;
      this.pending = undefined;
      done(message);
    });
    child.once('exit', (code, signal) => {
      this.exited = true;
      this.onExit(this);
      this.pending?.resolve({
        type: 'error',
        id: -1,
        error: {
          errorType: 'Runtime.ExitError',
          errorMessage: `Runtime exited ${signal ? `with signal ${signal}` : `with error: exit status ${code}`}`,
        },
      });
      this.pending = undefined;
    });
  }

  /** False once the process exited or was killed: its exit event comes later, and it must not be reused. */
  get alive(): boolean {
    return !this.exited && !this.killed;
  }

  run(message: InvokeMessage): Promise<ResultMessage> {
    return new Promise((resolveRun) => {
      this.pending = { resolve: resolveRun };
      this.invocations++;
      // With a callback, a closed channel is reported here instead of as an unhandled 'error' event.
      this.child.send(message, (error) => {
        if (!error || this.pending?.resolve !== resolveRun) return;
        this.pending = undefined;
        resolveRun({
          type: 'error',
          id: message.id,
          error: { errorType: 'Runtime.ExitError', errorMessage: `Runtime unreachable: ${error.message}` },
        });
      });
    });
  }

  kill(): void {
    if (this.alive) this.child.kill('SIGKILL');
    this.killed = true;
  }
}

/** A function of the template, run locally the way Lambda runs it: isolated, warm, timed out. */
export class LocalFunction {
  private readonly idle: Instance[] = [];
  private readonly all = new Set<Instance>();
  /** Invocations waiting for an instance; undefined: the function was stopped first. */
  private readonly waiting: ((instance: Instance | undefined) => void)[] = [];
  /** Instances being spawned: they count against `maxInstances` before they join `all`. */
  private starting = 0;
  private stopped = false;
  /** Invocations under way (waiting for an instance, initialising or running). */
  private readonly running = new Set<Promise<InvokeOutcome>>();

  constructor(
    readonly spec: FunctionSpec,
    readonly options: RuntimeOptions = {},
  ) {}

  private environment(): NodeJS.ProcessEnv {
    const { spec } = this;
    const nodePath = [
      ...spec.layerDirs.flatMap((dir) => [
        join(dir, 'nodejs', 'node22', 'node_modules'),
        join(dir, 'nodejs', 'node_modules'),
      ]),
      join(RUNTIME_DIR, 'runtime-sdk', 'node_modules'),
    ];
    return {
      PATH: process.env.PATH,
      LANG: 'en_US.UTF-8',
      TZ: 'UTC',
      NODE_PATH: nodePath.join(':'),
      // Layers' Python packages, as Lambda puts /opt/python on the path; logs unbuffered, line by line.
      PYTHONPATH: spec.layerDirs.map((dir) => join(dir, 'python')).join(':'),
      PYTHONUNBUFFERED: '1',
      LAMBDA_TASK_ROOT: spec.codeDir,
      LAMBDA_RUNTIME_DIR: RUNTIME_DIR,
      _HANDLER: spec.handler,
      AWS_EXECUTION_ENV: `AWS_Lambda_${spec.runtime}`,
      AWS_LAMBDA_FUNCTION_NAME: spec.name,
      AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(spec.memoryMB),
      AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
      AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${spec.name}`,
      AWS_LAMBDA_LOG_STREAM_NAME: `local/${spec.name}`,
      // As Lambda sets it; Powertools reports no cold start at all without it.
      AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
      // The real runtime is newer than this machine's Node; its SDK warning would be noise here.
      AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true',
      ...(this.options.gateway
        ? {
            LOCAL_GATEWAY_URL: this.options.gateway.url,
            LOCAL_GATEWAY_HOSTS: this.options.gateway.hosts.join(','),
          }
        : {}),
      ...spec.environment,
    };
  }

  /** A new instance, or undefined once the function is stopped (no process may outlive `stop`). */
  private async spawnInstance(): Promise<Instance | undefined> {
    this.starting++;
    let bootstrap: string;
    try {
      bootstrap = await prepareRuntime();
    } finally {
      this.starting--;
    }
    if (this.stopped) return undefined;
    // Python functions run the Python bootstrap over the same IPC channel (line-delimited JSON).
    const child = this.spec.runtime.startsWith('python')
      ? spawn('python3', [join(__dirname, 'bootstrap.py')], {
          cwd: this.spec.codeDir,
          env: this.environment(),
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
          serialization: 'json',
        })
      : fork(bootstrap, [], {
          cwd: this.spec.codeDir,
          env: this.environment(),
          execArgv: [
            ...lambdaNodeFlags(this.spec.memoryMB),
            ...(this.spec.sourceMaps ? ['--enable-source-maps'] : []),
          ],
          stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
        });
    const log = this.options.onLog ?? ((name, line) => process.stderr.write(`[${name}] ${line}\n`));
    for (const stream of [child.stdout, child.stderr]) {
      if (stream) createInterface({ input: stream }).on('line', (line) => log(this.spec.name, line));
    }
    const instance = new Instance(child, (gone) => {
      this.all.delete(gone);
      const at = this.idle.indexOf(gone);
      if (at >= 0) this.idle.splice(at, 1);
    });
    this.all.add(instance);
    return instance;
  }

  private async acquire(): Promise<Instance | undefined> {
    const warm = this.idle.pop();
    if (warm) return warm;
    if (this.all.size + this.starting < (this.options.maxInstances ?? 8)) return this.spawnInstance();
    return new Promise((resolveWait) => this.waiting.push(resolveWait));
  }

  private release(instance: Instance): void {
    if (this.stopped) return;
    const next = this.waiting.shift();
    if (!instance.alive) {
      // Its slot is free again: a waiting invocation gets a fresh instance.
      if (next) void this.spawnInstance().then(next);
    } else if (next) next(instance);
    else this.idle.push(instance);
  }

  /** Runs one invocation; errors and timeouts come back as `error`, as Lambda reports them. */
  invoke(event: unknown, requestId: string = randomUUID()): Promise<InvokeOutcome> {
    if (this.stopped) return Promise.reject(new Error(`${this.spec.name} is stopped`));
    if (this.idle.length === 0 && this.waiting.length >= (this.options.maxQueued ?? 200)) {
      return Promise.resolve({
        requestId,
        error: { errorType: 'TooManyRequestsException', errorMessage: 'Rate Exceeded.' },
        durationMs: 0,
        coldStart: false,
      });
    }
    const invocation = this.run(event, requestId);
    this.running.add(invocation);
    void invocation.finally(() => this.running.delete(invocation));
    return invocation;
  }

  private async run(event: unknown, requestId: string): Promise<InvokeOutcome> {
    const instance = await this.acquire();
    if (!instance) {
      return {
        requestId,
        error: {
          errorType: 'Runtime.ExitError',
          errorMessage: `${this.spec.name} was stopped before it ran`,
        },
        durationMs: 0,
        coldStart: false,
      };
    }
    const coldStart = instance.invocations === 0;
    const timeoutMs = this.spec.timeoutSeconds * 1000;
    let started = Date.now();
    let timer: NodeJS.Timeout | undefined;
    try {
      // Loading the handler (init) is not part of the invocation: the Timeout and the deadline that
      // getRemainingTimeInMillis() counts down to both start once the sandbox is ready.
      await instance.ready;
      started = Date.now();
      const outcome = await Promise.race([
        instance.run({ type: 'invoke', id: 0, event, requestId, deadline: started + timeoutMs }),
        new Promise<ResultMessage>((resolveTimeout) => {
          timer = setTimeout(() => {
            // As on Lambda, a timed-out sandbox is discarded; the next invocation starts cold.
            instance.kill();
            resolveTimeout({
              type: 'error',
              id: 0,
              error: {
                errorType: 'Sandbox.Timedout',
                errorMessage: `Task timed out after ${this.spec.timeoutSeconds.toFixed(2)} seconds`,
              },
            });
          }, timeoutMs);
        }),
      ]);
      const durationMs = Date.now() - started;
      return outcome.type === 'result'
        ? { requestId, result: outcome.result, durationMs, coldStart }
        : { requestId, error: outcome.error, durationMs, coldStart };
    } catch (error) {
      instance.kill();
      return {
        requestId,
        error: { errorType: 'Runtime.InitError', errorMessage: (error as Error).message },
        durationMs: Date.now() - started,
        coldStart,
      };
    } finally {
      clearTimeout(timer);
      this.release(instance);
    }
  }

  /**
   * Ends the function once the invocations already under way have finished (each within its Timeout):
   * a reload swaps in new code without cutting off, say, a `$disconnect` halfway through its cleanup.
   */
  async drain(): Promise<void> {
    await this.settled();
    await this.stop();
  }

  /** Resolves once no invocation is under way (those started meanwhile included). */
  async settled(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  /** Ends every instance (warm ones included). */
  async stop(): Promise<void> {
    this.stopped = true;
    for (const next of this.waiting.splice(0)) next(undefined);
    const exits = [...this.all].map((instance) => new Promise((done) => instance.child.once('exit', done)));
    for (const instance of this.all) instance.kill();
    await Promise.all(exits);
  }
}
