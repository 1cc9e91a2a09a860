// Runs inside each local function instance (a child process), as the Lambda Node.js runtime does:
// loads the handler named by _HANDLER from LAMBDA_TASK_ROOT, then runs one invocation at a time
// for the parent, which sends events over IPC and enforces the timeout.

import { existsSync, readFileSync } from 'node:fs';
import { register, syncBuiltinESMExports } from 'node:module';
import net from 'node:net';
import { dirname, join } from 'node:path';
import tls from 'node:tls';
import { pathToFileURL, URL } from 'node:url';

export interface InvokeMessage {
  type: 'invoke';
  id: number;
  event: unknown;
  requestId: string;
  deadline: number;
}

export type ResultMessage =
  | { type: 'result'; id: number; result: unknown }
  | { type: 'error'; id: number; error: { errorType: string; errorMessage: string; stack?: string[] } };

type Handler = (
  event: unknown,
  context: unknown,
  callback?: (error: unknown, result?: unknown) => void,
) => unknown;

/**
 * Sends connections to the API's own hosts (`https://{domainName}/{stage}` or
 * `https://{apiId}.execute-api.{region}.amazonaws.com/{stage}`, as handlers written for AWS build
 * them) to the local gateway over plain TCP, so that exact code never reaches the internet. It is done
 * where every HTTPS client opens its connections (`tls.connect`: node:https and so the AWS SDK, undici,
 * ...): the client then speaks HTTP on it, its Host header and signature unchanged.
 */
function routeApiHostsToGateway(gatewayUrl: string, hosts: string[]): void {
  const gateway = new URL(gatewayUrl);
  const local = new Set(hosts.map((host) => host.toLowerCase()));
  const original = tls.connect;
  tls.connect = ((...args: unknown[]) => {
    const options = args.find((arg): arg is tls.ConnectionOptions => typeof arg === 'object' && arg !== null);
    const callback = args.find((arg): arg is () => void => typeof arg === 'function');
    const hostname = String(
      options?.host ?? (typeof args[1] === 'string' ? args[1] : 'localhost'),
    ).toLowerCase();
    const port = String(options?.port ?? (typeof args[0] === 'number' ? args[0] : 443));
    if (!local.has(`${hostname}:${port}`) && !(port === '443' && local.has(hostname)))
      return (original as (...a: unknown[]) => tls.TLSSocket)(...args);
    const socket = net.connect({ host: gateway.hostname, port: Number(gateway.port) });
    // What a TLS client waits for before it writes (there is no handshake to wait for).
    socket.once('connect', () => socket.emit('secureConnect'));
    if (callback) socket.once('secureConnect', callback);
    return socket as tls.TLSSocket;
  }) as typeof tls.connect;
  syncBuiltinESMExports();
}

/**
 * ES-module handlers do not see NODE_PATH; this resolve hook gives them the same fallback
 * (layers, then the bundled AWS SDK) that CommonJS handlers get, as the Lambda runtime does.
 */
function letEsModulesResolveFromNodePath(): void {
  const dirs = (process.env.NODE_PATH ?? '').split(':').filter(Boolean);
  if (dirs.length === 0) return;
  // Like NODE_PATH for require, a folder only gives the packages directly in it: resolving from a
  // file inside it would also search the node_modules folders above it (the project's own).
  const hook = `
    import { existsSync } from 'node:fs';
    import { createRequire } from 'node:module';
    import { pathToFileURL } from 'node:url';
    const dirs = ${JSON.stringify(dirs)};
    export async function resolve(specifier, context, next) {
      try { return await next(specifier, context); }
      catch (error) {
        if (error?.code !== 'ERR_MODULE_NOT_FOUND' || /^[./]|^[a-z]+:/i.test(specifier)) throw error;
        const name = specifier.split('/').slice(0, specifier.startsWith('@') ? 2 : 1).join('/');
        for (const dir of dirs) {
          if (!existsSync(dir + '/' + name)) continue;
          try {
            const path = createRequire(dir + '/x.js').resolve(specifier);
            return { url: pathToFileURL(path).href, shortCircuit: true };
          } catch {}
        }
        throw error;
      }
    }`;
  register(`data:text/javascript,${encodeURIComponent(hook)}`);
}

/** Whether the nearest package.json above `file` says `"type": "module"` (not looking past node_modules). */
function inModulePackage(file: string): boolean {
  for (let dir = dirname(file); !dir.endsWith('/node_modules'); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json');
    if (existsSync(manifest)) {
      try {
        return (JSON.parse(readFileSync(manifest, 'utf8')) as { type?: string }).type === 'module';
      } catch {
        return false; // an unreadable package.json does not make an ES module, for Lambda either
      }
    }
    if (dir === dirname(dir)) return false;
  }
  return false;
}

/**
 * Loads the handler's module as Lambda's runtime does: `.js` with `require` unless its package is
 * `"type": "module"`, then `.mjs` with `import`, then `.cjs` with `require`. The ES-module resolve
 * hook (a loader thread, about a tenth of a second of CPU) starts only for a module that is imported.
 */
async function loadHandlerModule(base: string): Promise<Record<string, unknown> | undefined> {
  const importIt = async (file: string) => {
    letEsModulesResolveFromNodePath();
    return (await import(pathToFileURL(file).href)) as Record<string, unknown>;
  };
  if (existsSync(`${base}.js`)) {
    return inModulePackage(`${base}.js`) ? importIt(`${base}.js`) : require(`${base}.js`);
  }
  if (existsSync(`${base}.mjs`)) return importIt(`${base}.mjs`);
  if (existsSync(`${base}.cjs`)) return require(`${base}.cjs`);
  return undefined;
}

