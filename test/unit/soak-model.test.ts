/**
 * The soak's membership model (soak/model.ts) judges the cluster: it must accept every outcome the
 * contract allows after failed operations, and nothing else.
 */
import assert from 'node:assert/strict';
import { MembershipModel } from '../../soak/model';

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
});
