// The chat page: talks the chat protocol to the local stack or, with ?url=wss://..., a deployed API.
// Modules: connection.ts (the socket, reconnects, status), outbox.ts (what is kept in localStorage),
// presence.ts (members and typing per room), view.ts (the DOM); this file ties them to the protocol.
// Nothing typed is lost: a message goes into the outbox and is shown pending until its echo comes; it is
// sent with a clientMsgId, so resending it after a drop or a reload stores it once. After a reconnect the
// page rejoins its rooms with `since` and pages back with `history` until it has every missed message.
import { Connection } from './connection';
import { type OutboxItem, PageState } from './outbox';
import { type Member, RoomPresence, TYPING_SHOWN_MS } from './presence';
import * as view from './view';

type Frame = Partial<Member> & {
  type?: string;
  room?: string;
  id?: string;
  msg?: string;
  sentAt?: string;
  from?: Member;
  messages?: Frame[];
  members?: Member[];
  count?: number;
  more?: boolean;
  you?: boolean;
  code?: string;
  message?: string;
  action?: string;
  clientMsgId?: string;
  retryAfterMs?: number;
};

const params = new URLSearchParams(location.search);
const stage = document.body.dataset.stage ?? 'dev';
const signIn = (document.body.dataset.signIn ?? 'none') as 'none' | 'query' | 'header';
const apiUrl =
  params.get('url') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${stage}`;
/** `ping` this often: the server's liveness check, and API Gateway's 10-minute idle timeout kept away. */
const KEEPALIVE_MS = 60_000;
/** A send with no answer by then is sent again (same clientMsgId: stored once). */
const RESEND_AFTER_MS = 10_000;
/** Sends of one message before the page gives up on it and shows it failed. */
const MAX_ATTEMPTS = 8;
/** API Gateway closes the connection on a bigger frame (1009): such a message can never be sent. */
const FRAME_MAX_BYTES = 32 * 1024;
/** Refusals that may pass: the request is made again later. */
const PASSING = new Set(['INTERNAL', 'RATE_LIMITED', 'SEND_IN_PROGRESS']);
const HISTORY_PAGE = 100;
/** At most one `typing` per room this often while typing (the server drops more frequent ones anyway). */
const TYPING_EVERY_MS = 3_000;

const state = new PageState(`chat-page:${apiUrl}`);
const presence = new Map<string, RoomPresence>();
const unread = new Map<string, number>();
let selected: string | undefined = state.rooms.keys().next().value;
/** This connection's handle, from its own `joined` frame. */
let myHandle: string | undefined;

// What was done on the current socket; it ends with it.
/** Rooms joined on this socket (their join was answered); sends wait for it. */
const joinedHere = new Set<string>();
/** Rooms whose join or catch-up is under way: room -> the last id seen before (page back to it). */
const catchingUp = new Map<string, string | undefined>();
/** Per room, the message sent on this socket and not yet answered. */
const inFlight = new Map<string, { clientMsgId: string; timer: ReturnType<typeof setTimeout> }>();
const lastTypingSent = new Map<string, number>();
/** Rooms whose live marker is shown (after their first join's history). */
const liveMarked = new Set<string>();
const shownIds = new Set<string>();

const connection = new Connection({
  url: apiUrl,
  signIn,
  keepAliveMs: KEEPALIVE_MS,
  wanted: () => state.rooms.size > 0 || state.hasPending(),
  onStatus: view.setStatus,
  onOpen(reopened) {
    const at = new Date().toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
    for (const room of state.rooms.keys()) {
      if (reopened && liveMarked.has(room)) view.showMarker(room, 'reconnected', `reconnected at ${at}`);
      join(room);
    }
  },
  onClosed: forgetSocket,
  onFrame(frame, raw) {
    if (frame && typeof frame === 'object') handle(frame as Frame);
    else notice(raw);
  },
});

const presenceOf = (room: string) => {
  const known = presence.get(room) ?? new RoomPresence();
  presence.set(room, known);
  return known;
};
const isOwn = (member: Member | undefined) => !!member && state.handles.includes(member.handle);
const nameOf = (member: Member) => `${member.name ?? 'anonymous'} #${member.handle}`;

function renderRooms(): void {
  view.renderRooms(
    [...state.rooms.keys()].map((room) => ({ room, unread: unread.get(room) ?? 0 })),
    selected,
    select,
  );
}

