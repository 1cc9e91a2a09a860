// The chat page never loses what was typed (Debian's Chromium via playwright-core, the real local stack):
// a long outage is caught up by paging back, a message typed while the server is down or pending across
// a reload is sent once it can be, refusals show as failed, and a new name keeps the rooms.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  chooseName,
  describeInChromium,
  joinRoom,
  launchChromium,
  messages,
  roomLog,
  send,
  statusIs,
} from '../support/chat-page';
import { connectionsFetch } from '../support/connections-fetch';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { eventually, type Frame, TestClient } from '../support/ws-client';

/** Generous: on a machine whose cores are busy a wait includes queueing and the page's reconnect backoff. */
const PAGE_WAIT_MS = 2 * WAIT_MS;

describeInChromium('tests/e2e/page-outbox.test.ts')('the chat page keeps what was typed', () => {
  let stack: TestStack;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const others: TestClient[] = [];
  const pageErrors: string[] = [];
  /** `send` bodies the gateway drops instead of invoking the function while set (a lost invocation). */
  let dropSends = false;
  const droppedSends: string[] = [];
  afterEach(() => {
    dropSends = false; // a test that failed midway leaves the next its sends
    expect(pageErrors.splice(0)).toEqual([]);
  });

  const stackOptions = () => ({
    // Another member sends hundreds of messages as fast as it can: far past the per-connection limit.
    environment: { MESSAGE_RATE_PER_CONNECTION: '1000', MESSAGE_BURST_PER_CONNECTION: '1000' },
    dropInvocation: (routeKey: string, event: unknown) => {
      if (routeKey !== 'send' || !dropSends) return false;
      droppedSends.push(String((event as { body?: string }).body));
      return true;
    },
  });

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startTestStack(stackOptions()), launchChromium()]);
  });
  afterAll(async () => {
    for (const client of others) await client.close().catch(() => {});
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
  });

  /** A fresh browser context (its own storage and connection) on the chat page. */
  async function openPage(prepare?: (context: BrowserContext) => Promise<void>): Promise<Page> {
    const context = await browser.newContext();
    contexts.push(context);
    await prepare?.(context);
    const page = await context.newPage();
    page.setDefaultTimeout(PAGE_WAIT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(stack.pageUrl);
    return page;
  }

  /** Another member, as a plain WebSocket client, in `room`. */
  async function other(room: string, name = 'Other'): Promise<TestClient> {
    const client = await TestClient.connect(stack.webSocketUrl, { name });
    others.push(client);
    await client.request({ action: 'join', room }, 'history');
    return client;
  }

  /** Names the page, joins `room`; returns the page's connection id (learnt from the gateway). */
  async function joinAs(page: Page, name: string, room: string): Promise<string> {
    const connectsBefore = stack.dispatched.length;
    await chooseName(page, name);
    await statusIs(page, 'connected');
    await joinRoom(page, room);
    await caughtUp(page);
    return stack.dispatched.slice(connectsBefore).find((d) => d.routeKey === '$connect')!.connectionId;
  }

  const caughtUp = (page: Page) =>
    page.locator('#messages[data-catching-up="false"]').waitFor({ state: 'attached' });
  const reconnectMarkers = (page: Page, room: string) =>
    roomLog(page, room).locator('li[data-marker="reconnected"]');
  /** Waits until nothing is left to send. */
  const outboxEmpty = (page: Page) =>
    page.waitForFunction(() => document.querySelectorAll('#outbox li').length === 0, undefined, {
      timeout: PAGE_WAIT_MS,
    });
  /** The ids of the messages shown, in the order shown. */
  const shownIds = (page: Page, room: string) =>
    roomLog(page, room)
      .locator('li[data-id]')
      .evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.id!));
  const errorsShown = (page: Page) => page.locator('ol.log li.error').allTextContents();

  const messagesTo = (client: TestClient, text: string) =>
    client.frames.filter((f) => f.type === 'message' && f.msg === text);
  /** The copies of `text` the room's history holds, read by a new member (a new connection). */
  async function storedCopies(room: string, text: string): Promise<number> {
    const reader = await TestClient.connect(stack.webSocketUrl, { name: 'Reader' });
    try {
      const history = await reader.request({ action: 'join', room }, 'history');
      return (history.messages as Frame[]).filter((m) => m.msg === text).length;
    } finally {
      await reader.close();
    }
  }

  // The join answers the newest 50 (with since), then the page asks for 100 at a time: two more pages.
  const MISSED_BATCHES = 8;
  test(`after missing ${MISSED_BATCHES * 20} messages the page pages back and shows every one, once, in order`, async () => {
    const room = 'outage-room';
    let outage = false;
    // The page's network: while `outage` is set, its connection attempts are closed at once.
    const page = await openPage((context) =>
      context.routeWebSocket(/.*/, (ws) => {
        if (outage) ws.close({ code: 1001, reason: 'network down' });
        else ws.connectToServer();
      }),
    );
    const sender = await other(room);
    const pageId = await joinAs(page, 'Pat', room);
    const first = await sender.request({ action: 'send', room, msg: 'before the outage' }, 'message');
    await roomLog(page, room).locator(`li[data-id="${first.id}"]`).waitFor();

    outage = true;
    expect(
      (await connectionsFetch(`${stack.connectionsUrl}/${encodeURIComponent(pageId)}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    await statusIs(page, 'reconnecting');
    const missed: string[] = [];
    for (let batch = 0; batch < MISSED_BATCHES; batch++) {
      const echoes = Array.from({ length: 20 }, async (_, i) => {
        const clientMsgId = `missed-${batch}-${i}`.padEnd(16, '-');
        const echo = sender.next((f) => f.clientMsgId === clientMsgId, PAGE_WAIT_MS);
        sender.send({ action: 'send', room, msg: `missed ${batch * 20 + i}`, clientMsgId });
        return String((await echo).id);
      });
      missed.push(...(await Promise.all(echoes)));
    }
    outage = false;

    await page.waitForFunction(
      ([room, count]) => document.querySelectorAll(`ol.log[data-room="${room}"] li[data-id]`).length >= count,
      [room, missed.length + 1] as const,
      { timeout: PAGE_WAIT_MS },
    );
    await caughtUp(page);
    const shown = await shownIds(page, room);
    expect(shown).toEqual([String(first.id), ...missed].sort());
    expect(await errorsShown(page)).toEqual([]);
    expect(await reconnectMarkers(page, room).count()).toBe(1);
  });

  test('a message typed while the server is down is sent once the stack is back', async () => {
    const room = 'restart-room';
    const page = await openPage();
    await joinAs(page, 'Sam', room);
    await stack.stop();
    await statusIs(page, 'reconnecting');
    // The status says when the next attempt is (a countdown that recurs while the server is away).
    await page
      .getByRole('status')
      .getByText(/^reconnecting in \d+ s…$/)
      .waitFor();
    await send(page, 'typed while the server was down');
    await page.locator('#outbox li[data-state="pending"]').waitFor();
    expect(await page.getByRole('textbox', { name: /^Message/ }).inputValue()).toBe('');

    // The same stack comes back: same port, same table.
    stack = await startTestStack({ ...stackOptions(), port: stack.port, tableName: stack.tableName });
    await outboxEmpty(page);
    await messages(page, room, 'typed while the server was down', 'Sam').waitFor();
    expect(await storedCopies(room, 'typed while the server was down')).toBe(1);
    expect(await errorsShown(page)).toEqual([]);
    expect(await reconnectMarkers(page, room).count()).toBe(1);
  });

  test('a message pending when the page is reloaded is resent with its clientMsgId and stored once', async () => {
    const room = 'reload-room';
    const page = await openPage();
    const listener = await other(room);
    await joinAs(page, 'Rae', room);
    dropSends = true;
    droppedSends.length = 0;
    await send(page, 'survives a reload');
    await page.locator('#outbox li[data-state="pending"]').waitFor();
    await eventually(() => expect(droppedSends.length).toBeGreaterThan(0), PAGE_WAIT_MS);

    await page.reload();
    // Restored from localStorage: the name, the room, the pending message; then resent.
    await page
      .locator('#outbox li[data-state="pending"]')
      .getByText('[reload-room] survives a reload')
      .waitFor();
    expect(await page.locator('#me-name').textContent()).toMatch(/^Rae\b/);
    expect(await page.getByRole('button', { name: room, exact: true }).getAttribute('aria-current')).toBe(
      'true',
    );
    const dropsBefore = droppedSends.length;
    await eventually(() => expect(droppedSends.length).toBeGreaterThan(dropsBefore), PAGE_WAIT_MS);
    dropSends = false;

    await outboxEmpty(page);
    await messages(page, room, 'survives a reload', 'Rae').waitFor();
    const resent = droppedSends.map((body) => JSON.parse(body) as { clientMsgId: string });
    expect(new Set(resent.map((body) => body.clientMsgId)).size).toBe(1);
    await eventually(() => expect(messagesTo(listener, 'survives a reload')).toHaveLength(1), PAGE_WAIT_MS);
    expect(messagesTo(listener, 'survives a reload')[0]).not.toHaveProperty('clientMsgId');
    expect(await storedCopies(room, 'survives a reload')).toBe(1);
  });

  test('a new name keeps the rooms: the page reconnects under it and rejoins with since', async () => {
    const room = 'rename-room';
    const page = await openPage();
    const listener = await other(room);
    await joinAs(page, 'Nia', room);
    await send(page, 'hi as Nia');
    await outboxEmpty(page);

    const joinedAgain = listener.next((f) => f.type === 'joined' && f.name === 'Nova', PAGE_WAIT_MS);
    await page.getByRole('button', { name: 'Change name' }).click();
    await page.getByLabel('Name', { exact: true }).fill('Nova');
    await page.getByRole('button', { name: 'Save name' }).click();
    await joinedAgain;
    await reconnectMarkers(page, room).waitFor();
    await caughtUp(page);
    await send(page, 'hi as Nova');
    await outboxEmpty(page);
    await eventually(
      () =>
        expect(messagesTo(listener, 'hi as Nova').map((f) => (f.from as { name: string }).name)).toEqual([
          'Nova',
        ]),
      PAGE_WAIT_MS,
    );
    expect(messagesTo(listener, 'hi as Nia').map((f) => (f.from as { name: string }).name)).toEqual(['Nia']);
    // Both are shown once, the earlier one still as the page's own.
    expect(await messages(page, room, 'hi as Nia', 'Nia').getAttribute('class')).toContain('own');
    await messages(page, room, 'hi as Nova', 'Nova').waitFor();
    expect(await errorsShown(page)).toEqual([]);
  });

  test('a message typed before the join is answered waits for it; a refused one shows failed and is not retried', async () => {
    const room = 'send-first-room';
    const page = await openPage();
    await chooseName(page, 'Kim');
    await page.getByLabel('Room', { exact: true }).fill(room);
    await page.getByRole('button', { name: 'Join', exact: true }).click();
    await send(page, 'no wait needed');
    await messages(page, room, 'no wait needed', 'Kim').waitFor();

    const sendsBefore = stack.dispatched.filter((d) => d.routeKey === 'send').length;
    await send(page, 'x'.repeat(20 * 1024)); // over the 16 KiB a message may have
    const failed = page.locator('#outbox li[data-state="failed"]');
    await failed.waitFor();
    expect(await failed.textContent()).toContain('MESSAGE_TOO_LARGE');
    // The queue goes on past it, and it was sent once only.
    await send(page, 'after the refusal');
    await messages(page, room, 'after the refusal', 'Kim').waitFor();
    expect(stack.dispatched.filter((d) => d.routeKey === 'send').length - sendsBefore).toBe(2);
    await failed.getByRole('button', { name: 'Dismiss' }).click();
    await outboxEmpty(page);
    expect(await errorsShown(page)).toEqual([expect.stringContaining('MESSAGE_TOO_LARGE')]);
  });
});
