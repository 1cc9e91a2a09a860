// Everything the page draws. What a server or another user sent goes in with textContent, never as HTML.
import type { ConnectionState } from './connection';
import type { OutboxItem } from './outbox';
import type { Member, RoomPresence } from './presence';

export interface MessageView {
  id: string;
  room: string;
  from?: Member;
  msg?: string;
  sentAt?: string;
}

const byId = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const messages = byId<HTMLElement>('messages');
const empty = byId<HTMLElement>('empty');

function element<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  text?: string,
  className?: string,
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  if (text !== undefined) el.textContent = text;
  if (className) el.className = className;
  return el;
}

export function setStatus(state: ConnectionState, text: string): void {
  const status = byId<HTMLElement>('status');
  status.textContent = text;
  status.dataset.state = state;
}

/** Who the page is: the name, and the handle the server gave this connection once it is known. */
export function renderMe(name: string, handle: string | undefined): void {
  byId<HTMLElement>('me').hidden = !name;
  byId<HTMLElement>('me-name').textContent = handle ? `${name} #${handle}` : name;
}

/** The welcome form: a name chosen once at the start, or changed later (Cancel then keeps the old one). */
export function showNameForm(show: boolean, current: string, signingIn: boolean): void {
  const welcome = byId<HTMLElement>('welcome');
  welcome.hidden = !show;
  byId<HTMLElement>('app').inert = show;
  byId<HTMLElement>('sign-in-hint').hidden = !signingIn;
  byId<HTMLButtonElement>('cancel-name').hidden = !current;
  byId<HTMLElement>('start').textContent = current ? 'Save name' : 'Start chatting';
  if (!show) return;
  const input = byId<HTMLInputElement>('name');
  input.value = current;
  input.focus();
}

/** A room's message log (one per room; only the selected room's is shown). */
export function roomLog(room: string): HTMLOListElement {
  for (const log of messages.querySelectorAll<HTMLOListElement>('ol.log'))
    if (log.dataset.room === room) return log;
  const log = element('ol', undefined, 'log');
  log.dataset.room = room;
  log.setAttribute('role', 'log');
  log.setAttribute('aria-label', `Messages in ${room}`);
  log.hidden = true;
  messages.append(log);
  return log;
}

export function removeRoomLog(room: string): void {
  roomLog(room).remove();
}

/** Keeps the view at the newest message if it was there (a reader scrolled up is left in place). */
function appendKeepingBottom(log: HTMLOListElement, item: HTMLLIElement, before?: Element): void {
  const atBottom = messages.scrollHeight - messages.scrollTop - messages.clientHeight < 40;
  log.insertBefore(item, before ?? null);
  if (atBottom && !log.hidden) messages.scrollTop = messages.scrollHeight;
}

const timeFormat = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const fullFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'medium' });

/** Shows a message in id order among those shown (a page back delivers older ones later). */
export function showMessage(message: MessageView, own: boolean): void {
  const log = roomLog(message.room);
  const item = element('li', undefined, own ? 'message own' : 'message');
  item.dataset.id = message.id;
  const from = element('span', message.from?.name ?? 'anonymous', 'from');
  const handle = element('span', message.from ? `#${message.from.handle}` : '', 'handle');
  const sentAt = new Date(message.sentAt ?? Date.now());
  const time = element('time', timeFormat.format(sentAt));
  time.dateTime = sentAt.toISOString();
  time.title = fullFormat.format(sentAt);
  const text = element('p', message.msg ?? '', 'text');
  item.append(from, handle, ...(own ? [element('span', ' (you)', 'visually-hidden')] : []), time, text);
  // Before the earliest of the newer messages at the end; notices and markers keep their place.
  let newer: Element | undefined;
  for (let el = log.lastElementChild; el; el = el.previousElementSibling) {
    const id = (el as HTMLElement).dataset.id;
    if (!id) continue;
    if (id < message.id) break;
    newer = el;
  }
  appendKeepingBottom(log, item, newer);
}

/** A line about the room (someone joined or left, an error). */
export function showNotice(room: string, text: string, kind: 'notice' | 'error' = 'notice'): void {
  const item = element('li', text, kind === 'error' ? 'notice error' : 'notice');
  appendKeepingBottom(roomLog(room), item);
}

