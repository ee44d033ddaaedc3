/**
 * sails.config.rooms.whenRedisDown: 'wait' on two real servers sharing one Redis: A waits, B keeps
 * the default ('fail'). Operations A is asked while Redis restarts are confirmed once it is back,
 * in the order they were asked and with the ordering guarantee; B's fail at once, as before. An
 * outage longer than `timeout` fails A's within it, and what failed is never applied later.
 */
import assert from 'node:assert/strict';
import { connectRaw, type TestClient } from '../support/clients';
import { assertHealthy, startServerWithRooms, stopCluster, type TestServer } from '../support/cluster';
import { nextEvent, record, waitFor } from '../support/events';
import { record as recordLog } from '../support/logs';
import { startRedis, type TestRedis } from '../support/redis';

const TIMEOUT_MS = 5000;
/** How long the short restart keeps Redis down: the fault under test. */
const RESTART_DOWN_MS = 1000;

type FunMessage = { roomName: string; data: unknown; server: string };
type Answer<T = any> = { status: number; body: T; ms: number };

describe("whenRedisDown: 'wait', on two servers through a Redis restart", function () {
  this.timeout(60_000);

  let redis: TestRedis;
  let servers: TestServer[];
  let a: TestServer;
  let b: TestServer;
  let onA: TestClient;
  let onB: TestClient;
  let idOnA: string;
  let idOnB: string;

  const stats = async (server: TestServer) => (await fetch(`${server.url}/rooms/stats`)).json() as Promise<{ redis: string; waiting: number; standing: string }>;
  /** The rooms of a socket, asked of the server that holds it (answered without Redis). */
  const roomsOn = async (server: TestServer, socketId: string) => {
    const { rooms } = await (await fetch(`${server.url}/rooms/rooms-of?socketId=${socketId}`)).json() as { rooms: string[] };
    return rooms.sort();
  };
  /** Starts a POST and times it; the answer comes once the operation called back. */
  const timedPost = (server: TestServer, route: string, body: Record<string, unknown>): Promise<Answer> => {
    const started = Date.now();
    return server.post(route, body).then(({ status, body: answer }) => ({ status, body: answer, ms: Date.now() - started }));
  };
  const bothSeeRedis = (state: 'up' | 'down') => waitFor(async () => (await stats(a)).redis === state && (await stats(b)).redis === state, `both servers to see Redis ${state}`, 15_000);
  const waitingOnA = (count: number) => waitFor(async () => (await stats(a)).waiting === count, `${count} operation(s) waiting on A`);

  before(async () => {
    redis = await startRedis();
    servers = await Promise.all([
      startServerWithRooms('server-a', { adapter: 'redis', url: redis.url, timeout: TIMEOUT_MS, whenRedisDown: 'wait' }),
      startServerWithRooms('server-b', { adapter: 'redis', url: redis.url, timeout: TIMEOUT_MS }),
    ]);
    [a, b] = servers as [TestServer, TestServer];
    onA = await connectRaw(a.url);
    onB = await connectRaw(b.url);
    idOnA = await onA.socketId();
    idOnB = await onB.socketId();
  });

  after(async () => {
    onA?.disconnect();
    onB?.disconnect();
    if (servers) await stopCluster(servers);
    await redis?.stop();
  });

  it(`confirms what A was asked during a ${RESTART_DOWN_MS} ms restart once Redis is back, in order, while B fails at once`, async () => {
    assert.equal((await a.post('/rooms/add-socket', { socketId: idOnB, roomName: ['fun', 'src'] })).body.matched, 1);
    const fun = record<FunMessage>(onB, 'fun');

    const killedAt = Date.now();
    await redis.kill();
    await bothSeeRedis('down');
    // One at a time, each once the one before waits: the order A was asked in is known.
    const leave = timedPost(a, '/rooms/remove-socket', { socketId: idOnB, roomName: 'fun', announce: 'from the callback of the leave' });
    await waitingOnA(1);
    const join = timedPost(a, '/rooms/add-socket', { socketId: idOnB, roomName: 'seq' });
    await waitingOnA(2);
    const leaveAgain = timedPost(a, '/rooms/remove-socket', { socketId: idOnB, roomName: 'seq' });
    await waitingOnA(3);
    const roomToRooms = timedPost(a, '/rooms/room-to-rooms', { operation: 'add', sourceRoom: 'src', destRooms: ['dst'] });
    await waitingOnA(4);
    const startedQuery = Date.now();
    const query = fetch(`${a.url}/rooms/rooms-of?socketId=${idOnB}`).then(async (response) => ({ status: response.status, body: await response.json() as { rooms: string[] }, ms: Date.now() - startedQuery }));
    await waitingOnA(5);

    const onlyB = await timedPost(b, '/rooms/remove-socket', { socketId: idOnA, roomName: 'lobby' });
    assert.deepEqual([onlyB.status, onlyB.body.code], [503, 'E_UNAVAILABLE'], "whenRedisDown: 'fail' (the default) fails at once");
    assert.match(onlyB.body.message, /cannot reach Redis right now/);
    assert.ok(onlyB.ms < 1000, `B answered after ${onlyB.ms} ms`);

    await new Promise((resolve) => setTimeout(resolve, killedAt + RESTART_DOWN_MS - Date.now()));
    await redis.restart();
    const restartedAt = Date.now();

    const answers = await Promise.all([leave, join, leaveAgain, roomToRooms, query]);
    const confirmedAfterMs = Date.now() - restartedAt;
    recordLog('redis-down-wait', 'info', `confirmed ${confirmedAfterMs} ms after Redis restarted (calls took ${answers.map((answer) => answer.ms).join(', ')} ms)`);
    for (const answer of answers) assert.equal(answer.status, 200, JSON.stringify(answer.body));
    for (const answer of answers) assert.ok(answer.ms < TIMEOUT_MS, `an operation took ${answer.ms} ms`);
    for (const change of answers.slice(0, 3)) assert.equal(change.body.matched, 1, JSON.stringify(change.body));
    assert.deepEqual(answers[4]!.body.rooms.sort(), ['src'], 'the query, asked after the leaves, is answered after B applied them');
    assert.deepEqual(await roomsOn(b, idOnB), ['dst', 'src'], "B applied the leave, the join then the leave of 'seq', and the add");

    // The ordering guarantee: a sentinel A sends after the broadcast from the leave's callback arrives after it would have.
    const sentinel = nextEvent(onB, 'sentinel');
    await a.post('/rooms/broadcast', { roomName: idOnB, eventName: 'sentinel' });
    await sentinel;
    fun.stop();
    assert.deepEqual(fun.received, [], 'a broadcast sent from the callback of a confirmed leave reached the socket');
    assert.equal((await stats(a)).waiting, 0);
    servers.forEach(assertHealthy);
  });

  it('fails within the timeout what waits through a longer outage, and never applies it later', async () => {
    await bothSeeRedis('up');
    await waitFor(async () => (await a.post('/rooms/add-socket', { socketId: idOnB, roomName: 'long' })).status === 200, 'A to confirm a change again', 15_000);
    await redis.kill();
    await bothSeeRedis('down');
    const leave = await timedPost(a, '/rooms/remove-socket', { socketId: idOnB, roomName: 'long' });
    assert.deepEqual([leave.status, leave.body.code], [503, 'E_UNAVAILABLE'], JSON.stringify(leave.body));
    assert.match(leave.body.message, /waited 5000 ms .* for Redis to come back .*no other server will apply it/);
    assert.ok(leave.ms > TIMEOUT_MS - 100 && leave.ms < TIMEOUT_MS + 1500, `failed after ${leave.ms} ms, for a timeout of ${TIMEOUT_MS}`);

    await redis.restart();
    // Anything A would still send goes out before a change it is asked now.
    await waitFor(async () => (await a.post('/rooms/add-socket', { socketId: idOnB, roomName: 'after' })).status === 200, 'A to confirm a change again', 15_000);
    assert.ok((await roomsOn(b, idOnB)).includes('long'), 'the leave that failed was applied on B after Redis came back');
    servers.forEach(assertHealthy);
  });
});