function renderPresence(): void {
  const room = selected && presence.get(selected);
  view.renderMembers(room || undefined, myHandle);
  view.renderTyping(room ? room.typingNow(Date.now()) : []);
}

function renderOutbox(): void {
  view.renderOutbox(state.outbox, (clientMsgId) => {
    state.remove(clientMsgId);
    renderOutbox();
  });
}

/** Shows a room: its log, members and typing; its unread count goes. */
function select(room: string | undefined): void {
  selected = room;
  if (room) unread.delete(room);
  view.showRoom(room);
  renderRooms();
  renderPresence();
}

/** A line for the selected room (a frame that belongs to no room). */
function notice(text: string, kind: 'notice' | 'error' = 'notice'): void {
  if (selected) view.showNotice(selected, text, kind);
}

function handle(frame: Frame): void {
  const room = frame.room ?? '';
  switch (frame.type) {
    case 'message':
      showMessage(frame);
      if (frame.clientMsgId) confirmed(frame.clientMsgId);
      return;
    case 'messages': // a busy room's batch (BatchWindowMs): that many `message` frames
      for (const message of frame.messages ?? []) handle(message);
      return;
    case 'history':
      for (const message of frame.messages ?? []) showMessage(message);
      historyArrived(room, frame);
      return;
    case 'joined':
    case 'left':
      if (state.rooms.has(room)) membership(frame.type, room, frame as Frame & Member);
      return;
    case 'members':
      if (!state.rooms.has(room)) return;
      presenceOf(room).reset(frame.count ?? 0, frame.members);
      if (room === selected) renderPresence();
      return;
    case 'typing':
      if (!state.rooms.has(room) || !frame.handle || frame.handle === myHandle) return;
      presenceOf(room).startedTyping(frame as Member, Date.now());
      if (room === selected) renderPresence();
      setTimeout(renderPresence, TYPING_SHOWN_MS + 100); // expires unless refreshed
      return;
    case 'error':
      refused(frame);
      return;
    case 'pong':
      return;
    default:
      notice(frame.message ? `Server: ${frame.message}` : JSON.stringify(frame));
  }
}

/** `joined` / `left`: the page's own join tells it its handle; others change who is present. */
function membership(type: 'joined' | 'left', room: string, member: Frame & Member): void {
  if (type === 'joined' && member.you) {
    myHandle = member.handle;
    state.addHandle(member.handle);
    view.renderMe(state.name, myHandle);
    return;
  }
  const people = presenceOf(room);
  const before = people.has(member.handle);
  if (type === 'joined') people.joined(member);
  else people.left(member);
  // A second tab of someone present is no news; a person arriving or going is.
  if (before !== people.has(member.handle)) view.showNotice(room, `${nameOf(member)} ${type}`);
  if (room === selected) renderPresence();
}

/** Shows a message once; counts it unread in a room not shown; its sender is no longer typing. */
function showMessage(frame: Frame): void {
  if (!frame.id || !frame.room || shownIds.has(frame.id)) return; // a replay or a resend repeats what arrived
  if (!state.rooms.has(frame.room)) return; // a room left meanwhile
  shownIds.add(frame.id);
  const room = frame.room;
  const own = isOwn(frame.from);
  const last = state.rooms.get(room);
  if (!last || frame.id > last) {
    state.rooms.set(room, frame.id);
    state.save();
    if (room !== selected && !own) {
      unread.set(room, (unread.get(room) ?? 0) + 1);
      renderRooms();
    }
  }
  view.showMessage({ id: frame.id, room, from: frame.from, msg: frame.msg, sentAt: frame.sentAt }, own);
  if (frame.from) {
    presenceOf(room).stoppedTyping(frame.from.handle);
    if (room === selected) renderPresence();
  }
}

/** A `history` frame ends a join, then each page back: continue until the last id seen is reached. */
function historyArrived(room: string, frame: Frame): void {
  if (!catchingUp.has(room)) return; // a history the user asked for elsewhere
  const since = catchingUp.get(room);
  if (!joinedHere.has(room)) {
    joinedHere.add(room);
    flush(room);
  }
  const oldest = frame.messages?.[0]?.id;
  if (since && frame.more && oldest && oldest > since) {
    connection.send({ action: 'history', room, before: oldest, limit: HISTORY_PAGE });
    return;
  }
  catchingUp.delete(room);
  view.setCatchingUp(catchingUp.size > 0);
  if (!liveMarked.has(room)) {
    liveMarked.add(room);
    view.showMarker(
      room,
      'live',
      view.hasMessages(room) ? 'history above, live from here' : 'live from here',
    );
  }
}

