import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../connections-http';
import type { LocalFunction } from './local-function';

// Lambda's `Invoke` API for the functions of the local stack, reached by the functions (and the SDK)
// through AWS_ENDPOINT_URL_LAMBDA: `POST /2015-03-31/functions/{name}/invocations`.
// `X-Amz-Invocation-Type: Event` is answered 202 at once and run later, with Lambda's retries: a failed
// attempt (an error or a timeout) is tried again up to the function's MaximumRetryAttempts (2 unless its
// EventInvokeConfig says otherwise), then the event goes to its on-failure destination, here a record.
// Lambda waits about a minute, then two, between attempts; locally the waits are `retryDelaysMs`.

/** Lambda's limit on an asynchronous invocation's payload. */
const EVENT_PAYLOAD_MAX_BYTES = 256 * 1024;
const REQUEST_RESPONSE_PAYLOAD_MAX_BYTES = 6 * 1024 * 1024;

export interface FailedAsyncInvocation {
  functionName: string;
  requestId: string;
  attempts: number;
  /** The function's on-failure destination (ARN), if it has one. */
  destination?: string;
  error: { errorType: string; errorMessage: string };
  event: unknown;
}

export interface InvokeEndpointOptions {
  /** The stack's functions by name (read at each request: reloads replace them). */
  functions: () => Record<string, LocalFunction>;
  /** Waits before the first and second retry (default 1 s and 2 s: Lambda's minute and two, scaled down). */
  retryDelaysMs?: [number, number];
  log?: (line: string) => void;
}

export class InvokeEndpoint {
  private readonly server: Server;
  private readonly pending = new Set<Promise<void>>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Events whose every attempt failed, as the on-failure destination would get them. */
  readonly failed: FailedAsyncInvocation[] = [];
  private closed = false;

  constructor(private readonly options: InvokeEndpointOptions) {
    this.server = createServer((req, res) => {
      this.onRequest(req, res).catch((error: Error) =>
        sendError(res, 500, 'ServiceException', error.message),
      );
    });
  }

  async listen(host = '127.0.0.1'): Promise<string> {
    await new Promise<void>((resolve) => this.server.listen(0, host, resolve));
    return `http://${host}:${(this.server.address() as AddressInfo).port}`;
  }

  /** Invocations still queued or running (tests wait for none). */
  get inFlight(): number {
    return this.pending.size + this.timers.size;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private async onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const match = /^\/2015-03-31\/functions\/([^/]+)\/invocations$/.exec((req.url ?? '').split('?')[0]!);
    if (!match || req.method !== 'POST')
      return sendError(res, 404, 'ResourceNotFoundException', `No route for ${req.method} ${req.url}`);
    // A function may be named by name or ARN (`arn:aws:lambda:region:account:function:name`).
    const name = decodeURIComponent(match[1]!).split(':').pop()!;
    const fn = this.options.functions()[name];
    if (!fn) return sendError(res, 404, 'ResourceNotFoundException', `Function not found: ${name}`);
    const type = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse');
    const limit = type === 'Event' ? EVENT_PAYLOAD_MAX_BYTES : REQUEST_RESPONSE_PAYLOAD_MAX_BYTES;
    const body = await readBody(req, limit);
    if (body === undefined)
      return sendError(res, 413, 'RequestTooLargeException', `Request must be smaller than ${limit} bytes`);
    let event: unknown;
    try {
      event = body.length === 0 ? {} : JSON.parse(body.toString());
    } catch {
      return sendError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json');
    }
    const requestId = randomUUID();
    switch (type) {
      case 'Event':
        res.writeHead(202, { 'x-amzn-requestid': requestId }).end();
        this.track(this.runAsync(name, fn, event, requestId, 1));
        return;
      case 'RequestResponse': {
        const outcome = await fn.invoke(event, requestId);
        const headers: Record<string, string> = { 'x-amzn-requestid': requestId };
        if (outcome.error) headers['x-amz-function-error'] = 'Unhandled';
        res.writeHead(200, { ...headers, 'content-type': 'application/json' });
        res.end(JSON.stringify(outcome.error ?? outcome.result ?? null));
        return;
      }
      case 'DryRun':
        res.writeHead(204, { 'x-amzn-requestid': requestId }).end();
        return;
      default:
        return sendError(res, 400, 'InvalidParameterValueException', `Unknown InvocationType ${type}`);
    }
  }

  private track(run: Promise<void>): void {
    this.pending.add(run);
    void run.finally(() => this.pending.delete(run));
  }

  private async runAsync(
    name: string,
    fn: LocalFunction,
    event: unknown,
    requestId: string,
    attempt: number,
  ): Promise<void> {
    if (this.closed) return;
    const outcome = await fn.invoke(event, requestId).catch((error: Error) => ({
      error: { errorType: 'ServiceException', errorMessage: error.message },
    }));
    if (!outcome.error) return;
    const { maximumRetryAttempts, onFailure } = fn.spec.async;
    const log = this.options.log ?? (() => {});
    if (attempt <= maximumRetryAttempts) {
      const delay = (this.options.retryDelaysMs ?? [1000, 2000])[Math.min(attempt - 1, 1)]!;
      log(`${name} async attempt ${attempt} failed (${outcome.error.errorType}): retrying in ${delay} ms`);
      const timer = setTimeout(() => {
        this.timers.delete(timer);
        this.track(this.runAsync(name, fn, event, requestId, attempt + 1));
      }, delay);
      this.timers.add(timer);
      return;
    }
    log(`${name} async invocation ${requestId} failed ${attempt} times: sent to ${onFailure ?? 'nowhere'}`);
    this.failed.push({
      functionName: name,
      requestId,
      attempts: attempt,
      ...(onFailure ? { destination: onFailure } : {}),
      error: { errorType: outcome.error.errorType, errorMessage: outcome.error.errorMessage },
      event,
    });
  }
}

function sendError(res: ServerResponse, status: number, type: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json', 'x-amzn-errortype': type });
  res.end(JSON.stringify({ Type: 'User', message }));
}
