// A server under measurement, in a process of its own so that the bench's clients neither share its
// event loop nor count in its memory: either the real local stack (startLocalStack: gateway, built
// functions, a table in DynamoDB Local) or the floor for delivery throughput, a minimal `http` + `ws`
// server doing the `@connections` job (a signed POST in, its checks, a frame out).
// The parent talks to it over IPC: `rss` (after a GC), `cpu`, `settle`, `fanouts`, `stop`.
import { type ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { type WebSocket, WebSocketServer } from 'ws';
import { SHARED_BUILD_CACHE } from '../local/cached-build';
import { refuseUnsigned } from '../local/connections-auth';
import { POST_MAX_BYTES, parseConnectionsPath, readBody, sendApiError } from '../local/connections-http';
import { type LocalStackOptions, startLocalStack } from '../local/local-stack';
import { withTimeout } from './common';

export type ServerSpec =
  | {
      kind: 'stack';
      dynamoDbEndpoint: string;
      tableName: string;
      /** Added to every function's environment (e.g. FANOUT_CONCURRENCY). */
      environment?: Record<string, string>;
      /** What stands in for the network and API Gateway's throttle on `@connections` calls. */
      connections?: Pick<LocalStackOptions, 'connectionsLatency' | 'connectionsRate'>;
      /** Default: stackInstanceLimit's, else the local runtime's. */
      maxInstancesPerFunction?: number;
    }
  | { kind: 'floor' };

let instanceLimit: number | undefined;

/**
 * Instances per function in the stacks started from now on (undefined: the local runtime's 8, scaling out
 * as Lambda does). Each is a Node process whose cold start costs CPU: a burst of handshakes opened eight
 * per function, 5 s of CPU per stack, while tiny sizes (--quick) measure the same with two.
 */
export function setStackInstanceLimit(limit: number | undefined): void {
  instanceLimit = limit;
}

type Command = { type: 'rss' | 'cpu' | 'settle' | 'fanouts' | 'stop' };
type Request = Command & { id: number };

interface Ready {
  type: 'ready';
  port: number;
  /** Path of the WebSocket endpoint (`/dev` for the stack's stage). */
  path: string;
}

/** A fan-out as the function that made it logged it (layers/chat-core fanout.ts, `fan-out done`). */
export interface LoggedFanout {
  members: number;
  /** From its first `@connections` POST to the last answer. */
  postingMs: number;
}

export interface Memory {
  rss: number;
  heapUsed: number;
}

/** The parent's handle on a server process. */
export class ServerProcess {
  private nextId = 0;
  private readonly pending = new Map<number, (value: unknown) => void>();

  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
    private readonly path: string,
  ) {
    child.on('message', (message: { id?: number; value?: unknown }) => {
      if (message.id === undefined) return;
      this.pending.get(message.id)?.(message.value);
      this.pending.delete(message.id);
    });
  }

  static async start(spec: ServerSpec, timeoutMs = 120_000): Promise<ServerProcess> {
    if (spec.kind === 'stack' && spec.maxInstancesPerFunction === undefined && instanceLimit !== undefined)
      spec = { ...spec, maxInstancesPerFunction: instanceLimit };
    const child = fork(__filename, [JSON.stringify(spec)], {
      execArgv: ['--import', 'tsx', '--expose-gc'],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    const ready = new Promise<Ready>((resolve, reject) => {
      child.once('message', (message: Ready) => resolve(message));
      child.once('exit', (code) => reject(new Error(`server process exited at start (code ${code})`)));
    });
    try {
      const { port, path } = await withTimeout(ready, timeoutMs, `starting the ${spec.kind} server`);
      return new ServerProcess(child, port, path);
    } catch (error) {
      child.kill('SIGKILL');
      throw error;
    }
  }

  get pid(): number {
    return this.child.pid!;
  }

  get webSocketUrl(): string {
    return `ws://127.0.0.1:${this.port}${this.path}`;
  }

  /** The `@connections` URL of one connection. */
  connectionUrl(connectionId: string): string {
    return `http://127.0.0.1:${this.port}${this.path}/@connections/${encodeURIComponent(connectionId)}`;
  }

  private request<T>(request: Command, timeoutMs = 120_000): Promise<T> {
    const id = this.nextId++;
    const answer = new Promise<T>((resolve) => this.pending.set(id, resolve as (value: unknown) => void));
    this.child.send({ ...request, id });
    return withTimeout(answer, timeoutMs, `server request ${request.type}`);
  }

  /** Resident memory after a full garbage collection. */
  memory(): Promise<Memory> {
    return this.request({ type: 'rss' });
  }

  /** CPU time (user + system, in ms) the process has used so far. */
  cpuMs(): Promise<number> {
    return this.request({ type: 'cpu' });
  }

  /** Resolves once none of the stack's functions has an invocation under way (the floor has none). */
  settled(): Promise<void> {
    return this.request({ type: 'settle' });
  }

  /** The fan-outs the stack's functions logged since the last call. */
  fanouts(): Promise<LoggedFanout[]> {
    return this.request({ type: 'fanouts' });
  }

  /** Stops the server (the stack closes its connections without running $disconnect) and the process. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    const exited = new Promise((resolve) => this.child.once('exit', resolve));
    await this.request({ type: 'stop' }, 30_000).catch(() => this.child.kill('SIGKILL'));
    await withTimeout(exited, 10_000, 'server process exit').catch(() => this.child.kill('SIGKILL'));
  }
}

// ---- inside the child ----

async function serve(spec: ServerSpec): Promise<void> {
  const reply = (id: number, value: unknown) => process.send?.({ id, value });
  let stop: () => Promise<void>;
  let settle = async () => {};
  const fanouts: LoggedFanout[] = [];
  let ready: Ready;
  if (spec.kind === 'stack') {
    const stack = await startLocalStack({
      port: 0,
      // One build for every stack of every run, rebuilt only when a source changed (local/cached-build).
      buildDir: SHARED_BUILD_CACHE,
      dynamoDbEndpoint: spec.dynamoDbEndpoint,
      tableNames: { ChatTable: spec.tableName },
      ...(spec.environment ? { environment: spec.environment } : {}),
      ...spec.connections,
      ...(spec.maxInstancesPerFunction ? { maxInstancesPerFunction: spec.maxInstancesPerFunction } : {}),
      log: () => {},
      functionLog: (_name, line) => {
        const fanout = loggedFanout(line);
        if (fanout) fanouts.push(fanout);
      },
    });
    stop = () => stack.stop();
    settle = async () => {
      await Promise.all(Object.values(stack.functions).map((fn) => fn.settled()));
    };
    ready = { type: 'ready', port: stack.port, path: `/${stack.app.webSocketApis[0]!.stageName}` };
  } else {
    ({ stop, ready } = await serveFloor());
  }
  process.on('message', async (request: Request) => {
    try {
      switch (request.type) {
        case 'rss': {
          global.gc?.();
          const { rss, heapUsed } = process.memoryUsage();
          reply(request.id, { rss, heapUsed });
          return;
        }
        case 'cpu': {
          const { user, system } = process.cpuUsage();
          reply(request.id, (user + system) / 1000);
          return;
        }
        case 'settle':
          await settle();
          reply(request.id, undefined);
          return;
        case 'fanouts':
          reply(request.id, fanouts.splice(0));
          return;
        case 'stop':
          await stop();
          reply(request.id, undefined);
          process.exit(0);
      }
    } catch (error) {
      console.error(`server process: ${(error as Error).message}`);
      process.exit(1);
    }
  });
  // A parent that goes away takes its server with it.
  process.on('disconnect', () => void stop().finally(() => process.exit(0)));
  process.send?.(ready);
}

/** A function's `fan-out done` log line, or undefined for any other line. */
function loggedFanout(line: string): LoggedFanout | undefined {
  if (!line.includes('"fan-out done"')) return undefined;
  try {
    const { members, postingMs } = JSON.parse(line) as Partial<LoggedFanout>;
    return typeof members === 'number' && typeof postingMs === 'number' ? { members, postingMs } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The floor: connections named `floor0`, `floor1`, ... in the order they open; a POST to
 * `/dev/@connections/{id}` that passes the same SigV4 check as the gateway's is written to that socket.
 */
async function serveFloor(): Promise<{ stop: () => Promise<void>; ready: Ready }> {
  const sockets = new Map<string, WebSocket>();
  const server = http.createServer(async (req, res) => {
    const target = parseConnectionsPath(req.url);
    const body = await readBody(req, POST_MAX_BYTES);
    if (req.method !== 'POST' || !target?.connectionId || !body)
      return sendApiError(res, 400, 'BadRequestException', 'Not a PostToConnection');
    const refusal = refuseUnsigned(req, body);
    if (refusal) return sendApiError(res, refusal.status, refusal.errorType, refusal.message);
    const ws = sockets.get(target.connectionId);
    if (!ws) return sendApiError(res, 410, 'GoneException', 'Gone');
    ws.send(body, { binary: false });
    res.writeHead(200).end();
  });
  const webSockets = new WebSocketServer({ server, perMessageDeflate: false });
  let opened = 0;
  webSockets.on('connection', (ws) => {
    const id = `floor${opened++}`;
    sockets.set(id, ws);
    ws.on('close', () => sockets.delete(id));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const stop = async () => {
    for (const ws of sockets.values()) ws.terminate();
    await new Promise((resolve) => webSockets.close(resolve));
    await new Promise((resolve) => server.close(resolve));
  };
  return { stop, ready: { type: 'ready', port: (server.address() as { port: number }).port, path: '/dev' } };
}

if (require.main === module) {
  serve(JSON.parse(process.argv[2] ?? '{}') as ServerSpec).catch((error: Error) => {
    console.error(`server process failed: ${error.message}`);
    process.exit(1);
  });
}
