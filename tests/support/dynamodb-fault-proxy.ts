import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the proxy does with a DynamoDB call (by its operation, e.g. `TransactWriteItems`). */
export type Fault = 'pass' | 'throttle' | 'fail';

/**
 * An HTTP proxy in front of DynamoDB Local that can make chosen operations throttle (400
 * ThrottlingException, which the SDK retries) or fail (500), the faults DynamoDB itself produces.
 */
export class DynamoDbFaultProxy {
  /** Decides each call's fate from its operation and JSON request; `calls` counts the calls seen per operation. */
  fault: (operation: string, request: string) => Fault = () => 'pass';
  readonly calls = new Map<string, number>();
  private server: Server | undefined;

  constructor(private readonly target: string) {}

  async start(): Promise<string> {
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
      const upstream = request(
        { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
        (response) => {
          res.writeHead(response.statusCode ?? 500, response.headers);
          response.pipe(res);
        },
      );
      // DynamoDB Local is down: the client sees the connection dropped, as with an unreachable endpoint.
      upstream.on('error', () => res.destroy());
      upstream.end(body);
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
