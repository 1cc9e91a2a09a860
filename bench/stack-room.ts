// A local stack in its own process with `ws` clients connected through its real $connect, whose
// connection ids are known, and rooms whose memberships are written straight into the table (joining
// one by one would fan `joined` out to every earlier member: quadratic, and not what is measured).
import { randomUUID } from 'node:crypto';
import type WebSocket from 'ws';
import { localDynamoDbClient } from '../local/dynamodb';
import { closeSockets, openSockets } from './clients';
import { dropTable } from './common';
import { membershipOf, Population } from './population';
import { ServerProcess, type ServerSpec } from './server-process';

/** Each socket's connection id, from the items its `$connect` wrote (socket `i` is named `bench{i}`). */
async function idsByIndex(endpoint: string, tableName: string, count: number): Promise<string[]> {
  const client = localDynamoDbClient(endpoint);
  try {
    const byName = await new Population(client, tableName).connectionIdsByName();
    return Array.from({ length: count }, (_, index) => {
      const id = byName.get(`bench${index}`);
      if (!id) throw new Error(`no connection item for bench${index}`);
      return id;
    });
  } finally {
    client.destroy();
  }
}

export class StackWithClients {
  private constructor(
    readonly server: ServerProcess,
    readonly sockets: WebSocket[],
    readonly ids: string[],
    private readonly endpoint: string,
    private readonly tableName: string,
  ) {}

  static async start(
    endpoint: string,
    clients: number,
    environment?: Record<string, string>,
    connections?: Extract<ServerSpec, { kind: 'stack' }>['connections'],
  ): Promise<StackWithClients> {
    const tableName = `chat-bench-${randomUUID()}`;
    const server = await ServerProcess.start({
      kind: 'stack',
      dynamoDbEndpoint: endpoint,
      tableName,
      ...(environment ? { environment } : {}),
      ...(connections ? { connections } : {}),
    });
    let sockets: WebSocket[] = [];
    try {
      sockets = await openSockets(server.webSocketUrl, clients);
      const ids = await idsByIndex(endpoint, tableName, clients);
      return new StackWithClients(server, sockets, ids, endpoint, tableName);
    } catch (error) {
      closeSockets(sockets);
      await server.stop();
      await dropTable(endpoint, tableName);
      throw error;
    }
  }

  /** Makes the first `members` clients members of `room`, with the items `join` would write. */
  async fillRoom(room: string, members: number): Promise<void> {
    const client = localDynamoDbClient(this.endpoint);
    try {
      const population = new Population(client, this.tableName);
      const connections = await population.getConnections(this.ids.slice(0, members));
      await population.putMemberships(connections.map((connection) => membershipOf(connection, room)));
    } finally {
      client.destroy();
    }
  }

  async stop(): Promise<void> {
    // The stack goes first: it closes its connections without a $disconnect for each.
    await this.server.stop();
    closeSockets(this.sockets);
    await dropTable(this.endpoint, this.tableName);
  }
}
