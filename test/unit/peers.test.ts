import assert from 'node:assert/strict';
import { PEER_EXPIRY_MS, Peers } from '../../lib/transport/redis/peers';
import type { ServerRecord } from '../../lib/transport/redis/registry';
import { FakeClock } from '../support/fake-clock';

const records = (entries: Record<string, ServerRecord['state']>) => new Map(Object.entries(entries).map(([id, state]) => [id, { state }]));

describe('the other servers as one server knows them', () => {
  it('stay members when silent, awaited by every request, and are overdue past the expiry (to be fenced)', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    clock.advance(PEER_EXPIRY_MS);
    assert.deepEqual(peers.overdue(), []);
    clock.advance(1);
    assert.deepEqual(peers.overdue(), ['b']);
    assert.deepEqual([...peers.live()], ['b'], 'silence alone never takes a member out');
  });

  it('once fenced, are no longer awaited, are kept in the record of fenced servers, and are not heard until they say hello', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    peers.markFenced('b');
    assert.deepEqual([...peers.live()], []);
    assert.deepEqual(peers.fenced(), ['b']);
    assert.equal(peers.heardFrom('b'), false, 'a beat sent before it knew it was fenced');
    assert.deepEqual([...peers.live()], []);
    assert.equal(peers.heardFrom('b', true), true, 'its hello, once it registered again');
    assert.deepEqual([...peers.live()], ['b']);
    assert.deepEqual(peers.fenced(), []);
  });

  it('share one Set between requests while the members do not change', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    const first = peers.live();
    peers.heardFrom('b');
    assert.equal(peers.live(), first);
    peers.heardFrom('c');
    assert.notEqual(peers.live(), first);
  });

  it('get a full expiry period again after an outage of this server', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    clock.advance(PEER_EXPIRY_MS - 100);
    peers.heardFromEveryoneNow();
    clock.advance(PEER_EXPIRY_MS - 100);
    assert.deepEqual(peers.overdue(), []);
  });

  it('take in the record: new members awaited, fenced and lost ones fenced, members gone from it forgotten', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('gone');
    peers.heardFrom('b');
    peers.syncWith(records({ self: 'member', b: 'fenced', c: 'member', d: 'lost' }), 'self', false, peers.helloClock());
    assert.deepEqual([...peers.live()], ['c']);
    assert.deepEqual(peers.fenced().sort(), ['b', 'd']);
  });

  it('are not fenced by what the record said before their hello was read (they registered again since, and say hello once)', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    const asked = peers.helloClock();
    peers.heardFrom('b', true); // its hello, read before the record's (older) answer
    peers.syncWith(records({ b: 'fenced' }), 'self', false, asked);
    peers.markFenced('b', asked);
    assert.deepEqual([...peers.live()], ['b']);
    peers.markFenced('b'); // a notice read in order is never too old
    assert.deepEqual(peers.fenced(), ['b']);
  });

  it('keep the members missing from a record Redis lost: they register again soon', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    peers.syncWith(records({ self: 'member' }), 'self', true, peers.helloClock());
    assert.deepEqual([...peers.live()], ['b']);
  });
});
