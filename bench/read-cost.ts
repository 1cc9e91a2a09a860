// 1. DynamoDB capacity per `send` and `join` (deterministic): the handlers' own data paths (for a send:
// getMembership, takeRequestToken, saveMessageOnce with a clientMsgId, listRoomMembers) run through ChatStore
// against DynamoDB Local, which reports consumed capacity; beside it the least a read of those members' index
// entries can cost, and a full Scan. Then history behind a long tail of expired messages, against a read
// without the lifetime key bound.
import { randomUUID } from 'node:crypto';
import {
  type AttributeValue,
  BatchGetItemCommand,
  QueryCommand,
  ScanCommand,
} from '@aws-sdk/client-dynamodb';
import {
  ChatStore,
  chatService,
  DEFAULT_CONNECTION_LIFETIME_SECONDS,
  HISTORY_DEFAULT_LIMIT,
  historyBudget,
  lowestIdAt,
  presenceAudience,
  readPresence,
  TYPING_RELAY_INTERVAL_MS,
  timeSortableId,
} from 'chat-core';
import { CapacityMeter, eventuallyConsistentReadUnits, itemSize } from './capacity';
import { createBenchTable } from './common';
import { membershipOf, newConnection, Population } from './population';
import type { Progress } from './progress';

export interface ReadCostOptions {
  /** Live connections in the table; every one is a member of exactly one room. */
  tableConnections: number;
  /** Members of the rooms a message is sent to. */
  roomSizes: number[];
  /** Messages past their lifetime (not yet deleted by TTL) behind a room's live ones. */
  expiredMessages: number;
}

export interface ExpiredTailCost {
  expiredMessages: number;
  /** `history` for the page before the oldest live message: what the history route reads (the key range starts at the lifetime). */
  rcuHistory: number;
  queriesHistory: number;
  /** The same page read the way it was before the lifetime bound: filtered on expiresAt, every page. */
  rcuUnboundedBaseline: number;
  queriesUnboundedBaseline: number;
}

export interface RoomReadCost {
  /** Read units of one send: the sender's membership (consistent GetItem) and the members' Query. */
  rcuPerSend: number;
  /** The members' Query alone. */
  rcuMembersQuery: number;
  /** Least possible for reading the members' index entries: their billed size, eventually consistent. */
  rcuMinimum: number;
  /** A Scan of the whole table, the way the AWS sample chat app finds recipients. */
  rcuScanBaseline: number;
  /** Billed size of one member's index entry (mean). */
  indexEntryBytes: number;
  /** What the members' Query would cost if the index projected whole items (ALL) instead of INCLUDE. */
  rcuAllProjection: number;
  /** Billed size of one member's whole item (mean). */
  itemBytes: number;
  /**
   * Presence, in a room of this size: what `members` lists (a count only above PRESENCE_LIST_LIMIT), and
   * the units of a join up to its members answer (checks, request token, join transaction, the room's
   * bounded index read, the members' connection items or a counting Query), of a `members` request, and of
   * a relayed `typing` (its throttle write and the bounded index read its fan-out needs).
   */
  presence: {
    listed: boolean;
    rcuJoinWithMembers: number;
    wcuJoinWithMembers: number;
    rcuMembers: number;
    wcuMembers: number;
    rcuTyping: number;
    wcuTyping: number;
  };
}

export interface ReadCostFigures {
  tableConnections: number;
  tableItems: number;
  messageBytes: number;
  /** Write units of one send with a clientMsgId: the request token's UpdateItem, the receipt's and the message's PutItem. */
  wcuPerSend: number;
  /** Write units of one send without a clientMsgId (request token and message). */
  wcuPerPlainSend: number;
  /** Of those, the connection's request token bucket (the per-connection rate limit). */
  wcuRequestToken: number;
  /** Read units of a join that replays the latest 50 messages: its checks (connection, membership) + the history Query. */
  rcuJoinWithHistory: number;
  /** Write units of that join: the request token and the join transaction (room count + membership, 2 each). */
  wcuJoin: number;
  /** Write units of a `ping` (the liveness stamp on the connection item); it reads nothing. */
  wcuHeartbeat: number;
  rcuHeartbeat: number;
  /** Units of a `typing` dropped by the throttle: its refused conditional write, nothing else. */
  wcuTypingDropped: number;
  rcuTypingDropped: number;
  expiredTail: ExpiredTailCost;
  byMembers: Record<string, RoomReadCost>;
}

