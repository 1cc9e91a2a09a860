// The chat page: talks the chat protocol to the local stack or, with ?url=wss://..., a deployed API.
// Everything a server or another user sent is shown with textContent, never parsed as HTML.
// Nothing typed is lost: a message goes into an outbox (kept in localStorage) and is shown pending until
// its echo comes; it is sent with a clientMsgId, so resending it after a drop or a reload stores it once.
// When the connection closes (idle or 2-hour limit, network, server restart) the page reconnects with
// backoff, rejoins its rooms with `since` and pages back with `history` until it has every missed message.
import { type OutboxItem, PageState } from './outbox';

type Member = { connectionId?: string; name?: string; handle?: string };
type Frame = Member & {
  type?: string;
  room?: string;
  id?: string;
  msg?: string;
  from?: Member;
  messages?: Frame[];
  more?: boolean;
  code?: string;
  message?: string;
  action?: string;
  clientMsgId?: string;
};

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const nameInput = byId<HTMLInputElement>('name');
const nameHint = byId<HTMLElement>('name-hint');
const roomInput = byId<HTMLInputElement>('room');
const messageInput = byId<HTMLInputElement>('message');
const status = byId<HTMLElement>('status');
const log = byId<HTMLUListElement>('log');
const outboxList = byId<HTMLUListElement>('outbox');