/** An `error` frame: for a send, about the room's message in flight (one at a time per room). */
function refused(frame: Frame): void {
  const room = frame.room ?? '';
  const text = `Error ${frame.code}: ${frame.message}`;
  if (frame.action === 'join') joinRefused(room, frame, text);
  else if (frame.action === 'send') sendRefused(room, frame, text);
  else if (state.rooms.has(room)) view.showNotice(room, text, 'error');
  else notice(text, 'error');
}

function joinRefused(room: string, frame: Frame, text: string): void {
  catchingUp.delete(room);
  view.setCatchingUp(catchingUp.size > 0);
  if (frame.code === 'ALREADY_JOINED') {
    joinedHere.add(room);
    flush(room);
    return;
  }
  if (PASSING.has(frame.code ?? '')) {
    setTimeout(() => join(room), frame.retryAfterMs ?? 1000);
    return;
  }
  // The room cannot be joined (e.g. too many rooms): what waits for it cannot be sent.
  view.showNotice(room, text, 'error');
  state.rooms.delete(room);
  for (const item of state.outbox)
    if (item.room === room && item.state === 'pending') state.fail(item, `${frame.code}: ${frame.message}`);
  state.save();
  renderRooms();
  renderOutbox();
}

function sendRefused(room: string, frame: Frame, text: string): void {
  const sent = inFlight.get(room);
  const item = sent && state.find(sent.clientMsgId);
  if (!sent || !item) return;
  clearTimeout(sent.timer);
  if (frame.code === 'NOT_A_MEMBER' && state.rooms.has(room)) {
    // The server lost the membership (e.g. it expired): join again, then resend.
    inFlight.delete(room);
    joinedHere.delete(room);
    join(room);
  } else if (PASSING.has(frame.code ?? '') && item.attempts < MAX_ATTEMPTS) {
    sent.timer = setTimeout(() => resend(room, item.clientMsgId), frame.retryAfterMs ?? 1000 * item.attempts);
  } else {
    view.showNotice(room, text, 'error');
    inFlight.delete(room);
    state.fail(item, `${frame.code}: ${frame.message}`);
    renderOutbox();
    flush(room);
  }
}

function confirmed(clientMsgId: string): void {
  const item = state.find(clientMsgId);
  if (!item) return;
  const sent = inFlight.get(item.room);
  if (sent?.clientMsgId === clientMsgId) {
    clearTimeout(sent.timer);
    inFlight.delete(item.room);
  }
  state.remove(clientMsgId);
  renderOutbox();
  flush(item.room);
}

function resend(room: string, clientMsgId: string): void {
  if (inFlight.get(room)?.clientMsgId !== clientMsgId) return;
  inFlight.delete(room);
  flush(room);
}

/** Sends the room's next message if the room is joined on an open socket and nothing is in flight. */
function flush(room: string): void {
  if (!connection.isOpen || !joinedHere.has(room) || inFlight.has(room)) return;
  const item = state.nextToSend(room);
  if (!item) return;
  const frame = { action: 'send', room, msg: item.msg, clientMsgId: item.clientMsgId };
  if (
    new TextEncoder().encode(JSON.stringify(frame)).length > FRAME_MAX_BYTES ||
    item.attempts >= MAX_ATTEMPTS
  ) {
    const reason =
      item.attempts >= MAX_ATTEMPTS
        ? `no answer after ${MAX_ATTEMPTS} tries`
        : `too large to send (over ${FRAME_MAX_BYTES / 1024} KB)`;
    state.fail(item, reason);
    renderOutbox();
    flush(room);
    return;
  }
  item.attempts++;
  state.save();
  const timer = setTimeout(() => resend(room, item.clientMsgId), RESEND_AFTER_MS);
  inFlight.set(room, { clientMsgId: item.clientMsgId, timer });
  connection.send(frame);
}

