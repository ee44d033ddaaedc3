import assert from 'node:assert/strict';
import { connectRaw, connectSailsIo, type TestClient } from '../support/clients';
import { startCluster, stopCluster, type TestServer } from '../support/cluster';
import { nextEvent, record, waitFor } from '../support/events';
import { watchRequests } from '../support/hook-channels';
import { startRedis, startRedisCluster } from '../support/redis';

/** Runs that each ordering guarantee is checked per test run. */
const ORDERING_RUNS = 200;

type FunMessage = { roomName: string; data: unknown; server: string };

/** An operation on one socket by ID is complete once the server holding it answered; a third may answer too. */
function assertConfirmedByHolder(result: { matched: number; servers: number; notFound: string[] }) {
  assert.equal(result.matched, 1);
  assert.deepEqual(result.notFound, []);
  assert.ok(result.servers === 2 || result.servers === 3, `servers: ${result.servers}`);
}

/**
 * Asserts that `client` got no 'fun' message since `since` was recorded: a sentinel sent by `from`
 * to the client's own room arrives after anything `from` broadcast before it.
 */
async function assertNoFunBefore(from: TestServer, client: TestClient, socketId: string, since: { received: FunMessage[]; stop(): void }) {
  const sentinel = nextEvent(client, 'sentinel');
  await from.post('/rooms/broadcast', { roomName: socketId, eventName: 'sentinel' });
  await sentinel;
  since.stop();
  assert.deepEqual(since.received, [], 'a broadcast reached a socket after its leave was confirmed');
}

interface Backend {
  name: string;
  adapter: 'redis' | 'redis-sharded';
  channels: 'pubsub' | 'sharded' | 'cluster';
  start(): Promise<{ url: string; env: Record<string, string>; stop(): Promise<void> }>;
}

const standalone = async () => {
  const redis = await startRedis();
  return { url: redis.url, env: {}, stop: redis.stop };
};

const BACKENDS: Backend[] = [
  { name: "adapter 'redis'", adapter: 'redis', channels: 'pubsub', start: standalone },
  { name: "adapter 'redis-sharded'", adapter: 'redis-sharded', channels: 'sharded', start: standalone },
  {
    name: "adapter 'redis-sharded' on a Redis Cluster of three nodes",
    adapter: 'redis-sharded',
    channels: 'cluster',
    async start() {
      const cluster = await startRedisCluster(3);
      return { url: cluster.url, env: { REDIS_CLUSTER_URL: cluster.url }, stop: cluster.stop };
    },
  },
];

