// The chat page in a real browser (Debian's Chromium, driven by playwright-core) against the real local
// stack: two users chat through the page's accessible controls, and hostile text stays text.
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { connectionsFetch } from '../support/connections-fetch';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { TestClient } from '../support/ws-client';

const CHROMIUM = '/usr/bin/chromium';
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium) {
  console.warn(
    `SKIPPING the browser tests (tests/e2e/browser.test.ts): ${CHROMIUM} does not exist. ` +
      'Install Debian’s chromium package (apt-get install chromium) to run them; .ci/run does.',
  );
}
const maybe = haveChromium ? describe : describe.skip;

const XSS_MESSAGE = '<img src=x onerror="window.__xss=1">';
const HOSTILE_NAME = '<b>bold</b>';

maybe('the chat page in Chromium', () => {
  let stack: TestStack;
  let browser: Browser;
  /** This run's own folder in the OS temp directory (the screenshot), removed at the end. */
  let outputDir: string;
  const contexts: BrowserContext[] = [];
  /** Uncaught errors in any page: there must be none. */
  const pageErrors: string[] = [];
  afterEach(() => expect(pageErrors.splice(0)).toEqual([]));

  beforeAll(async () => {
    stack = await startTestStack();
    outputDir = await mkdtemp(join(tmpdir(), 'chat-browser-'));
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    });
  });
  afterAll(async () => {
    for (const context of contexts) await context.close().catch(() => {});
    await browser?.close();
    await stack?.stop();
    if (outputDir) await rm(outputDir, { recursive: true, force: true });
  });

  /** A fresh browser context (its own connection) on the chat page. */
  async function openPage(): Promise<Page> {
    const context = await browser.newContext({ viewport: { width: 900, height: 720 } });
    contexts.push(context);
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(stack.pageUrl);
    expect(await page.title()).toBe('Chat rooms');
    return page;
  }

  async function joinAs(page: Page, name: string, room: string): Promise<void> {
    await page.getByLabel('Name').fill(name);
    await page.getByLabel('Room').fill(room);
    await page.getByRole('button', { name: 'Join' }).click();
    await logLine(page, `${name} joined ${room}`).waitFor();
    expect(await page.getByRole('status').textContent()).toBe('connected');
  }

  async function send(page: Page, text: string): Promise<void> {
    await page.getByLabel('Message').fill(text);
    await page.getByRole('button', { name: 'Send' }).click();
  }

  /** The log entry whose whole text is `text`. */
  const logLine = (page: Page, text: string) => page.getByRole('log').getByText(text, { exact: true });

  /** What the page shows as HTML it should not have made: elements in the log other than its own, and the flag. */
  async function injected(page: Page) {
    return page.evaluate(() => ({
      elements: Array.from(document.querySelectorAll('#log *'))
        .map((element) => element.tagName.toLowerCase())
        .filter((tag) => tag !== 'li' && tag !== 'span'),
      images: document.images.length,
      xss: (window as unknown as { __xss?: unknown }).__xss,
    }));
  }

  test('two users join a room and chat; markup in messages and names shows as text', async () => {
    const room = 'browser-room';
    const ada = await openPage();
    const bold = await openPage();

    await joinAs(ada, 'Ada', room);
    await joinAs(bold, HOSTILE_NAME, room);
    await logLine(ada, `${HOSTILE_NAME} joined ${room}`).waitFor();

    await send(bold, 'hello from the other page');
    await logLine(ada, `[${room}] ${HOSTILE_NAME}: hello from the other page`).waitFor();
    await logLine(bold, `[${room}] ${HOSTILE_NAME}: hello from the other page`).waitFor();
    expect(await ada.getByLabel('Message').inputValue()).toBe('');
    // The sender's name is in its own element, as text.
    expect(await ada.getByRole('log').locator('.from').last().textContent()).toBe(HOSTILE_NAME);

    await send(ada, XSS_MESSAGE);
    for (const page of [ada, bold]) await logLine(page, `[${room}] Ada: ${XSS_MESSAGE}`).waitFor();

    // A third user joining later gets the room's history, rendered the same way.
    const late = await openPage();
    await joinAs(late, 'Late', room);
    await logLine(late, `[${room}] Ada: ${XSS_MESSAGE}`).waitFor();
    await logLine(late, `[${room}] ${HOSTILE_NAME}: hello from the other page`).waitFor();

    // Give a stray onerror handler time to run (the broken image would fail to load at once).
    await ada.waitForTimeout(200);
    for (const page of [ada, bold, late]) {
      const text = await page.getByRole('log').textContent();
      expect(text).toContain(XSS_MESSAGE);
      expect(text).toContain(`${HOSTILE_NAME}: hello from the other page`);
      expect(await page.getByRole('log').locator('img, b').count()).toBe(0);
      expect(await injected(page)).toEqual({ elements: [], images: 0, xss: undefined });
    }

    // The page renders at all (a blank or crashed page would still pass the text checks above).
    const screenshot = await ada.screenshot({ path: join(outputDir, 'chat-page.png'), fullPage: true });
    expect(screenshot.subarray(1, 4).toString()).toBe('PNG');

    // Leaving: the others see it, the leaver gets its confirmation.
    await bold.getByRole('button', { name: 'Leave' }).click();
    await logLine(bold, `${HOSTILE_NAME} left ${room}`).waitFor();
    await logLine(ada, `${HOSTILE_NAME} left ${room}`).waitFor();
  });

  test('when its connection closes, the page reconnects, rejoins with since and shows each message once', async () => {
    const room = 'reconnect-room';
    const page = await openPage();
    const other = await TestClient.connect(stack.webSocketUrl, { name: 'Other' });
    await other.request({ action: 'join', room }, 'history');
    const pageJoined = other.next((f) => f.type === 'joined' && f.name === 'Pat');
    await joinAs(page, 'Pat', room);
    const pageHandle = (await pageJoined).handle;
    const pageId = stack.connectionIdOf(pageHandle);
    await other.request({ action: 'send', room, msg: 'before the drop' }, 'message');
    await logLine(page, `[${room}] Other: before the drop`).waitFor();

    // The server closes the page's connection (as the idle or 2-hour limit would); a message follows at once.
    // The page's rejoin is an event the other member sees: Pat joins again on a new connection. (The
    // page's brief "reconnecting" status is no event to wait for: on a fast machine it is gone at once.)
    const pageRejoined = other.next(
      (f) => f.type === 'joined' && f.name === 'Pat' && f.handle !== pageHandle,
    );
    expect(
      (await connectionsFetch(`${stack.connectionsUrl}/${encodeURIComponent(pageId)}`, { method: 'DELETE' }))
        .status,
    ).toBe(204);
    await other.request({ action: 'send', room, msg: 'while you were away' }, 'message');
    await pageRejoined;
    expect(await page.getByRole('status').textContent()).toBe('connected');
    await logLine(page, `[${room}] Other: while you were away`).waitFor();
    await other.request({ action: 'send', room, msg: 'after' }, 'message');
    await logLine(page, `[${room}] Other: after`).waitFor();
    for (const text of ['before the drop', 'while you were away', 'after']) {
      expect(await logLine(page, `[${room}] Other: ${text}`).count()).toBe(1);
    }
    await other.close();
  });
});
