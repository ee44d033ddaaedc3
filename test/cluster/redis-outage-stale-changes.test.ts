/**
 * Found by the soak (soak/, README "Reliability"): a change that failed (E_TIMEOUT, E_UNAVAILABLE)
 * can still reach the other servers after Redis comes back, and be applied after a change that
 * was confirmed in between; the socket then ends up as the failed change left it.
 *
 * Two ways it happens: a Redis that stalls (here: SIGSTOP) receives the request after the sender
 * gave up; a Redis that dies leaves the request in node-redis' queue of unwritten commands, which
 * it sends after reconnecting. The first is reproduced here, deterministically.
 */
import assert from 'node:assert/strict';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, startCluster, stopCluster, type TestServer } from '../support/cluster';
import { waitFor } from '../support/events';
import { startRedis, type TestRedis } from '../support/redis';

describe('a change that failed while Redis stalled', function () {
  this.timeout(60_000);

  let redis: TestRedis;
  let redisPid: number;
  let redisStopped = false;
  let servers: TestServer[];
  let a: TestServer;
  let b: TestServer;
  let onB: TestClient;
  let idOnB: string;

  before(async () => {
    redis = await startRedis();
    redisPid = Number(/process_id:(\d+)/.exec(await redis.command<string>('INFO', 'server'))![1]);
    servers = await startCluster(2, redis.url, 'redis', { ROOMS_TIMEOUT: '1500' });
    [a, b] = servers as [TestServer, TestServer];
    onB = await connectRaw(b.url);
    idOnB = await onB.socketId();
    assert.equal((await a.post('/rooms/add-socket', { socketId: idOnB, roomName: 'marker' })).body.matched, 1);
  });

  after(async () => {
    if (redisStopped) process.kill(redisPid, 'SIGCONT');
    onB?.disconnect();
    if (servers) await stopCluster(servers);
    await redis?.stop();
  });

  it('is not applied after a change confirmed since', async () => {
    process.kill(redisPid, 'SIGSTOP');
    redisStopped = true;
    const left = await a.post('/rooms/remove-socket', { socketId: idOnB, roomName: 'marker' });
    assert.equal(left.status, 503);
    assert.equal(left.body.code, 'E_TIMEOUT', 'B could not answer through a stalled Redis');

    // B holds the socket: its join applies and is confirmed at once, Redis or not. It is the last word.
    const joined = await b.post('/rooms/add-socket', { socketId: idOnB, roomName: 'marker' });
    assert.deepEqual([joined.status, joined.body.matched], [200, 1]);

    process.kill(redisPid, 'SIGCONT');
    redisStopped = false;
    // Anything A published before reaches B before a change A sends now.
    await waitFor(async () => (await a.post('/rooms/add-socket', { socketId: idOnB, roomName: 'after' })).status === 200,
      'a change from A confirmed by B', 15_000);

    const { rooms } = await (await fetch(`${b.url}/rooms/rooms-of?socketId=${idOnB}`)).json() as { rooms: string[] };
    assert.deepEqual(rooms.sort(), ['after', 'marker'],
      'the leave that failed with E_TIMEOUT was applied after the join B confirmed since');
    servers.forEach(assertHealthy);
  });
});
