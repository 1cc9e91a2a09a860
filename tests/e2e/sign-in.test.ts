// Sign-in (AuthMode jwt against the local development issuer): real RS256 tokens verified by the template's
// authorizer function with aws-jwt-verify, exactly as on AWS. Good tokens connect under the token's name
// and user; every bad one is refused at the handshake and writes nothing.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { handleOf } from 'chat-core';
import type { Browser } from 'playwright-core';
import { localDynamoDbClient } from '../../local/dynamodb';
import { chooseName, describeInChromium, joinRoom, launchChromium } from '../support/chat-page';
import { scanTable } from '../support/table-contents';
import { startTestStack, type TestStack } from '../support/test-stack';
import { eventually, type Frame, TestClient } from '../support/ws-client';

let query: TestStack;
let header: TestStack;
let db: DynamoDBClient;

beforeAll(async () => {
  [query, header] = await Promise.all([
    startTestStack({ auth: { tokenSource: 'query' } }),
    startTestStack({ auth: { tokenSource: 'header' } }),
  ]);
  db = localDynamoDbClient(query.dynamoDb.endpoint);
});
afterAll(async () => {
  db.destroy();
  await Promise.all([query?.stop(), header?.stop()]);
});

const withToken = (stack: TestStack, token: string, extra = '') =>
  `${stack.webSocketUrl}?token=${encodeURIComponent(token)}${extra}`;

/** The connection items in a stack's table. */
async function connectionItems(stack: TestStack): Promise<Record<string, unknown>[]> {
  return (await scanTable(db, stack.tableName)).filter((item) => item.__edb_e__ === 'connection');
}

async function joinedFrame(client: TestClient, room: string): Promise<Frame> {
  const joined = await client.request({ action: 'join', room }, 'joined');
  expect(joined.type).toBe('joined');
  return joined;
}

const claimsOf = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;

describe('token in the query string', () => {
  test('a valid token connects under the name and user it claims; ?name= is ignored', async () => {
    const token = query.issuer!.tokenFor('Ada');
    const sub = String(claimsOf(token).sub);
    const ada = await TestClient.connect(withToken(query, token, '&name=Mallory'));
    const joined = await joinedFrame(ada, 'signed');
    // Signed in, the handle is the user's, whatever the connection.
    expect(joined).toMatchObject({ name: 'Ada', handle: handleOf('any connection', sub) });
    const items = await connectionItems(query);
    expect(items.find((item) => item.userId === sub)).toMatchObject({
      name: 'Ada',
      userId: sub,
    });
    await ada.close();
  });

  test('two connections of one user are one identity; another user is another', async () => {
    const [first, second, bob] = await Promise.all([
      TestClient.connect(withToken(query, query.issuer!.tokenFor('Grace'))),
      TestClient.connect(withToken(query, query.issuer!.tokenFor('Grace'))),
      TestClient.connect(withToken(query, query.issuer!.tokenFor('Bob'))),
    ]);
    const handles = [];
    for (const client of [first, second, bob]) handles.push((await joinedFrame(client, 'same-user')).handle);
    expect(handles[0]).toBe(handles[1]);
    expect(handles[2]).not.toBe(handles[0]);
    // A message carries the sender's user handle too.
    const heard = first.next((f) => f.type === 'message' && f.msg === 'hi from the second tab');
    second.send({ action: 'send', room: 'same-user', msg: 'hi from the second tab' });
    expect(((await heard).from as Frame).handle).toBe(handles[0]);
    await Promise.all([first.close(), second.close(), bob.close()]);
  });

  test('bad tokens are refused at the handshake (401) and write nothing', async () => {
    const issuer = query.issuer!;
    const now = Math.floor(Date.now() / 1000);
    const good = claimsOf(issuer.tokenFor('Eve'));
    const [head, , signature] = issuer.tokenFor('Eve').split('.');
    const forged = Buffer.from(JSON.stringify({ ...good, name: 'Admin' })).toString('base64url');
    const unsigned = (claims: Record<string, unknown>) =>
      `${Buffer.from('{"alg":"none","typ":"JWT"}').toString('base64url')}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.`;
    const bad: Record<string, string | undefined> = {
      expired: issuer.sign({ ...good, iat: now - 7200, exp: now - 3600 }),
      'wrong issuer': issuer.sign({ ...good, iss: 'https://issuer.example.com' }),
      'wrong audience': issuer.sign({ ...good, aud: 'another-app' }),
      'wrong token use': issuer.sign({ ...good, token_use: 'refresh' }),
      tampered: `${head}.${forged}.${signature}`,
      'alg none': unsigned(good),
      'not a token': 'hello',
      missing: undefined,
    };
    // The earlier tests' connections are gone once their $disconnects ran.
    await eventually(async () => expect(await connectionItems(query)).toEqual([]));
    const statuses: Record<string, unknown> = {};
    for (const [why, token] of Object.entries(bad)) {
      const url = token === undefined ? `${query.webSocketUrl}?name=Eve` : withToken(query, token);
      statuses[why] = await TestClient.connect(url).then(
        (client) => client.close().then(() => 'connected'),
        (error: { status?: number }) => error.status,
      );
    }
    expect(statuses).toEqual(Object.fromEntries(Object.keys(bad).map((why) => [why, 401])));
    expect(await connectionItems(query)).toEqual([]);
  });

  test('npm run token prints a token of the running stack that connects', async () => {
    const { stdout } = await promisify(execFile)(
      join(__dirname, '..', '..', 'node_modules', '.bin', 'tsx'),
      ['local/token.ts', '--name', 'Lin', '--port', String(query.port)],
      { cwd: join(__dirname, '..', '..') },
    );
    const lin = await TestClient.connect(withToken(query, stdout.trim()));
    expect(await joinedFrame(lin, 'cli')).toMatchObject({ name: 'Lin' });
    await lin.close();
  });
});

