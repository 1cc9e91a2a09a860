import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from '@aws-sdk/lib-dynamodb';
import { forEachConcurrently, sleep } from './concurrency';
import { DEFAULT_MESSAGE_LIFETIME_SECONDS } from './config';
import { alreadyJoined, ChatError, notAMember, RateLimitedError, RetryLaterError } from './errors';
import { lowestIdAt, timeOfId, timeSortableId } from './ids';
import { logger } from './logger';
import {
  type ChatService,
  type ConnectionItem,
  chatService,
  type MembershipItem,
  type MessageItem,
} from './model/service';
import {
  validateClientMsgId,
  validateConnectionId,
  validateDisplayName,
  validateMessageId,
  validateRoomId,
  validateUserId,
} from './validation';

export type ConnectionRecord = ConnectionItem;
export type MembershipRecord = MembershipItem;
export type MessageRecord = MessageItem;

export interface ChatStoreOptions {
  client: DynamoDBClient;
  table: string;
  /** Seconds a connection's items live after connect before TTL may remove them. */
  connectionLifetimeSeconds: number;
  /** Seconds a message stays in its room's history. */
  messageLifetimeSeconds?: number;
  /** Clock in epoch milliseconds; injectable so tests can move past expiry. */
  now?: () => number;
  /** DynamoDB `Limit` per Query page; unset means DynamoDB's 1 MB pages. */
  pageSize?: number;
  /** Rooms one connection may be in at once. */
  maxRoomsPerConnection?: number;
  /** The token bucket of each connection's requests: refill per second, and capacity. */
  messageRateLimit?: { rate: number; burst: number };
  /** Milliseconds a busy room's batching window collects messages (see enterWindow); 0 or unset: off. */
  batchWindowMs?: number;
}

export interface NewConnection {
  connectionId: string;
  connectedAt: number;
  name?: string;
  /** The signed-in user (from the authorizer), when sign-in is on. */
  userId?: string;
  sourceIp?: string;
  userAgent?: string;
}

export interface NewMessage {
  roomId: string;
  id: string;
  senderId: string;
  senderName?: string;
  senderUserId?: string;
  msg: string;
  sentAt: string;
  /** The send's `clientMsgId`: kept on the message only when it is batched, for its batcher's echo. */
  clientMsgId?: string;
}

/** A room's batching window, as its batcher is started with it. */
export interface BatchWindowRef {
  room: string;
  windowId: string;
  /** Epoch ms. */
  endsAt: number;
}

/** A message as a send stored it, and who posts it. */
export type SavedMessage = MessageRecord & {
  /** Whether the caller posts it now; false: it waits in a batching window, whose batcher posts it. */
  postNow: boolean;
  /** The batching window this save opened: the caller starts its batcher. */
  opened?: BatchWindowRef;
};

export interface HistoryRange {
  after?: string;
  before?: string;
  limit: number;
  /** Called on each message, newest first; the page ends (with `more`) at the first one that does not fit. */
  fits?: (message: MessageRecord) => boolean;
}

/** A message before it gets its id. */
export type MessageDraft = Omit<NewMessage, 'id'>;

/**
 * How long after its id was taken a message may still be written under that id: a replay after
 * `since` starts 30 s back (SINCE_OVERLAP_MS in protocol.ts), which must cover this plus the send
 * function's timeout (the fan-out that follows such a late store).
 */
export const LATE_STORE_LIMIT_MS = 8_000;
/**
 * When the send that took a message id is surely dead: the send function's Timeout (10 s in
 * template.yaml) counts from before the id was taken, plus time for a write it had sent to land.
 */
export const SEND_SURELY_DEAD_MS = 13_000;

export interface HistoryPage {
  /** Oldest first. */
  messages: MessageRecord[];
  /** Whether older messages (within the asked range) were left out by the limit or by `fits`. */
  more: boolean;
}

export interface RemovedConnection {
  connection?: ConnectionRecord;
  memberships: MembershipRecord[];
}

