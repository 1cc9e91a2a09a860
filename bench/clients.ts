// Many plain `ws` clients, opened in batches, for the benchmarks that drive a server from outside.
import WebSocket from 'ws';
import { inBatches, withTimeout } from './common';

export type Frame = Record<string, unknown>;

/** Opens `count` sockets, `batch` handshakes at a time (each runs the stack's real $connect). */
export async function openSockets(
  url: string,
  count: number,
  options: { batch?: number; timeoutMs?: number; onOpen?: () => void } = {},
): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  try {
    await inBatches(count, options.batch ?? 100, async (index) => {
      const ws = new WebSocket(`${url}?name=bench${index}`, { perMessageDeflate: false });
      sockets.push(ws);
      ws.on('error', () => {});
      const open = new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_, res) => reject(new Error(`handshake refused: ${res.statusCode}`)));
        ws.once('error', reject);
      });
      await withTimeout(open, options.timeoutMs ?? 30_000, `opening socket ${index}`);
      options.onOpen?.();
    });
  } catch (error) {
    closeSockets(sockets);
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

/**
 * Each socket's connection id, from the `joined` frame it gets when it joins a room of its own (the
 * gateway tells a client nothing else about itself). One member per room: no fan-out to speak of.
 */
export async function connectionIds(sockets: WebSocket[], timeoutMs = 30_000): Promise<string[]> {
  const ids: string[] = new Array(sockets.length);
  const run = Date.now().toString(36);
  await inBatches(sockets.length, 50, async (index) => {
    const ws = sockets[index]!;
    const room = `self-${run}-${index}`;
    const joined = nextFrame(ws, (f) => f.type === 'joined' || f.type === 'error', timeoutMs);
    ws.send(JSON.stringify({ action: 'join', room }));
    const frame = await joined;
    if (frame.type !== 'joined') throw new Error(`join refused: ${JSON.stringify(frame)}`);
    ids[index] = String(frame.connectionId);
  });
  return ids;
}
