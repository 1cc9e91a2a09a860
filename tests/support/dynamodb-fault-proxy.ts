import { createServer, type IncomingHttpHeaders, request, type Server, type ServerResponse } from 'node:http';

/** What the proxy does with a DynamoDB call (by its operation, e.g. `TransactWriteItems`). */
export type Fault = 'pass' | 'throttle' | 'fail';

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/**
 * An HTTP proxy in front of DynamoDB Local that can make chosen operations throttle (400
 * ThrottlingException, which the SDK retries) or fail (500), the faults DynamoDB itself produces, and
 * make secondary indexes lag as they do on AWS (DynamoDB Local's are always up to date).
 */
export class DynamoDbFaultProxy {
  /** Decides each call's fate from its operation and JSON request; `calls` counts the calls seen per operation. */
  fault: (operation: string, request: string) => Fault = () => 'pass';
  /**
   * While true, a Query on a secondary index gets the answer the same query (same index and key) got
   * last: the index shows an older state of the table, missing fresh writes and keeping fresh deletes.
   */
  indexLag = false;
  readonly calls = new Map<string, number>();
  private readonly lastIndexAnswers = new Map<string, Answer>();
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  /** Listens on `port` (default: a free one; a restart passes the one it had) and returns its URL. */
  async start(port = 0): Promise<string> {
    const target = new URL(this.target);
    this.server = createServer(async (req, res) => {
      const operation = String(req.headers['x-amz-target'] ?? '').split('.')[1] ?? 'unknown';
      this.calls.set(operation, (this.calls.get(operation) ?? 0) + 1);
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      const body = Buffer.concat(chunks);
      const fate = this.fault(operation, body.toString('utf8'));
      if (fate !== 'pass') {
        const [status, type] =
          fate === 'throttle'
            ? [400, 'com.amazonaws.dynamodb.v20120810#ThrottlingException']
            : [500, 'InternalServerError'];
        res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
        res.end(JSON.stringify({ __type: type, message: `injected ${fate}` }));
        return;
      }
      const indexKey = operation === 'Query' ? indexQueryKey(body) : undefined;
      const lagging = indexKey === undefined ? undefined : this.lastIndexAnswers.get(indexKey);
      if (this.indexLag && lagging) return answer(res, lagging);
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (response) => {
          const parts: Buffer[] = [];
          response.on('data', (chunk: Buffer) => parts.push(chunk));
          response.on('end', () => {
            const reply = {
              status: response.statusCode ?? 500,
              headers: response.headers,
              body: Buffer.concat(parts),
            };
            if (indexKey !== undefined && reply.status === 200) this.lastIndexAnswers.set(indexKey, reply);
            answer(res, reply);
          });
        },
      );
      // DynamoDB Local is down: the client sees the connection dropped, as with an unreachable endpoint.
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
    return `http://127.0.0.1:${this.port}`;
  }

  get port(): number {
    const address = this.server?.address();
    if (!address || typeof address === 'string') throw new Error('the proxy is not listening');
    return address.port;
  }

  /** Refuses new connections and drops open ones, as when DynamoDB's process ends. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}

function answer(res: ServerResponse, { status, headers, body }: Answer): void {
  res.writeHead(status, headers);
  res.end(body);
}

/** The index and key values a Query on a secondary index asks for (its number values are filter bounds). */
function indexQueryKey(body: Buffer): string | undefined {
  const input = JSON.parse(body.toString('utf8')) as {
    IndexName?: string;
    ExpressionAttributeValues?: Record<string, { S?: string }>;
  };
  if (!input.IndexName) return undefined;
  const keys = Object.values(input.ExpressionAttributeValues ?? {}).flatMap((value) =>
    value.S ? [value.S] : [],
  );
  return JSON.stringify([input.IndexName, keys.sort()]);
}
