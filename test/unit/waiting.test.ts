/**
 * whenRedisDown: 'wait' (lib/transport/redis/waiting.ts): operations asked while a server cannot
 * send them wait unsent, leave in the order they were asked, and fail at their deadline without
 * ever being sent. First the queue alone on a fake clock, then two servers built from the real
 * parts (node.ts) over the fake Redis of the interleaving tests.
 */
import assert from 'node:assert/strict';
import { Server, Socket, type Namespace } from 'socket.io';
import { DEFAULTS, resolveConfig, type ResolvedRoomsConfig } from '../../lib/config';
import type { RoomsError } from '../../lib/errors';
import { RoomManager } from '../../lib/room-manager';
import { OperationStats } from '../../lib/stats';
import type { ClusterTransport } from '../../lib/transport/transport';
import { startNode } from '../../lib/transport/redis/node';
import { MAX_WAITING, WaitingOperations, type WaitingOperation } from '../../lib/transport/redis/waiting';
import type { RoomsResult } from '../../lib/types';
import { FakeClock } from '../support/fake-clock';
import { FakeRedis } from '../support/fake-redis';
import { addSimulatedSockets } from '../support/simulated-sockets';

const TIMEOUT_MS = 3000;
const turn = () => new Promise((resolve) => setImmediate(resolve));

describe('sails.config.rooms.whenRedisDown', () => {
  it("is 'fail' by default, accepts 'wait', and names the key and the fix for anything else", () => {
    assert.equal(resolveConfig({}).whenRedisDown, 'fail');
    assert.equal(resolveConfig({ adapter: 'redis', url: 'redis://127.0.0.1:6379', whenRedisDown: 'wait' }).whenRedisDown, 'wait');
    assert.throws(() => resolveConfig({ whenRedisDown: 'queue' }), (err: RoomsError) => err.code === 'E_INVALID_CONFIG'
      && /^sails\.config\.rooms\.whenRedisDown is the string "queue" \(length 5\): use 'fail' .* or 'wait' .*\(config\/rooms\.js\)\.$/.test(err.message));
  });
});