async function loadHandler(): Promise<Handler> {
  const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const handlerName = process.env._HANDLER ?? 'index.handler';
  const dot = handlerName.lastIndexOf('.');
  const modulePath = handlerName.slice(0, dot);
  const exportPath = handlerName.slice(dot + 1);
  const module = (await loadHandlerModule(join(taskRoot, modulePath))) as
    | (Record<string, unknown> & { default?: Record<string, unknown> })
    | undefined;
  if (!module)
    throw Object.assign(new Error(`Cannot find module '${modulePath}'`), {
      name: 'Runtime.ImportModuleError',
    });
  const handler = module[exportPath] ?? module.default?.[exportPath];
  if (typeof handler !== 'function') {
    throw Object.assign(new Error(`${handlerName} is undefined or not exported`), {
      name: 'Runtime.HandlerNotFound',
    });
  }
  return handler as Handler;
}

/** The runtime's Node.js major version (`nodejs24.x` → 24), from AWS_EXECUTION_ENV. */
function runtimeMajor(): number {
  return Number(/nodejs(\d+)/.exec(process.env.AWS_EXECUTION_ENV ?? '')?.[1] ?? 22);
}

/** Lambda's Node.js 24 runtime refuses callback handlers at init, with this error. */
const CALLBACK_HANDLER_DEPRECATED =
  'ERROR: AWS Lambda has removed support for callback-based function handlers starting with Node.js 24. ' +
  'You need to modify this function to use a supported handler signature to use Node.js 24 or later. ' +
  'For more information see https://docs.aws.amazon.com/lambda/latest/dg/nodejs-handler.html.';

function refuseCallbackHandlerFromNode24(handler: Handler): void {
  if (runtimeMajor() < 24 || handler.length < 3) return;
  console.error(`Runtime.CallbackHandlerDeprecated: ${CALLBACK_HANDLER_DEPRECATED}`);
  throw Object.assign(new Error(CALLBACK_HANDLER_DEPRECATED), { name: 'Runtime.CallbackHandlerDeprecated' });
}

type Finish = { resolve: (result: unknown) => void; reject: (error: unknown) => void };

function lambdaContext(message: InvokeMessage, finish: Finish) {
  const env = process.env;
  const functionName = env.AWS_LAMBDA_FUNCTION_NAME ?? 'function';
  const context = {
    awsRequestId: message.requestId,
    functionName,
    functionVersion: env.AWS_LAMBDA_FUNCTION_VERSION ?? '$LATEST',
    invokedFunctionArn: `arn:aws:lambda:${env.AWS_REGION}:123456789012:function:${functionName}`,
    memoryLimitInMB: env.AWS_LAMBDA_FUNCTION_MEMORY_SIZE ?? '128',
    logGroupName: env.AWS_LAMBDA_LOG_GROUP_NAME ?? `/aws/lambda/${functionName}`,
    logStreamName: env.AWS_LAMBDA_LOG_STREAM_NAME ?? 'local',
    getRemainingTimeInMillis: () => Math.max(0, message.deadline - Date.now()),
  };
  // Node.js 24 removed the legacy context methods along with callback handlers.
  if (runtimeMajor() >= 24) return context;
  return {
    ...context,
    callbackWaitsForEmptyEventLoop: true,
    succeed: (result?: unknown) => finish.resolve(result),
    fail: (error: unknown) => finish.reject(error ?? new Error('handled')),
    done: (error?: unknown, result?: unknown) => (error ? finish.reject(error) : finish.resolve(result)),
  };
}

function runHandler(handler: Handler, message: InvokeMessage): Promise<unknown> {
  return new Promise((resolve, reject) => {
    // Up to Node.js 22, a handler that returns no promise finishes through the callback or the
    // context methods (callback handlers, and old `context.succeed` code); from 24 on, through its return.
    const callback = (error: unknown, result?: unknown) => (error ? reject(error) : resolve(result));
    try {
      const returned = handler(message.event, lambdaContext(message, { resolve, reject }), callback);
      const thenable = Boolean(returned) && typeof (returned as Promise<unknown>).then === 'function';
      const waitsForCallback = runtimeMajor() < 24 && (handler.length >= 3 || returned === undefined);
      if (thenable || !waitsForCallback) Promise.resolve(returned).then(resolve, reject);
    } catch (error) {
      reject(error);
    }
  });
}

function describeError(error: unknown) {
  const e = error instanceof Error ? error : new Error(String(error));
  return { errorType: e.name || 'Error', errorMessage: e.message, stack: e.stack?.split('\n') };
}

async function main(): Promise<void> {
  const send = (message: ResultMessage) => process.send?.(message);
  if (process.env.LOCAL_GATEWAY_URL) {
    routeApiHostsToGateway(process.env.LOCAL_GATEWAY_URL, (process.env.LOCAL_GATEWAY_HOSTS ?? '').split(','));
  }
  let handler: Handler | undefined;
  let initError: unknown;
  try {
    const loaded = await loadHandler();
    refuseCallbackHandlerFromNode24(loaded);
    handler = loaded;
  } catch (error) {
    initError = error;
  }
  process.on('message', (message: InvokeMessage) => {
    if (message.type !== 'invoke') return;
    if (!handler) {
      send({ type: 'error', id: message.id, error: describeError(initError) });
      return;
    }
    runHandler(handler, message).then(
      (result) => send({ type: 'result', id: message.id, result }),
      (error) => send({ type: 'error', id: message.id, error: describeError(error) }),
    );
  });
  process.send?.({ type: 'ready' });
}

void main();
