/**
 * Lifting and lowering: the app lifts and lowers repeatedly in one process; each lower puts
 * sails-hook-sockets' own methods back on sails.sockets, makes sails.hooks.rooms unavailable, and
 * closes what the hook opened (not the user's own Redis clients), so no handle is left behind.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createClient } from 'redis';
import { CLIENT_KINDS } from '../support/clients';
import { waitFor } from '../support/events';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { startRedis, type TestRedis } from '../support/redis';
import { activeResourceCounts, isPortListening, trackIntervals, waitForResourcesBackTo, type ResourceCounts } from '../support/resources';
import { SOCKETS_METHOD_NAMES, stockSocketsRecorder, type SocketsMethods } from '../support/stock-sockets';

const ROUNDS = 3;
/** The methods sails-hook-rooms replaces; the others stay sails-hook-sockets' own. */
const REPLACED = ['leave', 'join', 'leaveAll', 'addRoomMembersToRooms', 'removeRoomMembersFromRooms'] as const;
const KEPT = SOCKETS_METHOD_NAMES.filter((name) => !(REPLACED as readonly string[]).includes(name));
/** The hook's code in a stack trace: the compiled dist/ the fixture loads, or lib/ through its source maps. */
const ROOT = path.resolve(__dirname, '../..');
const HOOK_CODE = new RegExp(`${ROOT.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}[\\/](dist|lib)[\\/]`);

/**
 * One round: lift with `rooms`, connect a client, join and leave through the app's actions, check
 * the hook's methods are in place, disconnect, lower; then check what lowering undid, and that no
 * interval the hook started is still running.
 */
async function liftUseAndLower(round: number, rooms: Record<string, unknown>): Promise<{ hookIntervalsWhileLifted: number }> {
  const intervals = trackIntervals();
  let hookIntervalsWhileLifted = 0;
  try {
    await liftUseAndLowerTracked(round, rooms, () => { hookIntervalsWhileLifted = intervals.running(HOOK_CODE).length; });
    // lower() does not wait for the hook's teardown to finish: give it a bounded time.
    await waitFor(() => intervals.running(HOOK_CODE).length === 0, 'the intervals of the hook to be cleared');
  } catch (err) {
    const running = intervals.running(HOOK_CODE);
    if (running.length > 0) (err as Error).message += `\nintervals of the hook still running, created at:\n${running.join('\n')}`;
    throw err;
  } finally {
    intervals.stop();
  }
  return { hookIntervalsWhileLifted };
}

async function liftUseAndLowerTracked(round: number, rooms: Record<string, unknown>, whileLifted: () => void): Promise<void> {
  const recorder = stockSocketsRecorder();
  const kind = CLIENT_KINDS[round % CLIENT_KINDS.length];
  const app: SailsTestApp = await liftFixture({ rooms, hooks: { 'stock-sockets-recorder': recorder.hook } });
  let stock = {} as SocketsMethods;
  let port = 0;
  try {
    stock = recorder.methods();
    port = (app.hooks.http.server.address() as AddressInfo).port;
    for (const name of REPLACED) assert.notEqual(app.sockets[name], stock[name], `sails.sockets.${name} is the hook's while lifted`);
    for (const name of KEPT) assert.equal(app.sockets[name], stock[name], `sails.sockets.${name} stays sails-hook-sockets' own`);

    whileLifted();
    const client = await kind.connect(urlOf(app));
    try {
      const id = await client.socketId();
      const joined = await client.request('post', '/rooms/join-fun-room', { roomName: 'fun' });
      assert.equal(joined.statusCode, 200);
      assert.ok(app.io.of('/').adapter.rooms.get('fun')?.has(id), `round ${round}: joined`);
      const left = await client.request('post', '/rooms/leave-fun-room', { roomName: 'fun' });
      assert.equal(left.statusCode, 200);
      assert.equal(app.io.of('/').adapter.rooms.get('fun')?.has(id) ?? false, false, `round ${round}: left`);
    } finally {
      client.disconnect();
    }
  } finally {
    await lowerFixture(app);
  }

  for (const name of SOCKETS_METHOD_NAMES) {
    assert.equal(app.sockets[name], stock[name], `after lower, sails.sockets.${name} is sails-hook-sockets' own again`);
  }
  await assert.rejects(app.hooks.rooms.leave('any-socket', 'fun'), { code: 'E_UNAVAILABLE' });
  await assert.rejects(app.hooks.rooms.membersOf('fun'), { code: 'E_UNAVAILABLE' });
  assert.equal(await isPortListening(port), false, 'the app no longer listens');
}

