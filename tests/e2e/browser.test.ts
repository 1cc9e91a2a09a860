// The chat page in a real browser (Debian's Chromium, driven by playwright-core) against the real local
// stack: two users chat through the page's accessible controls, see who is present and who is typing,
// hostile text stays text, a reconnect is marked, the keyboard alone is enough, and a phone fits.
// One browser for the file; each user is a context of its own.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import {
  chooseName,
  describeInChromium,
  joinRoom,
  launchChromium,
  memberList,
  messages,
  notices,
  roomLog,
  send,
  statusIs,
} from '../support/chat-page';
import { connectionsFetch } from '../support/connections-fetch';
import { startTestStack, type TestStack } from '../support/test-stack';
import { WAIT_MS } from '../support/timeouts';
import { TestClient } from '../support/ws-client';

const XSS_MESSAGE = '<img src=x onerror="window.__xss=1">';
const HOSTILE_NAME = '<b>bold</b>';

describeInChromium('tests/e2e/browser.test.ts')('the chat page in Chromium', () => {
  let stack: TestStack;
  let browser: Browser;
  /** Uncaught errors in any page: there must be none. */
  const pageErrors: string[] = [];
  afterEach(() => expect(pageErrors.splice(0)).toEqual([]));

  beforeAll(async () => {
    [stack, browser] = await Promise.all([startTestStack(), launchChromium()]);
  });
  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  /** A fresh browser context (its own storage and connection) on the chat page. */
  async function openPage(viewport = { width: 1100, height: 720 }): Promise<Page> {
    const context: BrowserContext = await browser.newContext({ viewport });
    const page = await context.newPage();
    page.setDefaultTimeout(WAIT_MS);
    page.on('pageerror', (error) => pageErrors.push(error.message));
    await page.goto(stack.pageUrl);
    expect(await page.title()).toBe('Chat rooms');
    return page;
  }

  /** A page in `room` under `name`, and the id of its connection (learnt from the gateway, not the page). */
  async function userIn(room: string, name: string, viewport?: { width: number; height: number }) {
    const page = await openPage(viewport);
    const connectsBefore = stack.dispatched.length;
    await chooseName(page, name);
    await statusIs(page, 'connected');
    const connectionId = stack.dispatched
      .slice(connectsBefore)
      .find((d) => d.routeKey === '$connect')!.connectionId;
    await joinRoom(page, room);
    return { page, connectionId };
  }

  /** What the page shows as HTML it should not have made: images, bold text, the flag. */
  const injected = (page: Page) =>
    page.evaluate(() => ({
      elements: document.querySelectorAll('ol.log img, ol.log b, #members b').length,
      xss: (window as unknown as { __xss?: unknown }).__xss,
    }));

  test('two users chat; own messages are set apart; markup in names and messages shows as text', async () => {
    const room = 'browser-room';
    const fresh = await openPage();
    // Before anything happened the page asks for a name and says it is not connected (not "disconnected").
    expect(await fresh.getByRole('status').textContent()).toBe('not connected');
    expect((await fetch(new URL('/favicon.ico', stack.pageUrl))).status).toBe(200);
    await fresh.context().close();

    const { page: ada } = await userIn(room, 'Ada');
    const { page: bold } = await userIn(room, HOSTILE_NAME);
    await notices(ada, room, `${HOSTILE_NAME} #`).first().waitFor();
    await memberList(ada).getByText(HOSTILE_NAME, { exact: true }).waitFor();

    await send(bold, 'hello from the other page');
    await messages(ada, room, 'hello from the other page', HOSTILE_NAME).waitFor();
    await messages(bold, room, 'hello from the other page', HOSTILE_NAME).waitFor();
    expect(await ada.getByRole('textbox', { name: /^Message/ }).inputValue()).toBe('');
    // One's own messages are set apart; everyone else's are not.
    expect(await messages(bold, room, 'hello from the other page').getAttribute('class')).toContain('own');
    expect(await messages(ada, room, 'hello from the other page').getAttribute('class')).not.toContain('own');
    // Sender, handle and time are shown.
    const shown = messages(ada, room, 'hello from the other page');
    expect(await shown.locator('.handle').textContent()).toMatch(/^#[0-9a-f]{6}$/);
    expect(await shown.locator('time').getAttribute('datetime')).toMatch(/^\d{4}-\d\d-\d\dT/);

    await send(ada, XSS_MESSAGE);
    for (const page of [ada, bold]) await messages(page, room, XSS_MESSAGE, 'Ada').waitFor();

    // A third user joining later gets the history above the live marker.
    const { page: late } = await userIn(room, 'Late');
    await messages(late, room, XSS_MESSAGE, 'Ada').waitFor();
    const order = await roomLog(late, room)
      .locator('li')
      .evaluateAll((items) => items.map((li) => (li as HTMLElement).dataset.marker ?? li.className));
    expect(order.indexOf('live')).toBeGreaterThan(order.lastIndexOf('message'));

    // Give a stray onerror handler time to run (the broken image would fail to load at once).
    await ada.waitForTimeout(200);
    for (const page of [ada, bold, late])
      expect(await injected(page)).toEqual({ elements: 0, xss: undefined });

    // Leaving: the others see it in the log and in the member list.
    await bold.getByRole('button', { name: `Leave ${room}` }).click();
    await notices(ada, room, `${HOSTILE_NAME} #`).filter({ hasText: 'left' }).waitFor();
    await memberList(ada).getByText(HOSTILE_NAME, { exact: true }).waitFor({ state: 'detached' });
    expect(await bold.getByRole('heading', { name: 'No room yet' }).count()).toBe(1);

    // A room not shown counts what arrives there; showing it clears the count.
    await joinRoom(ada, 'side-room');
    await send(late, 'while Ada looks elsewhere');
    const roomButton = ada.locator(`#rooms button[data-room="${room}"]`);
    await roomButton.getByText('1 unread').waitFor();
    await roomButton.click();
    await messages(ada, room, 'while Ada looks elsewhere', 'Late').waitFor();
    expect(await roomButton.locator('.unread').count()).toBe(0);
    for (const page of [ada, bold, late]) await page.context().close();
  });

  test('presence: both users listed, a closed tab drops out; typing is shown, then expires', async () => {
    const room = 'presence-room';
    const { page: ada } = await userIn(room, 'Ada');
    const { page: bob } = await userIn(room, 'Bob');
    for (const page of [ada, bob])
      for (const name of ['Ada', 'Bob']) await memberList(page).getByText(name, { exact: true }).waitFor();
    await ada.getByText('Members · 2 online').waitFor();

    // Bob types: Ada sees it; with nothing more from Bob it goes away by itself.
    const typing = ada.getByText('Bob is typing…');
    await bob.getByRole('textbox', { name: /^Message/ }).pressSequentially('hel');
    await typing.waitFor();
    await typing.waitFor({ state: 'detached' });
    // Typing again, then the message: the message ends it.
    await bob.getByRole('textbox', { name: /^Message/ }).pressSequentially('lo Ada');
    await typing.waitFor();
    await bob.getByRole('textbox', { name: /^Message/ }).press('Enter');
    await messages(ada, room, 'hello Ada', 'Bob').waitFor();
    await typing.waitFor({ state: 'detached' });

    // Bob closes his tab: Ada's list drops him.
    await bob.context().close();
    await memberList(ada).getByText('Bob', { exact: true }).waitFor({ state: 'detached' });
    await ada.getByText('Members · 1 online').waitFor();
    await ada.context().close();
  });

  test('keyboard only: name, room and a message with Tab and Enter', async () => {
    const page = await openPage();
    // The name field has focus at the start.
    await page.keyboard.type('Kay');
    await page.keyboard.press('Enter');
    await statusIs(page, 'connected');
    // Focus moves to the room field; Enter joins, and focus moves to the message field.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('room');
    await page.keyboard.type('keys-room');
    await page.keyboard.press('Enter');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('message');
    await page.keyboard.type('typed without a mouse');
    await page.keyboard.press('Enter');
    await messages(page, 'keys-room', 'typed without a mouse', 'Kay').waitFor();
    // Tab from the message field reaches Send, then the member list.
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('send');
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('members-summary');
    // Every control has an accessible name.
    const unnamed = await page.evaluate(() =>
      Array.from(document.querySelectorAll('button, input, summary'))
        .filter((el) => !(el as HTMLElement).hidden && !(el as HTMLElement).closest('[hidden]'))
        .filter((el) => {
          const labelled = (el as HTMLInputElement).labels?.length || el.getAttribute('aria-label');
          return !labelled && !el.textContent?.trim();
        })
        .map((el) => el.outerHTML),
    );
    expect(unnamed).toEqual([]);
    await page.context().close();
  });

  test('when its connection closes, the page reconnects, marks it, rejoins with since and shows each message once', async () => {
    const room = 'reconnect-room';
    const other = await TestClient.connect(stack.webSocketUrl, { name: 'Other' });
    await other.request({ action: 'join', room }, 'history');
    const { page, connectionId } = await userIn(room, 'Pat');
    await other.request({ action: 'send', room, msg: 'before the drop' }, 'message');
    await messages(page, room, 'before the drop').waitFor();

    // The server closes the page's connection (as the idle or 2-hour limit would); a message follows at once.
    const rejoined = other.next((f) => f.type === 'joined' && f.name === 'Pat');
    expect(
      (
        await connectionsFetch(`${stack.connectionsUrl}/${encodeURIComponent(connectionId)}`, {
          method: 'DELETE',
        })
      ).status,
    ).toBe(204);
    await other.request({ action: 'send', room, msg: 'while you were away' }, 'message');
    await rejoined;
    await roomLog(page, room).locator('li[data-marker="reconnected"]').waitFor();
    await statusIs(page, 'connected');
    await messages(page, room, 'while you were away').waitFor();
    await other.request({ action: 'send', room, msg: 'after' }, 'message');
    await messages(page, room, 'after').waitFor();
    for (const text of ['before the drop', 'while you were away', 'after'])
      expect(await messages(page, room, text).count()).toBe(1);
    // The missed message is below the reconnect marker, the one seen before above it.
    const order = await roomLog(page, room)
      .locator('li.message p.text, li[data-marker="reconnected"]')
      .allTextContents();
    expect(order.indexOf('before the drop')).toBeLessThan(
      order.findIndex((t) => t.startsWith('reconnected')),
    );
    expect(order.indexOf('while you were away')).toBeGreaterThan(
      order.findIndex((t) => t.startsWith('reconnected')),
    );
    await other.close();
    await page.context().close();
  });

  test('on a 390x844 phone: no horizontal scroll, every control at least 44x44 px, the composer in view', async () => {
    const room = 'phone-room-with-a-rather-long-name';
    const phone = { width: 390, height: 844 };
    const { page } = await userIn(room, 'Phoebe with a long name', phone);
    await joinRoom(page, 'second-room');
    await send(page, 'a long message '.repeat(20) + 'https://example.com/'.padEnd(120, 'x'));
    await messages(
      page,
      'second-room',
      'a long message '.repeat(20) + 'https://example.com/'.padEnd(120, 'x'),
    ).waitFor();
    await page.locator('#members-summary').click(); // folded away on a phone until asked for
    const layout = await page.evaluate(() => {
      const root = document.documentElement;
      const small = Array.from(document.querySelectorAll<HTMLElement>('button, input, summary, a'))
        .filter((el) => el.getClientRects().length > 0)
        .map((el) => ({ el: el.id || el.textContent, box: el.getBoundingClientRect() }))
        .filter(({ box }) => box.width < 44 || box.height < 44)
        .map(({ el, box }) => `${el}: ${box.width}x${box.height}`);
      const composer = document.getElementById('message-form')!.getBoundingClientRect();
      // What reaches past the right edge (to say what to fix when the page is too wide).
      const overflowing = Array.from(document.querySelectorAll<HTMLElement>('body *'))
        .filter((el) => el.getBoundingClientRect().right > root.clientWidth)
        .map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className}`);
      return {
        scrollWidth: root.scrollWidth,
        clientWidth: root.clientWidth,
        overflowing,
        small,
        composerBottom: composer.bottom,
      };
    });
    expect(layout.small).toEqual([]);
    if (layout.scrollWidth > layout.clientWidth)
      throw new Error(`the page is ${layout.scrollWidth} px wide; past the edge: ${layout.overflowing}`);
    expect(layout.composerBottom).toBeLessThanOrEqual(phone.height);
    await page.context().close();
  });
});
