/**
 * The soak, short: the engine of `npm run soak` (soak/engine.ts, README "Reliability") with 300
 * sockets for 20 s, Redis killed for 5 s and restarted, and one of the three servers SIGKILLed.
 */
import assert from 'node:assert/strict';
import { runSoak, type SoakReport } from '../../soak/engine';
import { describeReport } from '../../soak/run';

describe('the soak, short: three servers, 300 sockets, 20 s, Redis restarted and a server SIGKILLed', function () {
  this.timeout(120_000);

  let report: SoakReport;

  before(async () => {
    report = await runSoak({
      sockets: 300,
      durationMs: 20_000,
      warmupMs: 2_000,
      groups: 24,
      roomsPerGroup: 6,
      timeoutMs: 2500,
      // Longer than the 3.5 s after which servers forget a silent peer.
      faults: { redisOutageAtMs: 4_000, redisOutageMs: 5_000, killServerAtMs: 12_000 },
      seed: Date.now() % 100_000,
    });
  });

  afterEach(function () {
    if (this.currentTest?.state === 'failed' && report) {
      console.log(describeReport(report).join('\n'));
      console.log(JSON.stringify(report.anomalies.slice(0, 10), null, 1));
    }
  });

  it('ran a real load and both faults', () => {
    assert.ok(report.operations.total > 1000, `only ${report.operations.total} operations`);
    assert.ok(report.operations.confirmed > 500);
    assert.ok(report.faults);
    assert.ok(report.faults.redisOutage.downMs >= 5000);
    // During the outage changes to sockets of the server asked still apply; the others fail with a code.
    assert.ok(report.faults.redisOutage.confirmedDuringOutage > 0);
    assert.ok((report.faults.redisOutage.failuresByCode.E_UNAVAILABLE ?? 0) > 0, JSON.stringify(report.faults.redisOutage));
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
    const { leaves, joins } = report.consistency.orderingSamples;
    assert.ok(leaves.verified > 50, `only ${leaves.verified} leave samples`);
    assert.equal(leaves.broken, 0);
    assert.equal(leaves.brokenDuringFaults, 0);
    assert.ok(joins.verified > 50, `only ${joins.verified} join samples`);
    assert.equal(joins.broken, 0, 'an announcement sent after a confirmed join missed its socket');
  });

  it('kept the other servers working within the timeout, and recovered from both faults', () => {
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
