/**
 * The soak's membership model (soak/model.ts) judges the cluster: it must accept every outcome the
 * contract allows after failed operations and partitions (docs/partitions.md), and nothing else.
 * The soak's timeline (soak/timeline.ts) says which fault may excuse what.
 */
import assert from 'node:assert/strict';
import { MembershipModel, type SocketEntry } from '../../soak/model';
import { Timeline } from '../../soak/timeline';

const confirmed = () => true;

function modelOf(sockets: Array<[string, number]>): MembershipModel {
  const model = new MembershipModel();
  for (const [id, server] of sockets) model.addSocket(id, server);
  return model;
}

/** One unknown per (failed operation, server); the issuing server applied it. */
function failedOn(model: MembershipModel, issuer: number) {
  const unknowns = new Map<number, ReturnType<MembershipModel['unknown']>>();
  return (socket: { server: number }) => {
    if (socket.server === issuer) return true;
    if (!unknowns.has(socket.server)) unknowns.set(socket.server, model.unknown(`on server ${socket.server}`));
    return unknowns.get(socket.server)!;
  };
}

const actual = (entries: Record<string, string[]>) => new Map(Object.entries(entries));

describe('the soak membership model', () => {
  it('accepts exactly the confirmed outcome', () => {
    const model = modelOf([['a', 0], ['b', 1]]);
    model.join(['a', 'b'], ['fun'], confirmed);
    model.leave(['b'], ['fun'], confirmed);
    assert.deepEqual(model.check(actual({ a: ['fun'], b: [] })).mismatches, []);
    const wrong = model.check(actual({ a: ['fun'], b: ['fun'] }));
    assert.deepEqual(wrong.mismatches, [{ socketId: 'b', room: 'fun', actual: true, kind: 'certain' }]);
  });

  it('accepts either outcome of a failed operation on another server, but not half of it', () => {
    const model = modelOf([['a', 0], ['b', 1]]);
    // Issued on server 0, failed: applied on server 0, maybe on server 1 (to both rooms, or neither).
    model.join(['a', 'b'], ['fun', 'chat'], failedOn(model, 0));
    assert.deepEqual(model.check(actual({ a: ['chat', 'fun'], b: [] })).mismatches, []);
    assert.deepEqual(model.check(actual({ a: ['chat', 'fun'], b: ['chat', 'fun'] })).mismatches, []);
    assert.equal(model.check(actual({ a: ['chat', 'fun'], b: ['fun'] })).mismatches.length, 2, 'half applied on one server');
    assert.equal(model.check(actual({ a: [], b: ['chat', 'fun'] })).mismatches.length, 2, 'not applied on the server that issued it');
  });

  it('lets a later confirmed operation overwrite an unknown, and sees a stale change applied after it', () => {
    const model = modelOf([['a', 0], ['b', 1]]);
    model.leave(['b'], ['fun'], failedOn(model, 0));
    model.join(['b'], ['fun'], confirmed);
    assert.deepEqual(model.check(actual({ a: [], b: ['fun'] })).mismatches, []);
    assert.equal(model.check(actual({ a: [], b: [] })).mismatches.length, 1);
  });

  it('carries an unknown membership through room-to-room operations', () => {
    const model = modelOf([['a', 0], ['b', 1]]);
    model.join(['a'], ['src'], confirmed);
    model.join(['b'], ['src'], failedOn(model, 0));
    model.roomToRooms('src', ['dest'], confirmed, true);
    // b is in dest exactly if it is in src.
    assert.deepEqual(model.check(actual({ a: ['dest', 'src'], b: ['dest', 'src'] })).mismatches, []);
    assert.deepEqual(model.check(actual({ a: ['dest', 'src'], b: [] })).mismatches, []);
    assert.equal(model.check(actual({ a: ['dest', 'src'], b: ['dest'] })).mismatches.length, 2);
    model.leaveAll('src', false, confirmed);
    assert.deepEqual(model.check(actual({ a: ['src'], b: [] })).mismatches, []);
    assert.equal(model.check(actual({ a: ['src', 'dest'], b: [] })).mismatches.length, 1);
  });

  it('forgets sockets of a killed server', () => {
    const model = modelOf([['a', 0], ['b', 1]]);
    model.join(['a', 'b'], ['fun'], confirmed);
    model.sockets.get('b')!.alive = false;
    assert.deepEqual(model.membersOf('fun'), { sure: ['a'], unsure: [] });
    assert.deepEqual(model.check(actual({ a: ['fun'] })).mismatches, []);
  });

  it('builds the guard of a failed operation: applied on its issuer, one unknown per other server', () => {
    const model = modelOf([['a', 0], ['b', 1], ['c', 1]]);
    model.leave(['a', 'b', 'c'], ['fun'], () => true);
    model.join(['a', 'b', 'c'], ['fun'], model.guardFor('op 1 (join)', { outcome: 'failed', issuer: 0 }));
    assert.deepEqual(model.unknowns.map((u) => u.label), ['op 1 (join) on server-2']);
    assert.deepEqual(model.check(actual({ a: ['fun'], b: [], c: [] })).mismatches, []);
    assert.deepEqual(model.check(actual({ a: ['fun'], b: ['fun'], c: ['fun'] })).mismatches, []);
    assert.equal(model.check(actual({ a: [], b: [], c: [] })).mismatches.length, 1, 'not applied on its issuer');
    assert.equal(model.check(actual({ a: ['fun'], b: ['fun'], c: [] })).mismatches.length, 2, 'half applied on one server');
  });

  describe('a partition: server 1 cut off, its sockets b and c', () => {
    const onCutOff = (socket: SocketEntry) => socket.server === 1;

    it('a join confirmed without it leaves its sockets out; a removal confirmed without it takes them out', () => {
      const model = modelOf([['a', 0], ['b', 1], ['c', 1]]);
      model.join(['c'], ['fun'], confirmed);
      model.openLocalView(1);
      model.join(['a', 'b'], ['fun'], model.guardFor('join', { outcome: 'confirmed', missed: onCutOff }));
      model.leave(['c'], ['fun'], model.guardFor('leave', { outcome: 'confirmed' }), { recorded: onCutOff });
      model.closeLocalView();
      assert.deepEqual(model.check(actual({ a: ['fun'], b: [], c: [] })).mismatches, []);
      assert.deepEqual(model.check(actual({ a: ['fun'], b: ['fun'], c: [] })).mismatches, [{ socketId: 'b', room: 'fun', actual: true, kind: 'certain' }], 'the join reached it');
      assert.deepEqual(model.check(actual({ a: ['fun'], b: [], c: ['fun'] })).mismatches, [{ socketId: 'c', room: 'fun', actual: true, kind: 'certain' }], 'the removal did not hold');
    });

    it('its own operations read its own view, where a removal recorded for it is not yet', () => {
      const model = modelOf([['a', 0], ['b', 1]]);
      model.join(['a', 'b'], ['src'], confirmed);
      model.openLocalView(1);
      // Confirmed without it: b leaves src when it catches up.
      model.leave(['b'], ['src'], confirmed, { recorded: onCutOff });
      // Issued on it, refused (E_UNAVAILABLE) after it applied it: there, b is still in src.
      model.roomToRooms('src', ['dest'], model.guardFor('add', { outcome: 'failed', issuer: 1 }), true, { fromLocalView: true });
      model.closeLocalView();
      // a is in src only in the cluster's view: the add on server 1 may or may not have reached it.
      assert.deepEqual(model.check(actual({ a: ['src'], b: ['dest'] })).mismatches, []);
      assert.deepEqual(model.check(actual({ a: ['dest', 'src'], b: ['dest'] })).mismatches, []);
      assert.equal(model.check(actual({ a: ['src'], b: [] })).mismatches.length, 1, 'b added to dest from its own view');
      assert.equal(model.check(actual({ a: ['src'], b: ['dest', 'src'] })).mismatches.length, 1, 'the removal applied when it caught up');
    });

    it('an operation of another server reads the cluster\'s view', () => {
      const model = modelOf([['a', 0], ['b', 1]]);
      model.join(['b'], ['src'], confirmed);
      model.openLocalView(1);
      model.leave(['b'], ['src'], confirmed, { recorded: onCutOff });
      model.roomToRooms('src', ['dest'], confirmed, true);
      model.closeLocalView();
      assert.deepEqual(model.check(actual({ a: [], b: [] })).mismatches, []);
      assert.equal(model.check(actual({ a: [], b: ['dest'] })).mismatches.length, 1);
    });

    it('a socket its server disconnected is out of every room, and no longer checked; `only` checks some sockets', () => {
      const model = modelOf([['a', 0], ['b', 1]]);
      model.join(['a', 'b'], ['fun'], confirmed);
      model.disconnect('b');
      assert.deepEqual(model.membersOf('fun'), { sure: ['a'], unsure: [] });
      assert.deepEqual(model.check(actual({ a: ['fun'] })).mismatches, []);
      const onlyB = model.check(actual({ a: [] }), () => true, (socket) => socket.server === 1);
      assert.equal(onlyB.pairsChecked, 0, 'a is not checked, b is gone');
      assert.equal(model.check(actual({ a: [] }), () => true, (socket) => socket.server === 0).mismatches.length, 1);
    });
  });
});

