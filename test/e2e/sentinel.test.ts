/**
 * Redis behind Sentinel: a primary, its replica and three sentinels of the test's own. Two servers
 * (one in this process, one a process of the fixture app) connect through the sentinels, with the
 * hook's own connections (`sentinel`) or ioredis Sentinel clients of the app's (`pubClient`/`subClient`).
 * The primary is killed (SIGKILL) or hangs (DEBUG SLEEP), the sentinels promote the replica, and
 * the servers follow without a restart: every operation meanwhile is confirmed or fails with a code
 * within `timeout`, operations work again soon after the switch, and the ordering guarantee holds
 * right after it.
 */
import assert from 'node:assert/strict';
import { Redis } from 'ioredis';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, launch, postJson, stopCluster, type TestServer } from '../support/cluster';
import { waitFor } from '../support/events';
import { freePort, liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { loggedMessages, record } from '../support/logs';
import { roomsReachingEach } from '../support/probes';
import { connectionCount } from '../support/redis-inspect';
import { activeResourceCounts, waitForResourcesBackTo, type ResourceCounts } from '../support/resources';
import { startSentinels, startTlsSentinel, type SentinelNode, type TestSentinels, type TestTlsSentinel } from '../support/sentinel';
import { connectionPorts, makeCertificates, type TestCertificates } from '../support/tls';

const TIMEOUT_MS = 3000;
/** An HTTP round trip to a server on top of the operation itself. */
const HTTP_SLACK_MS = 1000;
/** What Sails takes to give up a lift, after the hook's timeout. */
const LIFT_SLACK_MS = 2000;
/** From the first +switch-master, the hook's own connections work again within this. */
const RECOVERY_MS = 2000;
/** Confirmed in a row by both servers after the switch: operations work again, and keep working. */
const CONFIRMED_RUN = 20;
const ROUNDS = 50;
const PASSWORD = 'hunter2-s3ntinel';

type ChangeBody = { matched?: number; code?: string; message?: string };

interface Operation {
  from: string;
  issuedAt: number;
  settledAt: number;
  status: number;
  body: ChangeBody;
}

/** One server as the operations and the probes reach it. */
interface Side {
  name: string;
  url: string;
  /** A socket connected to this server. */
  client: TestClient;
  socketId: string;
}

/** Rejects if `promise` has not settled within `ms`. */
function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => { timer = setTimeout(() => reject(new Error(`${what} took longer than ${ms} ms`)), ms); });
  return Promise.race([promise, late]).finally(() => clearTimeout(timer));
}

/** A side as roomsReachingEach sends from it: it reads only name and post, which the in-process app has too. */
function asProbeSource(side: Side): TestServer {
  return { name: side.name, url: side.url, post: (route, body) => postJson(side.url, route, body) } as TestServer;
}

/**
 * Each side joins and leaves, by ID, the other side's socket, one operation after another, until
 * stopped: the outcome of every operation, in the order each side issued them.
 */
function churn(sides: readonly [Side, Side]) {
  let running = true;
  const operations: Operation[] = [];
  const loops = Promise.all(sides.map(async (side, i) => {
    const target = sides[1 - i]!;
    for (let n = 0; running; n++) {
      const route = n % 2 === 0 ? '/rooms/add-socket' : '/rooms/remove-socket';
      const issuedAt = Date.now();
      const { status, body } = await within(postJson<ChangeBody>(side.url, route, { socketId: target.socketId, roomName: 'churn' }),
        TIMEOUT_MS + HTTP_SLACK_MS, `${side.name}'s ${route}`);
      operations.push({ from: side.name, issuedAt, settledAt: Date.now(), status, body });
    }
  }));
  // Read by stop(); meanwhile a failed loop must not be an unhandled rejection.
  loops.catch(() => {});
  return {
    operations,
    /** The operations of `side` issued at or after `since`, from its first confirmed one after which every one was confirmed. */
    confirmedRun(side: Side, since: number): Operation[] {
      const issued = operations.filter((op) => op.from === side.name && op.issuedAt >= since);
      let first = issued.length;
      while (first > 0 && issued[first - 1]!.status === 200) first -= 1;
      return issued.slice(first);
    },
    async stop() {
      running = false;
      await loops;
    },
  };
}

