import { createHash } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DEFAULT_MESSAGE_LIFETIME_SECONDS } from './config';
import { ChatError, notAMember } from './errors';
import { timeOfId, timeSortableId } from './ids';
import {
  type ChatService,
  type ConnectionItem,
  createChatService,
  type MembershipItem,
  type MessageItem,
} from './model/service';
import {
  validateClientMsgId,
  validateConnectionId,
  validateDisplayName,
  validateMessageId,
  validateRoomId,
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
  /** Attempts at a batch delete's unprocessed items before giving up. */
  maxDeleteAttempts?: number;
}

export interface NewConnection {
  connectionId: string;
  connectedAt: number;
  name?: string;
  sourceIp?: string;
  userAgent?: string;
}

export interface NewMessage {
  roomId: string;
  id: string;
  senderId: string;
  senderName?: string;
  msg: string;
  sentAt: string;
}

/** A message before it gets its id. */
export type MessageDraft = Omit<NewMessage, 'id'>;

/**
 * How long after its id was taken a message may still be written under that id: a replay after
 * `since` starts 10 s back (SINCE_OVERLAP_MS in protocol.ts); kept below that, for clock skew.
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
  /** Whether older messages (within the asked range) were left out by the limit. */
  more: boolean;
}

export interface RemovedConnection {
  connection?: ConnectionRecord;
  memberships: MembershipRecord[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The data operations the handlers call; every read filters out items whose TTL has passed. */
export class ChatStore {
  private readonly service: ChatService;
  private readonly now: () => number;

  constructor(private readonly options: ChatStoreOptions) {
    this.service = createChatService(options.client, options.table);
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
      ...(input.name === undefined ? {} : { name: validateDisplayName(input.name) }),
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
   * Joins a room, all or nothing: one transaction checks that the connection is live and creates
   * the membership only if it does not exist yet, so a second join writes nothing.
   */
  async joinRoom(connectionId: string, roomId: string): Promise<MembershipRecord> {
    validateRoomId(roomId);
    const connection = await this.getConnection(connectionId);
    if (!connection) throw new ChatError('UNKNOWN_CONNECTION', 'This connection is not registered');
    const membership: MembershipRecord = {
      roomId,
      connectionId,
      joinedAt: this.now(),
      expiresAt: connection.expiresAt,
      ...(connection.name === undefined ? {} : { name: connection.name }),
    };
    const now = this.nowSeconds();
    const result = await this.service.transaction
      .write(({ connection: connections, membership: memberships }) => [
        connections
          .check({ connectionId })
          .where((attr, op) => `${op.exists(attr.connectionId)} AND ${op.gt(attr.expiresAt, now)}`)
          .commit(),
        memberships.create(membership).commit(),
      ])
      .go();
    if (result.canceled) {
      const [check, create] = result.data;
      if (check?.rejected && check.code === 'ConditionalCheckFailed') {
        throw new ChatError('UNKNOWN_CONNECTION', 'This connection is not registered');
      }
      if (create?.rejected && create.code === 'ConditionalCheckFailed') {
        throw new ChatError('ALREADY_JOINED', `Already a member of room "${roomId}"`);
      }
      throw new Error(`join transaction canceled: ${result.data.map((r) => r.code).join(', ')}`);
    }
    return membership;
  }

  /** Leaves a room; returns the removed membership. */
  async leaveRoom(connectionId: string, roomId: string): Promise<MembershipRecord> {
    const key = { connectionId: validateConnectionId(connectionId), roomId: validateRoomId(roomId) };
    try {
      const { data } = await this.service.entities.membership
        .remove(key)
        .where((attr, op) => op.gt(attr.expiresAt, this.nowSeconds()))
        .go({ response: 'all_old' });
      if (!data) throw notAMember(roomId);
      return data;
    } catch (error) {
      if (isConditionalCheckFailure(error)) throw notAMember(roomId);
      throw error;
    }
  }

  /** Connection ids of a room's live members: one paginated Query on the room index, every page. */
  async listRoomMembers(roomId: string): Promise<string[]> {
    const { data } = await this.service.entities.membership.query
      .byRoom({ roomId: validateRoomId(roomId) })
      .where((attr, op) => op.gt(attr.expiresAt, this.nowSeconds()))
      .go({ ...this.queryOptions(), attributes: ['connectionId'] });
    return data.map((member) => member.connectionId);
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
   * Deletes a connection and every membership it holds. One Query of the connection's partition
   * finds them all (expired ones too: they are garbage either way); batch deletes follow, retrying
   * unprocessed items with backoff. Returns what was removed so callers can tell the rooms.
   */
  async removeConnection(connectionId: string): Promise<RemovedConnection> {
    const { data } = await this.service.collections
      .connection({ connectionId: validateConnectionId(connectionId) })
      .go({ ...this.queryOptions(), consistent: true });
    const { connection, membership } = this.service.entities;
    await this.deleteAll((keys) => membership.delete(keys).go(), data.membership.map(membershipKey));
    await this.deleteAll((keys) => connection.delete(keys).go(), data.connection.map(connectionKey));
    const now = this.nowSeconds();
    return {
      connection: data.connection.find((item) => item.expiresAt > now),
      memberships: data.membership.filter((item) => item.expiresAt > now),
    };
  }

  /** Keeps a message for replay; written before fan-out, so what was delivered can be replayed. */
  async saveMessage(input: NewMessage): Promise<MessageRecord> {
    const item = {
      ...input,
      roomId: validateRoomId(input.roomId),
      senderId: validateConnectionId(input.senderId),
      id: validateMessageId(input.id, 'id'),
      expiresAt: this.nowSeconds() + this.messageLifetimeSeconds(),
    };
    await this.service.entities.message.create(item).go();
    return item;
  }

  /**
   * Stores a client's send once per room and `clientMsgId`, however often it is repeated, and returns
   * the stored message (the first's, for a repeat). Two writes, no transaction: a small receipt
   * (room, clientMsgId -> message id), created only if absent, then the message. A repeat finds the
   * receipt and returns its message, storing it first if its holder died between the two writes.
   * A repeat under another sender name or with other text is refused (CLIENT_MSG_ID_CONFLICT).
   */
  async saveMessageOnce(draft: MessageDraft, clientMsgId: string): Promise<MessageRecord> {
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
    return await this.createOrGetMessage({ ...draft, id });
  }

  /** A repeat of a send: the message its receipt names, stored now if its first holder died first. */
  private async repeatedMessage(
    key: { roomId: string; clientMsgId: string },
    draft: MessageDraft,
    msgHash: string,
  ): Promise<MessageRecord> {
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
      if (stored) return stored;
      const age = this.now() - timeOfId(receipt.messageId);
      if (age < LATE_STORE_LIMIT_MS) {
        // Its first holder may still be writing it: the message's create decides who does.
        return await this.createOrGetMessage({ ...draft, id: receipt.messageId });
      }
      if (age < SEND_SURELY_DEAD_MS) {
        // Too late for its id, too early to be sure its first holder will not still store it.
        throw new ChatError('INTERNAL', 'This message is still being sent; send it again in a few seconds');
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
      return await this.createOrGetMessage({ ...draft, id: fresh });
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

  private async createOrGetMessage(input: NewMessage): Promise<MessageRecord> {
    try {
      return await this.saveMessage(input);
    } catch (error) {
      if (!isConditionalCheckFailure(error)) throw error;
      const stored = await this.getMessage(input.roomId, input.id);
      if (!stored) throw error;
      return stored;
    }
  }

  private messageLifetimeSeconds(): number {
    return this.options.messageLifetimeSeconds ?? DEFAULT_MESSAGE_LIFETIME_SECONDS;
  }

  /**
   * A room's newest `limit` live messages after `after` and/or before `before`: one Query on the
   * room's partition, newest first, reading `limit + 1` items to know whether there are more.
   */
  async roomHistory(
    roomId: string,
    range: { after?: string; before?: string; limit: number },
  ): Promise<HistoryPage> {
    const key = { roomId: validateRoomId(roomId) };
    const query = this.service.entities.message.query;
    const after = range.after === undefined ? undefined : validateMessageId(range.after, 'since');
    const before = range.before === undefined ? undefined : validateMessageId(range.before, 'before');
    const bounded =
      after && before
        ? query.byRoom(key).between({ id: after }, { id: before })
        : after
          ? query.byRoom(key).gt({ id: after })
          : before
            ? query.byRoom(key).lt({ id: before })
            : query.byRoom(key);
    const wanted = range.limit + 1;
    const { data } = await bounded
      .where((attr, op) => {
        const live = op.gt(attr.expiresAt, this.nowSeconds());
        // `between` is inclusive: leave out both ends.
        return after && before ? `${live} AND ${op.ne(attr.id, after)} AND ${op.ne(attr.id, before)}` : live;
      })
      .go({ order: 'desc', limit: wanted, count: wanted, pages: 'all' });
    const more = data.length > range.limit;
    return { messages: data.slice(0, range.limit).reverse(), more };
  }

  private async deleteAll<Key>(
    batchDelete: (keys: Key[]) => Promise<{ unprocessed: Key[] }>,
    keys: Key[],
  ): Promise<void> {
    const attempts = this.options.maxDeleteAttempts ?? 8;
    let pending = keys;
    for (let attempt = 1; pending.length > 0; attempt++) {
      if (attempt > 1) await sleep(Math.min(50 * 2 ** (attempt - 2), 2000) * (0.5 + Math.random()));
      const { unprocessed } = await batchDelete(pending);
      pending = unprocessed;
      if (pending.length > 0 && attempt >= attempts) {
        throw new Error(`batch delete left ${pending.length} items unprocessed after ${attempts} attempts`);
      }
    }
  }
}

const connectionKey = ({ connectionId }: ConnectionRecord) => ({ connectionId });
const membershipKey = ({ connectionId, roomId }: MembershipRecord) => ({ connectionId, roomId });

const hashOf = (text: string) => createHash('sha256').update(text).digest('base64url');

function isConditionalCheckFailure(error: unknown): boolean {
  // ElectroDB wraps the SDK error; the DynamoDB exception is its `cause`.
  for (let e: unknown = error; e instanceof Error; e = e.cause) {
    if (e.name === 'ConditionalCheckFailedException') return true;
  }
  return false;
}
