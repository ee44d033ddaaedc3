/**
 * Seeing the cluster: sails.hooks.rooms.stats(), the Sails events and the log lines, on one
 * server and on two sharing Redis, through faults: Redis away from one server, a server lowered,
 * a server killed.
 *
 * Server A is lifted in this process (its stats, events and log read directly), through a TCP
 * proxy to Redis that cuts it off; the others are processes of the fixture app.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import path from 'node:path';
import { connectRaw, type TestClient } from '../support/clients';
import { startServer, stopCluster, type TestServer } from '../support/cluster';
import { nextEvent, record, waitFor } from '../support/events';
import { freePort, liftFixture, lowerFixture, type SailsTestApp } from '../support/fixture';
import { startChild } from '../support/processes';
import { startProxy, type RedisProxy } from '../support/proxy';
import { startRedis, type TestRedis } from '../support/redis';
import { Registry } from 'prom-client';
import type { RoomsStats } from '../../lib/types';

/** The server ID a socket ID names (lib/transport/redis/socket-ids.ts). */
const serverOf = (socketId: string) => socketId.slice(0, socketId.indexOf('.'));

/** The value of one series in a registry's text output. */
async function metric(registry: Registry, series: string): Promise<number | undefined> {
  const line = (await registry.metrics()).split('\n').find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

/** Records what `app.log[level]` is given from now on. */
function logged(app: SailsTestApp, level: 'verbose' | 'warn') {
  const original = app.log[level];
  const lines: string[] = [];
  app.log[level] = (...args: unknown[]) => { lines.push(args.map(String).join(' ')); };
  return { lines, restore: () => { app.log[level] = original; } };
}

describe('stats, events and logs', function () {
  this.timeout(60_000);

  describe('one server, memory adapter', () => {
    let app: SailsTestApp;
    let client: TestClient | undefined;

    before(async () => {
      app = await liftFixture({ rooms: { adapter: 'memory' } });
    });

    after(async () => {
      client?.disconnect();
      await lowerFixture(app);
    });

    it('stats() says what this server is: its ID, the adapter, no Redis, no peers, nothing pending', () => {
      const stats = app.hooks.rooms.stats();
      assert.match(stats.id, /^[\w-]{16}$/);
      assert.equal(stats.adapter, 'memory');
      assert.equal('redis' in stats, false, 'no Redis state with the memory adapter');
      assert.equal('url' in stats, false);
      assert.deepEqual(
        { standing: stats.standing, fenced: stats.fenced, peers: stats.peers, pending: stats.pending, key: stats.key },
        { standing: 'member', fenced: false, peers: [], pending: 0, key: 'socket.io' },
      );
      assert.ok(stats.uptimeMs >= 0);
      assert.deepEqual(Object.keys(stats.operations).sort(), ['addRoomMembersToRooms', 'join', 'leave', 'leaveAll', 'membersOf', 'removeRoomMembersFromRooms', 'roomsOf']);
    });

    it('counts operations by outcome, the fast path, promises, callbacks and usage errors alike, and logs failures at verbose with their code', async () => {
      client = await connectRaw(`http://127.0.0.1:${(app.hooks.http.server.address() as { port: number }).port}`);
      const id = await client.socketId();
      await waitFor(() => app.hooks.rooms.stats().sockets === 1, 'the socket to be counted');
      const before = app.hooks.rooms.stats().operations;
      const verbose = logged(app, 'verbose');
      const warn = logged(app, 'warn');
      try {
        await app.sockets.join(id, 'stats-room');
        await new Promise<void>((resolve, reject) => app.sockets.leave(id, 'stats-room', (err) => (err ? reject(err) : resolve())));
        await app.sockets.leave([id, 'made-up-id'], 'stats-room');
        await assert.rejects(app.sockets.leave(null as never, 'stats-room'), { code: 'E_INVALID_SOCKET' });
        await assert.rejects(app.hooks.rooms.membersOf(42 as never), { code: 'E_INVALID_ROOM' });
        assert.deepEqual(await app.hooks.rooms.roomsOf(id), []);
      } finally {
        verbose.restore();
        warn.restore();
      }
      const after = app.hooks.rooms.stats().operations;
      assert.equal(after.join.outcomes.ok, before.join.outcomes.ok! + 1);
      assert.equal(after.leave.outcomes.ok, before.leave.outcomes.ok! + 1);
      assert.equal(after.leave.outcomes.notFound, (before.leave.outcomes.notFound ?? 0) + 1);
      assert.equal(after.leave.outcomes.E_INVALID_SOCKET, (before.leave.outcomes.E_INVALID_SOCKET ?? 0) + 1);
      assert.equal(after.membersOf.outcomes.E_INVALID_ROOM, 1);
      assert.equal(after.roomsOf.outcomes.ok, 1);
      assert.equal(after.leave.confirm.count, 0, 'nothing waited for another server');
      assert.ok(verbose.lines.some((line) => /leave\(\) failed: RoomsError \[E_INVALID_SOCKET\]: sails\.sockets\.leave\(\) got null/.test(line)), verbose.lines.join('\n'));
      assert.ok(verbose.lines.some((line) => /membersOf\(\) failed: RoomsError \[E_INVALID_ROOM\]/.test(line)), verbose.lines.join('\n'));
      // The usage warning names the call once.
      assert.equal(warn.lines.length, 1, warn.lines.join('\n'));
      assert.match(warn.lines[0]!, /^sails\.sockets\.leave\(\) got null as its socket/);
    });

    it('is a fresh object each time: changing one changes nothing', () => {
      const first = app.hooks.rooms.stats();
      first.peers.push({ id: 'x', lastHeardMs: 0, fenced: false });
      first.operations.leave.outcomes.ok = -1;
      const second = app.hooks.rooms.stats();
      assert.deepEqual(second.peers, []);
      assert.notEqual(second.operations.leave.outcomes.ok, -1);
    });
  });

  describe('a cluster on Redis', () => {
    let redis: TestRedis;
    let proxy: RedisProxy;
    let app: SailsTestApp;
    let b: TestServer | undefined;
    let onB: TestClient | undefined;
    let peerUps: { received: Array<Record<string, unknown>>; stop(): void };
    const registry = new Registry();

    before(async () => {
      // A user with a password, for A's URL to show it masked; the others use the default user.
      redis = await startRedis(['--user', 'user', 'on', '>s3cret', '~*', '&*', '+@all']);
      proxy = await startProxy(redis.port);
      app = await liftFixture({ rooms: { adapter: 'redis', url: proxy.url.replace('//', '//user:s3cret@'), timeout: 2000, metrics: { registry } } });
      peerUps = record(app as never, 'rooms:peer:up');
    });

    after(async () => {
      peerUps?.stop();
      onB?.disconnect();
      if (b) await stopCluster([b]);
      if (app) await lowerFixture(app);
      await proxy?.close();
      await redis?.stop();
    });

    it('a server logs at info, when lifted, its ID, the masked Redis URL, the key and how many others it found', async () => {
      b = await startServer('server-b', redis.url, 'redis', { LOG_LEVEL: 'info' });
      const [, id, url, others] = await b.child.waitForOutput(/sails-hook-rooms: server ([\w-]+) joined the cluster through (\S+) \(adapter 'redis', key 'socket\.io'\): (\d+) other server\(s\) found\./, 10_000);
      assert.equal(url, redis.url);
      assert.equal(others, '1', 'A was up before B');
      onB = await connectRaw(b.url);
      assert.equal(serverOf(await onB.socketId()), id, "B's socket IDs start with the ID it logged");
    });

    it("A emits rooms:peer:up for B, and its stats() list B as a member, Redis up, the URL's password masked", async () => {
      const bId = serverOf(await onB!.socketId());
      await waitFor(() => peerUps.received.some((event) => event.peer === bId), 'rooms:peer:up for B');
      const event = peerUps.received.find((e) => e.peer === bId)!;
      const stats: RoomsStats = app.hooks.rooms.stats();
      assert.deepEqual(event, { id: stats.id, peer: bId });
      assert.equal(stats.adapter, 'redis');
      assert.equal(stats.redis, 'up');
      assert.equal(stats.url, `redis://user:***@127.0.0.1:${proxy.port}`);
      assert.equal(stats.standing, 'member');
      const listed = stats.peers.find((peer) => peer.id === bId);
      assert.ok(listed && !listed.fenced && listed.lastHeardMs >= 0 && listed.lastHeardMs < 3500, JSON.stringify(stats.peers));
    });

    it('a confirmed leave of a socket on B counts, with its confirm latency; pending goes back to 0', async () => {
      const id = await onB!.socketId();
      await app.sockets.join(id, 'watched');
      const result = await app.sockets.leave(id, 'watched');
      assert.equal(result.matched, 1);
      const stats = app.hooks.rooms.stats();
      assert.equal(stats.pending, 0);
      for (const operation of ['join', 'leave'] as const) {
        const { confirm, outcomes } = stats.operations[operation];
        assert.equal(outcomes.ok, 1, `${operation}: ${JSON.stringify(outcomes)}`);
        assert.equal(confirm.count, 1);
        assert.ok(confirm.p50Ms! > 0 && confirm.p50Ms! <= confirm.p99Ms! && confirm.p99Ms! < 2000, JSON.stringify(confirm));
        assert.equal(await metric(registry, `sails_rooms_confirm_duration_seconds_count{operation="${operation}"}`), 1);
      }
      assert.equal(await metric(registry, 'sails_rooms_peers{state="member"}'), 1);
      assert.equal(await metric(registry, 'sails_rooms_redis_up'), 1);
    });

    it('Redis away from A: rooms:redis:down, stats say down, operations fail E_UNAVAILABLE (counted, logged at verbose); back: rooms:redis:up', async () => {
      const id = await onB!.socketId();
      const down = nextEvent<Record<string, unknown>>(app as never, 'rooms:redis:down');
      const verbose = logged(app, 'verbose');
      const warn = logged(app, 'warn');
      try {
        proxy.cut();
        const event = await down;
        assert.equal(event.id, app.hooks.rooms.stats().id);
        assert.equal(typeof event.error, 'string');
        assert.equal(app.hooks.rooms.stats().redis, 'down');
        assert.equal(await metric(registry, 'sails_rooms_redis_up'), 0);
        await assert.rejects(app.sockets.leave(id, 'anything'), { code: 'E_UNAVAILABLE' });
        assert.equal(app.hooks.rooms.stats().operations.leave.outcomes.E_UNAVAILABLE, 1);
        assert.ok(verbose.lines.some((line) => /leave\(\) failed: RoomsError \[E_UNAVAILABLE\]/.test(line)), verbose.lines.join('\n'));

        const up = nextEvent<Record<string, unknown>>(app as never, 'rooms:redis:up', 15_000);
        proxy.heal();
        const back = await up;
        assert.equal(typeof back.downMs, 'number');
        assert.equal(app.hooks.rooms.stats().redis, 'up');
        assert.ok(warn.lines.some((line) => /lost the connection to Redis/.test(line)));
        assert.ok(warn.lines.some((line) => /connected to Redis again, after \d+\.\d s/.test(line)), warn.lines.join('\n'));
      } finally {
        verbose.restore();
        warn.restore();
      }
      await waitFor(() => app.hooks.rooms.stats().standing === 'member', 'A to be a member again', 15_000);
      assert.equal((await app.sockets.join(id, 'after')).matched, 1, 'cluster operations work again');
    });

    it('B lowered: rooms:peer:down with reason left, and B is no longer listed', async () => {
      const bId = serverOf(await onB!.socketId());
      onB!.disconnect();
      onB = undefined;
      const down = nextEvent<Record<string, unknown>>(app as never, 'rooms:peer:down', 10_000);
      await stopCluster([b!]);
      b = undefined;
      assert.deepEqual(await down, { id: app.hooks.rooms.stats().id, peer: bId, reason: 'left' });
      assert.deepEqual(app.hooks.rooms.stats().peers.filter((peer) => peer.id === bId), []);
    });

    it('C killed: rooms:peer:down with reason fenced once it is overdue, and C is listed as fenced', async () => {
      const c = await startServer('server-c', redis.url, 'redis');
      try {
        const onC = await connectRaw(c.url);
        const cId = serverOf(await onC.socketId());
        onC.disconnect();
        await waitFor(() => app.hooks.rooms.stats().peers.some((peer) => peer.id === cId), 'A to know C');
        const down = nextEvent<Record<string, unknown>>(app as never, 'rooms:peer:down', 15_000);
        await c.child.stop('SIGKILL');
        assert.deepEqual(await down, { id: app.hooks.rooms.stats().id, peer: cId, reason: 'fenced' });
        const listed = app.hooks.rooms.stats().peers.find((peer) => peer.id === cId);
        assert.ok(listed?.fenced && listed.lastHeardMs >= 3500, JSON.stringify(listed));
        assert.equal(await metric(registry, 'sails_rooms_peers{state="fenced"}'), 1);
      } finally {
        await stopCluster([c]);
      }
    });
  });

  it('a lift to a port where no Redis listens says it could not reach Redis, and never that it lost a connection it never had', async () => {
    const port = await freePort();
    const child = startChild(process.execPath, [path.resolve(__dirname, '../../fixtures/app/app.js')], {
      env: { ...process.env, PORT: '0', LOG_LEVEL: 'warn', ROOMS_ADAPTER: 'redis', ROOMS_TIMEOUT: '1500', REDIS_URL: `redis://127.0.0.1:${port}` },
    });
    const killer = setTimeout(() => child.process.kill('SIGKILL'), 20_000);
    try {
      const [code] = await once(child.process, 'exit') as [number | null];
      assert.notEqual(code, 0, child.output());
    } finally {
      clearTimeout(killer);
    }
    assert.match(child.output(), /RoomsError \[E_UNAVAILABLE\]: sails-hook-rooms could not reach Redis at redis:\/\/127\.0\.0\.1:\d+ within 1500 ms \(.*ECONNREFUSED/);
    assert.doesNotMatch(child.output(), /lost the connection/);
  });
});