for (const { name, adapter, channels, start } of BACKENDS) {
  describe(`three Sails servers on Redis, ${name}`, function () {
    this.timeout(120_000);

    let redis: Awaited<ReturnType<Backend['start']>>;
    let servers: TestServer[];
    let a: TestServer;
    let b: TestServer;
    let c: TestServer;
    let onB: TestClient;
    let onC: TestClient;
    let idOnB: string;
    let idOnC: string;

    before(async () => {
      redis = await start();
      servers = await startCluster(3, redis.url, adapter, redis.env);
      [a, b, c] = servers as [TestServer, TestServer, TestServer];
      onB = await connectSailsIo(b.url);
      onC = await connectRaw(c.url);
      idOnB = await onB.socketId();
      idOnC = await onC.socketId();
    });

    after(async () => {
      onB?.disconnect();
      onC?.disconnect();
      if (servers) await stopCluster(servers);
      await redis?.stop();
    });

    describe('leave by socket ID on another server', () => {
      it(`never delivers a broadcast sent from the callback (${ORDERING_RUNS} runs, sails.io.js and socket.io-client 4)`, async () => {
        for (let run = 0; run < ORDERING_RUNS; run += 1) {
          const [client, socketId] = run % 2 === 0 ? [onB, idOnB] : [onC, idOnC];
          // A room per run: on a Redis Cluster, a broadcast and a later change travel through
          // different shards, so an earlier run's broadcast may still be on its way.
          const roomName = `fun-${run}`;
          const joined = await a.post('/rooms/add-socket', { socketId, roomName });
          assert.equal(joined.body.matched, 1);

          const fun = record<FunMessage>(client, 'fun');
          const left = await a.post('/rooms/remove-socket', { socketId, roomName, announce: `leave run ${run}` });
          assert.equal(left.status, 200);
          assertConfirmedByHolder(left.body);
          await assertNoFunBefore(a, client, socketId, fun);
        }
      });

      it('says "nothing matched" for an ID connected nowhere, without waiting for the timeout', async function () {
        // The servers' timeout is 5 s: an answer made of a timeout could not come in time.
        this.timeout(2500);
        const left = await a.post('/rooms/remove-socket', { socketId: 'no-such-socket', roomName: 'fun' });
        assert.equal(left.status, 200);
        assert.deepEqual(left.body, { matched: 0, servers: 3, notFound: ['no-such-socket'], unreachable: [], unreachableServers: 0 });
      });

      it('sends a change by ID to the server the socket\'s ID names, the first time too, and to every server once that is stale', async function () {
        // Answers made of a timeout (5 s) could not come in time.
        this.timeout(10_000);
        const client = await connectRaw(b.url);
        const socketId = await client.socketId();
        const serverOfB = socketId.slice(0, socketId.indexOf('.'));
        assert.ok(serverOfB.length > 0 && idOnB.startsWith(`${serverOfB}.`), `${socketId} and ${idOnB}, both on B, name B`);
        assert.ok(!idOnC.startsWith(`${serverOfB}.`), `${idOnC}, on C, names another server`);
        let disconnected = false;
        try {
          const watch = await watchRequests(redis.url, channels);
          try {
            // Nothing told A where the socket is: its ID does.
            assertConfirmedByHolder((await a.post('/rooms/add-socket', { socketId, roomName: 'routed' })).body);
            const left = await a.post('/rooms/remove-socket', { socketId, roomName: 'routed' });
            assert.deepEqual(left.body, { matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0 }, 'B alone was asked, and answered');
            // A marker on the request channel after them: once the watcher sees it, it has seen everything before.
            await a.post('/rooms/remove-socket', { socketId: 'marker', roomName: 'none' });
            await waitFor(() => watch.requests.length > 0, 'the marker request');
            assert.deepEqual(watch.requests.map((r) => r.kind), ['leave'], 'only the marker went to every server');
          } finally {
            await watch.close();
          }

          client.disconnect();
          disconnected = true;
          await waitFor(async () => (await (await fetch(`${b.url}/rooms/rooms-of?socketId=${socketId}`)).json() as { rooms: unknown }).rooms === null,
            'B to see the socket gone');
          const gone = await a.post('/rooms/remove-socket', { socketId, roomName: 'routed' });
          assert.deepEqual(gone.body, { matched: 0, servers: 3, notFound: [socketId], unreachable: [], unreachableServers: 0 });
          const madeUp = 'no-such-server.abc';
          const unknown = await a.post('/rooms/remove-socket', { socketId: madeUp, roomName: 'routed' });
          assert.deepEqual(unknown.body, { matched: 0, servers: 3, notFound: [madeUp], unreachable: [], unreachableServers: 0 }, 'an ID naming no server asks every server');
        } finally {
          if (!disconnected) client.disconnect();
        }
      });

      it('leaves sockets on several servers in one call, asking only those servers', async () => {
        const watch = await watchRequests(redis.url, channels);
        try {
          const joined = await a.post('/rooms/add-socket', { socketId: [idOnB, idOnC], roomName: 'both' });
          assert.deepEqual(joined.body, { matched: 2, servers: 3, notFound: [], unreachable: [], unreachableServers: 0 });
          await a.post('/rooms/remove-socket', { socketId: 'marker', roomName: 'none' });
          await waitFor(() => watch.requests.length > 0, 'the marker request');
          assert.deepEqual(watch.requests.map((r) => r.kind), ['leave'], 'the join went to the inboxes of B and C, not to every server');
        } finally {
          await watch.close();
        }
        const left = await a.post('/rooms/remove-socket', { socketId: [idOnB, idOnC, 'gone'], roomName: 'both' });
        assert.equal(left.body.matched, 2);
        assert.deepEqual(left.body.notFound, ['gone']);
      });
    });

    describe('join by socket ID on another server', () => {
      it(`always delivers a broadcast sent from the callback (${ORDERING_RUNS} runs)`, async () => {
        for (let run = 0; run < ORDERING_RUNS; run += 1) {
          const [client, socketId] = run % 2 === 0 ? [onB, idOnB] : [onC, idOnC];
          const roomName = `welcome-${run}`;
          const received = nextEvent<FunMessage>(client, 'fun', 5000);
          const joined = await a.post('/rooms/add-socket', { socketId, roomName, announce: `join run ${run}` });
          assertConfirmedByHolder(joined.body);
          const message = await received;
          assert.equal(message.data, `join run ${run}`, `unexpected message ${JSON.stringify(message)}`);
          await a.post('/rooms/remove-socket', { socketId, roomName });
        }
      });
    });

    describe('cluster-wide queries', () => {
      it('tells the rooms of a socket on another server, and null for one connected nowhere', async () => {
        await a.post('/rooms/add-socket', { socketId: idOnB, roomName: ['q1', 'q2'] });
        const response = await fetch(`${a.url}/rooms/rooms-of?socketId=${idOnB}`);
        assert.deepEqual(((await response.json()) as { rooms: string[] }).rooms.sort(), ['q1', 'q2']);
        const nowhere = await fetch(`${a.url}/rooms/rooms-of?socketId=nobody`);
        assert.deepEqual(await nowhere.json(), { rooms: null });
      });

      it('lists the members of a room on every server', async () => {
        await b.post('/rooms/add-socket', { socketId: idOnC, roomName: 'q1' });
        const response = await fetch(`${a.url}/rooms/members?roomName=q1`);
        assert.deepEqual(((await response.json()) as { members: string[] }).members.sort(), [idOnB, idOnC].sort());
      });
    });

    describe('room-to-room operations with members on every server', () => {
      let onA: TestClient;
      const extra: TestClient[] = [];
      let memberIds: string[];

      before(async () => {
        onA = await connectSailsIo(a.url);
        // Nine more members, three per server, besides the three above.
        for (const server of servers) for (let i = 0; i < 3; i += 1) extra.push(await connectRaw(server.url));
        memberIds = await Promise.all([onA, onB, onC, ...extra].map((client) => client.socketId()));
        for (const socketId of memberIds) await a.post('/rooms/add-socket', { socketId, roomName: 'source' });
      });

      after(() => {
        onA?.disconnect();
        for (const client of extra) client.disconnect();
      });

      it('adds every member of a room to other rooms, confirmed by every server, with one cluster message', async () => {
        const watch = await watchRequests(redis.url, channels);
        try {
          const added = await a.post('/rooms/room-to-rooms', { operation: 'add', sourceRoom: 'source', destRooms: ['dest1', 'dest2'] });
          assert.deepEqual(added.body, { matched: 12, servers: 3, notFound: [], unreachable: [], unreachableServers: 0 });
          // A marker after it: once the watcher sees the marker, it has seen everything before it.
          await a.post('/rooms/remove-socket', { socketId: 'marker', roomName: 'none' });
          await waitFor(() => watch.requests.some((r) => r.kind === 'leave'), 'the marker request');
          assert.deepEqual(watch.requests.map((r) => r.kind), ['addMembers', 'leave']);
        } finally {
          await watch.close();
        }
        const members = await (await fetch(`${b.url}/rooms/members?roomName=dest2`)).json() as { members: string[] };
        assert.deepEqual(members.members.sort(), [...memberIds].sort());
      });

      it('removes every member of a room from other rooms: no broadcast to them reaches any member afterwards', async () => {
        const clients = [onA, onB, onC, ...extra];
        const recordings = clients.map((client) => record<FunMessage>(client, 'fun'));
        const removed = await c.post('/rooms/room-to-rooms', { operation: 'remove', sourceRoom: 'source', destRooms: 'dest1' });
        assert.deepEqual(removed.body, { matched: 12, servers: 3, notFound: [], unreachable: [], unreachableServers: 0 });
        await c.post('/rooms/broadcast', { roomName: 'dest1', eventName: 'fun' });
        // dest2 was kept: its broadcast arrives, and after the dest1 one would have.
        const sentinels = clients.map((client) => nextEvent(client, 'sentinel'));
        await c.post('/rooms/broadcast', { roomName: 'dest2', eventName: 'sentinel' });
        await Promise.all(sentinels);
        for (const recording of recordings) {
          recording.stop();
          assert.deepEqual(recording.received, []);
        }
      });

      it('empties a room with leaveAll across servers, keeping each socket in its own room', async () => {
        const result = await b.post('/rooms/room-to-rooms', { operation: 'leaveAll', sourceRoom: 'source' });
        assert.deepEqual(result.body, { matched: 12, servers: 3, notFound: [], unreachable: [], unreachableServers: 0 });
        for (const room of ['source', 'dest2']) {
          const { members } = await (await fetch(`${a.url}/rooms/members?roomName=${room}`)).json() as { members: string[] };
          assert.deepEqual(members, [], `${room} is empty`);
        }
        const stillReachable = nextEvent(onC, 'sentinel');
        await a.post('/rooms/broadcast', { roomName: idOnC, eventName: 'sentinel' });
        await stillReachable;
      });
    });
  });
}
