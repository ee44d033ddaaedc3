import assert from 'node:assert/strict';
import { PeerClocks } from '../../lib/transport/redis/peer-clocks';

describe('the delay of a message from another server, whose clock differs', () => {
  it('is measured against the fastest message seen recently, whatever the clock offset', () => {
    const clocks = new PeerClocks();
    // The other server's clock is 10 s behind; transit takes 1 ms at best.
    assert.equal(clocks.delayOf('b', 1_000, 11_001), 0);
    assert.equal(clocks.delayOf('b', 2_000, 12_003), 2);
    assert.equal(clocks.delayOf('b', 3_000, 16_001), 3_000, 'a message held up 3 s');
    assert.equal(clocks.delayOf('c', 50_000, 11_000), 0, 'each server has its own offset');
  });

  it('follows a clock that was set back, once the window has passed', () => {
    const clocks = new PeerClocks(1_000);
    assert.equal(clocks.delayOf('b', 1_000, 1_001), 0);
    // B's clock is set 500 ms back: its messages look 500 ms late until the old baseline ages out.
    assert.equal(clocks.delayOf('b', 1_100, 1_601), 500);
    assert.equal(clocks.delayOf('b', 2_200, 2_701), 500);
    assert.equal(clocks.delayOf('b', 3_300, 3_801), 0);
  });
});
