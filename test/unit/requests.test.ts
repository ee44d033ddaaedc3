import assert from 'node:assert/strict';
import type { RoomsError } from '../../lib/errors';
import type { Sent } from '../../lib/transport/redis/outbox';
import { PendingRequests } from '../../lib/transport/redis/requests';
import { SocketRoutes } from '../../lib/transport/redis/routes';
import type { ClusterRequest, Received } from '../../lib/transport/redis/wire';

const REQUEST: ClusterRequest = { kind: 'membersOf', room: 'r' };
import { FakeClock } from '../support/fake-clock';

const BROADCAST = 'requests';
const TIMEOUT_MS = 1000;

/** PendingRequests over a fake clock and a fake publisher that records what was sent. */
function setUp(live = ['b', 'c'], fenced: string[] = []) {
  const clock = new FakeClock();
  const routes = new SocketRoutes();
  const published: Array<{ channel: string; message: string; onSent?: Sent }> = [];
  const requests = new PendingRequests({
    timeoutMs: TIMEOUT_MS,
    clock,
    send: (channel, message, onSent) => { published.push({ channel, message, onSent }); },
    broadcastChannel: BROADCAST,
    inboxOf: (server) => `inbox-of-${server}`,
    livePeers: () => new Set(live),
    fencedPeers: () => [...fenced],
    encodeBroadcast: (id, _request, excluded) => `m${id} to everyone, excluding ${excluded.join(',') || 'none'}`,
    routes,
  });
  const outcomes: Array<{ err: RoomsError | null; replies?: Received[]; notCountedOn?: string[] }> = [];
  const done = (err: RoomsError | null, replies?: Received[], notCountedOn?: string[]) => { outcomes.push({ err, replies, notCountedOn }); };
  /** Redis answers the PUBLISH commands sent so far. */
  const acknowledge = () => { for (const { onSent } of published.splice(0)) onSent?.(null, 3); };
  return { clock, routes, published, requests, outcomes, done, acknowledge };
}