function join(room: string): void {
  if (!connection.isOpen || joinedHere.has(room) || catchingUp.has(room) || !state.rooms.has(room)) return;
  const since = state.rooms.get(room);
  catchingUp.set(room, since);
  view.setCatchingUp(true);
  connection.send({ action: 'join', room, ...(since ? { since } : {}) });
}

/** Everything done on a socket ends with it; what was in flight is sent again on the next one. */
function forgetSocket(): void {
  joinedHere.clear();
  catchingUp.clear();
  view.setCatchingUp(false);
  for (const { timer } of inFlight.values()) clearTimeout(timer);
  inFlight.clear();
  lastTypingSent.clear();
}

function leave(room: string): void {
  state.rooms.delete(room);
  for (const item of state.outbox)
    if (item.room === room && item.state === 'pending') state.fail(item, 'left the room before it was sent');
  state.save();
  if (joinedHere.has(room) || catchingUp.has(room)) connection.send({ action: 'leave', room });
  joinedHere.delete(room);
  catchingUp.delete(room);
  view.setCatchingUp(catchingUp.size > 0);
  presence.delete(room);
  unread.delete(room);
  liveMarked.delete(room);
  view.removeRoomLog(room);
  renderOutbox();
  select(state.rooms.keys().next().value);
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const messageInput = byId<HTMLInputElement>('message');

byId<HTMLFormElement>('name-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const name = byId<HTMLInputElement>('name').value.trim();
  if (!name) return;
  const renamed = name !== state.name;
  state.name = name;
  state.save();
  view.showNameForm(false, name, signIn !== 'none');
  view.renderMe(name, renamed ? undefined : myHandle);
  // A new name is a new connection: the rooms are joined again under it, with `since`.
  connection.open(name);
  (selected ? messageInput : byId<HTMLInputElement>('room')).focus();
});
byId<HTMLButtonElement>('change-name').addEventListener('click', () =>
  view.showNameForm(true, state.name, signIn !== 'none'),
);
byId<HTMLButtonElement>('cancel-name').addEventListener('click', () => {
  view.showNameForm(false, state.name, signIn !== 'none');
  byId<HTMLButtonElement>('change-name').focus();
});
byId<HTMLFormElement>('join-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const input = byId<HTMLInputElement>('room');
  const room = input.value.trim();
  if (!room) return;
  input.value = '';
  if (!state.rooms.has(room)) {
    state.rooms.set(room, undefined);
    state.save();
  }
  view.roomLog(room);
  select(room);
  connection.open(state.name);
  join(room);
  messageInput.focus();
});
byId<HTMLButtonElement>('leave').addEventListener('click', () => {
  if (selected) leave(selected);
});
byId<HTMLFormElement>('message-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const msg = messageInput.value;
  const room = selected;
  if (!msg.trim() || !room) return;
  const item: OutboxItem = { clientMsgId: crypto.randomUUID(), room, msg, state: 'pending', attempts: 0 };
  state.outbox.push(item);
  state.save();
  messageInput.value = '';
  lastTypingSent.delete(room); // the message ends this bout of typing
  renderOutbox();
  connection.open(state.name);
  join(room);
  flush(room);
});
messageInput.addEventListener('input', () => {
  const room = selected;
  if (!room || !messageInput.value.trim() || !joinedHere.has(room)) return;
  const now = Date.now();
  if (now - (lastTypingSent.get(room) ?? 0) < TYPING_EVERY_MS) return;
  lastTypingSent.set(room, now);
  connection.send({ action: 'typing', room });
});
// The shown room's list is read again with each ping: the server leaves out members silent for 150 s, so a
// tab that vanished without a goodbye is gone from it within about 3.5 minutes even in a quiet room. A room
// too big to list gets its count read again the same way.
setInterval(() => {
  for (const [room, people] of presence)
    if (joinedHere.has(room) && (room === selected || !people.isListed()))
      connection.send({ action: 'members', room });
}, KEEPALIVE_MS);

// A phone shows the member list folded away until asked for.
if (matchMedia('(max-width: 720px)').matches) byId<HTMLDetailsElement>('members-pane').open = false;

// A reload picks up where the page was: same name, same rooms, the same unsent messages.
for (const room of state.rooms.keys()) view.roomLog(room);
select(selected);
renderOutbox();
view.renderMe(state.name, undefined);
if (state.name) connection.open(state.name);
else view.showNameForm(true, '', signIn !== 'none');
