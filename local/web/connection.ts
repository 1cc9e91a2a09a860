// The page's one WebSocket: opened under the chosen name (signed in through the local issuer when sign-in
// is on), kept alive with `ping`, and reopened with backoff when it closes while the page has rooms or
// unsent messages. The status line says what it is doing, including the countdown to the next attempt.

export type ConnectionState = 'idle' | 'signing-in' | 'connecting' | 'connected' | 'reconnecting' | 'failed';

export interface ConnectionOptions {
  url: string;
  /** With sign-in on (`npm start -- --auth`), where the token goes: the query string or the subprotocol. */
  signIn: 'none' | 'query' | 'header';
  /** Between pings; API Gateway closes a connection after 10 idle minutes. */
  keepAliveMs: number;
  onOpen(reopened: boolean): void;
  onFrame(frame: unknown, raw: string): void;
  /** The socket is gone (closed, or replaced under a new name): what was done on it ends with it. */
  onClosed(): void;
  onStatus(state: ConnectionState, text: string): void;
  /** Whether to reopen after a close (the page has rooms or messages waiting). */
  wanted(): boolean;
}

const FIRST_RETRY_MS = 500;
const MAX_RETRY_MS = 8_000;

export class Connection {
  private socket: WebSocket | undefined;
  private name = '';
  /** The token the local issuer signed for a name (an hour long; asked again when a handshake is refused). */
  private signedIn: { name: string; token: string } | undefined;
  private retryMs = FIRST_RETRY_MS;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private countdown: ReturnType<typeof setInterval> | undefined;
  /** Whether a socket of this page was ever open (the next open is a reconnect). */
  private everOpened = false;

  constructor(private readonly options: ConnectionOptions) {
    setInterval(() => this.send({ action: 'ping' }), options.keepAliveMs);
  }

  get isOpen(): boolean {
    return this.socket?.readyState === WebSocket.OPEN;
  }

  /** Sends a frame if the socket is open; says whether it did. */
  send(frame: object): boolean {
    if (!this.isOpen) return false;
    this.socket!.send(JSON.stringify(frame));
    return true;
  }

  /** Opens a socket under `name` unless one is open or opening under it; a new name replaces the socket. */
  open(name: string): void {
    if (this.socket && this.name === name && this.socket.readyState <= WebSocket.OPEN) return;
    this.stopRetrying();
    if (this.socket) {
      const previous = this.socket;
      this.socket = undefined;
      previous.close(1000);
      this.options.onClosed();
    }
    this.name = name;
    if (this.options.signIn !== 'none' && this.signedIn?.name !== name) {
      void this.signInThenOpen(name);
      return;
    }
    this.status(
      this.everOpened ? 'reconnecting' : 'connecting',
      this.everOpened ? 'reconnecting…' : 'connecting…',
    );
    const socket = this.openSocket(name);
    this.socket = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true;
      this.retryMs = FIRST_RETRY_MS;
      this.status('connected', 'connected');
      const reopened = this.everOpened;
      this.everOpened = true;
      this.options.onOpen(reopened);
    };
    socket.onmessage = (event) => {
      const raw = String(event.data);
      let frame: unknown;
      try {
        frame = JSON.parse(raw);
      } catch {
        frame = undefined;
      }
      this.options.onFrame(frame, raw);
    };
    socket.onclose = () => {
      if (this.socket !== socket) return; // replaced on purpose (a new name)
      this.socket = undefined;
      this.options.onClosed();
      // A refused handshake may be an expired token: the next attempt signs in again.
      if (!opened) this.signedIn = undefined;
      if (this.options.wanted()) this.retryLater();
      else this.status('idle', 'not connected');
    };
  }

  private openSocket(name: string): WebSocket {
    const { url, signIn } = this.options;
    if (signIn === 'none') return new WebSocket(name ? `${url}?name=${encodeURIComponent(name)}` : url);
    const token = this.signedIn!.token;
    return signIn === 'header'
      ? new WebSocket(url, ['chat', token])
      : new WebSocket(`${url}?token=${encodeURIComponent(token)}`);
  }

  /** Asks the local issuer for a token for `name`, then opens with it. */
  private async signInThenOpen(name: string): Promise<void> {
    this.status('signing-in', `signing in as ${name}…`);
    try {
      const response = await fetch('/auth/token', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ name }),
      });
      if (!response.ok) throw new Error(`the issuer answered ${response.status}`);
      this.signedIn = { name, token: ((await response.json()) as { token: string }).token };
    } catch (error) {
      this.status('failed', `sign-in failed: ${(error as Error).message}`);
      if (this.options.wanted()) this.retryLater();
      return;
    }
    if (this.name === name) this.open(name);
  }

  /** Counts down to the next attempt in the status line, then opens again. */
  private retryLater(): void {
    this.stopRetrying();
    const at = Date.now() + this.retryMs;
    const tell = () =>
      this.status('reconnecting', `reconnecting in ${Math.max(1, Math.ceil((at - Date.now()) / 1000))} s…`);
    tell();
    this.countdown = setInterval(tell, 1000);
    this.retryTimer = setTimeout(() => {
      this.stopRetrying();
      this.open(this.name);
    }, this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, MAX_RETRY_MS);
  }

  private stopRetrying(): void {
    clearTimeout(this.retryTimer);
    clearInterval(this.countdown);
  }

  private status(state: ConnectionState, text: string): void {
    this.options.onStatus(state, text);
  }
}
