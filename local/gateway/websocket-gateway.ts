import {
  createServer,
  type IncomingMessage,
  type Server,
  type ServerResponse,
  STATUS_CODES,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { type RawData, WebSocket, WebSocketServer } from 'ws';
import { refuseUnsigned } from '../connections-auth';
import {
  type ApiAnswer,
  apiError,
  connectionInfoBody,
  POST_MAX_BYTES,
  parseConnectionsPath,
  readBody,
  sendAnswer,
  sendInvalidConnectionId,
} from '../connections-http';
import { LOCAL_AWS_ENV } from '../dynamodb';
import type { InvokeOutcome } from '../lambda/local-function';
import { LOCAL_ACCOUNT_ID, type RouteSpec, type ThrottleSettings, type WebSocketApiSpec } from '../local-app';
import { authorizerEvent, connectMethodArn, decide, hasIdentitySources } from './authorizer';
import {
  type ApiContext,
  type ConnectionIdentity,
  connectEvent,
  disconnectEvent,
  gatewayId,
  messageEvent,
} from './events';
import { watchFrameSizes } from './frame-guard';
import { renderTemplate, selectTemplate } from './mapping-template';
import { selectRoute } from './route-selection';
import { TokenBucket } from './throttle';

/** API Gateway's WebSocket quotas (none of them can be raised on AWS). */
export const LIMITS = {
  messageBytes: 128 * 1024,
  frameBytes: 32 * 1024,
  idleTimeoutMs: 10 * 60 * 1000,
  maxConnectionMs: 2 * 60 * 60 * 1000,
  integrationTimeoutMs: 29_000,
  /**
   * A client's outbound buffer: past it, `@connections` POSTs to that client answer 429
   * LimitExceededException instead of queueing (AWS does not publish its figure).
   */
  clientBufferBytes: 1024 * 1024,
};

export interface GatewayOptions {
  api: WebSocketApiSpec;
  /** Runs a function of the template (by logical id) with an event. */
  invoke: (functionId: string, event: unknown) => Promise<InvokeOutcome>;
  idleTimeoutMs?: number;
  maxConnectionMs?: number;
  integrationTimeoutMs?: number;
  /** One line per invocation; with `verbose`, events and results too. */
  log?: (line: string) => void;
  verbose?: boolean;
  /** Serves other HTTP requests (the chat page); returns false to let the gateway answer 404. */
  serveHttp?: (req: IncomingMessage, res: ServerResponse) => boolean;
  /** Test hook: when it returns true for an event, the route's function is not invoked. */
  dropInvocation?: (routeKey: string, event: unknown) => boolean;
  /**
   * Stands in for the network between a function and API Gateway: each `@connections` request is
   * answered this long after it arrives (uniform between min and max), or once served if that takes
   * longer. What it does (a frame sent, a connection closed) happens on arrival.
   */
  connectionsLatency?: { minMs: number; maxMs: number };
  /**
   * API Gateway's account-level throttle as it meets `@connections` calls (10,000/s, burst 5,000 on AWS,
   * not enforced unless set): past it a call is answered 429 LimitExceededException.
   */
  connectionsRate?: ThrottleSettings;
}

interface Client {
  identity: ConnectionIdentity;
  ws: WebSocket;
  lastActiveAt: number;
  /** Set when the gateway closes the connection, so $disconnect reports the gateway's reason. */
  closedBy?: { code: number; reason: string };
  idleTimer: NodeJS.Timeout;
  lifetimeTimer: NodeJS.Timeout;
}

type ProxyResult = { statusCode?: number; body?: unknown; headers?: Record<string, string> } | undefined;

const CLIENT_CLOSE_REASONS: Record<number, string> = {
  1000: 'Client-side close frame status set to 1000',
  1001: 'Going away',
  1005: 'Client-side close frame status not set',
  1006: 'Connection closed abnormally',
};

/**
 * A local API Gateway WebSocket API: the upgrade waits for `$connect`, messages are routed by the
 * API's selection expression, functions get events shaped as AWS sends them, and the stage's
 * `@connections` API pushes to, inspects and closes connections. Limits and close codes are AWS's.
 */
export class WebSocketGateway {
  readonly server: Server;
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: LIMITS.messageBytes,
    perMessageDeflate: false,
    handleProtocols: (_, req) => this.selectedProtocols.get(req) ?? false,
  });
  private readonly clients = new Map<string, Client>();
  private readonly selectedProtocols = new WeakMap<IncomingMessage, string>();
  /** The stage's throttle of each route, made on first use. */
  private readonly buckets = new Map<string, TokenBucket>();
  private readonly limits: typeof LIMITS;
  private readonly connectionsBucket: TokenBucket | undefined;
  /** `@connections` calls answered 429 by `connectionsRate`. */
  throttledConnectionsCalls = 0;
  private closing = false;
  private apiContext: ApiContext;

  constructor(private readonly options: GatewayOptions) {
    this.limits = {
      ...LIMITS,
      ...(options.idleTimeoutMs ? { idleTimeoutMs: options.idleTimeoutMs } : {}),
      ...(options.maxConnectionMs ? { maxConnectionMs: options.maxConnectionMs } : {}),
      ...(options.integrationTimeoutMs ? { integrationTimeoutMs: options.integrationTimeoutMs } : {}),
    };
    this.connectionsBucket = options.connectionsRate && new TokenBucket(options.connectionsRate);
    this.apiContext = { apiId: options.api.apiId, stage: options.api.stageName, domainName: 'localhost' };
    this.server = createServer((req, res) => this.onHttpRequest(req, res));
    this.server.on('upgrade', (req, socket, head) => {
      socket.on('error', () => {});
      this.onUpgrade(req, socket, head).catch((error: Error) => {
        this.log(`upgrade failed: ${error.message}`);
        refuseUpgrade(socket, 500, { message: 'Internal server error' });
      });
    });
  }

  /** Listens on `port` (0: any free one); returns the port. */
  async listen(port: number, host = '127.0.0.1'): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => resolve());
    });
    const actual = (this.server.address() as AddressInfo).port;
    this.apiContext = { ...this.apiContext, domainName: `localhost:${actual}` };
    return actual;
  }

  get connectionCount(): number {
    return this.clients.size;
  }

  /** Closes every connection and the server; no $disconnect runs for them. */
  async close(): Promise<void> {
    this.closing = true;
    for (const client of this.clients.values()) {
      this.clearTimers(client);
      client.ws.terminate();
    }
    this.clients.clear();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private log(line: string): void {
    (this.options.log ?? console.log)(line);
  }

  private route(routeKey: string): RouteSpec | undefined {
    return this.options.api.routes[routeKey];
  }

  /** Takes a token from the route's stage throttle; false when API Gateway would answer 429. */
  private admit(routeKey: string): boolean {
    let bucket = this.buckets.get(routeKey);
    if (!bucket) {
      bucket = new TokenBucket(this.route(routeKey)!.throttle);
      this.buckets.set(routeKey, bucket);
    }
    return bucket.take();
  }

  /**
   * The payload a route's function gets: the event itself (proxy), or the request template the
   * message selects, rendered (`AWS`). Throws when no template applies and passthrough is off, or
   * when the result is not JSON (Lambda takes JSON payloads only).
   */
  private integrationPayload(route: RouteSpec, event: { body?: string; requestContext: object }): unknown {
    const { integration } = route;
    if (integration.type === 'AWS_PROXY') return event;
    const body = event.body ?? '';
    const template = selectTemplate(integration, body);
    if (template === undefined) {
      const hasTemplates = Object.keys(integration.requestTemplates).length > 0;
      if (
        integration.passthroughBehavior === 'NEVER' ||
        (integration.passthroughBehavior === 'WHEN_NO_TEMPLATES' && hasTemplates)
      )
        throw new Error('no request template matches and passthrough is off (415 Unsupported Media Type)');
      return body ? JSON.parse(body) : {};
    }
    const rendered = renderTemplate(template, {
      body,
      context: event.requestContext as Record<string, unknown>,
      stageVariables: this.options.api.stageVariables,
    });
    try {
      return JSON.parse(rendered);
    } catch {
      throw new Error(`the request template did not render JSON: ${rendered.slice(0, 200)}`);
    }
  }

  /** Invokes a route's function under the integration timeout; logs one line. */
  private async invokeRoute(
    routeKey: string,
    connectionId: string,
    event: { body?: string; requestContext: object },
  ): Promise<{ result?: ProxyResult; failure?: 'error' | 'timeout' }> {
    const route = this.route(routeKey)!;
    const { functionId } = route.integration;
    if (this.dropped(routeKey, connectionId, functionId, event)) return {};
    let payload: unknown;
    try {
      payload = this.integrationPayload(route, event);
    } catch (error) {
      this.log(`${routeKey} ${connectionId} ${functionId} mapping template: ${(error as Error).message}`);
      return { failure: 'error' };
    }
    return this.invokeFunction(routeKey, connectionId, functionId, payload, route.integration.type === 'AWS');
  }

  /** The test hook, given the gateway's event (a non-proxy integration's payload may lack requestContext). */
  private dropped(routeKey: string, connectionId: string, functionId: string, event: unknown): boolean {
    if (!this.options.dropInvocation?.(routeKey, event)) return false;
    this.log(`${routeKey} ${connectionId} ${functionId} dropped`);
    return true;
  }

  private async invokeFunction(
    routeKey: string,
    connectionId: string,
    functionId: string,
    event: unknown,
    nonProxy = false,
  ): Promise<{ result?: ProxyResult; failure?: 'error' | 'timeout'; error?: { errorMessage: string } }> {
    const started = Date.now();
    if (this.options.verbose) this.log(`${routeKey} event: ${JSON.stringify(event)}`);
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), this.limits.integrationTimeoutMs);
    });
    const outcome = await Promise.race([this.options.invoke(functionId, event), timeout]);
    clearTimeout(timer);
    const took = `${Date.now() - started} ms`;
    if (outcome === 'timeout') {
      this.log(`${routeKey} ${connectionId} ${functionId} ${took} integration timeout`);
      return { failure: 'timeout' };
    }
    if (outcome.error) {
      this.log(
        `${routeKey} ${connectionId} ${functionId} ${took} ${outcome.error.errorType}: ${outcome.error.errorMessage}`,
      );
      return { failure: 'error', error: outcome.error };
    }
    // A non-proxy integration's answer is the function's JSON result, not a proxy response.
    const result = (
      nonProxy ? { body: JSON.stringify(outcome.result ?? null) } : outcome.result
    ) as ProxyResult;
    this.log(`${routeKey} ${connectionId} ${functionId} ${took} ${result?.statusCode ?? 200}`);
    if (this.options.verbose) this.log(`${routeKey} result: ${JSON.stringify(result)}`);
    return { result };
  }

  private async onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname.replace(/\/$/, '');
    if (path !== `/${this.apiContext.stage}`) return refuseUpgrade(socket, 403, { message: 'Forbidden' });
    const identity: ConnectionIdentity = {
      connectionId: gatewayId(),
      connectedAt: Date.now(),
      sourceIp: (req.socket.remoteAddress ?? '127.0.0.1').replace(/^::ffff:/, ''),
      userAgent: req.headers['user-agent'] ?? '',
    };
    const connect = this.route('$connect');
    if (connect) {
      if (!this.admit('$connect')) return refuseUpgrade(socket, 429, { message: 'Too Many Requests' });
      if (connect.authorizer) {
        const refusal = await this.authorize(connect, identity, req);
        if (refusal) return refuseUpgrade(socket, refusal.status, { message: refusal.message });
      }
      const event = connectEvent(this.apiContext, identity, req);
      const { result, failure } = await this.invokeRoute('$connect', identity.connectionId, event);
      if (failure)
        return refuseUpgrade(socket, failure === 'timeout' ? 504 : 500, { message: 'Internal server error' });
      const status = result?.statusCode ?? 200;
      if (status < 200 || status > 299)
        return refuseUpgrade(
          socket,
          status,
          typeof result?.body === 'string' ? result.body : '',
          headerValue(result?.headers, 'content-type'),
        );
      const chosen = headerValue(result?.headers, 'sec-websocket-protocol');
      if (chosen) this.selectedProtocols.set(req, chosen);
    }
    if (socket.destroyed) return;
    this.wss.handleUpgrade(req, socket, head, (ws) => this.onOpen(ws, identity));
  }

  /**
   * Runs the `$connect` route's REQUEST authorizer as API Gateway does; on Allow, the identity carries
   * its principalId and context to every later event. Returns the handshake's refusal otherwise.
   */
  private async authorize(
    connect: RouteSpec,
    identity: ConnectionIdentity,
    req: IncomingMessage,
  ): Promise<{ status: number; message: string } | undefined> {
    const authorizer = connect.authorizer!;
    const label = `$connect ${identity.connectionId} authorizer ${authorizer.name}`;
    if (!hasIdentitySources(authorizer, req)) {
      this.log(`${label}: identity source missing (${authorizer.identitySources.join(', ')}): 401`);
      return { status: 401, message: 'Unauthorized' };
    }
    const methodArn = connectMethodArn(
      LOCAL_AWS_ENV.AWS_REGION,
      LOCAL_ACCOUNT_ID,
      this.apiContext.apiId,
      this.apiContext.stage,
    );
    const event = authorizerEvent(
      req,
      connectEvent(this.apiContext, identity, req),
      methodArn,
      this.options.api.stageVariables,
    );
    // A dropped authorizer invocation (test hook) refuses, as a lost authorizer answer would.
    if (this.dropped('$connect', identity.connectionId, authorizer.functionId, event))
      return { status: 500, message: 'Internal server error' };
    const { result, failure, error } = await this.invokeFunction(
      '$connect',
      identity.connectionId,
      authorizer.functionId,
      event,
    );
    if (failure === 'timeout') return { status: 500, message: 'Internal server error' };
    const decision = decide(error ? { error } : { result }, methodArn);
    if (decision.allow) {
      identity.authorizer = decision.authorizer;
      return undefined;
    }
    this.log(`${label}: ${decision.reason}: ${decision.status}`);
    const message = { 401: 'Unauthorized', 403: 'Forbidden', 500: 'Internal server error' }[decision.status];
    return { status: decision.status, message };
  }

  private onOpen(ws: WebSocket, identity: ConnectionIdentity): void {
    const client: Client = {
      identity,
      ws,
      lastActiveAt: Date.now(),
      idleTimer: setTimeout(
        () => this.closeClient(client, 1001, 'Going away'),
        this.limits.idleTimeoutMs,
      ).unref(),
      lifetimeTimer: setTimeout(
        () => this.closeClient(client, 1001, 'Going away'),
        this.limits.maxConnectionMs,
      ).unref(),
    };
    this.clients.set(identity.connectionId, client);
    watchFrameSizes((ws as unknown as { _socket: Duplex })._socket, LIMITS.frameBytes, () =>
      this.closeClient(client, 1009, 'Message too big'),
    );
    ws.on('message', (data: RawData, isBinary: boolean) => {
      if (client.closedBy) return;
      if (isBinary) return this.closeClient(client, 1003, 'Binary frames are not supported');
      this.touch(client);
      void this.onMessage(client, data.toString());
    });
    ws.on('error', () => {}); // protocol errors (e.g. a message over 128 KB) close the socket with their code
    ws.on('close', (code: number, reason: Buffer) => this.onClose(client, code, reason.toString()));
  }

  private touch(client: Client): void {
    client.lastActiveAt = Date.now();
    client.idleTimer.refresh();
  }

  private closeClient(client: Client, code: number, reason: string): void {
    client.closedBy ??= { code, reason };
    client.ws.close(code, reason);
    // A client that never answers the close frame is dropped, as AWS drops it.
    setTimeout(() => client.ws.terminate(), 2000).unref();
  }

  private clearTimers(client: Client): void {
    clearTimeout(client.idleTimer);
    clearTimeout(client.lifetimeTimer);
  }

  private onClose(client: Client, code: number, reason: string): void {
    this.clearTimers(client);
    this.clients.delete(client.identity.connectionId);
    if (this.closing || !this.route('$disconnect')) return;
    const statusCode = client.closedBy?.code ?? code;
    const why = client.closedBy?.reason ?? (reason || CLIENT_CLOSE_REASONS[code] || '');
    const event = disconnectEvent(this.apiContext, client.identity, statusCode, why);
    void this.invokeRoute('$disconnect', client.identity.connectionId, event);
  }

  private async onMessage(client: Client, text: string): Promise<void> {
    const routeKeys = Object.keys(this.options.api.routes).filter(
      (key) => key !== '$connect' && key !== '$disconnect',
    );
    const routeKey = selectRoute(this.options.api.routeSelectionExpression, routeKeys, text);
    const { connectionId } = client.identity;
    if (!routeKey) {
      this.sendText(client, JSON.stringify({ message: 'Forbidden', connectionId, requestId: gatewayId() }));
      return;
    }
    if (!this.admit(routeKey)) {
      this.log(`${routeKey} ${connectionId} throttled (stage route settings)`);
      this.sendText(
        client,
        JSON.stringify({ message: 'Too Many Requests', connectionId, requestId: gatewayId() }),
      );
      return;
    }
    const event = messageEvent(this.apiContext, client.identity, routeKey, text);
    const { result, failure } = await this.invokeRoute(routeKey, connectionId, event);
    const requestId = event.requestContext.requestId;
    if (failure) {
      const message = failure === 'timeout' ? 'Endpoint request timed out' : 'Internal server error';
      this.sendText(client, JSON.stringify({ message, connectionId, requestId }));
    } else if (this.route(routeKey)!.twoWay && typeof result?.body === 'string') {
      this.sendText(client, result.body);
    }
  }

  /** Sends a text message in frames of at most 32 KB, as API Gateway does. */
  private sendText(client: Client, text: string | Buffer): void {
    if (client.ws.readyState !== WebSocket.OPEN) return;
    const data = typeof text === 'string' ? Buffer.from(text) : text;
    const frames = Math.max(1, Math.ceil(data.length / LIMITS.frameBytes));
    for (let i = 0; i < frames; i++) {
      const last = i === frames - 1;
      const chunk = data.subarray(i * LIMITS.frameBytes, (i + 1) * LIMITS.frameBytes);
      client.ws.send(chunk, { binary: false, fin: last });
    }
  }

  private onHttpRequest(req: IncomingMessage, res: ServerResponse): void {
    const target = parseConnectionsPath(req.url);
    if (target) {
      const { stage, connectionId } = target;
      if (connectionId === undefined) {
        sendInvalidConnectionId(res);
        return;
      }
      const latency = this.options.connectionsLatency;
      const answerable = latency && sleep(latency.minMs + Math.random() * (latency.maxMs - latency.minMs));
      void this.onConnectionsRequest(req, { stage, connectionId })
        .catch((error: Error) => apiError(500, 'InternalServerErrorException', error.message))
        .then(async (answer) => {
          await answerable;
          sendAnswer(res, answer);
        });
      return;
    }
    if (this.options.serveHttp?.(req, res)) return;
    res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ message: 'Not Found' }));
  }

  /**
   * The `@connections` management API: POST sends, GET describes, DELETE closes. Only SigV4-signed
   * requests are served. A POST's answer is as AWS gives it: 200 once the frame is queued, or 429 when
   * the client's outbound buffer is already full.
   */
  private async onConnectionsRequest(
    req: IncomingMessage,
    target: { stage: string; connectionId: string },
  ): Promise<ApiAnswer> {
    const body = await readBody(req, POST_MAX_BYTES);
    if (this.connectionsBucket && !this.connectionsBucket.take()) {
      this.throttledConnectionsCalls++;
      return apiError(429, 'LimitExceededException', 'Limit exceeded');
    }
    // An oversized body is not kept, so its signature cannot be checked: it is refused first.
    if (!body) return apiError(413, 'PayloadTooLargeException', 'Request entity too large');
    const refusal = refuseUnsigned(req, body);
    if (refusal) {
      this.log(`@connections ${req.method} refused: ${refusal.errorType}`);
      return apiError(refusal.status, refusal.errorType, refusal.message);
    }
    if (target.stage !== this.apiContext.stage) return apiError(403, 'ForbiddenException', 'Forbidden');
    const client = this.clients.get(target.connectionId);
    if (!client || client.closedBy || client.ws.readyState !== WebSocket.OPEN) {
      return apiError(410, 'GoneException', `Connection ${target.connectionId} is gone`);
    }
    switch (req.method) {
      case 'POST':
        if (client.ws.bufferedAmount > this.limits.clientBufferBytes)
          return apiError(429, 'LimitExceededException', 'Limit exceeded');
        this.touch(client);
        this.sendText(client, body);
        return { status: 200 };
      case 'GET':
        return {
          status: 200,
          headers: { 'content-type': 'application/json' },
          body: connectionInfoBody({
            connectedAt: client.identity.connectedAt,
            lastActiveAt: client.lastActiveAt,
            sourceIp: client.identity.sourceIp,
            userAgent: client.identity.userAgent,
          }),
        };
      case 'DELETE':
        this.closeClient(client, 1000, 'Connection deleted');
        return { status: 204 };
      default:
        return apiError(405, 'MethodNotAllowedException', 'Method not allowed');
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function headerValue(headers: Record<string, string> | undefined, name: string): string | undefined {
  return Object.entries(headers ?? {}).find(([key]) => key.toLowerCase() === name)?.[1];
}

/** Answers a handshake with an HTTP error: the gateway's own JSON, or a `$connect` integration's body and type. */
function refuseUpgrade(
  socket: Duplex,
  status: number,
  body: unknown,
  contentType = 'application/json',
): void {
  if (socket.destroyed) return;
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  socket.end(
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? 'Refused'}\r\nContent-Type: ${contentType.replace(/[\r\n]/g, '')}\r\n` +
      `Content-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`,
  );
}
