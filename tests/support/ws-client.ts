import WebSocket from 'ws';
import { WAIT_MS } from './timeouts';

export type Frame = Record<string, unknown>;

/** A real WebSocket client that keeps every frame it receives and can wait for the next matching one. */
export class TestClient {
  readonly frames: Frame[] = [];
  readonly raw: string[] = [];
  readonly closed: Promise<{ code: number; reason: string }>;
  private waiters: { match: (f: Frame) => boolean; resolve: (f: Frame) => void }[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const text = data.toString();
      this.raw.push(text);
      let frame: Frame;
      try {
        frame = JSON.parse(text) as Frame;
      } catch {
        frame = { unparsed: text };
      }
      this.frames.push(frame);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(frame)) return true;
        w.resolve(frame);
        return false;
      });
    });
    this.closed = new Promise((resolve) =>
      ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
    );
  }

  /** Opens a connection; rejects with the HTTP status if the handshake is refused. */
  static connect(
    url: string,
    options: { name?: string; protocols?: string[]; headers?: Record<string, string> } = {},
  ) {
    const target = options.name === undefined ? url : `${url}?name=${encodeURIComponent(options.name)}`;
    const ws = new WebSocket(target, options.protocols ?? [], {
      headers: options.headers ?? {},
      perMessageDeflate: false,
    });
    const client = new TestClient(ws);
    return new Promise<TestClient>((resolve, reject) => {
      ws.once('open', () => resolve(client));
      ws.once('unexpected-response', (_, response) =>
        reject(
          Object.assign(new Error(`handshake refused: ${response.statusCode}`), {
            status: response.statusCode,
          }),
        ),
      );
      ws.once('error', reject);
    });
  }

  send(body: unknown): void {
    this.ws.send(typeof body === 'string' ? body : JSON.stringify(body));
  }

  /** The next frame (after those already seen, unless `includeSeen`) that matches. */
  next(match: (f: Frame) => boolean = () => true, timeoutMs = WAIT_MS, includeSeen = false): Promise<Frame> {
    if (includeSeen) {
      const seen = this.frames.find(match);
      if (seen) return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(
              `no matching frame within ${timeoutMs} ms; got ${JSON.stringify(this.frames.slice(-5))}`,
            ),
          ),
        timeoutMs,
      );
      this.waiters.push({
        match,
        resolve: (f) => {
          clearTimeout(timer);
          resolve(f);
        },
      });
    });
  }

  /** Sends and waits for the first frame of `type` that answers it. */
  async request(body: unknown, type: string, timeoutMs?: number): Promise<Frame> {
    const answer = this.next((f) => f.type === type || f.type === 'error', timeoutMs);
    this.send(body);
    return answer;
  }

  close(code = 1000): Promise<{ code: number; reason: string }> {
    this.ws.close(code);
    return this.closed;
  }

  /** Drops the TCP connection without a close frame. */
  drop(): Promise<{ code: number; reason: string }> {
    this.ws.terminate();
    return this.closed;
  }
}

/** Resolves once `check` passes (polling), for effects that land asynchronously ($disconnect). */
export async function eventually(check: () => Promise<void> | void, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await check();
      return;
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
}