const params = new URLSearchParams(location.search);
const stage = document.body.dataset.stage ?? 'dev';
/** With sign-in on (`npm start -- --auth`), where the token goes: the query string or the subprotocol header. */
const signIn = document.body.dataset.signIn as 'none' | 'query' | 'header' | undefined;
const signingIn = signIn === 'query' || signIn === 'header';
/** The token the local issuer signed for a name (an hour long; asked again when a handshake is refused). */
let signedIn: { name: string; token: string } | undefined;
byId<HTMLElement>('sign-in-hint').hidden = !signingIn;
const apiUrl =
  params.get('url') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${stage}`;
/** API Gateway closes a connection after 10 idle minutes: ping well before. */
const KEEPALIVE_MS = Number(params.get('keepalive') ?? 5 * 60 * 1000);
/** A send with no answer by then is sent again (same clientMsgId: stored once). */
const RESEND_AFTER_MS = 10_000;
/** Sends of one message before the page gives up on it and shows it failed. */
const MAX_ATTEMPTS = 8;
/** API Gateway closes the connection on a bigger frame (1009): such a message can never be sent. */
const FRAME_MAX_BYTES = 32 * 1024;
/** Refusals that may pass: the message is sent again later. */
const PASSING = new Set(['INTERNAL', 'RATE_LIMITED', 'SEND_IN_PROGRESS']);
const HISTORY_PAGE = 100;

const state = new PageState(`chat-page:${apiUrl}`);

/** The current socket and what has been done on it. */
let socket: WebSocket | undefined;
let connectedAs = '';
let reconnectDelayMs = 500;
let reconnectTimer: ReturnType<typeof setTimeout> | undefined;
/** Rooms joined on this socket (their join was answered); sends wait for it. */
const joinedHere = new Set<string>();
/** Rooms whose join or catch-up is under way: room -> the last id seen before (page back to it). */
const catchingUp = new Map<string, string | undefined>();
/** Per room, the message sent on this socket and not yet answered. */
const inFlight = new Map<string, { clientMsgId: string; timer: ReturnType<typeof setTimeout> }>();
const shownIds = new Set<string>();

function setStatus(text: string, kind: string): void {
  status.textContent = text;
  status.dataset.state = kind;
}

function show(parts: { text: string; className?: string; handle?: string }[], kind?: string): HTMLLIElement {
  const item = document.createElement('li');
  if (kind) item.className = kind;
  for (const part of parts) {
    const span = document.createElement('span');
    span.textContent = part.text;
    if (part.className) span.className = part.className;
    // Shown beside the name by CSS, so that two people of one name differ.
    if (part.handle) span.dataset.handle = part.handle;
    item.append(span);
  }
  log.append(item);
  log.scrollTop = log.scrollHeight;
  return item;
}

/** A member's name (or connection id) and handle; `from` marks a message's sender. */
const who = (member: Member | undefined, className: 'from' | 'who') => ({
  text: member?.name ?? member?.connectionId ?? 'someone',
  className,
  ...(member?.handle ? { handle: member.handle } : {}),
});

/** Shows a message once, in id order among the messages shown (a page back delivers older ones later). */
function showMessage(frame: Frame): void {
  if (!frame.id || shownIds.has(frame.id)) return; // a replay or a resend repeats what arrived
  shownIds.add(frame.id);
  const room = frame.room ?? '';
  const last = state.rooms.get(room);
  if (state.rooms.has(room) && (!last || frame.id > last)) {
    state.rooms.set(room, frame.id);
    state.save();
  }
  const item = show([{ text: `[${room}] ` }, who(frame.from, 'from'), { text: `: ${frame.msg}` }]);
  item.dataset.id = frame.id;
  item.dataset.room = room;
  // Before the earliest of the messages shown last that are newer; notices keep their place.
  let newer: Element | undefined;
  for (let el = item.previousElementSibling; el; el = el.previousElementSibling) {
    const id = (el as HTMLElement).dataset.id;
    if (!id) continue;
    if (id < frame.id) break;
    newer = el;
  }
  if (newer) log.insertBefore(item, newer);
}

function renderOutbox(): void {
  outboxList.replaceChildren(
    ...state.outbox.map((item) => {
      const li = document.createElement('li');
      li.dataset.clientMsgId = item.clientMsgId;
      li.dataset.state = item.state;
      li.className = item.state;
      const text = document.createElement('span');
      text.textContent = `[${item.room}] ${item.msg}`;
      const note = document.createElement('span');
      note.className = 'note';
      note.textContent = item.state === 'pending' ? ' (sending…)' : ` (not sent: ${item.reason})`;
      li.append(text, note);
      if (item.state === 'failed') {
        const dismiss = document.createElement('button');
        dismiss.type = 'button';
        dismiss.textContent = 'Dismiss';
        dismiss.addEventListener('click', () => {
          state.remove(item.clientMsgId);
          renderOutbox();
        });
        li.append(dismiss);
      }
      return li;
    }),
  );
}

/** The name is locked while in a room: a new name needs a new connection, which would leave the rooms. */
function renderName(): void {
  const locked = state.rooms.size > 0;
  nameInput.disabled = locked;
  nameHint.hidden = !locked;
}

function render(frame: Frame): void {
  switch (frame.type) {
    case 'message':
      showMessage(frame);
      if (frame.clientMsgId) confirmed(frame.clientMsgId);
      break;
    case 'history':
      for (const message of frame.messages ?? []) showMessage(message);
      if (frame.room) historyArrived(frame.room, frame);
      break;
    case 'pong':
      break;
    case 'joined':
    case 'left':
      show([who(frame, 'who'), { text: ` ${frame.type} ${frame.room}` }], 'notice');
      break;
    case 'error':
      refused(frame);
      break;
    default:
      show([{ text: frame.message ? `Gateway: ${frame.message}` : JSON.stringify(frame) }], 'notice');
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
    socket?.send(JSON.stringify({ action: 'history', room, before: oldest, limit: HISTORY_PAGE }));
    return;
  }
  catchingUp.delete(room);
  updateCatchUpState();
}

function updateCatchUpState(): void {
  log.dataset.catchingUp = String(catchingUp.size > 0);
}

/** An `error` frame: for a send, about the room's message in flight (one at a time per room). */
function refused(frame: Frame): void {
  const room = frame.room ?? '';
  if (frame.action === 'join' && frame.code === 'ALREADY_JOINED') {
    catchingUp.delete(room);
    updateCatchUpState();
    joinedHere.add(room);
    flush(room);
    return;
  }
  show([{ text: `Error ${frame.code}: ${frame.message}` }], 'error');
  if (frame.action === 'join') {
    // The room cannot be joined (e.g. a bad name): what waits for it cannot be sent.
    catchingUp.delete(room);
    updateCatchUpState();
    state.rooms.delete(room);
    for (const item of state.outbox)
      if (item.room === room && item.state === 'pending') state.fail(item, `${frame.code}: ${frame.message}`);
    state.save();
    renderName();
    renderOutbox();
    return;
  }
  if (frame.action !== 'send') return;
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
    sent.timer = setTimeout(() => resend(room, item.clientMsgId), 1000 * item.attempts);
  } else {
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
  if (socket?.readyState !== WebSocket.OPEN || !joinedHere.has(room) || inFlight.has(room)) return;
  const item = state.nextToSend(room);
  if (!item) return;
  const frame = JSON.stringify({ action: 'send', room, msg: item.msg, clientMsgId: item.clientMsgId });
  if (new TextEncoder().encode(frame).length > FRAME_MAX_BYTES || item.attempts >= MAX_ATTEMPTS) {
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
  socket.send(frame);
}

function join(room: string): void {
  if (socket?.readyState !== WebSocket.OPEN || joinedHere.has(room) || catchingUp.has(room)) return;
  const since = state.rooms.get(room);
  catchingUp.set(room, since);
  updateCatchUpState();
  socket.send(JSON.stringify({ action: 'join', room, ...(since ? { since } : {}) }));
}

/** Asks the local issuer for a token for `name`, then connects with it. */
async function signInAs(name: string): Promise<void> {
  setStatus(`signing in as ${name}`, 'connecting');
  try {
    const response = await fetch('/auth/token', {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    if (!response.ok) throw new Error(`the issuer answered ${response.status}`);
    signedIn = { name, token: ((await response.json()) as { token: string }).token };
    connect();
  } catch (error) {
    setStatus(`sign-in failed: ${(error as Error).message}`, 'disconnected');
  }
}

/** A socket for `name`: signed in with a token, or named in the query string. */
function openSocket(name: string | undefined): WebSocket {
  if (!signingIn) return new WebSocket(name ? `${apiUrl}?name=${encodeURIComponent(name)}` : apiUrl);
  const token = signedIn!.token;
  return signIn === 'header'
    ? new WebSocket(apiUrl, ['chat', token])
    : new WebSocket(`${apiUrl}?token=${encodeURIComponent(token)}`);
}

/** Opens a socket unless one is open or opening under the current name; on open, joins every room. */
function connect(): void {
  const name = state.name;
  if (socket && connectedAs === name && socket.readyState <= WebSocket.OPEN) return;
  if (signingIn && signedIn?.name !== name) {
    if (name) void signInAs(name);
    else setStatus('enter a name to sign in', 'disconnected');
    return;
  }
  clearTimeout(reconnectTimer);
  const previous = socket;
  socket = undefined;
  previous?.close(1000);
  forgetSocket();
  const next = openSocket(name);
  let opened = false;
  socket = next;
  connectedAs = name;
  if (status.dataset.state !== 'reconnecting') setStatus('connecting', 'connecting');
  next.onopen = () => {
    opened = true;
    setStatus('connected', 'connected');
    reconnectDelayMs = 500;
    for (const room of state.rooms.keys()) join(room);
  };
  next.onmessage = (event) => {
    let frame: Frame;
    try {
      frame = JSON.parse(String(event.data)) as Frame;
    } catch {
      show([{ text: String(event.data) }], 'notice');
      return;
    }
    render(frame);
  };
  next.onclose = (event) => {
    if (socket !== next) return; // replaced on purpose (a new name)
    socket = undefined;
    forgetSocket();
    // A refused handshake may be an expired token: the next attempt signs in again.
    if (!opened) signedIn = undefined;
    if (state.rooms.size === 0 && !state.hasPending()) {
      setStatus(`disconnected (${event.code})`, 'disconnected');
      return;
    }
    setStatus('reconnecting', 'reconnecting');
    reconnectTimer = setTimeout(connect, reconnectDelayMs);
    reconnectDelayMs = Math.min(reconnectDelayMs * 2, 5_000);
  };
}

/** Everything done on a socket ends with it; what was in flight is sent again on the next one. */
function forgetSocket(): void {
  joinedHere.clear();
  catchingUp.clear();
  updateCatchUpState();
  for (const { timer } of inFlight.values()) clearTimeout(timer);
  inFlight.clear();
}

function useName(): void {
  if (state.rooms.size === 0) state.name = nameInput.value.trim();
}

byId<HTMLFormElement>('room-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const room = roomInput.value.trim();
  useName();
  if (!state.rooms.has(room)) state.rooms.set(room, undefined);
  state.save();
  renderName();
  connect();
  join(room);
});
byId<HTMLButtonElement>('leave').addEventListener('click', () => {
  const room = roomInput.value.trim();
  if (!state.rooms.delete(room)) return;
  for (const item of state.outbox)
    if (item.room === room && item.state === 'pending') state.fail(item, 'left the room before it was sent');
  state.save();
  renderName();
  renderOutbox();
  joinedHere.delete(room);
  catchingUp.delete(room);
  updateCatchUpState();
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: 'leave', room }));
});
byId<HTMLFormElement>('message-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const msg = messageInput.value;
  const room = roomInput.value.trim();
  if (!msg.trim() || !room) return;
  useName();
  // Sending to a room not joined joins it first.
  if (!state.rooms.has(room)) state.rooms.set(room, undefined);
  const item: OutboxItem = { clientMsgId: crypto.randomUUID(), room, msg, state: 'pending', attempts: 0 };
  state.outbox.push(item);
  state.save();
  messageInput.value = '';
  renderName();
  renderOutbox();
  connect();
  join(room);
  flush(room);
});

setInterval(() => {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: 'ping' }));
}, KEEPALIVE_MS);

// A reload picks up where the page was: same name, same rooms, the same unsent messages.
nameInput.value = state.name;
renderName();
renderOutbox();
setStatus('disconnected', 'disconnected');
if (state.rooms.size > 0 || state.hasPending()) connect();
