/**
 * The Redis transport over lift and lower: the hook's own connections are closed by lower, a
 * user's own clients (node-redis or ioredis) are used, unsubscribed and left open, and
 * `sails.config.rooms.key` separates clusters sharing one Redis.
 */
import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { Redis } from 'ioredis';
import { createClient } from 'redis';
import { recordUnhandledRejections, macrotaskTurns } from '../support/async-checks';
import { CLIENT_KINDS, connectRaw, connectSailsIo, type TestClient } from '../support/clients';
import { assertHealthy, postJson, startServer, startServerWithRooms, stopCluster, type TestServer } from '../support/cluster';
import { nextEvent, record, waitFor } from '../support/events';
import { liftFixture, lowerFixture, urlOf, type SailsTestApp } from '../support/fixture';
import { loggedMessages } from '../support/logs';
import { startRedis, type TestRedis } from '../support/redis';
import { activeChannels, connectionCount, patternCount, subscriberCount } from '../support/redis-inspect';
import { activeResourceCounts, waitForResourcesBackTo, type ResourceCounts } from '../support/resources';

const ROUNDS = 3;
/** The hook's request channel for a `key` (its reply channels are `<this>#<server uid>#`). */
const hookChannel = (key = 'socket.io') => `{${key}-rooms}#/#`;
/** The request channel of socket.io's Redis adapter for a `key`. */
const adapterChannel = (key = 'socket.io') => `${key}-request#/#`;

type FunMessage = { roomName: string; data: unknown; server: string };
type ChangeResult = { matched: number; servers: number; notFound: string[] };

/**
 * Asserts that `client` got no 'fun' message since `since` was recorded: a sentinel that
 * `fromUrl`'s server sends to the client's own room arrives after anything it broadcast before.
 */
async function assertNoFunSince(fromUrl: string, client: TestClient, socketId: string, since: { received: FunMessage[]; stop(): void }) {
  const sentinel = nextEvent(client, 'sentinel');
  await postJson(fromUrl, '/rooms/broadcast', { roomName: socketId, eventName: 'sentinel' });
  await sentinel;
  since.stop();
  assert.deepEqual(since.received, [], 'a broadcast reached a socket after its leave was confirmed');
}

