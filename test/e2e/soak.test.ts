/**
 * The soak, short: the engine of `npm run soak` (soak/engine.ts, README "Reliability") with 300
 * sockets for 28 s: Redis killed for 5 s and restarted, one of the three servers cut off from Redis
 * for 6 s while the others keep it (docs/partitions.md), and another SIGKILLed.
 */
import assert from 'node:assert/strict';
import { runSoak, type SoakReport } from '../../soak/engine';
import { describeReport } from '../../soak/run';

describe('the soak, short: three servers, 300 sockets, 28 s, Redis restarted, a server cut off, a server SIGKILLed', function () {
  this.timeout(120_000);

  let report: SoakReport;

  before(async () => {
    report = await runSoak({
      sockets: 300,
      durationMs: 28_000,
      warmupMs: 2_000,
      groups: 24,
      roomsPerGroup: 6,
      timeoutMs: 2500,
      // Each longer than the 3.5 s after which servers fence a silent peer, and over before the next begins.
      faults: { redisOutageAtMs: 2_000, redisOutageMs: 5_000, partitionAtMs: 11_000, partitionMs: 6_000, killServerAtMs: 21_000 },
      seed: Date.now() % 100_000,
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && report) {
      console.log(describeReport(report).join('\n'));
      console.log(JSON.stringify(report.anomalies.slice(0, 10), null, 1));
    }
  });

  it('ran a real load and the three faults', () => {
    assert.ok(report.operations.total > 1000, `only ${report.operations.total} operations`);
    assert.ok(report.operations.confirmed > 500);
    assert.ok(report.faults);
    assert.ok(report.faults.redisOutage.downMs >= 5000);
    // During the outage changes to sockets of the server asked still apply; the others fail with a code.
    assert.ok(report.faults.redisOutage.confirmedDuringOutage > 0);
    assert.ok((report.faults.redisOutage.failuresByCode.E_UNAVAILABLE ?? 0) > 0, JSON.stringify(report.faults.redisOutage));
    assert.ok(report.faults.partition.cutMs >= 6000);
    assert.ok(report.faults.partition.fencedAfterMs !== null, 'the others fenced the server cut off');
    // The others confirmed changes to its sockets without it, both kinds.
    const { removals, joinsAndAdds } = report.faults.partition.confirmedWithoutIt;
    assert.ok(removals > 0 && joinsAndAdds > 0, JSON.stringify(report.faults.partition));
    assert.equal(report.faults.serverKill.socketsLost, 100);
  });

  it('lost no operation: each was confirmed or failed with E_TIMEOUT / E_UNAVAILABLE', () => {
    assert.equal(report.lost, 0, JSON.stringify(report.anomalies.filter((a) => (a as { kind: string }).kind === 'lost').slice(0, 5)));
    assert.deepEqual(Object.keys(report.operations.failedWithCode).filter((code) => code !== 'E_TIMEOUT' && code !== 'E_UNAVAILABLE'), []);
  });

  it('ends with the membership of the model: every confirmed change, and one outcome of each failed one', () => {
    const { consistency } = report;
    assert.ok(consistency.flushed, 'every sentinel reached every socket');
    assert.ok(consistency.final.pairsChecked > 100);
    assert.equal(consistency.final.mismatches, 0, JSON.stringify(consistency.final.examples));
    assert.equal(consistency.missingSockets, 0);
    assert.equal(consistency.resultCountMismatches, 0, 'matched / notFound / servers of confirmed operations');
    assert.equal(consistency.probeMismatches, 0, 'operations needing every server confirmed without them all');
    assert.equal(consistency.onlineQueryMismatches, 0, 'roomsOf / membersOf during the run');
    assert.equal(consistency.finalQueryMismatches, 0, 'roomsOf / membersOf at the end');
    assert.equal(consistency.unexpectedDisconnects, 0);
    assert.equal(report.inconsistent, 0);
  });

  it('kept the ordering guarantee: no announcement sent after a confirmed leave reached the socket that left', () => {
    const { leaves, joins, unreachableJoins } = report.consistency.orderingSamples;
    assert.ok(leaves.verified > 50, `only ${leaves.verified} leave samples`);
    assert.equal(leaves.broken, 0);
    assert.equal(leaves.brokenDuringFaults, 0);
    assert.ok(joins.verified > 50, `only ${joins.verified} join samples`);
    assert.equal(joins.broken, 0, 'an announcement sent after a confirmed join missed its socket');
    assert.equal(unreachableJoins.broken, 0, 'an announcement sent after a join that did not reach its socket reached it');
  });

  it('brought the server cut off back by its catch-up: every removal confirmed without it applied, no join that missed it, no last resort', () => {
    const { partition } = report.faults!;
    assert.equal(partition.cameBack?.how, 'caught up', JSON.stringify(partition.cameBack));
    assert.equal(partition.cameBack.removalsApplied, partition.confirmedWithoutIt.removals, 'it applied exactly the removals confirmed without it');
    assert.ok(partition.rejoinedAfterMs !== null && partition.rejoinedAfterMs < 5000, `back ${partition.rejoinedAfterMs} ms after the heal`);
    assert.ok(partition.recoveryMs !== null && partition.recoveryMs < 5000, `whole-cluster operations back ${partition.recoveryMs} ms after the heal`);
    // Its membership once back, its sockets' operations paused: the model, with the partition's semantics.
    assert.ok(partition.afterHeal && partition.afterHeal.pairsChecked > 20, JSON.stringify(partition.afterHeal));
    assert.equal(partition.afterHeal.mismatches, 0, JSON.stringify(partition.afterHeal.examples));
    assert.equal(partition.afterHeal.missingSockets, 0);
  });

  it('disconnected only the sockets a server said it disconnected, and none for the Redis restart', () => {
    const { disconnects } = report.consistency;
    assert.equal(disconnects.unexplained, 0, JSON.stringify(disconnects));
    assert.equal(disconnects.unseen, 0, JSON.stringify(disconnects));
    assert.deepEqual(report.faults!.redisOutage.disconnects, { conflict: 0, lastResort: 0 });
    assert.equal(report.faults!.partition.disconnects.lastResort, 0);
    assert.deepEqual(disconnects.byFault.none, { conflict: 0, lastResort: 0 });
  });

  it('kept the other servers working within the timeout, and recovered from the Redis restart and the kill', () => {
    assert.ok(report.latencyMs.maxAnswered! <= report.latencyMs.maxAllowed, `slowest answer ${report.latencyMs.maxAnswered} ms`);
    const { redisOutage, serverKill } = report.faults!;
    assert.ok(redisOutage.recoveryMs !== null && redisOutage.recoveryMs < 5000, `recovery after Redis: ${redisOutage.recoveryMs} ms`);
    // Whole-cluster operations wait until the dead server has been silent for 3.5 s.
    assert.ok(serverKill.recoveryMs !== null && serverKill.recoveryMs < 3500 + 2500 + 1000, `recovery after the kill: ${serverKill.recoveryMs} ms`);
    assert.ok(serverKill.confirmedWhileForgetting > 0, 'operations on the live servers were confirmed meanwhile');
  });

  it('crashed nothing and left no unhandled rejection', () => {
    assert.deepEqual(report.health.serversCrashed, []);
    assert.deepEqual(report.health.unhandledInServers, []);
    assert.equal(report.health.driverUnhandledRejections, 0);
  });

  it('held its resources: heap within 10 %, no request left pending, one Redis subscription set per server', () => {
    for (const server of report.resources.servers.filter((s) => !s.killed)) {
      assert.ok(server.heapChangePct !== null && server.heapChangePct <= 10, `${server.server}: heap ${server.heapStartMB} → ${server.heapEndMB} MB`);
      assert.ok(server.pendingPeak! > 0, `${server.server}: the pending-request probe never saw a request (see soak/server-main.js)`);
      assert.equal(server.pendingEnd, 0, `${server.server}: requests still pending`);
    }
    const { redis } = report.resources;
    assert.equal(redis.subscribersEnd, 2);
    assert.deepEqual(redis.subscriptionsPerServerEnd, redis.subscriptionsPerServerStart);
    assert.ok(redis.subscriptionsPerServerPeak <= redis.subscriptionsPerServerStart[1]);
    assert.equal(report.ok, true, report.failures.join('; '));
  });
});
