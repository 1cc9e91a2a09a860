// The chat page: talks the chat protocol to the local stack or, with ?url=wss://..., a deployed API.
// Everything a server or another user sent is shown with textContent, never parsed as HTML.
// It keeps its connection alive, and when the connection closes anyway (idle or 2-hour limit, network,
// server restart) it reconnects with backoff and rejoins its rooms with `since`, dropping repeats by id.
export {};

type Frame = {
  type?: string;
  room?: string;
  id?: string;
  connectionId?: string;
  name?: string;
  msg?: string;
  from?: { connectionId: string; name?: string };
  messages?: Frame[];
  code?: string;
  message?: string;
};

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const nameInput = byId<HTMLInputElement>('name');
const roomInput = byId<HTMLInputElement>('room');
const messageInput = byId<HTMLInputElement>('message');
const status = byId<HTMLElement>('status');
const log = byId<HTMLUListElement>('log');

const params = new URLSearchParams(location.search);
const stage = document.body.dataset.stage ?? 'dev';
const apiUrl =
  params.get('url') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${stage}`;
/** API Gateway closes a connection after 10 idle minutes: ping well before. */
const KEEPALIVE_MS = Number(params.get('keepalive') ?? 5 * 60 * 1000);

let socket: WebSocket | undefined;
let connectedAs: string | undefined;
/** The socket being opened, so that a second click while connecting does not open another. */
let opening: Promise<WebSocket> | undefined;
let reconnectDelayMs = 500;
/** Rooms joined, each with the id of the last message shown (the `since` of a rejoin). */
const rooms = new Map<string, string | undefined>();
const shownIds = new Set<string>();

function show(parts: { text: string; className?: string }[], kind?: string): void {
  const item = document.createElement('li');
  if (kind) item.className = kind;
  for (const part of parts) {
    const span = document.createElement('span');
    span.textContent = part.text;
    if (part.className) span.className = part.className;
    item.append(span);
  }
  log.append(item);
  log.scrollTop = log.scrollHeight;
}

const who = (name: string | undefined, connectionId: string | undefined) => name ?? connectionId ?? 'someone';

function showMessage(frame: Frame): void {
  if (!frame.id || shownIds.has(frame.id)) return; // a replay repeats what may have arrived live
  shownIds.add(frame.id);
  const room = frame.room ?? '';
  const last = rooms.get(room);
  if (rooms.has(room) && (!last || frame.id > last)) rooms.set(room, frame.id);
  show([
    { text: `[${room}] ` },
    { text: who(frame.from?.name, frame.from?.connectionId), className: 'from' },
    { text: `: ${frame.msg}` },
  ]);
}

function render(frame: Frame): void {
  switch (frame.type) {
    case 'message':
      showMessage(frame);
      break;
    case 'history':
      // Sent to a joiner after `joined`: the room's recent messages (or those after `since`), oldest first.
      for (const message of frame.messages ?? []) showMessage(message);
      break;
    case 'pong':
      break;
    case 'joined':
      show([{ text: `${who(frame.name, frame.connectionId)} joined ${frame.room}` }], 'notice');
      break;
    case 'left':
      show([{ text: `${who(frame.name, frame.connectionId)} left ${frame.room}` }], 'notice');
      break;
    case 'error':
      show([{ text: `Error ${frame.code}: ${frame.message}` }], 'error');
      break;
    default:
      show([{ text: frame.message ? `Gateway: ${frame.message}` : JSON.stringify(frame) }], 'notice');
  }
}

/** Opens the socket (again if the name changed) and resolves once it is open. */
function connect(): Promise<WebSocket> {
  const name = nameInput.value.trim();
  if (socket && connectedAs === name) {
    if (socket.readyState === WebSocket.OPEN) return Promise.resolve(socket);
    if (socket.readyState === WebSocket.CONNECTING && opening) return opening;
  }
  const previous = socket;
  socket = undefined;
  previous?.close(1000);
  const url = name ? `${apiUrl}?name=${encodeURIComponent(name)}` : apiUrl;
  const next = new WebSocket(url);
  socket = next;
  connectedAs = name;
  status.textContent = 'connecting';
  opening = new Promise((resolve, reject) => {
    next.onopen = () => {
      status.textContent = 'connected';
      reconnectDelayMs = 500;
      resolve(next);
    };
    next.onmessage = (event) => {
      try {
        render(JSON.parse(String(event.data)) as Frame);
      } catch {
        show([{ text: String(event.data) }], 'notice');
      }
    };
    next.onclose = (event) => {
      reject(new Error(`connection closed (${event.code})`));
      if (socket !== next) return; // replaced on purpose (a new name)
      socket = undefined;
      if (rooms.size === 0) {
        status.textContent = `disconnected (${event.code})`;
        return;
      }
      status.textContent = 'reconnecting';
      setTimeout(() => void rejoin(), reconnectDelayMs);
      reconnectDelayMs = Math.min(reconnectDelayMs * 2, 10_000);
    };
  });
  return opening;
}

/** After a drop: a new connection, and every room joined again from the last message shown. */
async function rejoin(): Promise<void> {
  try {
    const open = await connect();
    for (const [room, since] of rooms)
      open.send(JSON.stringify({ action: 'join', room, ...(since ? { since } : {}) }));
  } catch {
    // onclose has already scheduled the next attempt
  }
}

async function sendAction(body: Record<string, string>): Promise<void> {
  try {
    (await connect()).send(JSON.stringify(body));
  } catch (error) {
    show([{ text: `Error: ${(error as Error).message}` }], 'error');
  }
}

byId<HTMLFormElement>('room-form').addEventListener('submit', (event) => {
  event.preventDefault();
  const room = roomInput.value.trim();
  if (!rooms.has(room)) rooms.set(room, undefined);
  void sendAction({ action: 'join', room });
});
byId<HTMLButtonElement>('leave').addEventListener('click', () => {
  const room = roomInput.value.trim();
  rooms.delete(room);
  void sendAction({ action: 'leave', room });
});
byId<HTMLFormElement>('message-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (!messageInput.value) return;
  void sendAction({ action: 'send', room: roomInput.value.trim(), msg: messageInput.value });
  messageInput.value = '';
});

setInterval(() => {
  if (socket?.readyState === WebSocket.OPEN) socket.send(JSON.stringify({ action: 'ping' }));
}, KEEPALIVE_MS);
