import { createHash } from 'node:crypto';
import type { HistoryPage, MembershipRecord, MessageRecord } from './chat-store';
import type { ConnectionStatus } from './connections-api';
import { ChatError, type ErrorCode, RetryLaterError, ValidationError } from './errors';
import { lowestIdAt, timeOfId } from './ids';

// The frames the server sends (see the README's protocol section).

/**
 * Who a member is: the server's record, never the client's claim. The connection id is never sent: a
 * client could use another's to aim at it (e.g. in a support request or a log); the handle is enough.
 */
export interface Member {
  /**
   * Short and stable per signed-in user (per connection without sign-in): tells two members of the same
   * name apart, and shows two connections of one user as one person (clients count connections per handle).
   */
  handle: string;
  name?: string;
}

/**
 * A member's handle: 6 hex digits of a hash of the user id when signed in, else of the connection id.
 * Names are free text (duplicates and lookalikes allowed), so clients show the handle beside them; it
 * reveals nothing about the id. The prefix keeps a user id from ever sharing a connection id's handle.
 */
export function handleOf(connectionId: string, userId?: string): string {
  const identity = userId === undefined ? connectionId : `user:${userId}`;
  return createHash('sha256').update(identity).digest('hex').slice(0, 6);
}

/** A member as clients see it: its handle and name. */
export function memberOf({ connectionId, name, userId }: MemberIdentity): Member {
  return { handle: handleOf(connectionId, userId), ...(name === undefined ? {} : { name }) };
}

/** What a member is known by on the server: a membership or a connection record. */
export interface MemberIdentity {
  connectionId: string;
  name?: string;
  userId?: string;
}

/**
 * Rooms with more members than this get a member count instead of the list, and no `joined`/`left`/`typing`
 * fan-out: presence traffic grows with the square of the room's size (every join tells every member).
 */
export const PRESENCE_LIST_LIMIT = 100;

/** The room's presence: the count, and the members when there are at most PRESENCE_LIST_LIMIT. */
export interface MembersFrame {
  type: 'members';
  room: string;
  count: number;
  members?: Member[];
}

export interface MessageFrame {
  type: 'message';
  room: string;
  id: string;
  from: Member;
  msg: string;
  sentAt: string;
  /** Only in the sender's own copy (the echo): the id the client gave its send. */
  clientMsgId?: string;
}

/** Several messages of a busy room in one frame (a batching window's): clients treat it as that many `message` frames. */
export interface MessagesFrame {
  type: 'messages';
  room: string;
  /** Oldest first. */
  messages: MessageFrame[];
}

/** A change in a room's presence; `you: true` only in the joiner's own `joined` (how it learns its handle). */
export type PresenceFrame = { type: 'joined' | 'left' | 'typing'; room: string; you?: true } & Member;

export type ServerFrame =
  | PresenceFrame
  | MessageFrame
  | MembersFrame
  | MessagesFrame
  | { type: 'history'; room: string; messages: MessageFrame[]; more: boolean }
  | { type: 'pong' }
  | {
      type: 'error';
      code: ErrorCode;
      message: string;
      action?: string;
      room?: string;
      retryAfterMs?: number;
    }
  | { type: 'help'; echo: string; actions: Record<string, unknown>; connection: ConnectionStatus };

/** `joined` / `left` / `typing`, saying who from the server's record of the membership. */
export function membershipFrame(type: PresenceFrame['type'], membership: MembershipRecord): PresenceFrame {
  return { type, room: membership.roomId, ...memberOf(membership) };
}

export function membersFrame(
  room: string,
  presence: { count: number; members?: MemberIdentity[] },
): MembersFrame {
  return {
    type: 'members',
    room,
    count: presence.count,
    ...(presence.members ? { members: presence.members.map(memberOf) } : {}),
  };
}

/** The `message` frame for a stored message (live delivery and history replay send the same thing). */
export function messageFrame(message: MessageRecord): MessageFrame {
  const { roomId: room, id, senderId, senderName, senderUserId, msg, sentAt } = message;
  return {
    type: 'message',
    room,
    id,
    from: memberOf({ connectionId: senderId, name: senderName, userId: senderUserId }),
    msg,
    sentAt,
  };
}

