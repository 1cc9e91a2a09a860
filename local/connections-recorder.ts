import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  connectionInfoBody,
  POST_MAX_BYTES,
  parseConnectionsPath,
  readBody,
  sendApiError,
  sendInvalidConnectionId,
} from './connections-http';

/** How the recorder answers for one connection id. */
export type RecipientBehaviour = 'deliver' | 'gone' | 'fail' | 'hang';

export interface RecordedPost {
  connectionId: string;
  data: string;
}

/**
 * A real HTTP server speaking the `@connections` management API that records what handlers post,
 * instead of delivering it. Used by `npm run invoke` and the handler integration tests.
 */
export class ConnectionsRecorder {
  readonly posts: RecordedPost[] = [];
  readonly deleted: string[] = [];
  /** Decides each recipient's fate; by default every connection exists. */
  behaviour: (connectionId: string) => RecipientBehaviour = () => 'deliver';
  private server: Server | undefined;

  /** Starts on a free loopback port; resolves to its base URL (`http://127.0.0.1:port`). */
  async start(): Promise<string> {
    this.server = createServer(async (req, res) => {
      const target = parseConnectionsPath(req.url);
      if (!target) return sendApiError(res, 404, 'NotFoundException', 'Not Found');
      const { connectionId } = target;
      if (connectionId === undefined) return sendInvalidConnectionId(res);
      const body = await readBody(req, POST_MAX_BYTES);
      const fate = this.behaviour(connectionId);
      if (fate === 'hang') return; // never answers: the caller's timeout decides
      if (fate === 'fail')
        return sendApiError(res, 500, 'InternalServerErrorException', 'Internal server error');
      if (fate === 'gone') return sendApiError(res, 410, 'GoneException', 'Gone');
      if (req.method === 'POST') {
        if (!body) return sendApiError(res, 413, 'PayloadTooLargeException', 'Payload too large');
        this.posts.push({ connectionId, data: body.toString('utf8') });
        res.writeHead(200).end();
      } else if (req.method === 'GET') {
        const now = Date.now();
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(
          connectionInfoBody({
            connectedAt: now,
            lastActiveAt: now,
            sourceIp: '127.0.0.1',
            userAgent: 'recorder',
          }),
        );
      } else if (req.method === 'DELETE') {
        this.deleted.push(connectionId);
        res.writeHead(204).end();
      } else sendApiError(res, 405, 'MethodNotAllowedException', 'Method not allowed');
    });
    const server = this.server;
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  }

  /** The frames posted to one connection, parsed. */
  framesTo(connectionId: string): Record<string, unknown>[] {
    return this.posts.filter((p) => p.connectionId === connectionId).map((p) => JSON.parse(p.data));
  }

  clear(): void {
    this.posts.length = 0;
    this.deleted.length = 0;
  }

  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
}