const DEFAULT_MAX_ROOMS = 50;
const DEFAULT_RATE_LIMIT = { rate: 5, burst: 60 };
/** Deletes in flight while removing one connection's memberships. */
const REMOVE_CONCURRENCY = 16;
/**
 * Writes to an item that a transaction holds fail at once with a conflict (two joins of one connection,
 * a join beside a send's request token); DynamoDB says to retry them, and the SDK does not.
 */
const CONFLICT_ATTEMPTS = 6;

/** Tries to enter a message in its room's batching window (each reads the window again); then it is posted at once. */
const WINDOW_ATTEMPTS = 4;
/**
 * A window still open this long after its end was abandoned by its batcher (its invocation failed; Lambda's
 * retry would come a minute later): the next send replaces it. Its messages are stored but not posted;
 * their senders get no echo and resend them (README, Sending exactly once), which posts them.
 */
const BATCHER_LATE_MS = 10_000;
/** A closed window is kept this long after its end: long enough to tell that a room is busy. */
const WINDOW_KEPT_SECONDS = 3600;

const conflictBackoff = (attempt: number) => sleep(20 * 2 ** attempt * (0.5 + Math.random()));

/** Runs a single-item write again while it fails with a conflict (never when its condition failed). */
async function retryingConflictErrors<T>(write: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await write();
    } catch (error) {
      if (!hasErrorNamed(error, 'TransactionConflictException') || attempt === CONFLICT_ATTEMPTS) throw error;
      await conflictBackoff(attempt);
    }
  }
}

/** Runs a transaction again while it is canceled by a conflict (never when a condition failed). */
async function retryingConflicts<R extends { canceled: boolean; data: { code?: string }[] }>(
  write: () => Promise<R>,
): Promise<R> {
  for (let attempt = 1; ; attempt++) {
    const result = await write();
    const conflict = result.canceled && result.data.some((item) => item.code === 'TransactionConflict');
    if (!conflict || attempt === CONFLICT_ATTEMPTS) return result;
    await conflictBackoff(attempt);
  }
}

/** The data operations the handlers call; every read filters out items whose TTL has passed. */
export class ChatStore {
  private readonly service: ChatService;
  /** For what ElectroDB cannot ask: a Query that only counts. */
  private readonly documents: DynamoDBDocumentClient;
  /** The store's clock, epoch ms (injectable: tests move it past expiry and liveness). */
  readonly now: () => number;

  constructor(private readonly options: ChatStoreOptions) {
    this.service = chatService(options.client, options.table);
    this.documents = DynamoDBDocumentClient.from(options.client);
    this.now = options.now ?? Date.now;
  }

  private nowSeconds(): number {
    return Math.floor(this.now() / 1000);
  }

  private queryOptions() {
    return { pages: 'all', ...(this.options.pageSize ? { limit: this.options.pageSize } : {}) } as const;
  }

  async registerConnection(input: NewConnection): Promise<ConnectionRecord> {
    const item = {
      connectionId: validateConnectionId(input.connectionId),
      connectedAt: input.connectedAt,
      // From the time of registering (not the event's connectedAt), so a replayed sample event is live too.
      expiresAt: this.nowSeconds() + this.options.connectionLifetimeSeconds,
      seenAt: this.now(),
      ...(input.name === undefined ? {} : { name: validateDisplayName(input.name) }),
      ...(input.userId === undefined ? {} : { userId: validateUserId(input.userId) }),
      ...(input.sourceIp ? { sourceIp: input.sourceIp } : {}),
      ...(input.userAgent ? { userAgent: input.userAgent } : {}),
    };
    await this.service.entities.connection.put(item).go();
    return item;
  }

  /** The live connection, or undefined when it never existed or has expired. */
  async getConnection(connectionId: string): Promise<ConnectionRecord | undefined> {
    const { data } = await this.service.entities.connection
      .get({ connectionId: validateConnectionId(connectionId) })
      .go({ consistent: true });
    return data && data.expiresAt > this.nowSeconds() ? data : undefined;
  }