/** A typical chat line (100 bytes): messages up to 1 KB cost one write unit. */
const MESSAGE =
  'The quick brown fox jumps over the lazy dog while the chat room keeps on talking about it all day!!';
const HISTORY_MESSAGES = HISTORY_DEFAULT_LIMIT + 10;
const MAX_PAGES = 10_000;

export async function measureReadCost(
  endpoint: string,
  options: ReadCostOptions,
  progress?: Progress,
): Promise<ReadCostFigures> {
  const { tableConnections, roomSizes } = options;
  const needed = roomSizes.reduce((sum, n) => sum + n, 0);
  if (needed > tableConnections)
    throw new Error(`rooms need ${needed} members, the table has ${tableConnections}`);
  const db = await createBenchTable(endpoint);
  const meter = new CapacityMeter(endpoint);
  try {
    const store = new ChatStore({
      client: meter.client,
      table: db.table,
      connectionLifetimeSeconds: DEFAULT_CONNECTION_LIFETIME_SECONDS,
    });
    const population = new Population(db.client, db.table);
    await population.checkSameItemsAsTheApp(store, 'shape-check');

    // Every connection is a member of one room: the measured rooms first, then rooms of 10.
    const connections = Array.from({ length: tableConnections }, (_, i) => newConnection(i));
    progress?.stage(`writing ${tableConnections} connections and their memberships`);
    await population.putConnections(connections);
    const roomOf = (index: number): string => {
      let start = 0;
      for (const size of roomSizes) {
        if (index < start + size) return `members-${size}`;
        start += size;
      }
      return `filler-${Math.floor((index - start) / 10)}`;
    };
    await population.putMemberships(connections.map((c, i) => membershipOf(c, roomOf(i))));
    const history = 'history';
    for (let i = 0; i < HISTORY_MESSAGES; i++) {
      await store.saveMessage({
        roomId: history,
        id: timeSortableId(),
        senderId: connections[0]!.connectionId,
        msg: MESSAGE,
        sentAt: new Date().toISOString(),
      });
    }

    progress?.stage('measuring: the Scan baseline, a join, a send per room size');
    const scan = await meter.measure(() => scanAll(meter, db.table));
    const joiner = connections[tableConnections - 1]!.connectionId;
    // What functions/join/index.ts does, call for call (the fan-out of `joined` aside).
    const join = await meter.measure(async () => {
      const connection = await store.checkJoin(joiner, history);
      await store.takeRequestToken(joiner);
      await store.joinRoom(joiner, history, connection);
      return store.roomHistory(history, { limit: HISTORY_DEFAULT_LIMIT, fits: historyBudget() });
    });
    if (join.result.messages.length !== HISTORY_DEFAULT_LIMIT)
      throw new Error('history replay came back short');

    const byMembers: Record<string, RoomReadCost> = {};
    let wcuPerSend = 0;
    let start = 0;
    for (const size of roomSizes) {
      const room = `members-${size}`;
      const senderId = connections[start]!.connectionId;
      start += size;
      // What functions/send/index.ts does with a clientMsgId, call for call.
      const send = await meter.measure(async () => {
        const sender = await store.getMembership(senderId, room);
        if (!sender) throw new Error(`${senderId} is not a member of ${room}`);
        await store.takeRequestToken(senderId);
        await store.saveMessageOnce(draftOf(senderId, room, sender.name), randomUUID());
        return store.listRoomMembers(room);
      });
      if (send.result.length !== size) throw new Error(`${room}: listed ${send.result.length} members`);
      const entries = await indexEntries(meter, db.table, room);
      const bytes = entries.reduce((sum, item) => sum + itemSize(item), 0);
      const items = await wholeItems(meter, db.table, entries);
      const itemBytes = items.reduce((sum, item) => sum + itemSize(item), 0);
      wcuPerSend = send.write;
      const joiner = connections[tableConnections - 2 - roomSizes.indexOf(size)]!.connectionId;
      const presence = await measurePresence(meter, store, room, joiner, senderId);
      if (presence.count !== size + 1) throw new Error(`${room}: presence counted ${presence.count}`);
      byMembers[size] = {
        rcuPerSend: send.read,
        rcuMembersQuery: send.byOperation.Query ?? 0,
        rcuMinimum: eventuallyConsistentReadUnits(bytes),
        rcuScanBaseline: scan.read,
        indexEntryBytes: Math.round(bytes / entries.length),
        rcuAllProjection: eventuallyConsistentReadUnits(itemBytes),
        itemBytes: Math.round(itemBytes / items.length),
        presence: presence.figures,
      };
    }
    const sender = connections[0]!.connectionId;
    const plain = await meter.measure(async () => {
      await store.takeRequestToken(sender);
      await store.saveMessage({ ...draftOf(sender, history), id: timeSortableId() });
    });
    const token = await meter.measure(() => store.takeRequestToken(sender));
    const heartbeat = await meter.measure(() => store.markSeen(sender));
    // The first typing in the room takes the turn; the one right after it is dropped.
    await store.takeTypingTurn(joiner, history, TYPING_RELAY_INTERVAL_MS);
    const dropped = await meter.measure(() =>
      store.takeTypingTurn(joiner, history, TYPING_RELAY_INTERVAL_MS),
    );
    if (dropped.result) throw new Error('a typing right after another was not dropped');
    progress?.stage(`writing ${options.expiredMessages} expired messages behind live ones`);
    const expiredTail = await measureExpiredTail(
      meter,
      store,
      db.table,
      population,
      options.expiredMessages,
      sender,
    );
    return {
      tableConnections,
      tableItems: scan.result,
      messageBytes: Buffer.byteLength(MESSAGE),
      wcuPerSend,
      wcuPerPlainSend: plain.write,
      wcuRequestToken: token.write,
      rcuJoinWithHistory: join.read,
      wcuJoin: join.write,
      wcuHeartbeat: heartbeat.write,
      rcuHeartbeat: heartbeat.read,
      wcuTypingDropped: dropped.write,
      rcuTypingDropped: dropped.read,
      expiredTail,
      byMembers,
    };
  } finally {
    meter.destroy();
    await db.drop().catch(() => {}); // a failed clean-up must not hide the figures or the error
  }
}

