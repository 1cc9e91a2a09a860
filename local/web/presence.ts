// Who is in a room and who is typing there, as the server's presence frames say (no DOM here).
// A person is a handle: one signed-in user on two tabs is one handle on two connections, so members are
// kept as a count of connections per handle (joined +1, left -1, gone at 0).

export interface Member {
  handle: string;
  name?: string;
}

export interface Present extends Member {
  /** The person's connections in the room (tabs, devices). */
  connections: number;
}

/** "X is typing…" lasts this long without a new `typing` frame from X. */
export const TYPING_SHOWN_MS = 5_000;

export class RoomPresence {
  /** handle -> who; undefined when the room is too big for the server to list (only `total` is known). */
  private members: Map<string, Present> | undefined = new Map();
  private total = 0;
  /** handle -> who is typing and until when (epoch ms). */
  private readonly typing = new Map<string, Member & { until: number }>();

  /** A `members` frame: what the server read replaces what was known. */
  reset(count: number, members: Member[] | undefined): void {
    this.total = count;
    if (!members) {
      this.members = undefined;
      return;
    }
    this.members = new Map();
    for (const member of members) this.add(member);
  }

  joined(member: Member): void {
    if (this.members) this.add(member);
    else this.total++;
  }

  left(member: Member): void {
    this.typing.delete(member.handle);
    if (!this.members) {
      this.total = Math.max(0, this.total - 1);
      return;
    }
    const present = this.members.get(member.handle);
    if (!present) return;
    present.connections--;
    if (present.connections <= 0) this.members.delete(member.handle);
  }

  /** Whether the handle is in the room (on any connection); undefined when the room is not listed. */
  has(handle: string): boolean | undefined {
    return this.members ? this.members.has(handle) : undefined;
  }

  /** The people in the room by name, or undefined for a room too big to list. */
  list(): Present[] | undefined {
    if (!this.members) return undefined;
    return [...this.members.values()].sort(
      (a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.handle.localeCompare(b.handle),
    );
  }

  /** People in a listed room; connections in a big one (all the server says). */
  count(): number {
    return this.members ? this.members.size : this.total;
  }

  isListed(): boolean {
    return this.members !== undefined;
  }

  startedTyping(member: Member, now: number): void {
    this.typing.set(member.handle, { ...member, until: now + TYPING_SHOWN_MS });
  }

  /** A message from someone ends their typing. */
  stoppedTyping(handle: string): void {
    this.typing.delete(handle);
  }

  /** Who is typing now, by name. */
  typingNow(now: number): Member[] {
    for (const [handle, entry] of this.typing) if (entry.until <= now) this.typing.delete(handle);
    return [...this.typing.values()];
  }

  private add(member: Member): void {
    const present = this.members!.get(member.handle);
    if (present) {
      present.connections++;
      if (member.name !== undefined) present.name = member.name;
    } else {
      this.members!.set(member.handle, { ...member, connections: 1 });
    }
  }
}
