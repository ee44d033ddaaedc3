/**
 * One server (B) cut off from Redis while the other (A) keeps it: through a TCP proxy (a cut, a
 * black hole, either half of B's connections), or B paused with SIGSTOP. During the fault A
 * changes B's sockets; afterwards, from the heal on, A broadcasts to every room concerned, 50
 * rounds, and each operation must still be what it said it was (README, "Partitions"):
 *
 * - a confirmed leave, removal or leaveAll: no broadcast reaches the sockets it took out;
 * - a join or add: confirmed by B, the socket receives the room's broadcasts; reported
 *   `unreachable`, it never does;
 * - an operation that failed (E_TIMEOUT, E_UNAVAILABLE) may or may not have been applied.
 */
import assert from 'node:assert/strict';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, startServer, stopCluster, type TestServer } from '../support/cluster';
import { waitFor } from '../support/events';
import { roomsReachingEach, type ProbedSocket } from '../support/probes';
import { startProxy, type RedisProxy, type Side } from '../support/proxy';
import { startRedis, type TestRedis } from '../support/redis';

const TIMEOUT_MS = 3000;
/** Longer than the peer expiry (3.5 s, lib/transport/redis/peers.ts): A fences B. */
const LONG_MS = 8000;
/** Shorter than the expiry: nobody is fenced. */
const SHORT_MS = 1500;
const ROUNDS = 50;
const REGISTRY = '{socket.io-rooms}:servers';

/** The sockets on B, each with a part to play, and the rooms each is in before the fault. */
const PARTS = {
  left: ['fun', 'keep'],
  joined: ['keep'],
  removed: ['src', 'team'],
  added: ['src2'],
  emptied: ['gone', 'g1', 'g2'],
  untouched: ['lobby'],
  conflict: ['vip', 'keep'],
  control: ['fun'],
} as const;
type Part = keyof typeof PARTS;
const PROBED_ROOMS = ['fun', 'keep', 'x', 'src', 'team', 'src2', 'club', 'gone', 'g1', 'g2', 'lobby', 'local-room', 'vip'];

interface Outcome {
  status: number;
  body: { code?: string; matched?: number; unreachable?: string[]; unreachableServers?: number };
}

interface Cluster {
  redis: TestRedis;
  proxy: RedisProxy;
  a: TestServer;
  b: TestServer;
  extra: TestServer[];
  sockets: Record<Part, ProbedSocket>;
  disconnected: Set<Part>;
}

async function startPartitionCluster(): Promise<Cluster> {
  const redis = await startRedis();
  const proxy = await startProxy(redis.port);
  const env = { ROOMS_TIMEOUT: String(TIMEOUT_MS) };
  const [a, b] = await Promise.all([startServer('server-a', redis.url, 'redis', env), startServer('server-b', proxy.url, 'redis', env)]);
  current = { redis, proxy, a, b, extra: [], sockets: {} as Record<Part, ProbedSocket>, disconnected: new Set() };
  const sockets = {} as Record<Part, ProbedSocket>;
  const disconnected = new Set<Part>();
  for (const part of Object.keys(PARTS) as Part[]) {
    const client: TestClient = await connectRaw(b.url);
    sockets[part] = { client, socketId: await client.socketId() };
    client.on('disconnect', () => disconnected.add(part));
    for (const room of PARTS[part]) {
      const joined = await a.post('/rooms/add-socket', { socketId: sockets[part].socketId, roomName: room });
      assert.equal(joined.body.matched, 1, `${part} joins ${room}`);
    }
  }
  current = { redis, proxy, a, b, extra: current!.extra, sockets, disconnected };
  return current;
}

async function stopPartitionCluster(cluster: Cluster | undefined) {
  if (!cluster) return;
  for (const { client } of Object.values(cluster.sockets)) client.disconnect();
  cluster.b.child.process.kill('SIGCONT');
  await stopCluster([cluster.a, cluster.b, ...cluster.extra]);
  await cluster.proxy.close();
  await cluster.redis.stop();
}

/** The states in the registry (lib/transport/redis/registry.ts): "L", "F:<ms>", "X:<ms>". */
async function registryStates(redis: TestRedis): Promise<string[]> {
  const reply = await redis.command<Record<string, string> | string[]>('HGETALL', REGISTRY);
  return Array.isArray(reply) ? reply.filter((_, i) => i % 2 === 1) : Object.values(reply);
}

/** Resolves once some server is fenced in the registry. */
async function fencedInRegistry(redis: TestRedis, timeoutMs = 10_000) {
  await waitFor(async () => (await registryStates(redis)).some((state) => state.startsWith('F:')), 'a server fenced in the registry', timeoutMs);
}

