import { Agent } from 'node:https';
import {
  ApiGatewayManagementApiClient,
  GetConnectionCommand,
  PostToConnectionCommand,
} from '@aws-sdk/client-apigatewaymanagementapi';
import { connectionsEndpointOverride } from './config';
import type { ServerFrame } from './protocol';
import type { WebSocketEvent } from './websocket-event';

export interface ConnectionStatus {
  connectedAt?: string;
  lastActiveAt?: string;
  identity: { sourceIp?: string; userAgent?: string };
}

const clients = new Map<string, ApiGatewayManagementApiClient>();

/** The stage's `@connections` endpoint: the override if configured, else `https://{domainName}/{stage}`. */
export function connectionsEndpoint(event: WebSocketEvent): string {
  const { domainName, stage } = event.requestContext;
  return connectionsEndpointOverride() ?? `https://${domainName}/${stage}`;
}

function clientFor(endpoint: string): ApiGatewayManagementApiClient {
  let client = clients.get(endpoint);
  if (!client) {
    client = new ApiGatewayManagementApiClient({
      endpoint,
      // One retry only, and short timeouts: a hung recipient must not hold up the fan-out past the
      // function timeout (API Gateway answers a healthy POST in milliseconds).
      maxAttempts: 2,
      requestHandler: {
        connectionTimeout: 1000,
        requestTimeout: 1500,
        throwOnRequestTimeout: true,
        httpsAgent: new Agent({ keepAlive: true, maxSockets: 64 }),
      },
    });
    clients.set(endpoint, client);
  }
  return client;
}

/** Pushes frames to clients and reads their status through the management API; one client per endpoint, reused. */
export class ConnectionsApi {
  private readonly client: ApiGatewayManagementApiClient;

  constructor(endpoint: string) {
    this.client = clientFor(endpoint);
  }

  async post(connectionId: string, frame: ServerFrame): Promise<void> {
    await this.client.send(
      new PostToConnectionCommand({ ConnectionId: connectionId, Data: Buffer.from(JSON.stringify(frame)) }),
    );
  }

  /** GetConnection, in the protocol's own field names. */
  async get(connectionId: string): Promise<ConnectionStatus> {
    const info = await this.client.send(new GetConnectionCommand({ ConnectionId: connectionId }));
    return {
      connectedAt: info.ConnectedAt?.toISOString(),
      lastActiveAt: info.LastActiveAt?.toISOString(),
      identity: { sourceIp: info.Identity?.SourceIp, userAgent: info.Identity?.UserAgent },
    };
  }
}

/** The SDK names the error class from the response's error type; 410 alone would be `Unknown`. */
export function isGone(error: unknown): boolean {
  return error instanceof Error && error.name === 'GoneException';
}
