/**
 * Found by the soak (soak/, README "Reliability"): after a Redis outage longer than the peer expiry
 * (3.5 s), a server used to forget every other server, because it heard no heartbeat while it
 * could hear nothing at all. Until their next heartbeat reached it, an operation on another
 * server's socket was "confirmed" at once with `notFound`, and nothing was changed.
 */
import assert from 'node:assert/strict';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, startCluster, stopCluster, type TestServer } from '../support/cluster';
import { waitFor } from '../support/events';
import { startRedis, type TestRedis } from '../support/redis';

/** lib/transport/redis/peers.ts: a server silent this long is taken for gone. */
const PEER_EXPIRY_MS = 3500;

describe('a Redis outage longer than the peer expiry', function () {
  this.timeout(60_000);

  let redis: TestRedis;
  let servers: TestServer[];
  let a: TestServer;
  let b: TestServer;
  let onB: TestClient;
  let idOnB: string;
  let bStopped = false;

  before(async () => {
    redis = await startRedis();
    servers = await startCluster(2, redis.url, 'redis', { ROOMS_TIMEOUT: '2000' });
    [a, b] = servers as [TestServer, TestServer];
    onB = await connectRaw(b.url);
    idOnB = await onB.socketId();
    assert.equal((await a.post('/rooms/add-socket', { socketId: idOnB, roomName: 'lobby' })).body.matched, 1);
  });

  after(async () => {
    if (bStopped) b.child.process.kill('SIGCONT');
    onB?.disconnect();
    if (servers) await stopCluster(servers);
    await redis?.stop();
  });

  it("does not confirm a leave of another server's socket before that server answered", async () => {
    await redis.kill();
    // The outage's length is the fault under test: longer than the peer expiry.
    await new Promise((resolve) => setTimeout(resolve, PEER_EXPIRY_MS + 1000));
    // B stays silent once Redis is back (as a server still reconnecting is), so A cannot have heard from it.
    b.child.process.kill('SIGSTOP');
    bStopped = true;
    await redis.restart();

    let answer: { status: number; body: { code?: string; notFound?: string[] } } | undefined;
    await waitFor(async () => {
      answer = await a.post('/rooms/remove-socket', { socketId: idOnB, roomName: 'lobby' });
      return !(answer.status === 503 && answer.body.code === 'E_UNAVAILABLE');
    }, 'A to reach Redis again', 20_000);

    // B was a member of the cluster before the outage and nothing says it left: A must wait for it
    // (and fail with E_TIMEOUT while it is silent), not report its socket as connected nowhere.
    assert.ok(!(answer!.status === 200 && answer!.body.notFound?.includes(idOnB)),
      `A confirmed the leave without B: ${JSON.stringify(answer!.body)}`);
    assert.equal(answer!.status, 503);
    assert.equal(answer!.body.code, 'E_TIMEOUT');

    b.child.process.kill('SIGCONT');
    bStopped = false;
    // Once B is heard again, the same leave is confirmed by it.
    await waitFor(async () => (await a.post('/rooms/remove-socket', { socketId: idOnB, roomName: 'lobby' })).body.matched === 1,
      'the leave to be confirmed by B', 15_000);
    servers.forEach(assertHealthy);
  });
});