const idOf = (cluster: Cluster, part: Part) => cluster.sockets[part].socketId;

/** The operations A (or `from`) makes on B's sockets during the fault, and what each answered. */
async function changeFrom(cluster: Cluster, from = cluster.a) {
  const byId = (route: string, part: Part, roomName: string) => from.post(route, { socketId: idOf(cluster, part), roomName }) as Promise<Outcome>;
  const roomToRooms = (operation: string, sourceRoom: string, destRooms?: string[]) => from.post('/rooms/room-to-rooms', { operation, sourceRoom, destRooms }) as Promise<Outcome>;
  const [leave, join, remove, add, leaveAll, untouchedLeave, conflictLeave] = await Promise.all([
    byId('/rooms/remove-socket', 'left', 'fun'),
    byId('/rooms/add-socket', 'joined', 'x'),
    roomToRooms('remove', 'src', ['team']),
    roomToRooms('add', 'src2', ['club']),
    roomToRooms('leaveAll', 'gone'),
    byId('/rooms/remove-socket', 'untouched', 'lobby'),
    byId('/rooms/remove-socket', 'conflict', 'vip'),
  ]);
  return { leave, join, remove, add, leaveAll, untouchedLeave, conflictLeave };
}
type Changes = Awaited<ReturnType<typeof changeFrom>>;

const confirmed = (outcome: Outcome) => outcome.status === 200;
/** An operation that failed with a code: it may or may not have been applied. */
function assertFailedWithCode(outcome: Outcome, what: string) {
  assert.ok(confirmed(outcome) || ['E_TIMEOUT', 'E_UNAVAILABLE'].includes(outcome.body.code!), `${what}: ${JSON.stringify(outcome)}`);
}

/** B's sockets change their own rooms through B itself while it is cut off (B's process runs). */
async function changeLocallyOnB(cluster: Cluster) {
  const { conflict, untouched } = cluster.sockets;
  // The conflict socket leaves and joins again the very room A removes it from: the catch-up cannot tell which is newer.
  assert.equal((await conflict.client.request('post', '/rooms/leave-fun-room', { roomName: 'vip' })).statusCode, 200);
  assert.equal((await conflict.client.request('post', '/rooms/join-fun-room', { roomName: 'vip' })).statusCode, 200);
  // The untouched socket changes another room only: the removal of 'lobby' applies as it is.
  assert.equal((await untouched.client.request('post', '/rooms/join-fun-room', { roomName: 'local-room' })).statusCode, 200);
}

/** Before B has subscribed again, a round's sentinel (and its probes, sent before it) never reaches it: the round says nothing. */
const UNSUBSCRIBED_ROUND_MS = 2000;

/**
 * 50 rounds from A, from the heal on: which rooms reach each socket must follow from what each
 * operation answered. Rounds sent before B subscribed again are lost whole (Redis delivers to
 * subscribers only) and do not count; the first round that reaches B may have lost its first
 * probes, so what must reach a socket is judged from the second one on.
 */
async function assertChangesHold(cluster: Cluster, changes: Changes, { changedLocally }: { changedLocally: boolean }) {
  const deadline = Date.now() + 30_000;
  for (let round = 1; round <= ROUNDS;) {
    const parts = (Object.keys(PARTS) as Part[]).filter((part) => !cluster.disconnected.has(part));
    let arrivals: Array<string[] | null>;
    try {
      arrivals = await roomsReachingEach(cluster.a, parts.map((part) => cluster.sockets[part]), PROBED_ROOMS, round === 1 ? UNSUBSCRIBED_ROUND_MS : 10_000);
    } catch (err) {
      if (round > 1 || Date.now() > deadline) throw err;
      continue;
    }
    // A socket disconnected meanwhile (a conflict) has no arrivals to judge.
    const reached = Object.fromEntries(parts.map((part, i) => [part, arrivals[i] && new Set(arrivals[i])])) as Record<Part, Set<string> | null>;
    const at = `round ${round}`;
    const never = (part: Part, room: string, because: string) => {
      if (reached[part]) assert.ok(!reached[part].has(room), `${at}: a broadcast to ${room} reached ${part} after ${because}`);
    };
    const always = (part: Part, room: string, because: string) => {
      if (reached[part] && round > 1) assert.ok(reached[part].has(room), `${at}: a broadcast to ${room} did not reach ${part} (${because})`);
    };
    always('control', 'fun', 'nothing changed it');
    always('left', 'keep', 'it never left it');
    if (confirmed(changes.leave)) never('left', 'fun', `a confirmed leave ${JSON.stringify(changes.leave.body)}`);
    if (confirmed(changes.join)) {
      if (changes.join.body.matched === 1) always('joined', 'x', 'a join confirmed by B');
      else never('joined', 'x', `a join reported unreachable ${JSON.stringify(changes.join.body)}`);
    }
    if (confirmed(changes.remove)) never('removed', 'team', 'a confirmed removeRoomMembersFromRooms');
    always('removed', 'src', 'only team was removed');
    if (confirmed(changes.add)) {
      if (changes.add.body.unreachableServers === 0) always('added', 'club', 'an add confirmed by B');
      else never('added', 'club', 'an add that did not reach B');
    }
    if (confirmed(changes.leaveAll)) for (const room of PARTS.emptied) never('emptied', room, 'a confirmed leaveAll');
    if (confirmed(changes.untouchedLeave)) never('untouched', 'lobby', 'a confirmed leave');
    if (changedLocally) always('untouched', 'local-room', 'it joined it on B during the fault');
    if (confirmed(changes.conflictLeave)) never('conflict', 'vip', 'a confirmed leave');
    round++;
  }
}