  /** The live membership of a connection in a room, or undefined. */
  async getMembership(connectionId: string, roomId: string): Promise<MembershipRecord | undefined> {
    const { data } = await this.service.entities.membership
      .get({ connectionId: validateConnectionId(connectionId), roomId: validateRoomId(roomId) })
      .go({ consistent: true });
    return data && data.expiresAt > this.nowSeconds() ? data : undefined;
  }

  /**
   * What a join would be refused for, read before anything is written (so a refused join writes
   * nothing, not even a request token): not registered, already a member, or at the room cap. Returns
   * the connection for joinRoom. The join transaction checks all of it again, atomically.
   */
  async checkJoin(connectionId: string, roomId: string): Promise<ConnectionRecord> {
    const [connection, membership] = await Promise.all([
      this.getConnection(connectionId),
      this.getMembership(connectionId, roomId),
    ]);
    if (!connection) throw new ChatError('UNKNOWN_CONNECTION', 'This connection is not registered');
    if (membership) throw alreadyJoined(roomId);
    if ((connection.roomCount ?? 0) >= this.maxRooms()) throw tooManyRooms(this.maxRooms());
    return connection;
  }

  private maxRooms(): number {
    return this.options.maxRoomsPerConnection ?? DEFAULT_MAX_ROOMS;
  }

  /**
   * Joins a room, all or nothing: one transaction checks that the connection is live and below its room
   * cap while counting the new room, and creates the membership only if it does not exist yet, so a
   * second join writes nothing and concurrent joins cannot pass the cap.
   */
  async joinRoom(connectionId: string, roomId: string, known?: ConnectionRecord): Promise<MembershipRecord> {
    validateRoomId(roomId);
    const connection = known ?? (await this.getConnection(connectionId));
    if (!connection) throw new ChatError('UNKNOWN_CONNECTION', 'This connection is not registered');
    const maxRooms = this.maxRooms();
    const membership: MembershipRecord = {
      roomId,
      connectionId,
      joinedAt: this.now(),
      expiresAt: connection.expiresAt,
      ...(connection.name === undefined ? {} : { name: connection.name }),
      ...(connection.userId === undefined ? {} : { userId: connection.userId }),
    };
    const now = this.nowSeconds();
    const result = await retryingConflicts(() =>
      this.service.transaction
        .write(({ connection: connections, membership: memberships }) => [
          connections
            .patch({ connectionId })
            .add({ roomCount: 1 })
            .where(
              (attr, op) =>
                `${op.gt(attr.expiresAt, now)} AND (${op.notExists(attr.roomCount)} OR ${op.lt(attr.roomCount, maxRooms)})`,
            )
            .commit(),
          memberships.create(membership).commit(),
        ])
        .go(),
    );
    if (result.canceled) {
      const [count, create] = result.data;
      if (create?.rejected && create.code === 'ConditionalCheckFailed') {
        throw alreadyJoined(roomId);
      }
      if (count?.rejected && count.code === 'ConditionalCheckFailed') {
        const current = await this.getConnection(connectionId);
        if (!current) throw new ChatError('UNKNOWN_CONNECTION', 'This connection is not registered');
        throw tooManyRooms(maxRooms);
      }
      throw new Error(`join transaction canceled: ${result.data.map((r) => r.code).join(', ')}`);
    }
    return membership;
  }

  /** Leaves a room, all or nothing: the membership goes and the connection's room count drops by one. */
  async leaveRoom(connectionId: string, roomId: string): Promise<MembershipRecord> {
    const membership = await this.getMembership(connectionId, roomId);
    if (!membership) throw notAMember(roomId);
    const now = this.nowSeconds();
    const result = await retryingConflicts(() =>
      this.service.transaction
        .write(({ connection: connections, membership: memberships }) => [
          memberships
            .delete({ connectionId, roomId })
            .where((attr, op) => `${op.exists(attr.roomId)} AND ${op.gt(attr.expiresAt, now)}`)
            .commit(),
          connections.patch({ connectionId }).subtract({ roomCount: 1 }).commit(),
        ])
        .go(),
    );
    if (result.canceled) {
      const [removed] = result.data;
      // A concurrent leave or disconnect got there first.
      if (removed?.rejected && removed.code === 'ConditionalCheckFailed') throw notAMember(roomId);
      throw new Error(`leave transaction canceled: ${result.data.map((r) => r.code).join(', ')}`);
    }
    return membership;
  }

