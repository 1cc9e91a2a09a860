// The chat page: talks the chat protocol to the local stack or, with ?url=wss://..., a deployed API.
// Everything a server or another user sent is shown with textContent, never parsed as HTML.
export {};

type Frame = {
  type?: string;
  room?: string;
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

const stage = document.body.dataset.stage ?? 'dev';
const apiUrl =
  new URLSearchParams(location.search).get('url') ??
  `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/${stage}`;

let socket: WebSocket | undefined;
let connectedAs: string | undefined;
/** The socket being opened, so that a second click while connecting does not open another. */
let opening: Promise<WebSocket> | undefined;

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
  show([
    { text: `[${frame.room}] ` },
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
      // Sent to a joiner after `joined`: the room's recent messages, oldest first.
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
  socket?.close(1000);
  const url = name ? `${apiUrl}?name=${encodeURIComponent(name)}` : apiUrl;
  const next = new WebSocket(url);
  socket = next;
  connectedAs = name;
  status.textContent = 'connecting';
  opening = new Promise((resolve, reject) => {
    next.onopen = () => {
      status.textContent = 'connected';
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
      if (socket === next) status.textContent = `disconnected (${event.code})`;
      reject(new Error(`connection closed (${event.code})`));
    };
  });
  return opening;
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
  void sendAction({ action: 'join', room: roomInput.value.trim() });
});
byId<HTMLButtonElement>('leave').addEventListener('click', () => {
  void sendAction({ action: 'leave', room: roomInput.value.trim() });
});
byId<HTMLFormElement>('message-form').addEventListener('submit', (event) => {
  event.preventDefault();
  if (!messageInput.value) return;
  void sendAction({ action: 'send', room: roomInput.value.trim(), msg: messageInput.value });
  messageInput.value = '';
});