describe('the soak timeline: what a fault excuses', () => {
  const timeline = Object.assign(new Timeline(2500), {
    mainStart: 0, partitioned: 1, cutAt: 10_000, healedAt: 16_000, rejoinedAt: 17_000, partitionRecoveredAt: 17_200,
    victim: 2, serverKilledAt: 30_000, serverRecoveredAt: 33_600,
  });
  const sample = (type: 'join' | 'leave' | 'join-unreachable', issuer: number, server: number, start = 12_000) => ({ type, issuer, server, start, end: start + 100 });

  it('excuses a join whose announcement crossed Redis to or from the partitioned server, during it', () => {
    assert.equal(timeline.sampleFault(sample('join', 0, 1)), 'partition');
    assert.equal(timeline.sampleFault(sample('join', 1, 0)), 'partition');
    assert.equal(timeline.sampleFault(sample('join', 1, 1)), undefined, 'delivered on the server itself');
    assert.equal(timeline.sampleFault(sample('join', 0, 2)), undefined, 'between the others');
    assert.equal(timeline.sampleFault(sample('join', 0, 1, 25_000)), undefined, 'long after');
  });

  it('never excuses a leave, nor a join that did not reach the socket', () => {
    assert.equal(timeline.sampleFault(sample('leave', 0, 1)), undefined);
    assert.equal(timeline.sampleFault(sample('join-unreachable', 0, 1)), undefined);
  });

  it('counts a server cut off until every server hears it again, and the timeout after', () => {
    assert.equal(timeline.cutOffDuring(9_000, 9_500), undefined);
    assert.equal(timeline.cutOffDuring(9_000, 10_500), 1);
    assert.equal(timeline.cutOffDuring(19_600, 19_700), 1);
    assert.equal(timeline.cutOffDuring(19_800, 19_900), undefined);
    assert.equal(timeline.answeredWhileCutOff(1, 16_500, 16_600), true);
    assert.equal(timeline.answeredWhileCutOff(1, 17_100, 17_200), false, 'it caught up');
    assert.equal(timeline.answeredWhileCutOff(0, 12_000, 12_100), false);
  });

  it('puts a moment in the window of its fault', () => {
    assert.equal(timeline.faultAt(12_000), 'partition');
    assert.equal(timeline.faultAt(31_000), 'serverKill');
    assert.equal(timeline.faultAt(25_000), undefined);
    assert.equal(timeline.killedDuring(29_000, 30_500), true);
    assert.equal(timeline.killedDuring(33_600, 34_000), false);
  });
});