describe('lifting and lowering repeatedly in one process', function () {
  this.timeout(60_000);

  describe('with the memory adapter', () => {
    let baseline: ResourceCounts;
    before(() => { baseline = activeResourceCounts(); });

    for (let round = 1; round <= ROUNDS; round++) {
      it(`round ${round}: a client joins and leaves; lower restores sails.sockets, makes sails.hooks.rooms unavailable and stops the hook's timers`, async () => {
        await liftUseAndLower(round, { adapter: 'memory' });
      });
    }

    it(`after ${ROUNDS} rounds no server, socket or timer is left open`, async () => {
      await waitForResourcesBackTo(baseline);
    });
  });

  for (const adapter of ['redis', 'redis-sharded'] as const) {
    describe(`with adapter '${adapter}' and a url (the hook's own Redis connections)`, () => {
      let redis: TestRedis;
      let baseline: ResourceCounts;

      before(async () => {
        redis = await startRedis();
        baseline = activeResourceCounts();
      });
      after(async () => { await redis?.stop(); });

      for (let round = 1; round <= ROUNDS; round++) {
        it(`round ${round}: a client joins and leaves; lower restores sails.sockets, makes sails.hooks.rooms unavailable and stops the hook's timers`, async () => {
          const { hookIntervalsWhileLifted } = await liftUseAndLower(round, { adapter, url: redis.url });
          // Without this the timer check above would prove nothing: the heartbeat is unref'd.
          assert.ok(hookIntervalsWhileLifted > 0, "the interval check sees the Redis transport's heartbeat while lifted");
        });
      }

      it(`after ${ROUNDS} rounds no Redis connection, server, socket or timer is left open`, async () => {
        await waitForResourcesBackTo(baseline);
        const clients = await redis.command<string>('CLIENT', 'LIST');
        // Only the connection that asks is left.
        assert.equal(clients.trim().split('\n').length, 1, clients);
      });
    });
  }

  describe("with the user's own pubClient and subClient", () => {
    let redis: TestRedis;
    let pubClient: ReturnType<typeof createClient>;
    let subClient: ReturnType<typeof createClient>;
    let baseline: ResourceCounts;
    /** The listeners on the clients after each lower, per event name. */
    const listenersAfterLower: Array<Record<string, number>> = [];

    const listenerCounts = () => {
      const counts: Record<string, number> = {};
      for (const [name, client] of [['pub', pubClient], ['sub', subClient]] as const) {
        for (const event of client.eventNames()) counts[`${name}:${String(event)}`] = client.listenerCount(event);
      }
      return counts;
    };

    before(async () => {
      redis = await startRedis();
      pubClient = createClient({ url: redis.url });
      subClient = pubClient.duplicate();
      await Promise.all([pubClient.connect(), subClient.connect()]);
      baseline = activeResourceCounts();
    });
    after(async () => {
      await Promise.all([pubClient, subClient].map((client) => (client?.isOpen ? client.close() : undefined)));
      await redis?.stop();
    });

    for (let round = 1; round <= ROUNDS; round++) {
      it(`round ${round}: lifts on the same clients, a client joins and leaves, lower leaves the clients open`, async () => {
        await liftUseAndLower(round, { adapter: 'redis', pubClient, subClient });
        assert.ok(pubClient.isOpen && subClient.isOpen, 'the hook never closes clients it was given');
        assert.equal(await pubClient.ping(), 'PONG');
        await waitFor(async () => {
          const channels = await pubClient.sendCommand(['PUBSUB', 'CHANNELS']) as string[];
          const patterns = await pubClient.sendCommand(['PUBSUB', 'NUMPAT']) as number;
          return channels.length === 0 && patterns === 0;
        }, 'the subscriptions of the lowered app to go away');
        listenersAfterLower.push(listenerCounts());
      });
    }

    it('the listeners the hook leaves on the clients do not pile up from one lift to the next', () => {
      assert.equal(listenersAfterLower.length, ROUNDS);
      for (const counts of listenersAfterLower.slice(1)) assert.deepEqual(counts, listenersAfterLower[0]);
      for (const [event, count] of Object.entries(listenersAfterLower[0])) assert.ok(count <= 1, `${count} listeners of ${event}`);
    });

    it('after the last lower no socket or timer of the hook is left open, only the clients', async () => {
      await waitForResourcesBackTo(baseline);
    });
  });
});