describe('requests waiting on other servers', () => {
  it('end once every awaited server answered and Redis accepted the PUBLISH, whichever comes first', () => {
    const { requests, outcomes, done, acknowledge } = setUp();
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b', 'c']), { whenFenced: 'wait' }, done);
    requests.onReply('b', 1, { matched: 1, foundIds: [] });
    requests.onReply('c', 1, { matched: 2, foundIds: [] });
    assert.equal(outcomes.length, 0, 'not before Redis accepted it');
    acknowledge();
    assert.equal(outcomes.length, 1);
    assert.equal(outcomes[0]!.err, null);
    assert.deepEqual(outcomes[0]!.replies!.map((r) => r.matched), [1, 2]);
    assert.equal(requests.size, 0);
  });

  it('end as soon as every socket ID they name was found, without waiting for the other servers', () => {
    const { requests, outcomes, done, acknowledge, routes } = setUp();
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b', 'c']), { wantedIds: ['s1'], whenFenced: 'wait' }, done);
    acknowledge();
    requests.onReply('c', 1, { matched: 1, foundIds: 'all' });
    assert.deepEqual(outcomes[0]!.replies, [{ from: 'c', matched: 1, foundIds: ['s1'], names: undefined }]);
    assert.deepEqual(routes.holdersOf(['s1']), ['c'], 'a broadcast request teaches where its sockets are');
  });

  it('count a server once, however many times it answers', () => {
    const { requests, outcomes, done, acknowledge } = setUp(['b']);
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b', 'c']), { whenFenced: 'wait' }, done);
    acknowledge();
    requests.onReply('b', 1, { matched: 1, foundIds: [] });
    requests.onReply('b', 1, { matched: 1, foundIds: [] });
    assert.equal(outcomes.length, 0);
  });

  it('fail with E_TIMEOUT once the timeout passed, saying how many answered', () => {
    const { clock, requests, outcomes, done, acknowledge } = setUp();
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b', 'c']), { whenFenced: 'wait' }, done);
    acknowledge();
    requests.onReply('b', 1, { matched: 1, foundIds: [] });
    clock.advance(TIMEOUT_MS - 1);
    assert.equal(outcomes.length, 0);
    clock.advance(1);
    assert.equal(outcomes[0]!.err?.code, 'E_TIMEOUT');
    assert.match(outcomes[0]!.err!.message, /only 1 of 2 other servers answered within 1000 ms/);
    assert.equal(clock.pending, 0, 'no timer is left when nothing is pending');
  });

  it('expire in the order they were sent, on one timer', () => {
    const { clock, requests, outcomes, done, acknowledge } = setUp();
    requests.start(1, REQUEST, 'm1', [BROADCAST], new Set(['b']), { whenFenced: 'wait' }, done);
    clock.advance(400);
    requests.start(2, REQUEST, 'm2', [BROADCAST], new Set(['b']), { whenFenced: 'wait' }, done);
    acknowledge();
    assert.equal(clock.pending, 1);
    clock.advance(600);
    assert.equal(outcomes.length, 1);
    clock.advance(400);
    assert.equal(outcomes.length, 2);
  });

  it('fail with E_UNAVAILABLE when Redis refuses the PUBLISH', () => {
    const { requests, outcomes, done, published } = setUp();
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b']), { whenFenced: 'wait' }, done);
    published[0]!.onSent!(new Error('connection lost'));
    assert.equal(outcomes[0]!.err?.code, 'E_UNAVAILABLE');
  });

  it('stop waiting for a server that left, and send again to one that resubscribed', () => {
    const { requests, outcomes, done, acknowledge, published } = setUp();
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b', 'c']), { whenFenced: 'wait' }, done);
    acknowledge();
    requests.peerResubscribed('c');
    assert.deepEqual(published.map((p) => p.message), ['m']);
    requests.onReply('b', 1, { matched: 0, foundIds: [] });
    requests.peerLeft('c');
    assert.equal(outcomes[0]!.err, null);
  });

  it('sent to the inboxes of several servers: published on each, sent again only to one that resubscribed, done once all were found', () => {
    const { requests, outcomes, done, acknowledge, published } = setUp(['b', 'c', 'd']);
    const change: ClusterRequest = { kind: 'change', change: { type: 'leave', socketIds: ['b.1', 'c.1'], rooms: ['r'] } };
    requests.start(1, change, 'm', ['inbox-of-b', 'inbox-of-c'], new Set(['b', 'c']), { wantedIds: ['b.1', 'c.1'], whenFenced: 'goOn', followsRoute: true }, done);
    assert.deepEqual(published.map((p) => p.channel), ['inbox-of-b', 'inbox-of-c']);
    requests.peerResubscribed('c');
    assert.deepEqual(published.map((p) => p.channel), ['inbox-of-b', 'inbox-of-c', 'inbox-of-c'], 'c alone is sent it again, in its inbox');
    requests.onReply('b', 1, { matched: 1, foundIds: ['b.1'] });
    acknowledge();
    assert.equal(outcomes.length, 0, 'c.1 is not found yet');
    requests.onReply('c', 1, { matched: 1, foundIds: ['c.1'] });
    assert.equal(outcomes[0]!.err, null);
    assert.deepEqual(outcomes[0]!.replies!.map((r) => r.from), ['b', 'c'], 'd was never asked');
  });

  it('sent to several inboxes: fail if one PUBLISH failed, even after the others went', () => {
    const { requests, outcomes, done, published } = setUp();
    requests.start(1, REQUEST, 'm', ['inbox-of-b', 'inbox-of-c'], new Set(['b', 'c']), { whenFenced: 'wait' }, done);
    published[0]!.onSent!(null, 1);
    requests.onReply('b', 1, { matched: 0, foundIds: [] });
    requests.onReply('c', 1, { matched: 0, foundIds: [] });
    assert.equal(outcomes.length, 0, 'not before every PUBLISH was answered');
    published[1]!.onSent!(new Error('refused'));
    assert.equal(outcomes[0]!.err?.code, 'E_UNAVAILABLE');
  });

  it('on a stale route, ask every server once the one it was sent to said it holds none of its sockets', () => {
    const { requests, outcomes, done, acknowledge, published, routes } = setUp(['b', 'c']);
    routes.learn('b', ['s1']);
    requests.start(1, REQUEST, 'm', ['inbox-of-b'], new Set(['b']), { wantedIds: ['s1'], whenFenced: 'wait', followsRoute: true }, done);
    acknowledge();
    requests.onReply('b', 1, { matched: 0, foundIds: [] });
    assert.equal(published[0]?.channel, BROADCAST, 'sent again to every server');
    assert.equal(published[0]?.message, 'm1 to everyone, excluding none', 'encoded again for every server');
    assert.equal(routes.holdersOf(['s1']), undefined, 'the stale route is forgotten');
    acknowledge();
    requests.onReply('c', 1, { matched: 1, foundIds: 'all' });
    assert.equal(outcomes[0]!.err, null);
    assert.deepEqual(outcomes[0]!.replies!.map((r) => r.foundIds), [[], ['s1']]);
  });

  it('fail every pending request on close, and leave no timer behind', () => {
    const { clock, requests, outcomes, done } = setUp();
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b']), { whenFenced: 'wait' }, done);
    requests.start(2, REQUEST, 'm', [BROADCAST], new Set(['b']), { whenFenced: 'wait' }, done);
    requests.close(Object.assign(new Error('lowered'), { code: 'E_UNAVAILABLE' }) as RoomsError);
    assert.deepEqual(outcomes.map((o) => o.err?.message), ['lowered', 'lowered']);
    assert.equal(clock.pending, 0);
  });
});

