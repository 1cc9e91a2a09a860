// Driving the chat page in Debian's Chromium (playwright-core) the way a person does: through its
// labelled controls. Shared by the browser tests and `npm run screenshots`.
import { existsSync } from 'node:fs';
import { type Browser, chromium, type Locator, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const haveChromium = existsSync(CHROMIUM);

/** `describe`, or `describe.skip` with a warning that says how to get Chromium. */
export function describeInChromium(file: string): jest.Describe {
  if (haveChromium) return describe;
  console.warn(
    `SKIPPING the browser tests (${file}): ${CHROMIUM} does not exist. ` +
      'Install Debian’s chromium package (apt-get install chromium) to run them; .ci/run does.',
  );
  return describe.skip;
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
}

/** Chooses the name on the welcome form (the page then connects). */
export async function chooseName(page: Page, name: string): Promise<void> {
  await page.getByLabel('Name', { exact: true }).fill(name);
  await page.getByRole('button', { name: 'Start chatting' }).click();
}

/** Joins `room` from the sidebar and waits until its history is in (the live marker). */
export async function joinRoom(page: Page, room: string): Promise<void> {
  await page.getByLabel('Room', { exact: true }).fill(room);
  await page.getByRole('button', { name: 'Join', exact: true }).click();
  await liveMarker(page, room).waitFor();
}

/** Types `text` into the composer and presses Enter. */
export async function send(page: Page, text: string): Promise<void> {
  const input = page.getByRole('textbox', { name: /^Message/ });
  await input.fill(text);
  await input.press('Enter');
}

/** The message log of `room` (hidden unless the room is selected). */
export const roomLog = (page: Page, room: string) => page.locator(`ol.log[data-room="${room}"]`);

export const liveMarker = (page: Page, room: string) => roomLog(page, room).locator('li[data-marker="live"]');

/** Messages in `room` whose text is exactly `text` (from `from`, when given). */
export function messages(page: Page, room: string, text: string, from?: string): Locator {
  let found = roomLog(page, room)
    .locator('li.message')
    .filter({ has: page.locator('p.text').getByText(text, { exact: true }) });
  if (from !== undefined)
    found = found.filter({ has: page.locator('span.from').getByText(from, { exact: true }) });
  return found;
}

/** A notice line in `room` (someone joined or left, an error), whose text starts with `text`. */
export const notices = (page: Page, room: string, text: string) =>
  roomLog(page, room).locator('li.notice').filter({ hasText: text });

/** Waits for the connection status to be `state` (`connected`, `reconnecting`, …). */
export const statusIs = (page: Page, state: string) =>
  page.locator(`#status[data-state="${state}"]`).waitFor({ state: 'attached' });

/** The member list's entries (the selected room), as "name #handle" texts. */
export const memberList = (page: Page) => page.getByRole('list', { name: 'Members in this room' });
