import assert from 'node:assert/strict';
import { connectRaw, type TestClient } from '../support/clients';
import { startCluster, stopCluster, type TestServer } from '../support/cluster';
import { waitFor } from '../support/events';
import { startRedis, type TestRedis } from '../support/redis';

describe("confirm: 'local' (the documented Sails semantics)", function () {
  this.timeout(60_000);

  let redis: TestRedis;
  let servers: TestServer[];
  let onB: TestClient;
  let idOnB: string;

  before(async () => {
    redis = await startRedis();
    servers = await startCluster(2, redis.url, 'redis', { ROOMS_CONFIRM: 'local' });
    onB = await connectRaw(servers[1]!.url);
    idOnB = await onB.socketId();
  });

  after(async () => {
    onB?.disconnect();
    if (servers) await stopCluster(servers);
    await redis?.stop();
  });

  const roomsOfB = async () => ((await (await fetch(`${servers[1]!.url}/rooms/rooms-of?socketId=${idOnB}`)).json()) as { rooms: string[] }).rooms;

  it('calls back once the change is sent, without waiting for the server holding the socket', async () => {
    const [a, b] = servers as [TestServer, TestServer];
    // B cannot answer while stopped: a confirmed operation would wait for it.
    b.child.process.kill('SIGSTOP');
    let joined;
    try {
      joined = await a.post('/rooms/add-socket', { socketId: idOnB, roomName: 'sent' });
    } finally {
      b.child.process.kill('SIGCONT');
    }
    assert.equal(joined.status, 200);
    // Counts this server only; it says nothing of IDs it could not check.
    assert.deepEqual(joined.body, { matched: 0, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
    await waitFor(async () => (await roomsOfB()).includes('sent'), 'B to apply the join once it runs again');
  });

  it('still applies leaves on the other server', async () => {
    const left = await servers[0]!.post('/rooms/remove-socket', { socketId: idOnB, roomName: 'sent' });
    assert.deepEqual(left.body, { matched: 0, servers: 1, notFound: [], unreachable: [], unreachableServers: 0 });
    await waitFor(async () => !(await roomsOfB()).includes('sent'), 'B to apply the leave');
  });
});