  /**
   * Takes one token from the connection's request bucket, or throws RATE_LIMITED. The bucket is one
   * number on the connection item (when it is full again), moved by a conditional update, so concurrent
   * requests on any number of function instances share it exactly; one write, no read.
   */
  async takeRequestToken(connectionId: string): Promise<void> {
    const { rate, burst } = this.options.messageRateLimit ?? DEFAULT_RATE_LIMIT;
    const interval = 1000 / rate;
    const now = this.now();
    const { connection } = this.service.entities;
    const key = { connectionId: validateConnectionId(connectionId) };
    // A full bucket: start counting from now.
    const refilled = connection
      .patch(key)
      .set({ bucketFullAt: now + interval })
      .where((attr, op) => `${op.notExists(attr.bucketFullAt)} OR ${op.lte(attr.bucketFullAt, now)}`);
    // A bucket in use: take a token if one is left.
    const drawn = connection
      .patch(key)
      .add({ bucketFullAt: interval })
      .where(
        (attr, op) =>
          `${op.gt(attr.bucketFullAt, now)} AND ${op.lte(attr.bucketFullAt, now + (burst - 1) * interval)}`,
      );
    for (const update of [refilled, drawn]) {
      try {
        await retryingConflictErrors(() => update.go({ response: 'none' }));
        return;
      } catch (error) {
        if (!isConditionalCheckFailure(error)) throw error;
      }
    }
    throw new RateLimitedError(Math.ceil(interval));
  }

  /**
   * Connection ids of a room's live members: one paginated Query on the room index, every page; or, with
   * `upTo`, no more than that many (pages of that size, so a big room costs no more than a small one).
   */
  async listRoomMembers(roomId: string, upTo?: number): Promise<string[]> {
    const { data } = await this.roomIndexQuery(roomId).go({
      ...this.queryOptions(),
      attributes: ['connectionId'],
      ...(upTo === undefined ? {} : { count: upTo, limit: this.options.pageSize ?? upTo }),
    });
    return data.map((member) => member.connectionId);
  }

  /**
   * How many live members a room has, counted by DynamoDB (`Select: COUNT`): it still reads the room's
   * index entries (a few dozen bytes each), but returns none of them.
   */
  async countRoomMembers(roomId: string): Promise<number> {
    const params = this.roomIndexQuery(roomId).params<QueryCommandInput>();
    delete params.ProjectionExpression;
    let count = 0;
    let cursor: QueryCommandInput['ExclusiveStartKey'];
    do {
      const page = await this.documents.send(
        new QueryCommand({
          ...params,
          Select: 'COUNT',
          ...(this.options.pageSize ? { Limit: this.options.pageSize } : {}),
          ...(cursor ? { ExclusiveStartKey: cursor } : {}),
        }),
      );
      count += page.Count ?? 0;
      cursor = page.LastEvaluatedKey;
    } while (cursor);
    return count;
  }

  private roomIndexQuery(roomId: string) {
    return this.service.entities.membership.query
      .byRoom({ roomId: validateRoomId(roomId) })
      .where((attr, op) => op.gt(attr.expiresAt, this.nowSeconds()));
  }

  /**
   * Live connections by id, from one BatchGetItem per 100 (eventually consistent: half a read unit each);
   * ids without a live connection are left out.
   */
  async getConnections(connectionIds: string[]): Promise<ConnectionRecord[]> {
    if (connectionIds.length === 0) return [];
    let keys = connectionIds.map((connectionId) => ({ connectionId: validateConnectionId(connectionId) }));
    const found: ConnectionRecord[] = [];
    for (let attempt = 1; keys.length > 0; attempt++) {
      const { data, unprocessed } = await this.service.entities.connection.get(keys).go();
      found.push(...data);
      keys = unprocessed;
      if (keys.length > 0) {
        if (attempt === CONFLICT_ATTEMPTS) throw new Error(`${keys.length} connections were not read`);
        await conflictBackoff(attempt);
      }
    }
    const now = this.nowSeconds();
    return found.filter((connection) => connection.expiresAt > now);
  }