describe('token in Sec-WebSocket-Protocol', () => {
  test('a token offered beside "chat" connects; $connect chooses "chat", never the token', async () => {
    const ada = await TestClient.connect(header.webSocketUrl, {
      protocols: ['chat', header.issuer!.tokenFor('Ada')],
    });
    expect(ada.ws.protocol).toBe('chat');
    expect(await joinedFrame(ada, 'header')).toMatchObject({ name: 'Ada' });
    await ada.close();
  });

  test('the query string is not read; a token without "chat" and a forged one are refused', async () => {
    const token = header.issuer!.tokenFor('Ada');
    await eventually(async () => expect(await connectionItems(header)).toEqual([]));
    await expect(TestClient.connect(withToken(header, token))).rejects.toMatchObject({ status: 401 });
    await expect(TestClient.connect(header.webSocketUrl, { protocols: [token] })).rejects.toMatchObject({
      status: 400,
    });
    const wrongAudience = header.issuer!.sign({ ...claimsOf(token), aud: 'another-app' });
    await expect(
      TestClient.connect(header.webSocketUrl, { protocols: ['chat', wrongAudience] }),
    ).rejects.toMatchObject({ status: 401 });
    expect(await connectionItems(header)).toEqual([]);
  });
});

describeInChromium('tests/e2e/sign-in.test.ts')('the chat page signs in through the local issuer', () => {
  let browser: Browser;
  beforeAll(async () => {
    browser = await launchChromium();
  });
  afterAll(() => browser?.close());

  test.each([['query' as const], ['header' as const]])('with the token in the %s', async (source) => {
    const stack = source === 'query' ? query : header;
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(stack.pageUrl);
      await page.getByText('Sign-in is on').waitFor({ state: 'visible' });
      const room = `page-${source}`;
      const watcherToken = stack.issuer!.tokenFor('Watcher');
      const watcher = await (source === 'query'
        ? TestClient.connect(withToken(stack, watcherToken))
        : TestClient.connect(stack.webSocketUrl, { protocols: ['chat', watcherToken] }));
      await joinedFrame(watcher, room);
      const seen = watcher.next((f) => f.type === 'joined' && f.name === 'Pat');
      await chooseName(page, 'Pat');
      await joinRoom(page, room);
      const joined = await seen;
      // The name and user come from the signed token: the handle is the user's, not the connection's.
      const sub = String(claimsOf(stack.issuer!.tokenFor('Pat')).sub);
      expect(joined.handle).toBe(handleOf('any connection', sub));
      await watcher.close();
    } finally {
      await context.close();
    }
  });
});