/** Every operation was confirmed, or failed with E_UNAVAILABLE or E_TIMEOUT, and none took longer than `timeout`. */
function assertEachConfirmedOrFailedWithCode(operations: readonly Operation[]) {
  for (const op of operations) {
    const what = `${op.from}'s operation issued ${op.issuedAt}: ${op.status} ${JSON.stringify(op.body)}`;
    if (op.status === 200) assert.equal(op.body.matched, 1, what);
    else assert.ok(op.status === 503 && ['E_UNAVAILABLE', 'E_TIMEOUT'].includes(op.body.code!), what);
    assert.ok(op.settledAt - op.issuedAt <= TIMEOUT_MS + HTTP_SLACK_MS, `${what} took ${op.settledAt - op.issuedAt} ms`);
  }
}

/**
 * Brings the primary down with `fault` while both sides churn; resolves, once each side has
 * `CONFIRMED_RUN` operations confirmed in a row after the switch, with the time from the switch
 * to the first of them.
 */
async function failOverDuringChurn(topology: TestSentinels, sides: readonly [Side, Side], fault: () => Promise<void> | void) {
  const watcher = await topology.watchSwitch();
  const operations = churn(sides);
  try {
    await waitFor(() => operations.operations.filter((op) => op.status === 200).length >= CONFIRMED_RUN, 'confirmed operations before the fault', 10_000);
    await fault();
    const switched = await watcher.switched;
    assert.equal(switched.port, topology.replica.port, 'the sentinels promoted the replica');
    await waitFor(() => sides.every((side) => operations.confirmedRun(side, switched.at).length >= CONFIRMED_RUN),
      `${CONFIRMED_RUN} operations in a row confirmed by each server after the switch`, 15_000);
    await operations.stop();
    assertEachConfirmedOrFailedWithCode(operations.operations);
    assert.ok(operations.operations.some((op) => op.status === 503), 'some operations were issued while Redis was away');
    const recoveries = sides.map((side) => operations.confirmedRun(side, switched.at)[0]!.settledAt - switched.at);
    record('sentinel-test', 'info', `operations confirmed again ${recoveries.join(' ms, ')} ms after +switch-master (${sides.map((s) => s.name).join(', ')})`);
    return recoveries;
  } finally {
    watcher.close();
    await operations.stop().catch(() => {});
  }
}

/**
 * `ROUNDS` rounds: each side joins the other's socket to a room, and a broadcast to it from
 * either server reaches both sockets; then each removes it, and no broadcast from either reaches them.
 */
async function assertOrderingHolds(sides: readonly [Side, Side]) {
  const sockets = sides.map(({ client, socketId }) => ({ client, socketId }));
  const change = (route: string) => Promise.all(sides.map(async (side, i) => {
    const { status, body } = await postJson<ChangeBody>(side.url, route, { socketId: sides[1 - i]!.socketId, roomName: 'ordered' });
    assert.deepEqual([status, body.matched], [200, 1], `${side.name} ${route}: ${JSON.stringify(body)}`);
  }));
  const reached = async () => Promise.all(sides.map((side) => roomsReachingEach(asProbeSource(side), sockets, ['ordered'])));
  for (let round = 1; round <= ROUNDS; round++) {
    await change('/rooms/add-socket');
    for (const [from, arrivals] of (await reached()).entries()) {
      assert.deepEqual(arrivals, [['ordered'], ['ordered']], `round ${round}: a broadcast from ${sides[from]!.name} after the confirmed joins`);
    }
    await change('/rooms/remove-socket');
    for (const [from, arrivals] of (await reached()).entries()) {
      assert.deepEqual(arrivals, [[], []], `round ${round}: a broadcast from ${sides[from]!.name} after the confirmed leaves`);
    }
  }
}