/**
 * What a history frame's messages may take: API Gateway refuses a frame over 128 KB, and a page of 100
 * messages of 16 KiB each would be 1.6 MB. The rest of the 128 KB is left for the frame's other fields.
 */
export const HISTORY_MESSAGES_MAX_BYTES = 120 * 1024;

/** A `fits` test for ChatStore.roomHistory that ends the page where the frame would outgrow its budget. */
export function historyBudget(): (message: MessageRecord) => boolean {
  let left = HISTORY_MESSAGES_MAX_BYTES;
  return (message) => {
    const bytes = Buffer.byteLength(JSON.stringify(messageFrame(message)), 'utf8') + 1; // and its comma
    if (bytes > left) return false;
    left -= bytes;
    return true;
  };
}

export function historyFrame(room: string, { messages, more }: HistoryPage): ServerFrame {
  return { type: 'history', room, messages: messages.map(messageFrame), more };
}

/**
 * Messages reach members out of id order (an id is taken when a send starts; the item is written and
 * fanned out a moment later), so a replay after `since` starts this far before it; clients drop the
 * overlap by id. A message first reaches members at most the send function's timeout (10 s) after its id
 * was taken, or, when a resend stores it late under its own id, LATE_STORE_LIMIT_MS (8 s) plus that
 * timeout: 30 s covers both with room for a loaded gateway.
 */
export const SINCE_OVERLAP_MS = 30_000;

/** Where a replay for a client that last saw `since` starts (exclusive). */
export function replayAfter(since: string): string {
  return lowestIdAt(timeOfId(since) - SINCE_OVERLAP_MS);
}

/**
 * The actions a client can send (the `help` reply lists them): each with an example that works as it
 * stands when pasted, and its optional fields described beside it, never as placeholder values.
 */
export const ACTIONS = {
  join: {
    example: { action: 'join', room: 'room1' },
    optional: { since: 'a message id you saw: the history replays what came after it' },
  },
  send: {
    example: { action: 'send', room: 'room1', msg: 'hello' },
    optional: { clientMsgId: '16-64 characters of A-Z a-z 0-9 _ - (e.g. a UUID): a resend is stored once' },
  },
  leave: { example: { action: 'leave', room: 'room1' } },
  history: {
    example: { action: 'history', room: 'room1', limit: 50 },
    optional: { before: 'a message id: the messages before it', limit: '1-100, default 50' },
  },
  members: { example: { action: 'members', room: 'room1' } },
  typing: { example: { action: 'typing', room: 'room1' }, note: 'relayed to the room at most every 3 s' },
  ping: { example: { action: 'ping' }, note: "send every 60 s: keeps you in rooms' member lists" },
} as const;

/** The JSON object a client sent, or a BAD_REQUEST. */
export function parseRequestBody(body: string | null | undefined): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body ?? '');
  } catch {
    throw new ValidationError('body', 'The message must be a JSON object');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ValidationError('body', 'The message must be a JSON object');
  }
  return parsed as Record<string, unknown>;
}

/** The `error` frame for a failure, safe to show the client: unexpected errors say nothing of their cause. */
export function errorFrame(error: unknown, context: { action?: string; room?: string }): ServerFrame {
  const known = error instanceof ChatError;
  return {
    type: 'error',
    code: known ? error.code : 'INTERNAL',
    message: known ? error.message : 'Something went wrong; try again',
    ...(context.action ? { action: context.action } : {}),
    ...(context.room ? { room: context.room } : {}),
    ...(error instanceof RetryLaterError ? { retryAfterMs: error.retryAfterMs } : {}),
  };
}

/** How often clients send `ping` (the chat page does): it keeps them in rooms' member lists. */
export const PING_INTERVAL_MS = 60_000;

/**
 * A member whose connection has not pinged (or connected) for this long is checked with API Gateway
 * before it is listed in a `members` answer: 2.5 ping intervals, so one lost or late ping is no reason.
 */
export const LIVENESS_MS = 2.5 * PING_INTERVAL_MS;

/** The server relays at most one `typing` per member and room per this many ms; extra ones are dropped. */
export const TYPING_RELAY_INTERVAL_MS = 3_000;