describe('operations waiting for Redis (the queue alone)', () => {
  interface Op extends WaitingOperation { name: string }

  function setUp(limit?: number) {
    const clock = new FakeClock();
    const state = { linkReady: false, member: false };
    const sent: string[] = [];
    const failed: Array<{ name: string; err: RoomsError }> = [];
    const waiting = new WaitingOperations<Op>({
      clock,
      timeoutMs: TIMEOUT_MS,
      linkReady: () => state.linkReady,
      isMember: () => state.member,
      send: (op) => { sent.push(op.name); },
      limit,
    });
    const op = (name: string): Op => ({ name, deadline: clock.now() + TIMEOUT_MS, done: (err) => { failed.push({ name, err }); } });
    return { clock, state, sent, failed, waiting, op };
  }

  it('sends what waited in the order it was asked, once the link is up and the server a member, and makes later ones wait behind it', () => {
    const { clock, state, sent, waiting, op } = setUp();
    assert.equal(waiting.mustWait(), true);
    for (const name of ['first', 'second', 'third']) {
      waiting.add(op(name));
      clock.advance(100);
    }
    state.linkReady = true;
    waiting.flush();
    assert.deepEqual(sent, [], 'not sent while this server is not a member');
    assert.equal(waiting.mustWait(), true, 'a new one waits behind those waiting, even with the link up');
    state.member = true;
    assert.equal(waiting.mustWait(), true);
    waiting.flush();
    assert.deepEqual(sent, ['first', 'second', 'third']);
    assert.equal(waiting.size, 0);
    assert.equal(waiting.mustWait(), false);
    assert.equal(clock.pending, 0, 'no timer left once nothing waits');
  });

  it('fails one at its deadline with E_UNAVAILABLE, never sending it, and sends the later ones', () => {
    const { clock, state, sent, failed, waiting, op } = setUp();
    waiting.add(op('early'));
    clock.advance(1000);
    waiting.add(op('late'));
    clock.advance(TIMEOUT_MS - 1001);
    assert.equal(failed.length, 0);
    clock.advance(1);
    assert.deepEqual(failed.map((f) => f.name), ['early']);
    assert.equal(failed[0]!.err.code, 'E_UNAVAILABLE');
    assert.match(failed[0]!.err.message, /waited 3000 ms \(sails\.config\.rooms\.timeout\) for Redis to come back \(whenRedisDown: 'wait'\)/);
    assert.match(failed[0]!.err.message, /no other server will apply it/);
    Object.assign(state, { linkReady: true, member: true });
    waiting.flush();
    assert.deepEqual(sent, ['late']);
  });

  it('says it waited for this server to check its standing when the link was up', () => {
    const { clock, state, failed, waiting, op } = setUp();
    state.linkReady = true;
    waiting.add(op('held'));
    clock.advance(TIMEOUT_MS);
    assert.match(failed[0]!.err.message, /for this server to finish checking with Redis whether it was cut off/);
  });

  it(`keeps at most ${MAX_WAITING} by default: the next fails at once (after add returned), naming the limit`, async () => {
    const { state, sent, failed, waiting, op } = setUp();
    for (let i = 0; i < MAX_WAITING; i++) waiting.add(op(String(i)));
    waiting.add(op('one too many'));
    assert.equal(failed.length, 0, 'not told before add() returned');
    await turn();
    assert.deepEqual(failed.map((f) => f.name), ['one too many']);
    assert.equal(failed[0]!.err.code, 'E_UNAVAILABLE');
    assert.match(failed[0]!.err.message, new RegExp(`${MAX_WAITING} cluster operations already wait for Redis`));
    Object.assign(state, { linkReady: true, member: true });
    waiting.flush();
    assert.equal(sent.length, MAX_WAITING);
    assert.equal(sent[MAX_WAITING - 1], String(MAX_WAITING - 1));
  });

  it('fails what waits when closed, and everything added after, without a timer left', async () => {
    const { clock, sent, failed, waiting, op } = setUp(10);
    waiting.add(op('a'));
    waiting.add(op('b'));
    waiting.close(Object.assign(new Error('lowered'), { code: 'E_UNAVAILABLE' }) as RoomsError);
    assert.deepEqual(failed.map((f) => f.name), ['a', 'b']);
    waiting.add(op('c'));
    await turn();
    assert.deepEqual(failed.map((f) => [f.name, f.err.message]), [['a', 'lowered'], ['b', 'lowered'], ['c', 'lowered']]);
    assert.deepEqual(sent, []);
    assert.equal(clock.pending, 0);
  });
});

/** Two servers over a fake Redis; B holds sockets in rooms, A changes them. */
async function startPair(whenRedisDown: 'fail' | 'wait') {
  const config: ResolvedRoomsConfig = {
    ...DEFAULTS, adapter: 'redis', url: 'redis://fake', pubClient: undefined, subClient: undefined, timeout: TIMEOUT_MS, metrics: undefined, whenRedisDown,
  };
  const redis = new FakeRedis();
  const clocks: FakeClock[] = [];
  const runAll = () => redis.runAll();
  const start = async (name: string) => {
    const nsp = new Server().of('/');
    const clock = new FakeClock();
    clocks.push(clock);
    const { link, registry } = redis.connect(name);
    let transport: ClusterTransport | undefined;
    const starting = startNode({
      uid: name, config, nsp, clock, link, registry, discoveryMs: 0,
      log: { warn: () => {}, error: () => {} },
      emit: () => {},
      attachAdapter: async () => {},
    }).then((started) => { transport = started; });
    while (!transport) await runAll();
    await starting;
    return { nsp, clock, transport, manager: new RoomManager(nsp, transport, new OperationStats()) };
  };
  const a = await start('a');
  const b = await start('b');
  const [socketOnB] = addSimulatedSockets(b.nsp, Socket.prototype, 'on-b-', 1, ['fun', 'keep']);
  const advance = async (ms: number) => {
    for (const clock of clocks) clock.advance(ms);
    await turn();
  };
  /** Time passes until the cluster is quiet: reconnects, heartbeats, registrations. */
  const settle = async () => {
    for (let i = 0; i < 6; i++) {
      await runAll();
      await advance(500);
    }
    await runAll();
  };
  await settle();
  const roomsOf = (nsp: Namespace, id: string) => [...(nsp.sockets.get(id)?.rooms ?? [])].filter((room) => room !== id).sort();
  const outcomes: Array<{ name: string; err: RoomsError | null; result?: RoomsResult }> = [];
  const done = (name: string) => (err: RoomsError | null, result?: RoomsResult) => { outcomes.push({ name, err, result }); };
  const close = () => Promise.all([a.transport.close(), b.transport.close(), runAll()]);
  return { redis, a, b, socketOnB: socketOnB!, runAll, advance, settle, roomsOf, outcomes, done, close };
}

