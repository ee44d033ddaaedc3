import assert from 'node:assert/strict';
import { Server, Socket } from 'socket.io';
import { Gate } from '../../lib/transport/redis/gate';
import { LocalChanges } from '../../lib/transport/redis/local-changes';
import { DEAF_AFTER_MS, HEARTBEAT_MS, Peers } from '../../lib/transport/redis/peers';
import { RECORD_LOST_WAIT_MS, Standing, type StandingEvent } from '../../lib/transport/redis/standing';
import type { Message } from '../../lib/transport/redis/wire';
import { FakeClock } from '../support/fake-clock';
import { FakeRegistry } from '../support/fake-registry';
import { addSimulatedSockets } from '../support/simulated-sockets';

const TIMEOUT_MS = 2000;
const turns = async () => { for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve)); };
type Request = Extract<Message, { t: 'request' }>;
const request = (id: number): Request => ({ from: 'a', sentAt: 0, t: 'request', id, reply: true, ttl: 1000, request: { kind: 'membersOf', room: 'r' } });

/** Server "b" and its standing, with a socket "s0" in room "fun"; server "a" is a member too. */
async function setUp({ behindSentinel = false } = {}) {
  const clock = new FakeClock();
  /** Behind Sentinel: when the sentinels last confirmed B's Redis as the primary. */
  let primaryConfirmedAt = clock.now();
  const registry = new FakeRegistry();
  const nsp = new Server().of('/');
  const [id] = addSimulatedSockets(nsp, Socket.prototype, 's', 1, ['fun']);
  const disconnected: string[] = [];
  nsp.sockets.get(id!)!.disconnect = (() => { disconnected.push(id!); nsp.adapter.delAll(id!); nsp.sockets.delete(id!); }) as unknown as Socket['disconnect'];
  const gate = new Gate();
  const local = new LocalChanges();
  local.watch(nsp);
  const peers = new Peers(clock);
  const events: Array<[StandingEvent, Record<string, unknown>]> = [];
  const handled: Array<[number, boolean]> = [];
  const warnings: string[] = [];
  let linkReady = true;
  let probes = 0;
  let hellos = 0;
  const standing = new Standing({
    uid: 'b', nsp, registry, gate, local, peers, clock, timeoutMs: TIMEOUT_MS,
    log: { warn: (...args: unknown[]) => warnings.push(args.join(' ')), error: () => {} },
    linkReady: () => linkReady,
    probe: () => { probes++; },
    handleRequest: (message, answer) => handled.push([message.id, answer]),
    becameMember: () => { hellos++; },
    lostNotice: (servers) => `lost ${servers.join(',')}`,
    emit: (event, payload) => events.push([event, payload]),
    ...(behindSentinel ? { primary: { confirmedAt: () => primaryConfirmedAt, reason: () => 'no sentinel answers' } } : {}),
  });
  await registry.register('a', '', [], '');
  await standing.join();
  const gen = registry.gen!;
  /** Another server fences b, publishing the notice b then reads. */
  const fenceB = async () => { assert.equal(await registry.fence('b', gen, 'notice'), 'fenced'); };
  return {
    clock, registry, nsp, gate, local, peers, standing, events, handled, warnings, disconnected, gen,
    fenceB,
    setLink: (ready: boolean) => { linkReady = ready; },
    /** The sentinels confirm B's Redis now. */
    confirmPrimary: () => { primaryConfirmedAt = clock.now(); standing.primaryConfirmedNow(); },
    get probes() { return probes; },
    get hellos() { return hellos; },
    roomsOfS: () => [...(nsp.sockets.get('s0')?.rooms ?? [])].filter((room) => room !== 's0').sort(),
  };
}

type Setup = Awaited<ReturnType<typeof setUp>>;

/** B loses its connection (Redis restarting empty meanwhile, if `recordLost`), reconnects and hears itself: it checks. */
async function reconnect(t: Setup, { recordLost = false } = {}) {
  t.setLink(false);
  t.standing.tick();
  if (recordLost) t.registry.lose();
  t.setLink(true);
  t.standing.linkReady();
  t.standing.heardOwnEcho();
  await turns();
}

