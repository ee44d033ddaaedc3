/** The operation counts and the last minute's confirm latencies behind stats() (lib/stats.ts). */
import assert from 'node:assert/strict';
import { RoomsError } from '../../lib/errors';
import { OperationStats, outcomeOf } from '../../lib/stats';
import type { RoomsResult } from '../../lib/types';

const result = (fields: Partial<RoomsResult> = {}): RoomsResult => ({ matched: 1, servers: 2, notFound: [], unreachable: [], unreachableServers: 0, ...fields });

describe('operation stats (unit)', () => {
  it('counts each outcome: ok, notFound, unreachable, and errors by code; the fast path as ok', () => {
    const failures: string[] = [];
    const stats = new OperationStats((operation, err) => failures.push(`${operation} ${err.code}`));
    stats.doneHere('leave');
    stats.ended('leave', null, result());
    stats.ended('leave', null, result({ notFound: ['x.y'] }));
    stats.ended('leave', null, result({ unreachableServers: 1 }));
    stats.ended('leave', new RoomsError('E_TIMEOUT', 'late'));
    stats.ended('membersOf', null);
    assert.deepEqual(stats.outcomesOf('leave'), { ok: 2, notFound: 1, unreachable: 1, E_TIMEOUT: 1 });
    assert.deepEqual(stats.outcomesOf('membersOf'), { ok: 1 });
    assert.deepEqual(stats.outcomesOf('join'), { ok: 0 });
    assert.deepEqual(failures, ['leave E_TIMEOUT'], 'failures, and only they, are reported');
  });

  it('an outcome is unreachable before notFound: with a server cut off, "connected nowhere" is not known', () => {
    assert.equal(outcomeOf(null, result({ unreachable: ['a.b'], unreachableServers: 1 })), 'unreachable');
    assert.equal(outcomeOf(null, result({ notFound: ['a.b'] })), 'notFound');
    assert.equal(outcomeOf(new RoomsError('E_UNAVAILABLE', 'down')), 'E_UNAVAILABLE');
  });

  it("reads p50 and p99 of the confirm latencies within a bucket's width (9 %), never below the true value", () => {
    let now = 1_000_000;
    const stats = new OperationStats(undefined, () => now);
    // 1,000 latencies: 0.1 ms to 100 ms, evenly.
    const latencies = Array.from({ length: 1000 }, (_, i) => 0.1 * (i + 1));
    for (const ms of latencies) stats.confirmed('leave', now - ms);
    const { confirm } = stats.snapshot().leave;
    assert.equal(confirm.count, 1000);
    assert.ok(confirm.p50Ms! >= 50 && confirm.p50Ms! <= 50 * 1.09, `p50 ${confirm.p50Ms}`);
    assert.ok(confirm.p99Ms! >= 99 && confirm.p99Ms! <= 99 * 1.09, `p99 ${confirm.p99Ms}`);
    assert.deepEqual(stats.snapshot().join.confirm, { count: 0, p50Ms: null, p99Ms: null });
  });

  it('keeps the last minute: what is older is forgotten, slot by slot', () => {
    let now = 0;
    const stats = new OperationStats(undefined, () => now);
    stats.confirmed('join', now - 5);
    now += 30_000;
    stats.confirmed('join', now - 1);
    assert.equal(stats.snapshot().join.confirm.count, 2, 'both within the minute');
    now += 35_000;
    const { count, p50Ms } = stats.snapshot().join.confirm;
    assert.equal(count, 1, 'the first is over a minute old');
    assert.ok(p50Ms! >= 1 && p50Ms! <= 1.09, `what is left is the 1 ms one: ${p50Ms}`);
    now += 60_000;
    assert.equal(stats.snapshot().join.confirm.count, 0);
    stats.confirmed('join', now - 2);
    assert.equal(stats.snapshot().join.confirm.count, 1, 'a slot reused after a minute starts empty');
  });

  it('tells observers of each confirm latency in seconds, until they stop', () => {
    const now = 500;
    const stats = new OperationStats(undefined, () => now);
    const seen: Array<[string, number]> = [];
    const stop = stats.observeConfirms((operation, seconds) => seen.push([operation, seconds]));
    stats.confirmed('leaveAll', now - 2);
    stop();
    stats.confirmed('leaveAll', now - 3);
    assert.deepEqual(seen, [['leaveAll', 0.002]]);
  });
});