  /** Records that a connection is alive (its `ping`): one write, none for an unknown connection. */
  async markSeen(connectionId: string): Promise<void> {
    try {
      await retryingConflictErrors(() =>
        this.service.entities.connection
          .patch({ connectionId: validateConnectionId(connectionId) })
          .set({ seenAt: this.now() })
          .go({ response: 'none' }),
      );
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
    }
  }

  /**
   * Whether a member's `typing` may be relayed now: at most once per `intervalMs` per member and room, kept
   * on the membership by one conditional write. Returns the membership when it may, undefined when it came
   * too soon; NOT_A_MEMBER when the connection is not in the room.
   */
  async takeTypingTurn(
    connectionId: string,
    roomId: string,
    intervalMs: number,
  ): Promise<MembershipRecord | undefined> {
    const now = this.now();
    const result = await retryingConflictErrors(() =>
      this.service.entities.membership
        .patch({ connectionId: validateConnectionId(connectionId), roomId: validateRoomId(roomId) })
        .set({ typingAt: now })
        .where(
          (attr, op) =>
            `${op.gt(attr.expiresAt, Math.floor(now / 1000))} AND (${op.notExists(attr.typingAt)} OR ${op.lte(attr.typingAt, now - intervalMs)})`,
        )
        .go({ response: 'all_new', returnOnConditionCheckFailure: 'all_old' }),
    );
    if (!result.rejected) return result.data as MembershipRecord;
    const old = result.data as MembershipRecord | null;
    if (!old || old.expiresAt <= Math.floor(now / 1000)) throw notAMember(roomId);
    return undefined;
  }

  /** A connection's live memberships (from the connection's own partition). */
  async listConnectionRooms(connectionId: string): Promise<MembershipRecord[]> {
    const { data } = await this.service.entities.membership.query
      .byConnection({ connectionId: validateConnectionId(connectionId) })
      .where((attr, op) => op.gt(attr.expiresAt, this.nowSeconds()))
      .go({ ...this.queryOptions(), consistent: true });
    return data;
  }

  /**
   * Deletes a connection and every membership it holds. One Query of the connection's partition finds
   * them all (expired ones too: they are garbage either way); each membership is deleted on condition
   * that it still exists, so when a disconnect and a fan-out's 410 clean up at once, each membership is
   * returned by exactly one of them and its room is told once.
   */
  async removeConnection(connectionId: string): Promise<RemovedConnection> {
    const { data } = await this.service.collections
      .connection({ connectionId: validateConnectionId(connectionId) })
      .go({ ...this.queryOptions(), consistent: true });
    const { connection, membership } = this.service.entities;
    const now = this.nowSeconds();
    const removed: MembershipRecord[] = [];
    await forEachConcurrently(data.membership, REMOVE_CONCURRENCY, async (item) => {
      try {
        await retryingConflictErrors(() => membership.remove(membershipKey(item)).go());
        if (item.expiresAt > now) removed.push(item);
      } catch (error) {
        if (!isConditionalCheckFailure(error)) throw error;
      }
    });
    await connection.delete({ connectionId }).go();
    return {
      connection: data.connection.find((item) => item.expiresAt > now),
      memberships: removed,
    };
  }

  /**
   * Keeps a message for replay; written before it is posted, so what was delivered can be replayed. With
   * batching on, its room's batching window then decides who posts it (see enterWindow).
   */
  async saveMessage(input: NewMessage): Promise<SavedMessage> {
    const saved = await this.createMessage(input);
    if (!saved) throw new Error(`message ${input.id} of room ${input.roomId} is stored already`);
    return saved;
  }