describe('requests and the servers they do not count on', () => {
  it('name the servers fenced when they were sent, and say at the end which of those did not answer, even if they came back meanwhile', () => {
    const { requests, outcomes, done, acknowledge } = setUp(['c'], ['b']);
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['c']), { whenFenced: 'goOn', excluded: ['b'] }, done);
    acknowledge();
    requests.onReply('c', 1, { matched: 0, foundIds: [] });
    assert.deepEqual(outcomes[0]!.notCountedOn, ['b']);
  });

  it('a removal goes on without a server fenced while it waits, and counts it as not counted on', () => {
    const { requests, outcomes, done, acknowledge } = setUp(['b', 'c']);
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b', 'c']), { whenFenced: 'goOn' }, done);
    acknowledge();
    requests.onReply('c', 1, { matched: 0, foundIds: [] });
    requests.peerFenced('b');
    assert.equal(outcomes[0]!.err, null);
    assert.deepEqual(outcomes[0]!.notCountedOn, ['b']);
  });

  it('a server fenced after it answered is counted on: it got the request', () => {
    const { requests, outcomes, done, acknowledge } = setUp(['c'], ['b']);
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['c']), { whenFenced: 'goOn', excluded: ['b'] }, done);
    acknowledge();
    requests.onReply('b', 1, { matched: 1, foundIds: [] });
    requests.onReply('c', 1, { matched: 0, foundIds: [] });
    assert.deepEqual(outcomes[0]!.notCountedOn, []);
  });

  it('a join waits for a server fenced while it waits (it may have applied it): E_TIMEOUT; a query fails at once', () => {
    const { clock, requests, outcomes, done, acknowledge } = setUp(['b']);
    requests.start(1, REQUEST, 'm', [BROADCAST], new Set(['b']), { whenFenced: 'wait' }, done);
    requests.start(2, REQUEST, 'q', [BROADCAST], new Set(['b']), { whenFenced: 'fail' }, done);
    acknowledge();
    requests.peerFenced('b');
    assert.equal(outcomes[0]!.err?.code, 'E_UNAVAILABLE', 'the query');
    clock.advance(TIMEOUT_MS);
    assert.equal(outcomes[1]!.err?.code, 'E_TIMEOUT', 'the join');
  });
});
