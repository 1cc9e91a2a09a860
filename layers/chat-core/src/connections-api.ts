import { sleep } from './concurrency';
import { connectionsEndpointOverride } from './config';
import type { ServerFrame } from './protocol';
import { AwsHttpError, answerError, type Payload, payloadOf, SignedRequests } from './signed-http';
import type { WebSocketEvent } from './websocket-event';

// A lean client for the `@connections` management API. The SDK's client spends about 0.8 ms of CPU per
// POST (middleware stack, per-request config copies, serialisation); a fan-out posts the same bytes to
// thousands of connections, so each POST here is one signature and one keep-alive write (signed-http.ts),
// the frame serialised and hashed once per fan-out and what its POSTs share signed once a second.

export type { Payload };

export interface ConnectionStatus {
  connectedAt?: string;
  lastActiveAt?: string;
  identity: { sourceIp?: string; userAgent?: string };
}

/** A frame as a payload for many POSTs. */
export function framePayload(frame: ServerFrame): Payload {
  return payloadOf(JSON.stringify(frame));
}

/** Time for one request once it has its socket: API Gateway answers a healthy POST in milliseconds. */
const REQUEST_TIMEOUT_MS = 1500;

/** 429s are retried with full-jitter backoff from this base, doubling up to the cap. */
const THROTTLE_BACKOFF_MS = { base: 25, cap: 1000 };
/** Without a deadline (no Lambda context), how many times a throttled POST is tried. */
const THROTTLE_ATTEMPTS_WITHOUT_DEADLINE = 8;

/** The stage's `@connections` endpoint: the override if configured, else `https://{domainName}/{stage}`. */
export function connectionsEndpoint(event: WebSocketEvent): string {
  const { domainName, stage } = event.requestContext;
  return connectionsEndpointOverride() ?? `https://${domainName}/${stage}`;
}

export interface ConnectionsApiOptions {
  /** Epoch ms after which throttled POSTs are no longer retried (the invocation's end, less a margin). */
  deadline?: number;
}

/** Pushes frames to clients and reads their status through the management API. */
export class ConnectionsApi {
  private readonly url: URL;
  private readonly basePath: string;
  /** POSTs by payload: a fan-out's share their signing work. */
  private readonly posts = new WeakMap<Payload, SignedRequests>();
  private gets?: SignedRequests;

  constructor(
    readonly endpoint: string,
    private readonly options: ConnectionsApiOptions = {},
  ) {
    this.url = new URL(endpoint);
    this.basePath = this.url.pathname.replace(/\/+$/, '');
  }

  async post(connectionId: string, frame: ServerFrame): Promise<void> {
    await this.postPayload(connectionId, framePayload(frame));
  }

  /**
   * PostToConnection with a payload serialised once for the whole fan-out. A 429 (API Gateway's account
   * throttle) is retried with jittered backoff while the deadline allows; a 5xx or a lost answer once.
   */
  async postPayload(connectionId: string, payload: Payload): Promise<void> {
    let throttled = 0;
    let failed = 0;
    for (;;) {
      try {
        await this.call('POST', connectionId, payload);
        return;
      } catch (error) {
        if (isThrottled(error)) {
          const ceiling = Math.min(THROTTLE_BACKOFF_MS.cap, THROTTLE_BACKOFF_MS.base * 2 ** throttled++);
          const delay = Math.random() * ceiling;
          const { deadline } = this.options;
          const allowed =
            deadline === undefined
              ? throttled < THROTTLE_ATTEMPTS_WITHOUT_DEADLINE
              : Date.now() + delay < deadline;
          if (!allowed) throw error;
          await sleep(delay);
        } else if (!isRetryable(error) || failed++ > 0) {
          throw error;
        }
      }
    }
  }

  /** GetConnection, in the protocol's own field names. */
  async get(connectionId: string): Promise<ConnectionStatus> {
    const info = JSON.parse(await this.call('GET', connectionId)) as {
      connectedAt?: string;
      lastActiveAt?: string;
      identity?: { sourceIp?: string; userAgent?: string };
    };
    return {
      connectedAt: info.connectedAt,
      lastActiveAt: info.lastActiveAt,
      identity: { sourceIp: info.identity?.sourceIp, userAgent: info.identity?.userAgent },
    };
  }

  private async call(method: 'GET' | 'POST', connectionId: string, payload?: Payload): Promise<string> {
    // encodeURIComponent escapes `=` too, as the SDK does
    const answer = await this.requests(method, payload).send(
      `${this.basePath}/@connections/${encodeURIComponent(connectionId)}`,
    );
    if (answer.status >= 200 && answer.status < 300) return answer.body;
    throw answerError(answer);
  }

  private requests(method: 'GET' | 'POST', payload?: Payload): SignedRequests {
    const template = { service: 'execute-api', url: this.url, timeoutMs: REQUEST_TIMEOUT_MS };
    if (!payload) {
      this.gets ??= new SignedRequests({ ...template, method });
      return this.gets;
    }
    let posts = this.posts.get(payload);
    if (!posts) {
      posts = new SignedRequests({
        ...template,
        method,
        payload,
        headers: { 'content-type': 'application/octet-stream' },
      });
      this.posts.set(payload, posts);
    }
    return posts;
  }
}

/** A connection API Gateway no longer has (410). */
export function isGone(error: unknown): boolean {
  return error instanceof Error && error.name === 'GoneException';
}

/** API Gateway's account-level throttle (shared by messages and `@connections` calls). */
export function isThrottled(error: unknown): boolean {
  return error instanceof AwsHttpError && error.statusCode === 429;
}

/** A server error, no answer in time, or a failed socket: worth one more try. */
function isRetryable(error: unknown): boolean {
  if (error instanceof AwsHttpError) return error.statusCode >= 500 || error.statusCode === 0;
  return error instanceof Error && 'code' in error; // ECONNRESET, ECONNREFUSED, ...
}