  /** Stores a new message; undefined when one of its id is stored already. */
  private async createMessage(input: NewMessage): Promise<SavedMessage | undefined> {
    const { clientMsgId, ...fields } = input;
    const windowMs = this.options.batchWindowMs ?? 0;
    const item = {
      ...fields,
      roomId: validateRoomId(input.roomId),
      senderId: validateConnectionId(input.senderId),
      id: validateMessageId(input.id, 'id'),
      // Kept only when the message may be batched: its batcher puts it in the sender's copy.
      ...(windowMs > 0 && clientMsgId !== undefined ? { clientMsgId } : {}),
      expiresAt: this.nowSeconds() + this.messageLifetimeSeconds(),
    };
    try {
      await this.service.entities.message.create(item).go();
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
    return windowMs > 0 ? await this.enterWindow(item, windowMs) : { ...item, postNow: true };
  }

  /**
   * Who posts a stored message when batching is on: decided with the room's batching window, read strongly
   * consistent and changed only by conditional writes of that one item (no transaction: concurrent sends
   * of a busy room never conflict, they queue on the item).
   * - An open window: the message's id is added to it, on condition that it is still open; its batcher
   *   posts it.
   * - None, or a closed one: the message opens a window of `windowMs`, on condition that the window is
   *   still as read. It is posted now when the room was quiet (no window ended within the last
   *   `windowMs`), so a quiet room waits for nothing; in a busy room it is its new window's first message.
   * The batcher closes the window on condition that it is this one and open, and the close returns its ids:
   * an id is added before the close, or not at all. A send that keeps losing the race (the window turns
   * over faster than it reads and writes) posts its message itself.
   */
  private async enterWindow(message: MessageRecord, windowMs: number): Promise<SavedMessage> {
    const windows = this.service.entities.batchWindow;
    const key = { roomId: message.roomId };
    for (let attempt = 1; attempt <= WINDOW_ATTEMPTS; attempt++) {
      const now = this.now();
      const { data: window } = await windows.get(key).go({ consistent: true });
      const abandoned = window !== null && !window.closed && now >= window.endsAt + BATCHER_LATE_MS;
      try {
        if (window && !window.closed && !abandoned) {
          await windows
            .patch(key)
            .append({ messageIds: [message.id] })
            .where((attr, op) => `${op.eq(attr.windowId, window.windowId)} AND ${op.eq(attr.closed, false)}`)
            .go({ response: 'none' });
          return { ...message, postNow: false };
        }
        if (abandoned)
          logger.warn('a batching window was abandoned by its batcher: its messages were not posted', {
            room: message.roomId,
            windowId: window.windowId,
            messages: window.messageIds.length,
          });
        const busy = window !== null && now < window.endsAt + windowMs;
        const opened = { room: message.roomId, windowId: message.id, endsAt: now + windowMs };
        await windows
          .put({
            ...key,
            windowId: opened.windowId,
            endsAt: opened.endsAt,
            closed: false,
            messageIds: busy ? [message.id] : [],
            expiresAt: Math.ceil(opened.endsAt / 1000) + WINDOW_KEPT_SECONDS,
          })
          .where((attr, op) =>
            window
              ? `${op.eq(attr.windowId, window.windowId)} AND ${op.eq(attr.closed, window.closed)}`
              : op.notExists(attr.windowId),
          )
          .go({ response: 'none' });
        return { ...message, postNow: !busy, opened };
      } catch (error) {
        // Another send or the batcher changed the window first: read it again.
        if (!isConditionalCheckFailure(error)) throw error;
      }
    }
    // The window turned over faster than this send could enter it: batching gives up, not the message.
    logger.info('batching window kept changing: the message is posted at once', { room: message.roomId });
    return { ...message, postNow: true };
  }

  /**
   * Closes a room's batching window and returns the ids of its messages; undefined when it was closed
   * already or replaced (abandoned: see enterWindow). No send can add an id afterwards.
   */
  async closeBatchWindow(roomId: string, windowId: string): Promise<string[] | undefined> {
    try {
      const { data } = await this.service.entities.batchWindow
        .patch({ roomId: validateRoomId(roomId) })
        .set({ closed: true })
        .where((attr, op) => `${op.eq(attr.windowId, windowId)} AND ${op.eq(attr.closed, false)}`)
        .go({ response: 'all_new' });
      return data.messageIds ?? [];
    } catch (error) {
      if (isConditionalCheckFailure(error)) return undefined;
      throw error;
    }
  }

  /** Live messages of a room by id, oldest first: one strongly consistent Query of the ids' key range. */
  async getMessages(roomId: string, ids: string[]): Promise<MessageRecord[]> {
    if (ids.length === 0) return [];
    const wanted = new Set(ids.map((id) => validateMessageId(id, 'id')));
    const sorted = [...wanted].sort();
    const now = this.nowSeconds();
    const { data } = await this.service.entities.message.query
      .byRoom({ roomId: validateRoomId(roomId) })
      .between({ id: sorted[0]! }, { id: sorted.at(-1)! })
      .go({ ...this.queryOptions(), consistent: true });
    return data.filter((message) => wanted.has(message.id) && message.expiresAt > now);
  }

  /**
   * Stores a client's send once per room and `clientMsgId`, however often it is repeated, and returns
   * the stored message (the first's, for a repeat). Two writes, no transaction: a small receipt
   * (room, clientMsgId -> message id), created only if absent, then the message. A repeat finds the
   * receipt and returns its message, storing it first if its holder died between the two writes.
   * A repeat under another sender name or with other text is refused (CLIENT_MSG_ID_CONFLICT).
   */
  async saveMessageOnce(draft: MessageDraft, clientMsgId: string): Promise<SavedMessage> {
    const key = { roomId: validateRoomId(draft.roomId), clientMsgId: validateClientMsgId(clientMsgId) };
    const msgHash = hashOf(draft.msg);
    const receipts = this.service.entities.sendReceipt;
    const id = timeSortableId(this.now());
    const now = this.nowSeconds();
    try {
      await receipts
        .put({
          ...key,
          messageId: id,
          ...(draft.senderName === undefined ? {} : { senderName: draft.senderName }),
          msgHash,
          expiresAt: now + this.messageLifetimeSeconds(),
        })
        // An expired receipt (not yet removed by TTL) is gone for every purpose.
        .where((attr, op) => `${op.notExists(attr.messageId)} OR ${op.lte(attr.expiresAt, now)}`)
        .go();
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      return await this.repeatedMessage(key, draft, msgHash);
    }
    // A resend may have stored it already, while this send was between its writes.
    return await this.createOrGetMessage({ ...draft, id, clientMsgId });
  }

  /** A repeat of a send: the message its receipt names, stored now if its first holder died first. */
  private async repeatedMessage(
    key: { roomId: string; clientMsgId: string },
    draft: MessageDraft,
    msgHash: string,
  ): Promise<SavedMessage> {
    const receipts = this.service.entities.sendReceipt;
    // Each turn either finds or stores the message, or loses a race to re-key it and looks again.
    for (let turn = 0; turn < 3; turn++) {
      const { data: receipt } = await receipts.get(key).go({ consistent: true });
      if (!receipt) throw new Error('send receipt vanished');
      if (receipt.senderName !== draft.senderName || receipt.msgHash !== msgHash) {
        throw new ChatError(
          'CLIENT_MSG_ID_CONFLICT',
          `"clientMsgId" was already used in room "${key.roomId}" for another message`,
        );
      }
      const stored = await this.getMessage(key.roomId, receipt.messageId);
      if (stored) return { ...stored, postNow: true };
      const age = this.now() - timeOfId(receipt.messageId);
      if (age < LATE_STORE_LIMIT_MS) {
        // Its first holder may still be writing it: the message's create decides who does.
        return await this.createOrGetMessage({ ...draft, id: receipt.messageId, ...key });
      }
      if (age < SEND_SURELY_DEAD_MS) {
        // Too late for its id, too early to be sure its first holder will not still store it.
        const wait = SEND_SURELY_DEAD_MS - age;
        throw new RetryLaterError(
          'SEND_IN_PROGRESS',
          `This message is still being sent; send it again in ${wait} ms`,
          wait,
        );
      }
      // Its first holder died before storing it: store it under a fresh id, or a replay would miss it.
      const fresh = timeSortableId(this.now());
      try {
        await receipts
          .patch(key)
          .set({ messageId: fresh, expiresAt: this.nowSeconds() + this.messageLifetimeSeconds() })
          .where((attr, op) => op.eq(attr.messageId, receipt.messageId))
          .go();
      } catch (error) {
        if (isConditionalCheckFailure(error)) continue; // another repeat re-keyed it first
        throw error;
      }
      return await this.createOrGetMessage({ ...draft, id: fresh, ...key });
    }
    throw new Error('send receipt kept changing');
  }

  /** A live message by its room and id, or undefined. */
  async getMessage(roomId: string, id: string): Promise<MessageRecord | undefined> {
    const { data } = await this.service.entities.message
      .get({ roomId: validateRoomId(roomId), id: validateMessageId(id, 'id') })
      .go({ consistent: true });
    return data && data.expiresAt > this.nowSeconds() ? data : undefined;
  }

  /** Stores a message, or returns the one stored under its id already (to be posted again). */
  private async createOrGetMessage(input: NewMessage): Promise<SavedMessage> {
    const saved = await this.createMessage(input);
    if (saved) return saved;
    const stored = await this.getMessage(input.roomId, input.id);
    if (!stored) throw new Error(`message ${input.id} of room ${input.roomId} was stored and is gone`);
    return { ...stored, postNow: true };
  }

  private messageLifetimeSeconds(): number {
    return this.options.messageLifetimeSeconds ?? DEFAULT_MESSAGE_LIFETIME_SECONDS;
  }

  /**
   * A room's newest `limit` live messages after `after` and/or before `before`, newest first from one
   * Query on the room's partition (more pages only when the filter drops items or a page hits 1 MB).
   * The key range starts where the message lifetime does (ids sort by time), so items past their TTL
   * that DynamoDB has not deleted yet are never read, however many there are.
   */
  async roomHistory(roomId: string, range: HistoryRange): Promise<HistoryPage> {
    const key = { roomId: validateRoomId(roomId) };
    const query = this.service.entities.message.query;
    const oldestLive = lowestIdAt(this.now() - this.messageLifetimeSeconds() * 1000);
    const asked = range.after === undefined ? undefined : validateMessageId(range.after, 'since');
    const after = asked !== undefined && asked > oldestLive ? asked : oldestLive;
    const before = range.before === undefined ? undefined : validateMessageId(range.before, 'before');
    if (before !== undefined && before <= after) return { messages: [], more: false };
    const bounded = before
      ? query.byRoom(key).between({ id: after }, { id: before })
      : query.byRoom(key).gt({ id: after });
    const now = this.nowSeconds();
    const wanted = range.limit + 1;
    const messages: MessageRecord[] = [];
    let cursor: string | null = null;
    do {
      const page: { data: MessageRecord[]; cursor: string | null } = await bounded
        .where((attr, op) => {
          const live = op.gt(attr.expiresAt, now);
          // `between` is inclusive: leave out both ends.
          return before ? `${live} AND ${op.ne(attr.id, after)} AND ${op.ne(attr.id, before)}` : live;
        })
        .go({ order: 'desc', limit: wanted - messages.length, cursor });
      for (const message of page.data) {
        if (messages.length === range.limit || (range.fits && !range.fits(message))) {
          return { messages: messages.reverse(), more: true };
        }
        messages.push(message);
      }
      cursor = page.cursor;
    } while (cursor);
    return { messages: messages.reverse(), more: false };
  }
}

const membershipKey = ({ connectionId, roomId }: MembershipRecord) => ({ connectionId, roomId });

function tooManyRooms(maxRooms: number): ChatError {
  return new ChatError('TOO_MANY_ROOMS', `A connection can be in at most ${maxRooms} rooms; leave one first`);
}

const hashOf = (text: string) => createHash('sha256').update(text).digest('base64url');

function isConditionalCheckFailure(error: unknown): boolean {
  return hasErrorNamed(error, 'ConditionalCheckFailedException');
}

function hasErrorNamed(error: unknown, name: string): boolean {
  // ElectroDB wraps the SDK error; the DynamoDB exception is its `cause`.
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === name) return true;
  }
  return false;
}