/**
 * The presence paths in one room, call for call as the functions make them (posting aside): a join up to
 * its members answer (functions/join), a `members` request (functions/members) and a relayed `typing`
 * (functions/typing). `member` is in the room; `joiner` is not yet.
 */
async function measurePresence(
  meter: CapacityMeter,
  store: ChatStore,
  room: string,
  joiner: string,
  member: string,
): Promise<{ count: number; figures: RoomReadCost['presence'] }> {
  const join = await meter.measure(async () => {
    const connection = await store.checkJoin(joiner, room);
    await store.takeRequestToken(joiner);
    const membership = await store.joinRoom(joiner, room, connection);
    return readPresence(store, room, membership, await presenceAudience(store, room));
  });
  const members = await meter.measure(async () => {
    const membership = await store.getMembership(member, room);
    if (!membership) throw new Error(`${member} is not a member of ${room}`);
    await store.takeRequestToken(member);
    return readPresence(store, room, membership, await presenceAudience(store, room));
  });
  const typing = await meter.measure(async () => {
    if (!(await store.takeTypingTurn(member, room, TYPING_RELAY_INTERVAL_MS)))
      throw new Error('the first typing was dropped');
    return presenceAudience(store, room);
  });
  return {
    count: join.result.count,
    figures: {
      listed: join.result.members !== undefined,
      rcuJoinWithMembers: join.read,
      wcuJoinWithMembers: join.write,
      rcuMembers: members.read,
      wcuMembers: members.write,
      rcuTyping: typing.read,
      wcuTyping: typing.write,
    },
  };
}

/**
 * A room whose live messages sit in front of `expired` ones from two days ago (past the 24 h lifetime,
 * which DynamoDB's TTL deletes within days): the page before the oldest live message, as the history
 * route reads it and as a read filtered on expiresAt without the key bound would.
 */