describe("whenRedisDown: 'wait' on a server built from the real parts (fake Redis)", () => {
  it('sends a change asked while its link was down once it is back, in order with the next one, and confirms both', async () => {
    const sim = await startPair('wait');
    try {
      sim.redis.cut('a');
      await sim.runAll();
      assert.equal(sim.a.transport.stats().redis, 'down');
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave fun'));
      sim.a.manager.join([sim.socketOnB], ['seq'], sim.done('join seq'));
      sim.a.manager.leave([sim.socketOnB], ['seq'], sim.done('leave seq'));
      await sim.advance(1000);
      await sim.runAll();
      assert.equal(sim.outcomes.length, 0, 'nothing answered while Redis is away');
      assert.equal(sim.a.transport.stats().waiting, 3);
      assert.deepEqual(sim.roomsOf(sim.b.nsp, sim.socketOnB), ['fun', 'keep'], 'nothing was sent');

      sim.redis.heal('a');
      await sim.settle();
      assert.deepEqual(sim.outcomes.map(({ name, err, result }) => [name, err?.message ?? null, result?.matched]), [
        ['leave fun', null, 1], ['join seq', null, 1], ['leave seq', null, 1],
      ]);
      assert.deepEqual(sim.roomsOf(sim.b.nsp, sim.socketOnB), ['keep'], 'applied on B, the join before the leave');
      assert.equal(sim.a.transport.stats().waiting, 0);
    } finally {
      await sim.close();
    }
  });

  it('makes a query wait too', async () => {
    const sim = await startPair('wait');
    try {
      sim.redis.cut('a');
      await sim.runAll();
      let members: string[] | undefined;
      const asked = sim.a.manager.membersOf('fun', false).then((found) => { members = found; });
      await sim.advance(500);
      assert.equal(members, undefined);
      sim.redis.heal('a');
      await sim.settle();
      await asked;
      assert.deepEqual(members, [sim.socketOnB]);
    } finally {
      await sim.close();
    }
  });

  it('waits while the server holds (link up, its own heartbeat not heard), and sends once it is a member again', async () => {
    const sim = await startPair('wait');
    try {
      sim.redis.stall('a');
      // Deaf for longer than 2.5 s, not yet the 3.5 s after which B would fence it.
      for (let ms = 0; ms < 3400 && sim.a.transport.stats().standing === 'member'; ms += 100) await sim.advance(100);
      assert.deepEqual([sim.a.transport.stats().redis, sim.a.transport.stats().standing], ['up', 'holding']);
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave'));
      await sim.advance(200);
      assert.equal(sim.a.transport.stats().waiting, 1);
      sim.redis.heal('a');
      await sim.settle();
      assert.deepEqual(sim.outcomes.map(({ err }) => err?.message ?? null), [null]);
      assert.deepEqual(sim.roomsOf(sim.b.nsp, sim.socketOnB), ['keep']);
    } finally {
      await sim.close();
    }
  });

  it('fails a change still waiting at its deadline with E_UNAVAILABLE, and never sends it', async () => {
    const sim = await startPair('wait');
    try {
      sim.redis.cut('a');
      await sim.runAll();
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave'));
      await sim.advance(TIMEOUT_MS - 1);
      assert.equal(sim.outcomes.length, 0);
      await sim.advance(1);
      await turn();
      assert.equal(sim.outcomes[0]?.err?.code, 'E_UNAVAILABLE');
      assert.match(sim.outcomes[0]!.err!.message, /never|no other server will apply it/);
      sim.redis.heal('a');
      await sim.settle();
      assert.deepEqual(sim.roomsOf(sim.b.nsp, sim.socketOnB), ['fun', 'keep'], 'the failed leave was applied on B after Redis came back');
      // The cluster works again.
      sim.a.manager.leave([sim.socketOnB], ['keep'], sim.done('after'));
      await sim.settle();
      assert.equal(sim.outcomes[1]?.err, null);
    } finally {
      await sim.close();
    }
  });

  it('sends what waited with what is left of its time: a receiver that reads it after its sender gave up drops it', async () => {
    const sim = await startPair('wait');
    try {
      sim.redis.cut('a');
      await sim.runAll();
      const calledAt = sim.a.clock.now();
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave'));
      await sim.advance(1500);
      // B reads nothing for a while (a slow subscriber) from before A is back.
      sim.redis.paused.add('b');
      sim.redis.heal('a');
      for (let ms = 0; ms < 1500 && sim.a.transport.stats().pending === 0; ms += 100) {
        await sim.runAll();
        await sim.advance(100);
      }
      assert.deepEqual([sim.a.transport.stats().waiting, sim.a.transport.stats().pending], [0, 1], 'sent, and waiting for B');
      for (let ms = 0; ms < TIMEOUT_MS && sim.outcomes.length === 0; ms += 100) await sim.advance(100);
      assert.equal(sim.outcomes[0]?.err?.code, 'E_TIMEOUT');
      assert.ok(sim.a.clock.now() - calledAt <= TIMEOUT_MS + 100, `A gave up ${sim.a.clock.now() - calledAt} ms after the call, not at its deadline`);
      // Read now, it is younger than the timeout but older than what was left of it when it was sent.
      await sim.advance(1000);
      sim.redis.paused.delete('b');
      await sim.settle();
      assert.deepEqual(sim.roomsOf(sim.b.nsp, sim.socketOnB), ['fun', 'keep'], 'B applied a request its sender had given up on');
    } finally {
      await sim.close();
    }
  });

  it('still fails a request already sent when the subscriber connection drops: it may or may not have been applied', async () => {
    const sim = await startPair('wait');
    try {
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave'));
      await turn();
      const published = sim.redis.events().find((event) => event.what === "Redis executes a's pub command");
      assert.ok(published, 'the request is on its way to Redis');
      published.run();
      sim.redis.cut('a', ['sub']);
      await turn();
      await turn();
      assert.equal(sim.outcomes[0]?.err?.code, 'E_UNAVAILABLE');
      assert.match(sim.outcomes[0]!.err!.message, /may or may not have been applied on the others/);
      assert.equal(sim.a.transport.stats().waiting, 0, 'not kept to be sent again');
      sim.redis.heal('a');
      await sim.settle();
    } finally {
      await sim.close();
    }
  });

  it('fails what waits when lowered, at once', async () => {
    const sim = await startPair('wait');
    try {
      sim.redis.cut('a');
      await sim.runAll();
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave'));
      await turn();
      await sim.a.transport.close();
      await turn();
      assert.equal(sim.outcomes[0]?.err?.code, 'E_UNAVAILABLE');
      assert.match(sim.outcomes[0]!.err!.message, /lowered while this operation waited for Redis: it was never sent/);
    } finally {
      await sim.close();
    }
  });

  it("with 'fail' (the default), fails at once while the link is down", async () => {
    const sim = await startPair('fail');
    try {
      sim.redis.cut('a');
      await sim.runAll();
      sim.a.manager.leave([sim.socketOnB], ['fun'], sim.done('leave'));
      await turn();
      await turn();
      assert.equal(sim.outcomes[0]?.err?.code, 'E_UNAVAILABLE');
      assert.match(sim.outcomes[0]!.err!.message, /cannot reach Redis right now/);
      assert.equal(sim.a.transport.stats().waiting, 0);
    } finally {
      await sim.close();
    }
  });
});
