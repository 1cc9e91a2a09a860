// `npm run screenshots`: the README's pictures of the chat page, made from the real thing so they stay
// current. Starts the local stack (in-memory DynamoDB Local, a fresh table), opens Ada on a desktop and
// Bob on a 390x844 phone in Chromium, has them chat, and writes docs/screenshots/{desktop,phone}.png.
import { randomUUID } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { startLocalStack } from '../local/local-stack';
import { chooseName, joinRoom, launchChromium, messages, send } from '../tests/support/chat-page';

const OUT_DIR = join(__dirname, '..', 'docs', 'screenshots');
const WAIT_MS = 30_000;

async function user(
  browser: Browser,
  url: string,
  viewport: { width: number; height: number },
): Promise<Page> {
  const page = await (await browser.newContext({ viewport, deviceScaleFactor: 1 })).newPage();
  page.setDefaultTimeout(WAIT_MS);
  await page.goto(url);
  return page;
}

async function main(): Promise<void> {
  const stack = await startLocalStack({
    port: 0,
    tableNames: { ChatTable: `screenshots-${randomUUID()}` },
    log: () => {},
    functionLog: () => {},
  });
  const browser = await launchChromium();
  try {
    const ada = await user(browser, stack.pageUrl, { width: 1280, height: 760 });
    const bob = await user(browser, stack.pageUrl, { width: 390, height: 844 });
    await chooseName(ada, 'Ada');
    await chooseName(bob, 'Bob');
    for (const room of ['design', 'lobby']) {
      await joinRoom(ada, room);
      await joinRoom(bob, room);
    }
    const chat: [Page, string][] = [
      [ada, 'Morning! Is the new build up?'],
      [bob, 'Yes, deployed ten minutes ago.'],
      [ada, 'Great, I will try the reconnect flow on my phone.'],
      [bob, 'Tell me if the typing indicator feels too chatty.'],
    ];
    for (const [page, text] of chat) {
      await send(page, text);
      await messages(ada, 'lobby', text).waitFor();
      await messages(bob, 'lobby', text).waitFor();
    }
    // Something unread in the room Ada is not looking at, and Bob typing in hers (slowly: the server relays
    // one `typing` per member per 3 s, and Bob's last messages just used it).
    await bob.locator('#rooms button[data-room="design"]').click();
    await send(bob, 'Mock-ups are in the shared folder.');
    await ada.locator('#rooms .unread').waitFor();
    await bob.locator('#rooms button[data-room="lobby"]').click();
    await bob.getByRole('textbox', { name: /^Message/ }).pressSequentially('Sounds good', { delay: 400 });
    await ada.getByText('Bob is typing…').waitFor();

    await mkdir(OUT_DIR, { recursive: true });
    await ada.screenshot({ path: join(OUT_DIR, 'desktop.png') });
    await bob.screenshot({ path: join(OUT_DIR, 'phone.png') });
    console.log(`wrote ${join(OUT_DIR, 'desktop.png')} and ${join(OUT_DIR, 'phone.png')}`);
  } finally {
    await browser.close();
    await stack.stop();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