async function assertBRejoinedAfterFence(cluster: Cluster) {
  await cluster.b.child.waitForOutput(/fenced; it applied the \d+ removal\(s\) confirmed without it.*member again/, 20_000);
}

/** The cluster of the test running, whose servers' output is printed if it fails. */
let current: Cluster | undefined;

describe('partitions: one server cut off from Redis while the other keeps it', function () {
  this.timeout(120_000);

  afterEach(function () {
    if (this.currentTest?.state !== 'failed' || !current) return;
    for (const server of [current.a, current.b, ...current.extra]) console.log(`--- output of ${server.name}:\n${server.child.output()}`);
  });

  const longFaults: Array<{ name: string; side?: Side; start(c: Cluster): void; end(c: Cluster): void; changesLocally: boolean }> = [
    { name: 'cut (connections closed)', start: (c) => c.proxy.cut(), end: (c) => c.proxy.heal(), changesLocally: true },
    { name: 'black hole (nothing flows, nothing closes)', start: (c) => c.proxy.stall(), end: (c) => c.proxy.resume(), changesLocally: true },
    { name: 'paused (SIGSTOP, then SIGCONT)', start: (c) => { c.b.child.process.kill('SIGSTOP'); }, end: (c) => { c.b.child.process.kill('SIGCONT'); }, changesLocally: false },
    { name: "only its subscriber cut (it can publish, not hear)", start: (c) => c.proxy.cut('sub'), end: (c) => c.proxy.heal(), changesLocally: true },
    { name: 'only its publisher cut (it hears, cannot publish)', start: (c) => c.proxy.cut('pub'), end: (c) => c.proxy.heal(), changesLocally: true },
  ];

  for (const fault of longFaults) {
    describe(`${fault.name}, longer than the expiry`, () => {
      let cluster: Cluster | undefined;
      after(async () => { await stopPartitionCluster(cluster); });

      it('A fences B and confirms each change without it, B fails its own cluster operations with a code, and every change holds after the heal, 50 rounds', async () => {
        cluster = await startPartitionCluster();
        const started = Date.now();
        fault.start(cluster);
        await fencedInRegistry(cluster.redis);
        // A's view follows the registry within a heartbeat: a join of an unknown ID says so.
        await waitFor(async () => ((await cluster!.a.post('/rooms/add-socket', { socketId: 'nobody-probe', roomName: 'none' })).body.unreachable ?? []).length === 1,
          'A to count B as cut off');
        if (fault.changesLocally) await changeLocallyOnB(cluster);
        const changes = await changeFrom(cluster);
        assert.deepEqual(changes.leave.body, { matched: 0, servers: 1, notFound: [], unreachable: [idOf(cluster, 'left')], unreachableServers: 1 },
          'the leave is confirmed, its socket reported unreachable (not notFound)');
        assert.equal(changes.join.status, 200);
        assert.deepEqual(changes.join.body.unreachable, [idOf(cluster, 'joined')]);
        for (const outcome of [changes.remove, changes.add, changes.leaveAll]) {
          assert.equal(outcome.status, 200, JSON.stringify(outcome));
          assert.equal(outcome.body.unreachableServers, 1);
        }
        // Queries cannot be complete: they say so, with what the others hold.
        const strict = await fetch(`${cluster.a.url}/rooms/members?roomName=fun`);
        assert.equal(strict.status, 503);
        assert.equal(((await strict.json()) as { code: string }).code, 'E_UNAVAILABLE');
        assert.deepEqual(await (await fetch(`${cluster.a.url}/rooms/members?roomName=fun&partial=true`)).json(), { members: [] });
        assert.equal((await fetch(`${cluster.a.url}/rooms/rooms-of?socketId=${idOf(cluster, 'left')}`)).status, 503);
        if (fault.changesLocally) {
          // B's own cluster operations fail with a code, within the timeout; nothing hangs.
          const asked = Date.now();
          const own = await cluster.b.post('/rooms/room-to-rooms', { operation: 'remove', sourceRoom: 'keep', destRooms: ['nothing'] }) as Outcome;
          assertFailedWithCode(own, "B's own room-to-room operation");
          assert.equal(own.status, 503, JSON.stringify(own.body));
          assert.ok(Date.now() - asked < TIMEOUT_MS + 1000, `B answered after ${Date.now() - asked} ms`);
        }
        // The fault lasts LONG_MS in all: the sleep is the fault itself.
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, LONG_MS - (Date.now() - started))));
        fault.end(cluster);
        await assertChangesHold(cluster, changes, { changedLocally: fault.changesLocally });
        await assertBRejoinedAfterFence(cluster);
        // Back in the cluster, B answers queries again: strict ones are complete.
        const members = await (await fetch(`${cluster.a.url}/rooms/members?roomName=keep`)).json() as { members: string[] };
        assert.deepEqual(members.members.sort(), ['left', 'joined', ...(fault.changesLocally ? [] : ['conflict'])].map((part) => idOf(cluster!, part as Part)).sort());
        const rooms = await (await fetch(`${cluster.a.url}/rooms/rooms-of?socketId=${idOf(cluster, 'removed')}`)).json();
        assert.deepEqual(rooms, { rooms: ['src'] });
        const expectedDisconnects = fault.changesLocally ? ['conflict'] : [];
        assert.deepEqual([...cluster.disconnected], expectedDisconnects, 'only a socket whose room changed on both sides is disconnected');
        [cluster.a, cluster.b].forEach(assertHealthy);
      });
    });
  }

  const shortFaults: Array<{ name: string; start(c: Cluster): void; end(c: Cluster): void }> = [
    { name: 'cut', start: (c) => c.proxy.cut(), end: (c) => c.proxy.heal() },
    { name: 'black hole', start: (c) => c.proxy.stall(), end: (c) => c.proxy.resume() },
    { name: 'paused (SIGSTOP)', start: (c) => { c.b.child.process.kill('SIGSTOP'); }, end: (c) => { c.b.child.process.kill('SIGCONT'); } },
  ];
  for (const fault of shortFaults) {
    describe(`${fault.name}, shorter than the expiry`, () => {
      let cluster: Cluster | undefined;
      after(async () => { await stopPartitionCluster(cluster); });

      it('fences nobody, disconnects nothing, and every change confirmed during it holds after the heal, 50 rounds', async () => {
        cluster = await startPartitionCluster();
        fault.start(cluster);
        const during = changeFrom(cluster);
        // The sleep is the fault itself.
        await new Promise((resolve) => setTimeout(resolve, SHORT_MS));
        fault.end(cluster);
        const changes = await during;
        for (const [what, outcome] of Object.entries(changes)) assertFailedWithCode(outcome, what);
        await assertChangesHold(cluster, changes, { changedLocally: false });
        assert.ok(!(await registryStates(cluster.redis)).some((state) => state.startsWith('F:')), 'nobody was fenced');
        assert.doesNotMatch(cluster.b.child.output(), /fenced|disconnected its/);
        assert.deepEqual([...cluster.disconnected], []);
        [cluster.a, cluster.b].forEach(assertHealthy);
      });
    });
  }

  describe('flapping: B cut and healed every second for 10 s', () => {
    let cluster: Cluster | undefined;
    after(async () => { await stopPartitionCluster(cluster); });

    it('answers every change with a result or a code, and each confirmed one holds after the last heal, 50 rounds', async () => {
      cluster = await startPartitionCluster();
      const flaps: Array<Promise<Changes>> = [];
      for (let second = 0; second < 10; second++) {
        cluster.proxy.cut();
        if (second === 5) flaps.push(changeFrom(cluster));
        // Each half second is the fault (or its absence) itself.
        await new Promise((resolve) => setTimeout(resolve, 500));
        cluster.proxy.heal();
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
      const [changes] = await Promise.all(flaps);
      for (const [what, outcome] of Object.entries(changes!)) assertFailedWithCode(outcome, what);
      await assertChangesHold(cluster, changes!, { changedLocally: false });
      // Disconnected only for a conflict, and there is none here.
      assert.deepEqual([...cluster.disconnected], []);
      [cluster.a, cluster.b].forEach(assertHealthy);
    });
  });

  describe('a server lifted during the partition, and one that confirmed changes without B and was killed before the heal', () => {
    let cluster: Cluster | undefined;
    after(async () => { await stopPartitionCluster(cluster); });

    it("B applies the removals of both, read from Redis: nothing depends on the killed server's memory", async () => {
      cluster = await startPartitionCluster();
      cluster.proxy.cut();
      await fencedInRegistry(cluster.redis);
      const c = await startServer('server-c', cluster.redis.url, 'redis', { ROOMS_TIMEOUT: String(TIMEOUT_MS) });
      cluster.extra.push(c);
      // C never heard of B: it learns from the registry that B is cut off and may hold the socket.
      const changes = await changeFrom(cluster, c);
      assert.deepEqual(changes.leave.body.unreachable, [idOf(cluster, 'left')]);
      await c.child.stop('SIGKILL');
      // B's partition lasts LONG_MS in all: the sleep is the fault itself.
      await new Promise((resolve) => setTimeout(resolve, LONG_MS / 2));
      cluster.proxy.heal();
      await assertChangesHold(cluster, changes, { changedLocally: false });
      await assertBRejoinedAfterFence(cluster);
      assert.deepEqual([...cluster.disconnected], []);
      [cluster.a, cluster.b].forEach(assertHealthy);
    });
  });

  describe('Redis restarted empty while B was fenced (its catch-up record lost with it)', () => {
    let cluster: Cluster | undefined;
    after(async () => { await stopPartitionCluster(cluster); });

    it('B cannot prove it is up to date: it disconnects its sockets and says why; A goes on', async () => {
      cluster = await startPartitionCluster();
      cluster.proxy.cut();
      await fencedInRegistry(cluster.redis);
      const left = await cluster.a.post('/rooms/remove-socket', { socketId: idOf(cluster, 'left'), roomName: 'fun' });
      assert.equal(left.status, 200);
      await cluster.redis.kill();
      await cluster.redis.restart();
      cluster.proxy.heal();
      await cluster.b.child.waitForOutput(/cannot prove it is up to date with the cluster.*disconnected its 8 socket\(s\)/, 20_000);
      await waitFor(() => cluster!.disconnected.size === Object.keys(PARTS).length, "B's sockets to be disconnected");
      // A works again with B: a socket connected to B now is reached and changed from A.
      const fresh = await connectRaw(cluster.b.url);
      try {
        const id = await fresh.socketId();
        await waitFor(async () => (await cluster!.a.post('/rooms/add-socket', { socketId: id, roomName: 'after' })).body.matched === 1, 'A to reach B again', 15_000);
      } finally {
        fresh.disconnect();
      }
      [cluster.a, cluster.b].forEach(assertHealthy);
    });
  });

  describe('a plain full Redis outage (every server loses it at once), restarted empty', () => {
    let cluster: Cluster | undefined;
    after(async () => { await stopPartitionCluster(cluster); });

    it('disconnects no socket and keeps every membership, 50 rounds', async () => {
      cluster = await startPartitionCluster();
      await cluster.redis.kill();
      // The outage is the fault: longer than the expiry.
      await new Promise((resolve) => setTimeout(resolve, 5000));
      await cluster.redis.restart();
      await waitFor(async () => (await cluster!.a.post('/rooms/add-socket', { socketId: idOf(cluster!, 'control'), roomName: 'after' })).body.matched === 1,
        'A and B to work together again', 20_000);
      const none: Outcome = { status: 503, body: { code: 'E_UNAVAILABLE' } };
      await assertChangesHold(cluster, { leave: none, join: none, remove: none, add: none, leaveAll: none, untouchedLeave: none, conflictLeave: none }, { changedLocally: false });
      // Every membership from before the outage is intact.
      const [reached] = await roomsReachingEach(cluster.a, [cluster.sockets.emptied], PROBED_ROOMS);
      assert.deepEqual(reached!.sort(), [...PARTS.emptied].sort());
      assert.deepEqual([...cluster.disconnected], []);
      assert.doesNotMatch(cluster.b.child.output() + cluster.a.child.output(), /disconnected its/);
      [cluster.a, cluster.b].forEach(assertHealthy);
    });
  });
});