/** A divider: where replayed history ends and live messages begin, or where a reconnect happened. */
export function showMarker(room: string, kind: 'live' | 'reconnected', text: string): void {
  const item = element('li', text, 'marker');
  item.dataset.marker = kind;
  item.setAttribute('role', 'separator');
  item.setAttribute('aria-label', text);
  appendKeepingBottom(roomLog(room), item);
}

/** Whether any message of the room is shown (a fresh room's marker says there is no history). */
export const hasMessages = (room: string) => roomLog(room).querySelector('li.message') !== null;

export function setCatchingUp(catchingUp: boolean): void {
  messages.dataset.catchingUp = String(catchingUp);
}

/** The sidebar: each room a button (selected one marked, unread counts beside the others). */
export function renderRooms(
  rooms: { room: string; unread: number }[],
  selected: string | undefined,
  select: (room: string) => void,
): void {
  byId<HTMLElement>('rooms').replaceChildren(
    ...rooms.map(({ room, unread }) => {
      const button = element('button', undefined);
      button.type = 'button';
      button.dataset.room = room;
      button.setAttribute('aria-current', String(room === selected));
      button.append(element('span', room, 'room-name'));
      if (unread > 0) {
        const badge = element('span', String(unread), 'unread');
        badge.append(element('span', ' unread', 'visually-hidden'));
        button.append(badge);
      }
      button.addEventListener('click', () => select(room));
      const item = element('li');
      item.append(button);
      return item;
    }),
  );
}

/** The selected room's log, title and controls; with no room, an invitation to join one. */
export function showRoom(room: string | undefined): void {
  for (const log of messages.querySelectorAll<HTMLOListElement>('ol.log'))
    log.hidden = log.dataset.room !== room;
  empty.hidden = room !== undefined;
  byId<HTMLElement>('room-title').textContent = room ?? 'No room yet';
  byId<HTMLElement>('leave').hidden = room === undefined;
  byId<HTMLElement>('leave').setAttribute('aria-label', room ? `Leave ${room}` : 'Leave');
  byId<HTMLInputElement>('message').disabled = room === undefined;
  byId<HTMLButtonElement>('send').disabled = room === undefined;
  byId<HTMLInputElement>('message').setAttribute('aria-label', room ? `Message to ${room}` : 'Message');
  messages.scrollTop = messages.scrollHeight;
}

/** The selected room's members: each person once, with how many connections; a big room as a count. */
export function renderMembers(presence: RoomPresence | undefined, me: string | undefined): void {
  const summary = byId<HTMLElement>('members-summary');
  const list = byId<HTMLElement>('members');
  if (!presence) {
    summary.textContent = 'Members';
    list.replaceChildren();
    return;
  }
  const count = presence.count();
  const people = presence.list();
  summary.textContent = people ? `Members · ${count} online` : `${count} connected (too many to list)`;
  list.replaceChildren(
    ...(people ?? []).map((person) => {
      const item = element('li');
      item.dataset.handle = person.handle;
      item.append(
        element('span', person.name ?? 'anonymous', 'from'),
        element('span', `#${person.handle}`, 'handle'),
      );
      if (person.handle === me) item.append(element('span', '(you)', 'connections'));
      if (person.connections > 1)
        item.append(element('span', `on ${person.connections} connections`, 'connections'));
      return item;
    }),
  );
}

export function renderTyping(typing: Member[]): void {
  const names = typing.map((member) => member.name ?? `#${member.handle}`);
  byId<HTMLElement>('typing').textContent =
    names.length === 0
      ? ''
      : names.length === 1
        ? `${names[0]} is typing…`
        : names.length <= 3
          ? `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`
          : 'Several people are typing…';
}

/** Messages not yet confirmed: pending (sending…) or failed with the reason and a Dismiss button. */
export function renderOutbox(items: OutboxItem[], dismiss: (clientMsgId: string) => void): void {
  byId<HTMLElement>('outbox').replaceChildren(
    ...items.map((item) => {
      const li = element('li', undefined, item.state);
      li.dataset.clientMsgId = item.clientMsgId;
      li.dataset.state = item.state;
      li.dataset.room = item.room;
      li.append(
        element('span', `[${item.room}] ${item.msg}`, 'text'),
        element('span', item.state === 'pending' ? 'sending…' : `not sent: ${item.reason}`, 'note'),
      );
      if (item.state === 'failed') {
        const button = element('button', 'Dismiss', 'quiet');
        button.type = 'button';
        button.addEventListener('click', () => dismiss(item.clientMsgId));
        li.append(button);
      }
      return li;
    }),
  );
}
