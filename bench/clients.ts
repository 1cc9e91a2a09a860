// Many plain `ws` clients, opened in batches, for the benchmarks that drive a server from outside.
import WebSocket from 'ws';
import { inBatches, sleep, withTimeout } from './common';

export type Frame = Record<string, unknown>;

/** A handshake the stage's `$connect` throttle refused (429): tried again after a pause. */
class Throttled extends Error {}

/**
 * Opens `count` sockets, `batch` handshakes at a time (each runs the stack's real $connect); socket
 * `index` is named `bench{index}`. Handshakes refused by the stage's `$connect` throttle are retried.
 */
export async function openSockets(
  url: string,
  count: number,
  options: { batch?: number; timeoutMs?: number; onOpen?: () => void } = {},
): Promise<WebSocket[]> {
  const sockets: WebSocket[] = new Array(count);
  const open = (index: number) => {
    const ws = new WebSocket(`${url}?name=bench${index}`, { perMessageDeflate: false });
    ws.on('error', () => {});
    const opened = new Promise<WebSocket>((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('unexpected-response', (_, res) =>
        reject(res.statusCode === 429 ? new Throttled() : new Error(`handshake refused: ${res.statusCode}`)),
      );
      ws.once('error', reject);
    });
    return withTimeout(opened, options.timeoutMs ?? 30_000, `opening socket ${index}`);
  };
  try {
    await inBatches(count, options.batch ?? 100, async (index) => {
      for (;;) {
        try {
          sockets[index] = await open(index);
          options.onOpen?.();
          return;
        } catch (error) {
          if (!(error instanceof Throttled)) throw error;
          await sleep(100 + Math.random() * 400);
        }
      }
    });
  } catch (error) {
    closeSockets(sockets.filter(Boolean));
    throw error;
  }
  return sockets;
}

export function closeSockets(sockets: WebSocket[]): void {
  for (const ws of sockets) ws.terminate();
}

/** The next frame on `ws` that `match` accepts (JSON text frames). */
export function nextFrame(
  ws: WebSocket,
  match: (frame: Frame) => boolean,
  timeoutMs: number,
): Promise<Frame> {
  let listener: ((data: WebSocket.RawData) => void) | undefined;
  const found = new Promise<Frame>((resolve) => {
    listener = (data) => {
      const frame = JSON.parse(data.toString()) as Frame;
      if (match(frame)) resolve(frame);
    };
    ws.on('message', listener);
  });
  return withTimeout(found, timeoutMs, 'waiting for a frame').finally(() => ws.off('message', listener!));
}
