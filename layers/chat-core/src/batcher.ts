import type { BatchWindowRef, MessageRecord } from './chat-store';
import { sleep } from './concurrency';
import { type FanoutDeps, fanOut } from './fanout';
import { logger } from './logger';
import { type MessagesFrame, messageFrame } from './protocol';

// Busy rooms' messages, several per `@connections` POST (template parameter BatchWindowMs): API Gateway
// meters messages per 32 KB, so a POST carrying five chat messages costs what one carrying one does.
// A send that finds its room's batching window open stores its message, adds its id to the window and
// posts nothing; the window's batcher (started by the send that opened it) waits for the window's end,
// closes it and posts its messages to every member in `messages` frames (ChatStore.enterWindow says how
// windows open and who joins them).

/** What the batcher function is invoked with. */
export interface BatchEvent extends BatchWindowRef {
  /** The stage's `@connections` endpoint. */
  endpoint: string;
}

/** Each `messages` frame stays within one of API Gateway's 32 KB metering units. */
export const MESSAGES_FRAME_MAX_BYTES = 32 * 1024;

/**
 * Starts a window's batcher: an asynchronous invocation of the batcher function, or, when there is none or
 * Lambda did not take the event, this invocation does its work.
 */
export async function startBatcher(
  deps: FanoutDeps,
  window: BatchWindowRef,
  invoke: ((event: BatchEvent) => Promise<void>) | undefined,
): Promise<void> {
  if (invoke) {
    try {
      await invoke({ endpoint: deps.connections.endpoint, ...window });
      return;
    } catch (error) {
      logger.warn('could not hand a batching window to the batcher function', {
        room: window.room,
        error: error as Error,
      });
    }
  }
  await deliverWindow(deps, window);
}

/**
 * The batcher's work: waits for the window's end, closes it (no send joins it afterwards), reads its
 * messages and posts them to every member of the room, each sender's copy last and with its
 * `clientMsgId`s (the echo, as a send's own: everyone else has been sent them).
 */
export async function deliverWindow(deps: FanoutDeps, window: BatchWindowRef): Promise<void> {
  const { room, windowId } = window;
  const wait = window.endsAt - deps.store.now();
  if (wait > 0) await sleep(wait);
  const ids = await deps.store.closeBatchWindow(room, windowId);
  if (ids === undefined) {
    logger.warn('batching window closed or replaced before its batcher came', { room, windowId });
    return;
  }
  const messages = await deps.store.getMessages(room, ids);
  const frames = messagesFrames(room, messages);
  for (const part of frames) {
    const senders = new Set(part.map((message) => message.senderId));
    await fanOut(deps, room, messagesFrame(room, part), {
      echoes: new Map([...senders].map((sender) => [sender, messagesFrame(room, part, sender)])),
    });
  }
  logger.info('batching window delivered', {
    room,
    windowId,
    messages: messages.length,
    frames: frames.length,
  });
}

/** A window's messages in parts whose frames (the senders' copies too) each fit MESSAGES_FRAME_MAX_BYTES. */
export function messagesFrames(room: string, messages: MessageRecord[]): MessageRecord[][] {
  const empty = Buffer.byteLength(JSON.stringify(messagesFrame(room, [])), 'utf8');
  const parts: MessageRecord[][] = [];
  let part: MessageRecord[] = [];
  let bytes = empty;
  for (const message of messages) {
    // Measured as the sender's copy, the larger one; and its comma.
    const size = Buffer.byteLength(JSON.stringify(echoElement(message)), 'utf8') + 1;
    if (part.length > 0 && bytes + size > MESSAGES_FRAME_MAX_BYTES) {
      parts.push(part);
      part = [];
      bytes = empty;
    }
    part.push(message);
    bytes += size;
  }
  if (part.length > 0) parts.push(part);
  return parts;
}

/** A `messages` frame; for `sender`, its own messages carry their `clientMsgId`. */
function messagesFrame(room: string, messages: MessageRecord[], sender?: string): MessagesFrame {
  return {
    type: 'messages',
    room,
    messages: messages.map((message) =>
      message.senderId === sender ? echoElement(message) : messageFrame(message),
    ),
  };
}

function echoElement(message: MessageRecord) {
  const frame = messageFrame(message);
  return message.clientMsgId === undefined ? frame : { ...frame, clientMsgId: message.clientMsgId };
}
