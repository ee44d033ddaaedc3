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
import { assertHealthy, launch, stopCluster, type TestServer } from '../support/cluster';
import { waitFor } from '../support/events';
import { assertEachConfirmedOrFailedWithCode, assertOrderingHolds, churn, liftBeside, type Side } from '../support/failover';
import { freePort, liftFixture, lowerFixture, type SailsTestApp } from '../support/fixture';
import { loggedMessages, record } from '../support/logs';
import { connectionCount } from '../support/redis-inspect';
import { activeResourceCounts, waitForResourcesBackTo, type ResourceCounts } from '../support/resources';
import { startSentinels, startTlsSentinel, type SentinelNode, type TestSentinels, type TestTlsSentinel } from '../support/sentinel';
import { connectionPorts, makeCertificates, type TestCertificates } from '../support/tls';

const TIMEOUT_MS = 3000;
/** What Sails takes to give up a lift, after the hook's timeout. */
const LIFT_SLACK_MS = 2000;
/** From the first +switch-master, the hook's own connections work again within this. */
const RECOVERY_MS = 2000;
/** Confirmed in a row by both servers after the switch: operations work again, and keep working. */
const CONFIRMED_RUN = 20;
const ROUNDS = 50;
const PASSWORD = 'hunter2-s3ntinel';

/**
 * Brings the primary down with `fault` while both sides churn; resolves, once each side has
 * `CONFIRMED_RUN` operations confirmed in a row after the switch, with the time from the switch
 * to the first of them.
 */
async function failOverDuringChurn(topology: TestSentinels, sides: readonly [Side, Side], fault: () => Promise<void> | void) {
  const watcher = await topology.watchSwitch();
  const operations = churn(sides, { timeoutMs: TIMEOUT_MS });
  try {
    await waitFor(() => operations.operations.filter((op) => op.status === 200).length >= CONFIRMED_RUN, 'confirmed operations before the fault', 10_000);
    await fault();
    const switched = await watcher.switched;
    assert.equal(switched.port, topology.replica.port, 'the sentinels promoted the replica');
    await waitFor(() => sides.every((side) => operations.confirmedRun(side, switched.at).length >= CONFIRMED_RUN),
      `${CONFIRMED_RUN} operations in a row confirmed by each server after the switch`, 15_000);
    await operations.stop();
    assertEachConfirmedOrFailedWithCode(operations.operations, TIMEOUT_MS);
    assert.ok(operations.operations.some((op) => op.status === 503), 'some operations were issued while Redis was away');
    const recoveries = sides.map((side) => operations.confirmedRun(side, switched.at)[0]!.settledAt - switched.at);
    record('sentinel-test', 'info', `operations confirmed again ${recoveries.join(' ms, ')} ms after +switch-master (${sides.map((s) => s.name).join(', ')})`);
    return recoveries;
  } finally {
    watcher.close();
    await operations.stop().catch(() => {});
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
      await assertOrderingHolds(sides, ROUNDS);
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
      await assertOrderingHolds(sides!, ROUNDS);
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
      const options = { sentinels: topology.nodes, name: topology.name, autoResendUnfulfilledCommands: false };
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
      await assertOrderingHolds(sides!, ROUNDS);
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