/** Heartbeats pass for `ms`, each a tick of B's standing. */
async function heartbeatsFor(t: Setup, ms: number) {
  for (let waited = 0; waited < ms; waited += HEARTBEAT_MS) {
    t.clock.advance(HEARTBEAT_MS);
    t.standing.tick();
    await turns();
  }
}

describe("a server's own standing in the cluster", () => {
  it('joins the record at lift and knows the members from it', async () => {
    const t = await setUp();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual([...t.peers.live()], ['a']);
  });

  it('holds once it has not heard its own heartbeat for a while, checks once it hears itself again, and lets everything through if it was not fenced', async () => {
    const t = await setUp();
    t.clock.advance(DEAF_AFTER_MS - 1);
    t.standing.tick();
    assert.equal(t.standing.isMember, true);
    t.clock.advance(2);
    t.standing.tick();
    assert.equal(t.standing.state, 'holding');
    assert.equal(t.probes, 1, 'it asks to hear itself');
    const delivered: string[] = [];
    t.gate.deliver(() => delivered.push('broadcast'), []);
    t.gate.heldRequest(request(1));
    t.standing.tick();
    await turns();
    assert.equal(t.standing.state, 'holding', 'no check before it heard itself');
    t.standing.heardOwnEcho();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(delivered, ['broadcast']);
    assert.deepEqual(t.handled, [[1, true]], 'held requests answered');
    assert.equal(t.hellos, 1);
    assert.deepEqual(t.events, [], 'not fenced: no event');
  });

  it('behind Sentinel, holds once the sentinels have not confirmed its Redis for a while, though it hears itself, and checks only once they do again', async () => {
    const t = await setUp({ behindSentinel: true });
    t.clock.advance(DEAF_AFTER_MS);
    t.standing.heardOwnEcho();
    t.standing.tick();
    assert.equal(t.standing.isMember, true);
    t.clock.advance(2);
    t.standing.heardOwnEcho();
    t.standing.tick();
    assert.equal(t.standing.state, 'holding');
    t.standing.heardOwnEcho();
    await heartbeatsFor(t, 3 * HEARTBEAT_MS);
    assert.equal(t.standing.state, 'holding', 'hearing itself through a primary the sentinels do not confirm proves nothing');
    t.confirmPrimary();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(t.events, [], 'not fenced: no event');
  });

  it('behind Sentinel, fenced on the new primary meanwhile, applies the catch-up before anything it received since it stopped trusting the old one', async () => {
    const t = await setUp({ behindSentinel: true });
    t.clock.advance(DEAF_AFTER_MS + 1);
    t.standing.tick();
    assert.equal(t.standing.state, 'holding');
    // From the old primary, which other servers cut off with it still publish to.
    const delivered: string[] = [];
    t.gate.deliver(() => delivered.push(`broadcast, s0 in ${t.roomsOfS().join(',') || 'nothing'}`), []);
    t.gate.heldRequest(request(1));
    // Meanwhile, on the new primary: b fenced, a removal recorded for it.
    await t.fenceB();
    await t.registry.record(JSON.stringify({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] }), ['b'], t.gen);
    // B's connections move to the new primary (its subscriber lost on the way), and the sentinels confirm it.
    t.standing.subscriberLost();
    t.standing.linkReady();
    t.standing.heardOwnEcho();
    t.confirmPrimary();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(delivered, ['broadcast, s0 in nothing'], 'the catch-up came first');
    assert.deepEqual(t.handled, [], 'a request sent without counting on it is dropped');
    assert.deepEqual(t.events.map(([event]) => event), ['rooms:fenced', 'rooms:rejoined']);
  });

  it('reading its fence notice, holds and catches up: requests before the notice applied unanswered, those after dropped', async () => {
    const t = await setUp();
    t.gate.hold();
    t.gate.heldRequest(request(1));
    await t.fenceB();
    await t.registry.record(JSON.stringify({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] }), ['b'], t.gen);
    t.standing.fenceNotice();
    t.gate.heldRequest(request(2));
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(t.roomsOfS(), []);
    assert.deepEqual(t.handled, [[1, false]]);
    assert.deepEqual(t.events.map(([event]) => event), ['rooms:fenced', 'rooms:rejoined']);
    assert.equal(t.events[1]![1].removals, 1);
    assert.deepEqual(t.disconnected, []);
    assert.match(t.warnings.join('\n'), /fenced; it applied the 1 removal\(s\) confirmed without it \(1 membership\(s\) taken out\)/);
  });

  it('after losing its connection, fenced meanwhile (notice missed): catches up first, drops every request held', async () => {
    const t = await setUp();
    t.setLink(false);
    t.standing.tick();
    assert.equal(t.standing.state, 'holding');
    await t.fenceB();
    await t.registry.record(JSON.stringify({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] }), ['b'], t.gen);
    t.gate.heldRequest(request(1));
    t.setLink(true);
    t.standing.linkReady();
    t.standing.heardOwnEcho();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(t.roomsOfS(), []);
    assert.deepEqual(t.handled, []);
  });

  it('asks again when a fence notice arrives while a check that found it a member was under way', async () => {
    const t = await setUp();
    t.setLink(false);
    t.standing.tick();
    t.setLink(true);
    t.standing.linkReady();
    t.standing.heardOwnEcho(); // the check starts: the record says member
    await t.fenceB(); // fenced after the check read the record
    t.standing.fenceNotice();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(t.events.map(([event]) => event), ['rooms:fenced', 'rooms:rejoined'], 'the second check found the fence');
  });

  it('its catch-up record lost (it overflowed): disconnects its sockets, says why, and is a member again', async () => {
    const t = await setUp();
    await t.fenceB();
    t.registry.states.set('b', 'X:1');
    t.standing.fenceNotice();
    await turns();
    assert.deepEqual(t.disconnected, ['s0']);
    assert.equal(t.standing.isMember, true);
    assert.match(t.warnings.join('\n'), /its catch-up record was lost.*disconnected its 1 socket\(s\)/s);
    assert.equal(t.events.at(-1)![1].lastResort, true);
  });

  it('dropped from the record (fenced longer than it is kept): the last resort', async () => {
    const t = await setUp();
    t.registry.states.delete('b');
    t.setLink(false);
    t.standing.tick();
    t.setLink(true);
    t.standing.linkReady();
    t.standing.heardOwnEcho();
    await turns();
    assert.deepEqual(t.disconnected, ['s0']);
    assert.match(t.warnings.join('\n'), /no longer in the cluster's record/);
  });

  describe('when Redis lost the record (restarted empty)', () => {
    it('a plain full outage: waits for the members it knew to register again, then goes on, disconnecting nothing', async () => {
      const t = await setUp();
      await reconnect(t, { recordLost: true });
      assert.equal(t.standing.state, 'holding', 'a, which it knew, has not registered yet');
      await t.registry.register('a', t.gen, [], '');
      await heartbeatsFor(t, HEARTBEAT_MS);
      assert.equal(t.standing.isMember, true);
      assert.deepEqual(t.disconnected, []);
    });

    it('waits longer than the timeout for a member that is slow to register again (a reconnect under load), and disconnects nothing', async () => {
      const t = await setUp();
      await reconnect(t, { recordLost: true });
      await heartbeatsFor(t, TIMEOUT_MS * 2);
      assert.equal(t.standing.state, 'holding');
      await t.registry.register('a', t.gen, [], '');
      await heartbeatsFor(t, HEARTBEAT_MS);
      assert.equal(t.standing.isMember, true);
      assert.deepEqual(t.disconnected, []);
    });

    it('marked lost by a member that knew it fenced: the last resort', async () => {
      const t = await setUp();
      await reconnect(t, { recordLost: true });
      await t.registry.register('a', t.gen, ['b'], 'lost b');
      await heartbeatsFor(t, HEARTBEAT_MS);
      assert.deepEqual(t.disconnected, ['s0']);
      assert.equal(t.standing.isMember, true);
    });

    it('a member it knew does not register within the timeout (it died): it cannot tell whether that one fenced it, the last resort', async () => {
      const t = await setUp();
      await reconnect(t, { recordLost: true });
      await heartbeatsFor(t, RECORD_LOST_WAIT_MS + HEARTBEAT_MS);
      assert.deepEqual(t.disconnected, ['s0']);
      assert.match(t.warnings.join('\n'), /server\(s\) it knew \(a\) did not register again within 10\.0 s/);
    });

    it('knowing itself fenced when the record was lost: the last resort', async () => {
      const t = await setUp();
      await t.fenceB();
      t.setLink(false);
      t.standing.fenceNotice();
      t.registry.lose();
      t.setLink(true);
      t.standing.linkReady();
      t.standing.heardOwnEcho();
      await turns();
      assert.deepEqual(t.disconnected, ['s0']);
      assert.match(t.warnings.join('\n'), /Redis lost the cluster's record while this server was fenced/);
    });
  });

  it('a registration overtaken by a second fence: catches up what it says up to that fence, keeps holding, and registers again', async () => {
    const t = await setUp();
    const removal = (room: string) => JSON.stringify({ type: 'leave', socketIds: ['s0'], rooms: [room] });
    void t.nsp.sockets.get('s0')!.join('team');
    t.clock.advance(HEARTBEAT_MS); // (its membership of team predates the partition)
    await t.fenceB();
    await t.registry.record(removal('fun'), ['b'], t.gen);
    const register = t.registry.register.bind(t.registry);
    t.registry.register = async (...args) => {
      const result = await register(...args);
      // Fenced again right after this registration, and a removal recorded then; the notice is read before the reply.
      await t.fenceB();
      await t.registry.record(removal('team'), ['b'], t.gen);
      t.registry.register = register;
      t.standing.fenceNotice();
      return result;
    };
    t.standing.fenceNotice();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(t.roomsOfS(), [], 'both removals applied, in two registrations');
    assert.deepEqual(t.events.map(([event]) => event), ['rooms:fenced', 'rooms:rejoined']);
  });

  it("a registration whose reply is lost: the next one gets the same catch-up, nothing is lost", async () => {
    const t = await setUp();
    await t.fenceB();
    await t.registry.record(JSON.stringify({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] }), ['b'], t.gen);
    const register = t.registry.register.bind(t.registry);
    t.registry.register = async (...args) => {
      await register(...args); // it ran in Redis...
      t.registry.register = register;
      throw new Error('Socket closed unexpectedly'); // ...and its reply was lost
    };
    t.standing.fenceNotice();
    await turns();
    assert.equal(t.standing.state, 'fenced');
    t.standing.tick();
    await turns();
    assert.equal(t.standing.isMember, true);
    assert.deepEqual(t.roomsOfS(), []);
  });

  it('a lost notice read while a registration is on its way: the last resort, then it registers again rather than trust that reply', async () => {
    const t = await setUp();
    t.setLink(false);
    t.standing.tick();
    t.setLink(true);
    t.standing.linkReady();
    const register = t.registry.register.bind(t.registry);
    let registrations = 0;
    t.registry.register = async (...args) => {
      registrations++;
      const result = await register(...args);
      if (registrations === 1) {
        // Marked lost by another server right after this registration ran.
        t.registry.states.set('b', 'X:1');
        t.standing.lostNotice();
      }
      return result;
    };
    t.standing.heardOwnEcho();
    await turns();
    assert.deepEqual(t.disconnected, ['s0']);
    assert.equal(registrations, 2, 'it did not trust the reply older than the notice');
    assert.equal(t.standing.isMember, true);
    assert.equal(t.registry.states.get('b'), 'L', 'registered again: the record says member');
  });

  it('a check that fails (Redis away again) is tried again on the next heartbeat', async () => {
    const t = await setUp();
    t.setLink(false);
    t.standing.tick();
    t.setLink(true);
    const register = t.registry.register.bind(t.registry);
    let failures = 1;
    t.registry.register = async (...args) => {
      if (failures-- > 0) throw new Error('connection lost');
      return register(...args);
    };
    t.standing.heardOwnEcho();
    await turns();
    assert.equal(t.standing.state, 'holding');
    t.standing.tick();
    await turns();
    assert.equal(t.standing.isMember, true);
  });
});
