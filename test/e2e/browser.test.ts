/**
 * The demo page (fixtures/app/assets/) in headless Chromium: sails.io.js in a real browser, on one
 * server (memory adapter), on two servers sharing Redis, and on `npm run cluster` (three servers,
 * Redis of its own), where its cluster panel shows the faults its buttons make.
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
import { startDemoCluster, type DemoCluster } from '../support/demo-cluster';
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
const ARTIFACTS = path.resolve(__dirname, '../artifacts');
const SCREENSHOT = path.join(ARTIFACTS, 'browser-final.png');

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

/** Waits until the panel's fact `key` (a field of stats()) has `value`; on timeout, says what it had. */
async function waitForFact(page: Page, key: string, value: string): Promise<void> {
  const fact = page.getByTestId(`stats-${key}`);
  try {
    await page.locator(`[data-testid="stats-${key}"][data-value="${value}"]`).waitFor({ timeout: WAIT_MS });
  } catch (err) {
    const had = await fact.count() ? await fact.getAttribute('data-value') : '(no such fact)';
    throw new Error(`the panel's ${key} never was ${JSON.stringify(value)}; it is ${JSON.stringify(had)} (${(err as Error).message.split('\n')[0]})`);
  }
}

/** The panel's row for the peer named `name` (resolved by the page from CLUSTER_URLS). */
function peerRow(page: Page, name: string) {
  return page.locator(`[data-testid="peer"][data-peer-name="${name}"]`);
}

async function waitForPeer(page: Page, name: string, fenced: boolean): Promise<void> {
  try {
    await page.locator(`[data-testid="peer"][data-peer-name="${name}"][data-fenced="${fenced}"]`).waitFor({ timeout: WAIT_MS });
  } catch (err) {
    const rows = await page.getByTestId('peer').allInnerTexts();
    throw new Error(`peer ${name} never ${fenced ? 'fenced' : 'unfenced'} on the panel; its peers: ${JSON.stringify(rows)} (${(err as Error).message.split('\n')[0]})`);
  }
}

/** How many `operation` calls ended with `outcome`, as the panel shows them now. */
async function outcomeCount(page: Page, operation: string, outcome: string): Promise<number> {
  const cell = page.locator(`[data-testid="operation"][data-operation="${operation}"] [data-outcome="${outcome}"]`);
  if (!await cell.count()) return 0;
  return Number((await cell.textContent())!.replace(outcome, '').trim());
}