describe('the Redis transport over lift and lower', function () {
  this.timeout(60_000);

  describe(`lifting and lowering ${ROUNDS} times in one process with adapter 'redis' and a url`, () => {
    let redis: TestRedis;
    let resourceBaseline: ResourceCounts;
    let connectionBaseline: number;

    before(async () => {
      redis = await startRedis();
      resourceBaseline = activeResourceCounts();
      connectionBaseline = await connectionCount(redis);
    });
    after(async () => { await redis?.stop(); });

    for (let round = 1; round <= ROUNDS; round++) {
      it(`round ${round}: the hook connects twice and subscribes its channel, a client joins and leaves, lower closes both connections`, async () => {
        const app = await liftFixture({ rooms: { adapter: 'redis', url: redis.url } });
        try {
          assert.equal(await connectionCount(redis), connectionBaseline + 2, 'a publishing and a subscribing connection while lifted');
          assert.equal(await subscriberCount(redis, hookChannel()), 1, "the hook's request channel is subscribed while lifted");

          const kind = CLIENT_KINDS[round % CLIENT_KINDS.length];
          const client = await kind.connect(urlOf(app));
          try {
            const id = await client.socketId();
            assert.equal((await client.request('post', '/rooms/join-fun-room', { roomName: 'fun' })).statusCode, 200);
            // A cluster-wide query: a request over Redis, answered by this server alone.
            assert.deepEqual(await app.hooks.rooms.membersOf('fun'), [id], `round ${round}: joined`);
            assert.equal((await client.request('post', '/rooms/leave-fun-room', { roomName: 'fun' })).statusCode, 200);
            assert.deepEqual(await app.hooks.rooms.membersOf('fun'), [], `round ${round}: left`);
          } finally {
            client.disconnect();
          }
        } finally {
          await lowerFixture(app);
        }
        await waitFor(async () => await connectionCount(redis) === connectionBaseline, "the hook's Redis connections to close");
      });
    }

    it(`after ${ROUNDS} rounds no Redis connection, subscription, server, socket or timer of ours is left`, async () => {
      await waitForResourcesBackTo(resourceBaseline);
      assert.equal(await connectionCount(redis), connectionBaseline, await redis.command<string>('CLIENT', 'LIST'));
      assert.deepEqual(await activeChannels(redis, '{socket.io-rooms}*'), []);
      assert.deepEqual(await activeChannels(redis), []);
      assert.equal(await patternCount(redis), 0);
    });
  });

  /** A user's pair of connected clients of one library, and what the tests ask of them. */
  interface OwnClients {
    pub: object;
    sub: object;
    /** Both are connected and usable, as their library tells it. */
    bothReady(): boolean;
    describeState(): string;
    /** The 'error' events the clients emitted. */
    errors: unknown[];
    /** The user's own pub/sub on them: publishes `message` on `channel` and resolves with what the subscriber got. */
    echo(channel: string, message: string): Promise<string>;
    close(): Promise<void>;
  }

  async function connectNodeRedis(url: string): Promise<OwnClients> {
    const pub = createClient({ url });
    const sub = pub.duplicate();
    const errors: unknown[] = [];
    for (const client of [pub, sub]) client.on('error', (err) => errors.push(err));
    await Promise.all([pub.connect(), sub.connect()]);
    return {
      pub,
      sub,
      errors,
      bothReady: () => pub.isReady === true && sub.isReady === true,
      describeState: () => `pub.isReady ${pub.isReady}, sub.isReady ${sub.isReady}`,
      async echo(channel, message) {
        const inbox = new EventEmitter();
        await sub.subscribe(channel, (received) => inbox.emit('message', received));
        const arrived = nextEvent<string>(inbox, 'message');
        await pub.publish(channel, message);
        try {
          return await arrived;
        } finally {
          await sub.unsubscribe(channel);
        }
      },
      async close() {
        await Promise.all([pub, sub].map((client) => (client.isOpen ? client.close() : undefined)));
      },
    };
  }

  async function connectIoredis(url: string): Promise<OwnClients> {
    // As the notes recommend: commands wait for a reconnect instead of failing after 20 retries.
    const pub = new Redis(url, { maxRetriesPerRequest: null, lazyConnect: true });
    const sub = pub.duplicate();
    const errors: unknown[] = [];
    for (const client of [pub, sub]) client.on('error', (err) => errors.push(err));
    await Promise.all([pub.connect(), sub.connect()]);
    return {
      pub,
      sub,
      errors,
      bothReady: () => pub.status === 'ready' && sub.status === 'ready',
      describeState: () => `pub.status ${pub.status}, sub.status ${sub.status}`,
      async echo(channel, message) {
        const inbox = new EventEmitter();
        const onMessage = (from: string, received: string) => { if (from === channel) inbox.emit('message', received); };
        sub.on('message', onMessage);
        try {
          await sub.subscribe(channel);
          const arrived = nextEvent<string>(inbox, 'message');
          await pub.publish(channel, message);
          return await arrived;
        } finally {
          sub.off('message', onMessage);
          await sub.unsubscribe(channel);
        }
      },
      async close() {
        await Promise.all([pub, sub].map((client) => (client.status === 'end' ? undefined : client.quit())));
      },
    };
  }

  const OWN_CLIENT_LIBRARIES = [
    // resends: ioredis' autoResendUnfulfilledCommands, on by default.
    { name: 'node-redis (createClient from redis)', connect: connectNodeRedis, resends: false },
    { name: 'ioredis 5 (maxRetriesPerRequest: null)', connect: connectIoredis, resends: true },
  ] as const;

  for (const library of OWN_CLIENT_LIBRARIES) {
    describe(`the user's own ${library.name} clients as pubClient/subClient, beside a server on node-redis in another process`, () => {
      let redis: TestRedis;
      let other: TestServer;
      let clients: OwnClients;
      let app: SailsTestApp | undefined;
      let appUrl: string;
      let lowered = false;
      let onApp: TestClient;
      let onOther: TestClient;
      let idOnApp: string;
      let idOnOther: string;
      /** Before the in-process app lifted: the other server's subscriptions and everyone's connections. */
      let hookSubscribersBefore: number;
      let adapterSubscribersBefore: number;
      let patternsBefore: number;
      let connectionsBefore: number;

      before(async () => {
        redis = await startRedis();
        other = await startServer('other', redis.url, 'redis');
        clients = await library.connect(redis.url);
        hookSubscribersBefore = await subscriberCount(redis, hookChannel());
        adapterSubscribersBefore = await subscriberCount(redis, adapterChannel());
        patternsBefore = await patternCount(redis);
        connectionsBefore = await connectionCount(redis);
        app = await liftFixture({ rooms: { adapter: 'redis', pubClient: clients.pub, subClient: clients.sub } });
        appUrl = urlOf(app);
        onApp = await connectSailsIo(appUrl);
        onOther = await connectRaw(other.url);
        idOnApp = await onApp.socketId();
        idOnOther = await onOther.socketId();
      });

      after(async () => {
        onApp?.disconnect();
        onOther?.disconnect();
        if (app && !lowered) await lowerFixture(app);
        await clients?.close();
        if (other) await stopCluster([other]);
        await redis?.stop();
      });

      it(library.resends
        ? 'warns at the lift that the pubClient re-sends, after a reconnect, what it had written (autoResendUnfulfilledCommands)'
        : 'gives no warning of re-sent commands: the pubClient does not re-send', () => {
        const warnings = loggedMessages({ source: /^sails:/, level: 'warn', message: 'autoResendUnfulfilledCommands' });
        assert.equal(warnings.length, library.resends ? 1 : 0, warnings.join('\n'));
      });

      it('lifts on them without opening a Redis connection of its own, subscribing its channel on the given subClient', async () => {
        assert.equal(hookSubscribersBefore, 1, "the other server subscribes the hook's channel");
        assert.equal(await subscriberCount(redis, hookChannel()), hookSubscribersBefore + 1);
        assert.equal(await subscriberCount(redis, adapterChannel()), adapterSubscribersBefore + 1, "socket.io's adapter is on them too");
        assert.equal(await connectionCount(redis), connectionsBefore);
      });

      it('the in-process app adds and removes, by ID, a socket connected to the other process: the broadcast from the leave callback never reaches it', async () => {
        const welcome = nextEvent<FunMessage>(onOther, 'fun');
        const joined = await postJson<ChangeResult>(appUrl, '/rooms/add-socket', { socketId: idOnOther, roomName: 'cross', announce: 'welcome' });
        assert.deepEqual(joined.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.equal((await welcome).data, 'welcome', 'a broadcast from the in-process app reaches the other process');

        const fun = record<FunMessage>(onOther, 'fun');
        const left = await postJson<ChangeResult>(appUrl, '/rooms/remove-socket', { socketId: idOnOther, roomName: 'cross', announce: 'gone' });
        assert.deepEqual(left.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
        await assertNoFunSince(appUrl, onOther, idOnOther, fun);
      });

      it('the other process adds and removes, by ID, a socket connected to the in-process app: applied here before it answers', async () => {
        const members = () => app!.io.of('/').adapter.rooms.get('cross')?.has(idOnApp) ?? false;
        const welcome = nextEvent<FunMessage>(onApp, 'fun');
        const joined = await other.post<ChangeResult>('/rooms/add-socket', { socketId: idOnApp, roomName: 'cross', announce: 'welcome' });
        assert.deepEqual(joined.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.equal(members(), true, 'joined on the in-process app when the other process answered');
        assert.equal((await welcome).data, 'welcome', 'a broadcast from the other process reaches the in-process app');

        const fun = record<FunMessage>(onApp, 'fun');
        const left = await other.post<ChangeResult>('/rooms/remove-socket', { socketId: idOnApp, roomName: 'cross', announce: 'gone' });
        assert.deepEqual(left.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
        assert.equal(members(), false, 'left on the in-process app when the other process answered');
        await assertNoFunSince(other.url, onApp, idOnApp, fun);
      });

      it("lowering (twice) leaves them open and ready with the hook's and the adapter's channels unsubscribed, raises nothing, and the other server stops waiting for it", async () => {
        const lowering = app!;
        const httpCloses = record(lowering.hooks.http.server, 'close');
        const rejections = recordUnhandledRejections();
        try {
          onApp.disconnect();
          await lowerFixture(lowering);
          lowered = true;
          await waitFor(async () => await subscriberCount(redis, hookChannel()) === hookSubscribersBefore,
            "the hook's channel to be unsubscribed on the user's subClient");
          await waitFor(async () => await subscriberCount(redis, adapterChannel()) === adapterSubscribersBefore
            && await patternCount(redis) === patternsBefore, "the adapter's channels to be unsubscribed");
          assert.equal(clients.bothReady(), true, clients.describeState());

          await lowerFixture(lowering);
          assert.ok(httpCloses.received.length >= 2, `the http server emitted 'close' ${httpCloses.received.length} time(s)`);
          // A Redis round trip on each client and a few macrotask turns: a rejection from the
          // lowers (e.g. a command on a closed client) would have surfaced by now.
          assert.equal(await clients.echo('after-lower', 'still mine'), 'still mine');
          await macrotaskTurns();
          assert.deepEqual(rejections.reasons, []);
          assert.equal(clients.bothReady(), true, clients.describeState());
          assert.deepEqual(clients.errors, []);
        } finally {
          rejections.stop();
          httpCloses.stop();
        }

        // The lowered app said goodbye: a whole-cluster operation no longer waits for it (E_TIMEOUT after 5 s).
        const alone = await other.post<ChangeResult>('/rooms/room-to-rooms', { operation: 'leaveAll', sourceRoom: 'nobody-here' });
        assert.equal(alone.status, 200, JSON.stringify(alone.body));
        assert.equal(alone.body.servers, 1);
        assertHealthy(other);
      });
    });
  }

  describe("sails.config.rooms.key: two servers with key 'custom-prefix' and one with another key, on one Redis", () => {
    const KEY = 'custom-prefix';
    const OTHER_KEY = 'another-prefix';
    let redis: TestRedis;
    let app: SailsTestApp | undefined;
    let appUrl: string;
    let peer: TestServer | undefined;
    let stranger: TestServer | undefined;
    let onApp: TestClient;
    let onPeer: TestClient;
    let onStranger: TestClient;
    let idOnApp: string;
    let idOnPeer: string;
    let idOnStranger: string;

    before(async () => {
      redis = await startRedis();
      app = await liftFixture({ rooms: { adapter: 'redis', url: redis.url, key: KEY } });
      appUrl = urlOf(app);
      [peer, stranger] = await Promise.all([
        startServerWithRooms('peer', { adapter: 'redis', url: redis.url, key: KEY }),
        startServerWithRooms('stranger', { adapter: 'redis', url: redis.url, key: OTHER_KEY }),
      ]);
      onApp = await connectSailsIo(appUrl);
      onPeer = await connectRaw(peer.url);
      onStranger = await connectRaw(stranger.url);
      [idOnApp, idOnPeer, idOnStranger] = await Promise.all([onApp, onPeer, onStranger].map((client) => client.socketId()));
    });

    after(async () => {
      for (const client of [onApp, onPeer, onStranger]) client?.disconnect();
      if (app) await lowerFixture(app);
      await stopCluster([peer, stranger].filter((server): server is TestServer => server !== undefined));
      await redis?.stop();
    });

    it("subscribes the hook's and the adapter's channels under each server's key, none under 'socket.io'", async () => {
      assert.equal(await subscriberCount(redis, hookChannel(KEY)), 2);
      assert.equal(await subscriberCount(redis, adapterChannel(KEY)), 2);
      assert.equal(await subscriberCount(redis, hookChannel(OTHER_KEY)), 1);
      assert.equal(await subscriberCount(redis, adapterChannel(OTHER_KEY)), 1);
      assert.deepEqual(await activeChannels(redis, 'socket.io*'), []);
      assert.deepEqual(await activeChannels(redis, '{socket.io-*'), []);
    });

    it('servers with the same key change each other\'s sockets by ID, confirmed, and carry each other\'s broadcasts', async () => {
      const welcome = nextEvent<FunMessage>(onPeer, 'fun');
      const joined = await postJson<ChangeResult>(appUrl, '/rooms/add-socket', { socketId: idOnPeer, roomName: 'keyed', announce: 'welcome' });
      assert.deepEqual(joined.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.equal((await welcome).data, 'welcome');

      const fun = record<FunMessage>(onPeer, 'fun');
      const left = await postJson<ChangeResult>(appUrl, '/rooms/remove-socket', { socketId: idOnPeer, roomName: 'keyed', announce: 'gone' });
      assert.deepEqual(left.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
      await assertNoFunSince(appUrl, onPeer, idOnPeer, fun);

      const back = await peer!.post<ChangeResult>('/rooms/add-socket', { socketId: idOnApp, roomName: 'keyed' });
      assert.deepEqual(back.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 });
      assert.equal(app!.io.of('/').adapter.rooms.get('keyed')?.has(idOnApp), true);
    });

    it('a server with another key answers nothing: its sockets are not found from the others, nor theirs from it', async function () {
      // Each server's timeout is 5 s: an answer made of a timeout could not come in time.
      this.timeout(4000);
      const fromApp = await postJson<ChangeResult>(appUrl, '/rooms/remove-socket', { socketId: idOnStranger, roomName: 'keyed' });
      assert.deepEqual(fromApp.body, { matched: 0, servers: 2, notFound: [idOnStranger], unreachable: [], unreachableServers: 0 });
      const fromStranger = await stranger!.post<ChangeResult>('/rooms/remove-socket', { socketId: idOnApp, roomName: 'keyed' });
      assert.deepEqual(fromStranger.body, { matched: 0, servers: 1, notFound: [idOnApp], unreachable: [], unreachableServers: 0 });
      assert.equal(app!.io.of('/').adapter.rooms.get('keyed')?.has(idOnApp), true, 'the stranger removed nothing here');
      const rooms = await fetch(`${peer!.url}/rooms/rooms-of?socketId=${idOnStranger}`);
      assert.deepEqual(await rooms.json(), { rooms: null });
      [peer!, stranger!].forEach(assertHealthy);
    });
  });
});
