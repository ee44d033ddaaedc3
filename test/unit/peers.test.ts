import assert from 'node:assert/strict';
import { PEER_EXPIRY_MS, Peers } from '../../lib/transport/redis/peers';
import { FakeClock } from '../support/fake-clock';

describe('the other servers as one server knows them', () => {
  it('are live while heard from within the expiry, then forgotten', () => {
    const clock = new FakeClock();
    const peers = new Peers(clock);
    peers.heardFrom('b');
    clock.advance(PEER_EXPIRY_MS);
    assert.ok(peers.isLive('b'));
    assert.deepEqual([...peers.live()], ['b']);
    clock.advance(1);
    assert.ok(!peers.isLive('b'));
    assert.deepEqual([...peers.live()], []);
    assert.equal(peers.size, 0, 'forgotten, not only hidden');
  });

  it('share one Set between requests while nobody joins or is forgotten', () => {
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
    assert.ok(peers.isLive('b'));
  });
});
