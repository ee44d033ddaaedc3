/**
 * The demo page (fixtures/app/assets/) in headless Chromium: sails.io.js in a real browser, on one
 * server (memory adapter) and on two servers sharing Redis.
 *
 * Chromium is Debian's (`apt-get install -y chromium`, which .ci/run does), driven by playwright-core
 * without any browser download.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { assertHealthy, startServer, stopCluster, type TestServer } from '../support/cluster';
import { freePort, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { startRedis, type TestRedis } from '../support/redis';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
// As root on this kind of machine; playwright gives each launch a fresh, empty profile directory.
const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];
/** Upper bound of every wait on page state; the waits end as soon as the state is reached. */
const WAIT_MS = 10_000;
const SCREENSHOT = path.resolve(__dirname, '../artifacts', 'browser-final.png');

/** A demo page, with whatever went wrong inside it recorded. */
interface DemoPage {
  page: Page;
  errors: string[];
  socketId: string;
}

async function openDemo(browser: Browser, url: string): Promise<DemoPage> {
  const page = await browser.newPage({ viewport: { width: 900, height: 1000 } });
  const errors: string[] = [];
  page.on('pageerror', (err) => errors.push(`pageerror: ${err.message}`));
  page.on('console', (message) => { if (message.type() === 'error') errors.push(`console.error: ${message.text()}`); });
  await page.goto(url + '/');
  await page.locator('[data-testid="status"][data-state="connected"]').waitFor({ timeout: WAIT_MS });
  const socketId = (await page.getByTestId('socket-id').textContent())!.trim();
  return { page, errors, socketId };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** Waits until the element reads exactly `text`; on timeout, says what it read instead. */
async function waitForText(page: Page, testId: string, text: string): Promise<void> {
  const locator = page.getByTestId(testId);
  try {
    await locator.filter({ hasText: new RegExp(`^\\s*${escapeRegExp(text)}\\s*$`) }).waitFor({ timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`[data-testid=${testId}] never read ${JSON.stringify(text)}; it reads ${JSON.stringify(await locator.textContent())} (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The broadcasts the page listed, as shown: "room: data (from server)". */
async function messagesOf(page: Page): Promise<string[]> {
  return page.getByTestId('message').allTextContents();
}

async function waitForMessage(page: Page, text: string): Promise<void> {
  try {
    await page.getByTestId('message').filter({ hasText: text }).first().waitFor({ timeout: WAIT_MS });
  } catch (err) {
    throw new Error(`no broadcast ${JSON.stringify(text)} on the page; it shows ${JSON.stringify(await messagesOf(page))} (${(err as Error).message.split('\n')[0]})`);
  }
}

async function joinOrLeave(page: Page, button: 'join' | 'leave', roomName: string): Promise<void> {
  await page.getByTestId('room-input').fill(roomName);
  await page.getByTestId(button).click();
  // The seed action's own answer, shown by the page.
  await waitForText(page, 'last-result', `${button === 'join' ? 'Joined' : 'Left'} a fun room called ${roomName}!`);
}

async function broadcastOverHttp(url: string, roomName: string, data: string): Promise<void> {
  const response = await fetch(url + '/rooms/broadcast', {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ roomName, data }),
  });
  assert.equal(response.status, 200, `broadcast to ${roomName} from ${url}`);
}

/**
 * Broadcasts `unwanted` to `leftRoom`, then `sentinel` to `joinedRoom`, both from `url`: once the
 * sentinel shows on the page, the first broadcast, sent before it by the same server, would have too.
 */
async function assertNotReceivedBeforeSentinel(page: Page, url: string, leftRoom: string, joinedRoom: string, unwanted: string[]): Promise<void> {
  await broadcastOverHttp(url, leftRoom, unwanted[0]!);
  const sentinel = `sentinel after leaving ${leftRoom}`;
  await broadcastOverHttp(url, joinedRoom, sentinel);
  await waitForMessage(page, `${joinedRoom}: ${sentinel}`);
  const shown = await messagesOf(page);
  for (const text of unwanted) {
    assert.deepEqual(shown.filter((message) => message.includes(text)), [], `"${text}" reached the page after it left ${leftRoom}`);
  }
}

describe('the demo page in headless Chromium (sails.io.js in the browser)', function () {
  this.timeout(60_000);

  let browser: Browser;

  before(async () => {
    if (!existsSync(CHROMIUM)) {
      throw new Error(`No Chromium at ${CHROMIUM}: apt-get install -y chromium (as .ci/run does), or set CHROMIUM_PATH`);
    }
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS, timeout: 30_000 });
  });

  after(async () => {
    await browser?.close();
  });

  describe('one server, memory adapter', () => {
    let app: SailsTestApp;
    let url: string;
    let demo: DemoPage;

    before(async () => {
      app = await liftFixture();
      url = urlOf(app);
      demo = await openDemo(browser, url);
    });

    after(async () => {
      await demo?.page.close();
      if (app) await lowerFixture(app);
    });

    it('shows its socket ID and the server it is connected to', async () => {
      assert.ok(app.io.of('/').sockets.has(demo.socketId), `the server has no socket ${JSON.stringify(demo.socketId)}`);
      assert.equal(await demo.page.getByTestId('server-name').textContent(), 'server-1');
      assert.equal(await demo.page.getByTestId('my-rooms').textContent(), 'none');
    });

    it('joins rooms through the join action', async () => {
      await joinOrLeave(demo.page, 'join', 'fun');
      await joinOrLeave(demo.page, 'join', 'other');

      await waitForText(demo.page, 'my-rooms', 'fun, other');
      assert.ok(app.io.of('/').adapter.rooms.get('fun')?.has(demo.socketId), 'the socket is in fun on the server');
    });

    it('receives a broadcast to a room it joined, sent from the page', async () => {
      await demo.page.getByTestId('broadcast-room').fill('fun');
      await demo.page.getByTestId('broadcast-data').fill('hello from the page');
      await demo.page.getByTestId('broadcast').click();

      await waitForMessage(demo.page, 'fun: hello from the page (from server-1)');
      await waitForText(demo.page, 'received-count', '1');
    });

    it('leaves through leaveFunRoom: the next broadcast to that room does not arrive, one to a room still joined does', async () => {
      await joinOrLeave(demo.page, 'leave', 'fun');
      await waitForText(demo.page, 'my-rooms', 'other');
      assert.equal(app.io.of('/').adapter.rooms.get('fun')?.has(demo.socketId) ?? false, false, 'the socket is still in fun on the server');

      await assertNotReceivedBeforeSentinel(demo.page, url, 'fun', 'other', ['broadcast to fun after leaving']);
    });

    it('logged no error in the browser', () => {
      assert.deepEqual(demo.errors, []);
    });
  });

  describe('two servers on Redis: the page on server B is removed from a room by server A', () => {
    let redis: TestRedis;
    let a: TestServer;
    let b: TestServer;
    let demo: DemoPage;

    before(async () => {
      redis = await startRedis();
      const portA = await freePort();
      let portB = await freePort();
      while (portB === portA) portB = await freePort();
      // Each server knows the other: the page lists them, and they allow each other's origin (CORS).
      const CLUSTER_URLS = `server-a=http://127.0.0.1:${portA},server-b=http://127.0.0.1:${portB}`;
      [a, b] = await Promise.all([
        startServer('server-a', redis.url, 'redis', { PORT: String(portA), CLUSTER_URLS }),
        startServer('server-b', redis.url, 'redis', { PORT: String(portB), CLUSTER_URLS }),
      ]);
      demo = await openDemo(browser, b.url);
    });

    after(async () => {
      if (demo) {
        await mkdir(path.dirname(SCREENSHOT), { recursive: true });
        await demo.page.screenshot({ path: SCREENSHOT, fullPage: true });
        await demo.page.close();
      }
      await stopCluster([a, b].filter(Boolean));
      await redis?.stop();
    });

    it('shows server B, and offers to remove it via server A by default', async () => {
      assert.equal(await demo.page.getByTestId('server-name').textContent(), 'server-b');
      assert.equal(await demo.page.getByTestId('remove-server').inputValue(), 'server-a');
      assert.deepEqual(await demo.page.getByTestId('remove-server').locator('option').allTextContents(),
        [`server-a (${a.url})`, 'server-b (this server)']);
    });

    it('joins on server B and receives a broadcast sent by server A', async () => {
      await joinOrLeave(demo.page, 'join', 'fun');
      await joinOrLeave(demo.page, 'join', 'other');
      await waitForText(demo.page, 'my-rooms', 'fun, other');

      await broadcastOverHttp(a.url, 'fun', 'hello from server A');
      await waitForMessage(demo.page, 'fun: hello from server A (from server-a)');
    });

    it('server A answers cross-origin requests to remove-socket from the cluster\'s origins only', async () => {
      const preflight = (origin: string) => fetch(a.url + '/rooms/remove-socket', {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'content-type' },
      });
      assert.equal((await preflight(b.url)).headers.get('access-control-allow-origin'), b.url);
      assert.equal((await preflight(b.url.replace('127.0.0.1', 'localhost'))).headers.get('access-control-allow-origin'), b.url.replace('127.0.0.1', 'localhost'));
      assert.equal((await preflight('http://example.com')).headers.get('access-control-allow-origin'), null);
    });

    it('is removed by server A (confirmed) and at once stops receiving broadcasts to that room, not to the others', async () => {
      await demo.page.getByTestId('remove-room').fill('fun');
      await demo.page.getByTestId('remove-server').selectOption('server-a');
      await demo.page.getByTestId('remove').click();

      // Server A's answer came after server B applied the leave (confirm: 'cluster').
      await waitForText(demo.page, 'last-result', 'server-a removed this socket from "fun": 1 matched, 2 servers answered.');
      await waitForText(demo.page, 'my-rooms', 'other');
      // Neither server A's announcement (sent from inside its callback) nor the next broadcast arrives.
      await assertNotReceivedBeforeSentinel(demo.page, a.url, 'fun', 'other', ['broadcast to fun after removal', 'was removed from']);
      assertHealthy(a);
      assertHealthy(b);
    });

    it('logged no error in the browser', () => {
      assert.deepEqual(demo.errors, []);
    });
  });
});