async function measureExpiredTail(
  meter: CapacityMeter,
  store: ChatStore,
  table: string,
  population: Population,
  expired: number,
  senderId: string,
): Promise<ExpiredTailCost> {
  const roomId = 'expired-tail';
  const start = Date.now() - 2 * 24 * 3600 * 1000;
  await population.putMessages(
    Array.from({ length: expired }, (_, i) => ({
      ...draftOf(senderId, roomId),
      id: lowestIdAt(start + i),
      expiresAt: Math.floor((start + i) / 1000) + 24 * 3600,
    })),
  );
  const live = await store.saveMessage({ ...draftOf(senderId, roomId), id: timeSortableId() });
  const bounded = await meter.measure(() =>
    store.roomHistory(roomId, { before: live.id, limit: HISTORY_DEFAULT_LIMIT, fits: historyBudget() }),
  );
  if (bounded.result.messages.length !== 0) throw new Error('an expired message came back');
  const now = Math.floor(Date.now() / 1000);
  const wanted = HISTORY_DEFAULT_LIMIT + 1;
  const unbounded = await meter.measure(() =>
    chatService(meter.client, table)
      .entities.message.query.byRoom({ roomId })
      .lt({ id: live.id })
      .where((attr, op) => op.gt(attr.expiresAt, now))
      .go({ order: 'desc', limit: wanted, count: wanted, pages: 'all' }),
  );
  return {
    expiredMessages: expired,
    rcuHistory: bounded.read,
    queriesHistory: bounded.calls.Query ?? 0,
    rcuUnboundedBaseline: unbounded.read,
    queriesUnboundedBaseline: unbounded.calls.Query ?? 0,
  };
}

function draftOf(senderId: string, roomId: string, senderName?: string) {
  return {
    roomId,
    senderId,
    ...(senderName === undefined ? {} : { senderName }),
    msg: MESSAGE,
    sentAt: new Date().toISOString(),
  };
}

/** Every item of the table, page by page (eventually consistent, as a fan-out would read); returns the count. */
async function scanAll(meter: CapacityMeter, table: string): Promise<number> {
  let count = 0;
  let startKey: Record<string, AttributeValue> | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const output = await meter.client.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }),
    );
    count += output.Count ?? 0;
    startKey = output.LastEvaluatedKey;
    if (!startKey) return count;
  }
  throw new Error(`scan did not end within ${MAX_PAGES} pages`);
}

/** The table items behind index entries (BatchGetItem by their pk/sk, 100 keys a request). */
async function wholeItems(meter: CapacityMeter, table: string, entries: Record<string, AttributeValue>[]) {
  const items: Record<string, AttributeValue>[] = [];
  let pending = entries.map(({ pk, sk }) => ({ pk: pk!, sk: sk! }));
  for (let request = 0; pending.length > 0; request++) {
    if (request >= MAX_PAGES) throw new Error(`batch get did not end within ${MAX_PAGES} requests`);
    const keys = pending.slice(0, 100);
    const output = await meter.client.send(
      new BatchGetItemCommand({ RequestItems: { [table]: { Keys: keys } } }),
    );
    items.push(...(output.Responses?.[table] ?? []));
    pending = [...pending.slice(100), ...(output.UnprocessedKeys?.[table]?.Keys ?? [])] as typeof pending;
  }
  return items;
}

/** A room's entries in the room index, whole (every projected attribute), by the key ElectroDB queries. */
async function indexEntries(meter: CapacityMeter, table: string, roomId: string) {
  const service = chatService(meter.client, table);
  const params = service.entities.membership.query.byRoom({ roomId }).params() as {
    IndexName: string;
    KeyConditionExpression: string;
    ExpressionAttributeNames: Record<string, string>;
    ExpressionAttributeValues: Record<string, string>;
  };
  const values = Object.fromEntries(
    Object.entries(params.ExpressionAttributeValues)
      .filter(([name]) => params.KeyConditionExpression.includes(name))
      .map(([name, value]) => [name, { S: value }]),
  );
  const names = Object.fromEntries(
    Object.entries(params.ExpressionAttributeNames).filter(([name]) =>
      params.KeyConditionExpression.includes(name),
    ),
  );
  const items: Record<string, AttributeValue>[] = [];
  let startKey: Record<string, AttributeValue> | undefined;
  for (let page = 0; page < MAX_PAGES; page++) {
    const output = await meter.client.send(
      new QueryCommand({
        TableName: table,
        IndexName: params.IndexName,
        KeyConditionExpression: params.KeyConditionExpression,
        ExpressionAttributeNames: names,
        ExpressionAttributeValues: values,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...(output.Items ?? []));
    startKey = output.LastEvaluatedKey;
    if (!startKey) return items;
  }
  throw new Error(`query did not end within ${MAX_PAGES} pages`);
}
