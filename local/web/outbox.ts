// What the page keeps in localStorage so that nothing typed is lost: the name, the rooms joined with the
// last message id shown in each, the outbox of messages not yet confirmed by their echo, and the handles
// this page has had (its own messages in a replay are set apart even from an earlier connection).

export interface OutboxItem {
  /** The send's idempotency key: a resend with it is stored once. */
  clientMsgId: string;
  room: string;
  msg: string;
  state: 'pending' | 'failed';
  /** Why a failed message was not sent. */
  reason?: string;
  /** Times it was sent without an answer or refused for a passing reason (bounded). */
  attempts: number;
}

interface Saved {
  name: string;
  /** Room -> id of the last message shown there (the `since` of a rejoin), or null. */
  rooms: Record<string, string | null>;
  outbox: OutboxItem[];
  handles?: string[];
}

/** Own handles remembered: without sign-in each connection has its own, and history outlives a few. */
const HANDLES_KEPT = 50;

/** The page's durable state, written through to localStorage on every change. */
export class PageState {
  name = '';
  readonly rooms = new Map<string, string | undefined>();
  outbox: OutboxItem[] = [];
  handles: string[] = [];

  constructor(private readonly key: string) {
    const raw = localStorage.getItem(key);
    if (!raw) return;
    try {
      const saved = JSON.parse(raw) as Saved;
      this.name = saved.name ?? '';
      for (const [room, last] of Object.entries(saved.rooms ?? {})) this.rooms.set(room, last ?? undefined);
      this.outbox = Array.isArray(saved.outbox) ? saved.outbox : [];
      this.handles = Array.isArray(saved.handles) ? saved.handles : [];
    } catch {
      localStorage.removeItem(key); // unreadable: start afresh rather than fail to load
    }
  }

  save(): void {
    const saved: Saved = {
      name: this.name,
      rooms: Object.fromEntries([...this.rooms].map(([room, last]) => [room, last ?? null])),
      outbox: this.outbox,
      handles: this.handles,
    };
    localStorage.setItem(this.key, JSON.stringify(saved));
  }

  /** The oldest message of a room still to send: messages go one at a time, in order. */
  nextToSend(room: string): OutboxItem | undefined {
    return this.outbox.find((item) => item.room === room && item.state === 'pending');
  }

  find(clientMsgId: string): OutboxItem | undefined {
    return this.outbox.find((item) => item.clientMsgId === clientMsgId);
  }

  remove(clientMsgId: string): void {
    this.outbox = this.outbox.filter((item) => item.clientMsgId !== clientMsgId);
    this.save();
  }

  fail(item: OutboxItem, reason: string): void {
    item.state = 'failed';
    item.reason = reason;
    this.save();
  }

  /** Remembers a handle the server gave this page's connection. */
  addHandle(handle: string): void {
    if (this.handles.includes(handle)) return;
    this.handles = [...this.handles, handle].slice(-HANDLES_KEPT);
    this.save();
  }

  /** Whether anything waits to be sent (the page keeps reconnecting while it does). */
  hasPending(): boolean {
    return this.outbox.some((item) => item.state === 'pending');
  }
}
