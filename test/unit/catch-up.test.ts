import assert from 'node:assert/strict';
import { Server, Socket, type Namespace } from 'socket.io';
import { applyCatchUp } from '../../lib/transport/redis/catch-up';
import { LocalChanges } from '../../lib/transport/redis/local-changes';
import { addSimulatedSockets } from '../support/simulated-sockets';

/** A namespace with sockets in rooms, whose disconnects are recorded, and the record of its local changes. */
function setUp(sockets: Record<string, string[]>) {
  const nsp: Namespace = new Server().of('/');
  const disconnected: string[] = [];
  for (const [id, rooms] of Object.entries(sockets)) {
    const [socket] = addSimulatedSockets(nsp, Socket.prototype, id, 1, rooms).map((simulated) => nsp.sockets.get(simulated)!);
    // Simulated sockets have no connection to close.
    socket!.disconnect = (() => { disconnected.push(socket!.id.slice(0, -1)); return socket!; }) as Socket['disconnect'];
  }
  const local = new LocalChanges();
  local.watch(nsp);
  const roomsOf = (id: string) => [...(nsp.sockets.get(`${id}0`)?.rooms ?? [])].filter((room) => room !== `${id}0`).sort();
  const socket = (id: string) => nsp.sockets.get(`${id}0`)!;
  return { nsp, local, disconnected, roomsOf, socket };
}

const entry = (change: object) => JSON.stringify(change);

describe('the catch-up of a fenced server', () => {
  it('applies a leave by ID to a socket whose rooms did not change here since the cut', () => {
    const { nsp, local, roomsOf } = setUp({ s: ['fun', 'keep'] });
    const outcome = applyCatchUp(nsp, [entry({ type: 'leave', socketIds: ['s0', 'elsewhere'], rooms: ['fun'] })], local);
    assert.deepEqual(roomsOf('s'), ['keep']);
    assert.deepEqual(outcome, { removals: 1, left: 1, disconnected: [], unreadable: 0 });
  });

  it('keeps a local change to another room of the same socket, and applies the removal', () => {
    const { nsp, local, roomsOf, socket } = setUp({ s: ['fun'] });
    void socket('s').join('local');
    applyCatchUp(nsp, [entry({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] })], local);
    assert.deepEqual(roomsOf('s'), ['local']);
  });

  it('disconnects a socket whose room changed on both sides: nobody can tell which change is newer', () => {
    const { nsp, local, disconnected, socket } = setUp({ s: ['fun'], t: ['fun'] });
    void socket('s').leave('fun');
    void socket('s').join('fun');
    const outcome = applyCatchUp(nsp, [entry({ type: 'leave', socketIds: ['s0', 't0'], rooms: ['fun'] })], local);
    assert.deepEqual(disconnected, ['s']);
    assert.deepEqual(outcome.disconnected, ['s0']);
    assert.equal(outcome.left, 1, 't left as recorded');
  });

  it('a socket that left the room here already needs nothing, changed or not', () => {
    const { nsp, local, disconnected, roomsOf, socket } = setUp({ s: ['fun', 'keep'] });
    void socket('s').leave('fun');
    applyCatchUp(nsp, [entry({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] })], local);
    assert.deepEqual(disconnected, []);
    assert.deepEqual(roomsOf('s'), ['keep']);
  });

  it('removes room members as of the cut: not a socket that joined the source room here since, unless it is in a destination', () => {
    const { nsp, local, disconnected, roomsOf, socket } = setUp({ member: ['src', 'team'], newcomer: ['team'], outsider: ['other'] });
    void socket('newcomer').join('src');
    void socket('outsider').join('src');
    applyCatchUp(nsp, [entry({ type: 'removeMembers', sourceRoom: 'src', rooms: ['team'] })], local);
    assert.deepEqual(roomsOf('member'), ['src']);
    assert.deepEqual(disconnected, ['newcomer'], 'it may have been a member at the cut, and it is in team: a conflict');
    assert.deepEqual(roomsOf('outsider'), ['other', 'src'], 'it joined src here, and is in none of the destinations: nothing to do');
  });

  it('empties a room as of the cut with leaveAll, keeping each socket in its own room (and in the source room if asked)', () => {
    const { nsp, local, roomsOf, socket } = setUp({ a: ['gone', 'g1'], b: ['gone', 'g2'] });
    applyCatchUp(nsp, [
      entry({ type: 'leaveAll', sourceRoom: 'gone', includeSocketRooms: false, includeSourceRoom: false }),
    ], local);
    assert.deepEqual(roomsOf('a'), ['gone']);
    assert.deepEqual(roomsOf('b'), ['gone']);
    assert.ok(socket('a').rooms.has('a0'), 'its own ID room stays');
    applyCatchUp(nsp, [entry({ type: 'leaveAll', sourceRoom: 'gone', includeSocketRooms: false, includeSourceRoom: true })], local);
    assert.deepEqual(roomsOf('a'), []);
  });

  it('is not recorded as local changes itself', () => {
    const { nsp, local } = setUp({ s: ['fun'] });
    applyCatchUp(nsp, [entry({ type: 'leave', socketIds: ['s0'], rooms: ['fun'] })], local);
    assert.equal(local.touched('s0', 'fun'), false);
  });

  it('counts entries it cannot read (a join, a newer protocol, garbage): the catch-up is incomplete', () => {
    const { nsp, local } = setUp({ s: ['fun'] });
    const outcome = applyCatchUp(nsp, [entry({ type: 'join', socketIds: ['s0'], rooms: ['x'] }), '{"type":"leave"}', 'not json'], local);
    assert.equal(outcome.unreadable, 3);
    assert.equal(outcome.removals, 0);
  });
});

describe('the record of local changes since the cluster last heard a server', () => {
  it('records joins and leaves at the adapter, whoever made them, but not what runs quietly', () => {
    const { local, socket } = setUp({ s: [] });
    void socket('s').join(['a', 'b']);
    local.quietly(() => { void socket('s').join('remote'); });
    void socket('s').leave('a');
    assert.ok(local.touched('s0', 'a') && local.touched('s0', 'b'));
    assert.equal(local.touched('s0', 'remote'), false);
    assert.ok(local.touchedSocket('s0'));
  });

  it('forgets what was recorded before a heartbeat that came back, not what came after it', () => {
    const local = new LocalChanges();
    local.touch('s', 'before');
    local.beatSent(100);
    local.touch('s', 'between');
    local.beatSent(200);
    local.touch('s', 'after');
    local.beatEchoed(200);
    assert.equal(local.touched('s', 'before'), false);
    assert.equal(local.touched('s', 'between'), false);
    assert.ok(local.touched('s', 'after'));
    local.beatEchoed(100);
    assert.ok(local.touched('s', 'after'), 'a late echo of an older beat drops nothing newer');
  });

  it('keeps, on the echo of a beat that opened no generation (a probe), the changes of the generation it fell in', () => {
    const local = new LocalChanges();
    local.clear(1000); // released at 1000
    local.touch('s', 'since-release');
    local.beatSent(2000);
    local.beatEchoed(500); // a probe sent while holding, before the release
    local.beatEchoed(1500); // one sent after the release, within the first generation
    assert.ok(local.touched('s', 'since-release'));
    local.beatEchoed(2000);
    assert.equal(local.touched('s', 'since-release'), false);
  });

  it('gives the adapter its own methods back', () => {
    const nsp = new Server().of('/');
    const own = nsp.adapter.addAll;
    const stop = new LocalChanges().watch(nsp);
    assert.notEqual(nsp.adapter.addAll, own);
    stop();
    assert.equal(nsp.adapter.addAll, own);
  });
});
