// The chat page's presence state (local/web/presence.ts): people counted by handle over connections, a big
// room as a count, and "typing" that lasts TYPING_SHOWN_MS unless refreshed or ended by a message.
import { RoomPresence, TYPING_SHOWN_MS } from '../../local/web/presence';

const ada = { handle: 'aaaaaa', name: 'Ada' };
const bob = { handle: 'bbbbbb', name: 'Bob' };

test('a person on two connections is listed once and stays until both have left', () => {
  const room = new RoomPresence();
  room.reset(2, [ada, bob]);
  room.joined(ada); // Ada's second tab
  expect(room.list()).toEqual([
    { ...ada, connections: 2 },
    { ...bob, connections: 1 },
  ]);
  room.left(ada);
  expect(room.has(ada.handle)).toBe(true);
  room.left(ada);
  expect(room.has(ada.handle)).toBe(false);
  expect(room.count()).toBe(1);
  room.left(ada); // a late duplicate changes nothing
  expect(room.count()).toBe(1);
});

test('a room the server does not list is a count, and a later list replaces it', () => {
  const room = new RoomPresence();
  room.reset(250, undefined);
  expect(room.isListed()).toBe(false);
  expect(room.list()).toBeUndefined();
  expect(room.count()).toBe(250);
  room.reset(1, [bob]);
  expect(room.list()).toEqual([{ ...bob, connections: 1 }]);
});

test('typing shows until TYPING_SHOWN_MS pass without a refresh, or a message ends it', () => {
  const room = new RoomPresence();
  room.startedTyping(ada, 1_000);
  room.startedTyping(bob, 1_000);
  expect(room.typingNow(1_000 + TYPING_SHOWN_MS - 1)).toEqual([
    expect.objectContaining(ada),
    expect.objectContaining(bob),
  ]);
  room.startedTyping(ada, 3_000); // refreshed
  room.stoppedTyping(bob.handle); // Bob's message arrived
  expect(room.typingNow(1_000 + TYPING_SHOWN_MS)).toEqual([expect.objectContaining(ada)]);
  expect(room.typingNow(3_000 + TYPING_SHOWN_MS)).toEqual([]);
});

test('someone who leaves stops typing', () => {
  const room = new RoomPresence();
  room.reset(1, [ada]);
  room.startedTyping(ada, 0);
  room.left(ada);
  expect(room.typingNow(1)).toEqual([]);
});
