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

describe('the estimate of another server\'s clock, when that clock steps or its messages stall', () => {
  it('takes a clock set back (a VM whose clock did not show a pause) within three heartbeats, not a window later', () => {
    const clocks = new PeerClocks();
    for (let t = 0; t < 5; t++) clocks.heartbeat('b', t * 1000, t * 1000 + 1);
    // B's clock is now 8 s behind: its messages look 8 s late at first...
    assert.equal(clocks.delayOf('b', 5_000 - 8_000, 5_001), 8_000);
    clocks.heartbeat('b', 6_000 - 8_000, 6_001);
    clocks.heartbeat('b', 7_000 - 8_000, 7_001);
    clocks.heartbeat('b', 8_000 - 8_000, 8_001);
    // ...then no more, three heartbeats later.
    assert.equal(clocks.delayOf('b', 8_500 - 8_000, 8_502), 1);
  });

  it('does not take a burst of messages that waited (a stall) for a clock step: a request that waited stays late', () => {
    const clocks = new PeerClocks();
    for (let t = 0; t < 5; t++) clocks.heartbeat('b', t * 1000, t * 1000 + 1);
    // 8 s of B's heartbeats arrive together after a stall...
    for (let t = 5; t < 13; t++) clocks.heartbeat('b', t * 1000, 13_000 + t);
    // ...and a request sent during it is still 8 s late.
    assert.ok(clocks.delayOf('b', 5_500, 13_020) > 7_000);
  });
});