/** The fixture app's environment for a server with the hook's own Sentinel connections. */
function sentinelEnv(topology: TestSentinels): Record<string, string> {
  return {
    ROOMS_ADAPTER: 'redis',
    ROOMS_TIMEOUT: String(TIMEOUT_MS),
    REDIS_SENTINELS: topology.nodes.map(({ host, port }) => `${host}:${port}`).join(','),
    REDIS_SENTINEL_NAME: topology.name,
  };
}

/** The in-process app lifted with `rooms`, a socket on it and one on `other`. */
async function liftBeside(other: TestServer, rooms: Record<string, unknown>): Promise<{ app: SailsTestApp; sides: [Side, Side] }> {
  const app = await liftFixture({ rooms });
  const appUrl = urlOf(app);
  const [onApp, onOther] = await Promise.all([connectRaw(appUrl), connectRaw(other.url)]);
  return {
    app,
    sides: [
      { name: 'in-process', url: appUrl, client: onApp, socketId: await onApp.socketId() },
      { name: 'other', url: other.url, client: onOther, socketId: await onOther.socketId() },
    ],
  };
}

/** Lifts expecting a failure; resolves with the error and how long the lift took. */
async function liftFailure(rooms: Record<string, unknown>): Promise<{ error: Error & { code?: string }; ms: number }> {
  const started = Date.now();
  let app: SailsTestApp | undefined;
  try {
    app = await liftFixture({ rooms });
  } catch (error) {
    return { error: error as Error & { code?: string }, ms: Date.now() - started };
  }
  await lowerFixture(app);
  return assert.fail('sails.lift() succeeded');
}