/** Waits until the panel counts exactly `count` `operation` calls ended with `outcome`. */
async function waitForOutcome(page: Page, operation: string, outcome: string, count: number): Promise<void> {
  const cell = page.locator(`[data-testid="operation"][data-operation="${operation}"] [data-outcome="${outcome}"]`);
  try {
    await cell.filter({ hasText: new RegExp(`^${escapeRegExp(outcome)} ${count}$`) }).waitFor({ timeout: WAIT_MS });
  } catch (err) {
    const row = await page.locator(`[data-testid="operation"][data-operation="${operation}"]`).innerText();
    throw new Error(`the panel never counted ${count} ${operation} ${outcome}; its row reads ${JSON.stringify(row)} (${(err as Error).message.split('\n')[0]})`);
  }
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

    it('shows its cluster panel: this server\'s ID, adapter memory, no Redis, no other server, no fault buttons', async () => {
      const { page } = demo;
      await waitForFact(page, 'adapter', 'memory');
      await waitForFact(page, 'standing', 'member');
      assert.equal(await page.getByTestId('stats-id').getAttribute('data-value'), app.hooks.rooms.stats().id);
      assert.equal(await page.getByTestId('stats-redis').count(), 0, 'a Redis fact with the memory adapter');
      assert.equal(await page.getByTestId('peer').count(), 0);
      assert.ok(await page.getByTestId('no-peers').isVisible(), '"None known." is not shown');
      assert.ok(await page.getByTestId('controls').isHidden(), 'fault buttons outside npm run cluster');
    });

    it('shows fields of stats() it does not know as they come, "–" for those missing, and recovers when they are back', async () => {
      const { page } = demo;
      const stats = app.hooks.rooms.stats;
      app.hooks.rooms.stats = () => ({
        id: 'future-server', adapter: 'memory', standing: 'member', shards: 4,
        peers: [{ id: 'quiet-peer' }],
        operations: { join: { outcomes: { ok: 1, E_SOMETHING_NEW: 2 } }, futureOperation: {} },
      }) as unknown as ReturnType<typeof stats>;
      try {
        await waitForFact(page, 'id', 'future-server');
        await waitForFact(page, 'shards', '4');
        assert.equal(await page.getByTestId('stats-pending').count(), 0, 'a fact for a field stats() no longer gives');
        assert.deepEqual(await page.getByTestId('peer').allInnerTexts(), ['?\tquiet-peer\t–\t–']);
        assert.equal(await page.locator('[data-operation="join"] .outcomes').textContent(), 'ok 1, E_SOMETHING_NEW 2');
        assert.equal(await page.locator('[data-operation="futureOperation"]').innerText(), 'futureOperation\t–\tnone\t–\t–\t–');
      } finally {
        app.hooks.rooms.stats = stats;
      }
      await waitForFact(page, 'id', stats().id);
      await waitForFact(page, 'pending', '0');
      assert.equal(await page.getByTestId('stats-shards').count(), 0);
      assert.equal(await page.getByTestId('peer').count(), 0);
      assert.equal(await page.locator('[data-operation="futureOperation"]').count(), 0);
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

  describe('npm run cluster: the cluster panel, and its buttons that restart Redis and cut server-3 off', () => {
    let cluster: DemoCluster;
    /** The page on server-1, where the test works, and the one on server-3, the server cut off. */
    let demo: DemoPage;
    let onServer3: DemoPage;

    before(async () => {
      cluster = await startDemoCluster();
      [demo, onServer3] = await Promise.all([openDemo(browser, cluster.servers['server-1']!), openDemo(browser, cluster.servers['server-3']!)]);
    });

    after(async () => {
      for (const page of [demo, onServer3]) if (page && !page.page.isClosed()) await page.page.close();
      await cluster?.stop();
    });

    it('shows server-1 on Redis, up and a member, its two peers by name, and the fault buttons', async () => {
      const { page } = demo;
      await waitForFact(page, 'adapter', 'redis');
      await waitForFact(page, 'redis', 'up');
      await waitForFact(page, 'standing', 'member');
      await waitForPeer(page, 'server-2', false);
      await waitForPeer(page, 'server-3', false);
      assert.equal(await page.getByTestId('peer').count(), 2);
      const stats = await (await fetch(cluster.servers['server-1'] + '/rooms/stats')).json() as { id: string };
      assert.equal(await page.getByTestId('stats-id').getAttribute('data-value'), stats.id);
      assert.ok(await page.getByTestId('controls').isVisible(), 'no fault buttons under npm run cluster');
      await page.locator('[data-testid="restart-redis"]:enabled').waitFor({ timeout: WAIT_MS });
      assert.equal(await page.getByTestId('cut-off').textContent(), 'Cut server-3 off from Redis');
    });

    it('counts the page\'s joins and leaves, with a rate per second', async () => {
      const { page } = demo;
      const joins = await outcomeCount(page, 'join', 'ok');
      const leaves = await outcomeCount(page, 'leave', 'ok');
      await joinOrLeave(page, 'join', 'fun');
      await joinOrLeave(page, 'join', 'other');
      await joinOrLeave(page, 'leave', 'other');
      await waitForOutcome(page, 'join', 'ok', joins + 2);
      // The poll that first counts the leave counted one more than the poll before: a rate above zero.
      const nonZero = /^(?!0\.0$)\d+\.\d$/;
      await page.locator('[data-testid="operation"][data-operation="leave"]')
        .filter({ has: page.locator('[data-outcome="ok"]', { hasText: new RegExp(`^ok ${leaves + 1}$`) }) })
        .filter({ has: page.locator('.rate', { hasText: nonZero }) })
        .waitFor({ timeout: WAIT_MS });
    });

    it('restart Redis: the panel shows Redis down and a removal by server-1 failing with E_UNAVAILABLE, then Redis up and the same removal confirmed', async () => {
      const watched = demo.page;
      const remote = onServer3.page;
      await joinOrLeave(remote, 'join', 'fun');
      await remote.getByTestId('remove-room').fill('fun');
      await remote.getByTestId('remove-server').selectOption('server-1');
      const [leaves, failedLeaves] = [await outcomeCount(watched, 'leave', 'ok'), await outcomeCount(watched, 'leave', 'E_UNAVAILABLE')];

      await watched.getByTestId('restart-redis').click();
      await waitForFact(watched, 'redis', 'down');
      await watched.locator('[data-testid="controls"][data-redis="restarting"]').waitFor({ timeout: WAIT_MS });
      // server-1 cannot reach the socket on server-3: its leave fails at once, and its panel counts it.
      await remote.getByTestId('remove').click();
      await remote.getByTestId('last-result').filter({ hasText: /^Error 503 E_UNAVAILABLE: / }).waitFor({ timeout: WAIT_MS });
      await waitForOutcome(watched, 'leave', 'E_UNAVAILABLE', failedLeaves + 1);
      // A change to a socket of this server still applies.
      await joinOrLeave(watched, 'join', 'during-outage');
      await waitForText(watched, 'my-rooms', 'during-outage, fun');

      await waitForText(watched, 'control-result', 'Redis is back; cluster operations work again once every server is connected.');
      for (const { page } of [demo, onServer3]) {
        await waitForFact(page, 'redis', 'up');
        await waitForFact(page, 'standing', 'member');
      }
      await waitForPeer(watched, 'server-3', false);
      await waitForText(remote, 'my-rooms', 'fun');
      await remote.getByTestId('remove').click();
      await waitForText(remote, 'last-result', 'server-1 removed this socket from "fun": 1 matched, 2 servers answered.');
      await waitForOutcome(watched, 'leave', 'ok', leaves + 1);
      await waitForText(remote, 'my-rooms', 'none');
    });

    it('cut off server-3: its own panel leaves "member" and sees Redis down, server-1 sees it fenced; heal: all as before', async () => {
      const { page } = demo;
      await waitForFact(onServer3.page, 'standing', 'member');
      await page.getByTestId('cut-off').click();
      await page.locator('[data-testid="controls"][data-cut="true"]').waitFor({ timeout: WAIT_MS });
      await waitForFact(onServer3.page, 'redis', 'down');
      await onServer3.page.locator('[data-testid="stats-standing"]:not([data-value="member"])').waitFor({ timeout: WAIT_MS });
      // The others fence it after a few seconds of silence.
      await waitForPeer(page, 'server-3', true);
      await waitForPeer(page, 'server-2', false);
      await mkdir(ARTIFACTS, { recursive: true });
      await page.getByTestId('cluster-panel').screenshot({ path: path.join(ARTIFACTS, 'cluster-panel-fenced.png') });

      await page.getByTestId('heal').click();
      await page.locator('[data-testid="controls"][data-cut="false"]').waitFor({ timeout: WAIT_MS });
      await waitForPeer(page, 'server-3', false);
      await waitForFact(onServer3.page, 'redis', 'up');
      await waitForFact(onServer3.page, 'standing', 'member');
    });

    it('logged no error in the browser but the 503 it caused on purpose', async () => {
      await demo.page.getByTestId('cluster-panel').screenshot({ path: path.join(ARTIFACTS, 'cluster-panel.png') });
      assert.deepEqual(demo.errors, []);
      assert.deepEqual(onServer3.errors.filter((error) => !error.includes('the server responded with a status of 503')), []);
    });

    it('stops everything it started on SIGTERM', async () => {
      for (const page of [demo, onServer3]) await page.page.close();
      assert.deepEqual(await cluster.stop(), [], 'left running after cluster.js exited');
      assert.doesNotMatch(cluster.child.output(), /unhandled|UnhandledPromiseRejection|uncaught/i);
    });
  });

  describe('npm run cluster on the Redis at REDIS_URL, which it does not own', () => {
    let redis: TestRedis;
    let cluster: DemoCluster;
    let demo: DemoPage;

    before(async () => {
      redis = await startRedis();
      cluster = await startDemoCluster({ REDIS_URL: redis.url });
      demo = await openDemo(browser, cluster.servers['server-2']!);
    });

    after(async () => {
      await demo?.page.close();
      await cluster?.stop();
      await redis?.stop();
    });

    it('offers no Redis restart, and says why', async () => {
      const { page } = demo;
      await waitForFact(page, 'url', redis.url);
      await waitForText(page, 'restart-redis', 'Restart Redis: unavailable');
      assert.ok(await page.getByTestId('restart-redis').isDisabled(), 'the restart button is enabled');
      assert.match((await page.getByTestId('control-state').textContent())!, /REDIS_URL's, not this cluster's own: it cannot be restarted from here/);

      const restart = await fetch(cluster.controlUrl + '/redis/restart', { method: 'POST' });
      assert.equal(restart.status, 409);
      assert.match((await restart.json() as { message: string }).message, /cannot be restarted/);
      assert.equal(await redis.command('PING'), 'PONG');
    });

    it('cuts server-3 off that Redis and heals it', async () => {
      const { page } = demo;
      await waitForPeer(page, 'server-3', false);
      await page.getByTestId('cut-off').click();
      await waitForPeer(page, 'server-3', true);
      await page.getByTestId('heal').click();
      await waitForPeer(page, 'server-3', false);
    });

    it('stops everything it started on SIGTERM, and leaves that Redis alone', async () => {
      await demo.page.close();
      assert.deepEqual(await cluster.stop(), [], 'left running after cluster.js exited');
      assert.equal(await redis.command('PING'), 'PONG');
    });
  });
});