describe('Redis behind Sentinel', function () {
  this.timeout(120_000);

  describe('a lift that cannot reach Redis through the sentinels', () => {
    it('no sentinel listening: E_UNAVAILABLE within timeout, naming every sentinel and the primary, never a password; nothing left open', async () => {
      const nodes: SentinelNode[] = [{ host: '127.0.0.1', port: await freePort() }, { host: '127.0.0.1', port: await freePort() }];
      // After an await: mocha's timer for this test is running by then, as it is at the end.
      const baseline = activeResourceCounts();
      const { error, ms } = await liftFailure({
        adapter: 'redis', timeout: 1000, sentinel: { name: 'nowhere', nodes, password: PASSWORD, sentinelPassword: PASSWORD },
      });
      assert.equal(error.code, 'E_UNAVAILABLE', error.message);
      for (const { port } of nodes) assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${port}\\b`));
      assert.match(error.message, /primary 'nowhere'/);
      assert.match(error.message, /within 1000 ms/);
      assert.match(error.message, /sails\.config\.rooms\.sentinel/);
      assert.ok(ms < 1000 + LIFT_SLACK_MS, `the lift failed after ${ms} ms`);
      assert.ok(!String(error.stack).includes(PASSWORD), 'the error shows a password');
      await waitForResourcesBackTo(baseline, 10_000);
    });
  });

  describe('tls: a sentinel and a primary that speak TLS only', () => {
    let certs: TestCertificates | undefined;
    let deployment: TestTlsSentinel | undefined;

    before(async () => {
      certs = await makeCertificates();
      deployment = await startTlsSentinel(certs);
    });
    after(async () => {
      await deployment?.stop();
      await certs?.remove();
    });

    /** The connections that came in through the primary's TLS port (the sentinel's among them). */
    const tlsConnections = async () => (await connectionPorts(deployment!.primary)).filter((port) => port === deployment!.primary.tlsPort).length;

    it("with sails.config.rooms.tls, the hook reaches the primary through the sentinel, both connections on the primary's TLS port; lower closes them", async () => {
      const before = await tlsConnections();
      const app = await liftFixture({ rooms: { adapter: 'redis', timeout: TIMEOUT_MS, tls: { ca: certs!.ca.cert }, sentinel: { name: deployment!.name, nodes: deployment!.nodes } } });
      try {
        assert.equal(app.hooks.rooms.stats().redis, 'up');
        assert.equal(await tlsConnections(), before + 2);
      } finally {
        await lowerFixture(app);
      }
      await waitFor(async () => await tlsConnections() === before, "the hook's TLS connections to close");
    });

    it('without tls, the lift fails with E_UNAVAILABLE within timeout, naming the sentinel', async () => {
      const { error, ms } = await liftFailure({ adapter: 'redis', timeout: 1000, sentinel: { name: deployment!.name, nodes: deployment!.nodes } });
      assert.equal(error.code, 'E_UNAVAILABLE', error.message);
      assert.match(error.message, new RegExp(`127\\.0\\.0\\.1:${deployment!.nodes[0]!.port}\\b`));
      assert.ok(ms < 1000 + LIFT_SLACK_MS, `the lift failed after ${ms} ms`);
    });
  });

  describe("the hook's own connections (sentinel), the primary killed", () => {
    let topology: TestSentinels | undefined;
    let other: TestServer | undefined;
    let app: SailsTestApp | undefined;
    let sides: [Side, Side];
    let baseline: ResourceCounts;
    let connectionsBefore: number;

    before(async () => {
      topology = await startSentinels();
      connectionsBefore = await connectionCount(topology.primary);
      other = await launch('other', sentinelEnv(topology));
      baseline = activeResourceCounts();
    });

    after(async () => {
      for (const side of sides ?? []) side.client.disconnect();
      if (app) await lowerFixture(app);
      if (other) await stopCluster([other]);
      await topology?.stop();
    });

    it('a primary name no sentinel knows fails the lift with E_UNAVAILABLE within timeout, saying so', async () => {
      const { error, ms } = await liftFailure({ adapter: 'redis', timeout: 1000, sentinel: { name: 'no-such-primary', nodes: topology!.nodes } });
      assert.equal(error.code, 'E_UNAVAILABLE', error.message);
      assert.match(error.message, /no sentinel knows a primary named 'no-such-primary'/);
      assert.match(error.message, /sails\.config\.rooms\.sentinel\.name/);
      assert.ok(ms < 1000 + LIFT_SLACK_MS, `the lift failed after ${ms} ms`);
      await waitForResourcesBackTo(baseline, 10_000);
    });

    it('both servers join the cluster through the sentinels, each with its two connections to the primary', async () => {
      ({ app, sides } = await liftBeside(other!, { adapter: 'redis', timeout: TIMEOUT_MS, sentinel: { name: topology!.name, nodes: topology!.nodes } }));
      assert.equal(await connectionCount(topology!.primary), connectionsBefore + 2 + 2);
      const otherStats = await (await fetch(`${other!.url}/rooms/stats`)).json() as { redis: string; peers: unknown[] };
      for (const stats of [app!.hooks.rooms.stats(), otherStats]) assert.deepEqual([stats.redis, stats.peers.length], ['up', 1]);
    });

    it(`during the failover every operation is confirmed or fails with a code within timeout; they work again within ${RECOVERY_MS} ms of +switch-master, without a restart`, async () => {
      const recoveries = await failOverDuringChurn(topology!, sides, () => topology!.primary.kill());
      for (const [i, ms] of recoveries.entries()) assert.ok(ms < RECOVERY_MS, `${sides[i]!.name} confirmed again ${ms} ms after the switch`);
      assertHealthy(other!);
    });

    it(`right after it, the ordering guarantee holds from either server, ${ROUNDS} rounds`, async () => {
      await assertOrderingHolds(sides);
      assertHealthy(other!);
    });

    it('lowering closes both connections to the new primary and every connection to the sentinels', async () => {
      const connections = await connectionCount(topology!.replica);
      for (const side of sides) side.client.disconnect();
      await lowerFixture(app!);
      app = undefined;
      await waitFor(async () => await connectionCount(topology!.replica) === connections - 2, 'the in-process server to close its connections to the new primary');
      await waitForResourcesBackTo(baseline, 10_000);
    });
  });

  describe("the hook's own connections, the primary hanging (nothing closes, nothing answers)", () => {
    let topology: TestSentinels | undefined;
    let other: TestServer | undefined;
    let app: SailsTestApp | undefined;
    let sides: [Side, Side] | undefined;

    before(async () => {
      topology = await startSentinels();
      other = await launch('other', sentinelEnv(topology));
      ({ app, sides } = await liftBeside(other, { adapter: 'redis', timeout: TIMEOUT_MS, sentinel: { name: topology.name, nodes: topology.nodes } }));
    });

    after(async () => {
      for (const side of sides ?? []) side.client.disconnect();
      if (app) await lowerFixture(app);
      if (other) await stopCluster([other]);
      // SIGTERM would wait for the end of its sleep.
      await topology?.primary.kill();
      await topology?.stop();
    });

    it(`the connections leave it at +switch-master: every operation is confirmed or fails with a code within timeout, and they work again within ${RECOVERY_MS} ms`, async () => {
      const recoveries = await failOverDuringChurn(topology!, sides!, () => topology!.hangPrimary(60));
      for (const [i, ms] of recoveries.entries()) assert.ok(ms < RECOVERY_MS, `${sides![i]!.name} confirmed again ${ms} ms after the switch`);
      assertHealthy(other!);
      // No socket error: the outage is the connections ioredis closed itself.
      assert.equal(loggedMessages({ source: /^sails:/, level: 'warn', message: 'lost the connection to Redis' }).length, 1);
      assert.equal(loggedMessages({ source: /^sails:/, level: 'warn', message: /connected to Redis again, after \d/ }).length, 1);
    });

    it(`right after it, the ordering guarantee holds from either server, ${ROUNDS} rounds`, async () => {
      await assertOrderingHolds(sides!);
    });
  });

  describe('ioredis Sentinel clients of the app (pubClient/subClient), the primary killed', () => {
    let topology: TestSentinels | undefined;
    let other: TestServer | undefined;
    let app: SailsTestApp | undefined;
    let clients: Redis[] = [];
    let sides: [Side, Side] | undefined;

    before(async () => {
      topology = await startSentinels();
      other = await launch('other', sentinelEnv(topology));
      // As README's "Sentinel" shows them.
      const options = { sentinels: topology.nodes, name: topology.name };
      clients = [new Redis(options), new Redis(options)];
      for (const client of clients) client.on('error', () => {});
      ({ app, sides } = await liftBeside(other, { adapter: 'redis', timeout: TIMEOUT_MS, pubClient: clients[0], subClient: clients[1] }));
    });

    after(async () => {
      for (const side of sides ?? []) side.client.disconnect();
      if (app) await lowerFixture(app);
      for (const client of clients) client.disconnect();
      if (other) await stopCluster([other]);
      await topology?.stop();
    });

    it('during the failover every operation is confirmed or fails with a code within timeout, and they work again, without a restart', async () => {
      await failOverDuringChurn(topology!, sides!, () => topology!.primary.kill());
      assertHealthy(other!);
    });

    it(`right after it, the ordering guarantee holds from either server, ${ROUNDS} rounds`, async () => {
      await assertOrderingHolds(sides!);
    });

    it('lowering leaves them connected to the new primary and ready', async () => {
      for (const side of sides!) side.client.disconnect();
      await lowerFixture(app!);
      app = undefined;
      assert.deepEqual(clients.map((client) => client.status), ['ready', 'ready']);
      assert.equal(await clients[0]!.set('after-lower', 'yes'), 'OK');
      assert.equal(await topology!.replica.command('GET', 'after-lower'), 'yes', 'the clients write to the promoted replica');
    });
  });
});
