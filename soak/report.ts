/**
 * The soak's figures and verdict (soak/results/latest.json, README "Reliability"): operations and
 * their outcomes, throughput, latency, each fault's failures and recovery, consistency with the
 * model, resources, health. `lost` and `inconsistent` make the last line; every other failure is
 * listed in `failures` and makes the run fail too.
 */
import os from 'node:os';
import { healthOf, type ServerState, type SoakServer } from './cluster';
import type { DisconnectFigures, FinalChecks, OrderingFigures, Settled } from './checks';
import type { FaultOutcome, FaultPlan, HealCheck, Recovery } from './faults';
import type { Fleet } from './fleet';
import type { Findings } from './findings';
import { MEMBERSHIP_TYPES, missedCutOff, recordedForCutOff, type Load, type OpRecord } from './load';
import type { CheckResult } from './model';
import type { RedisFigures, ResourceWatch } from './resources';
import { mb, percentile, round, roundEach, tally } from './stats';
import type { Timeline } from './timeline';

/** Above `timeout`, what an answer may take on this 2-core box (HTTP, event loops shared with 3 servers and the driver). */
const LATENCY_SLACK_MS = 2000;
const HEAP_TOLERANCE = 0.10;
/** An operation whose server recovered at least this long before its timeout ran out had its outage end "well within" it. */
const WELL_WITHIN_MS = 500;
/** Log lines of each server kept in the report. */
const SAID_KEPT = 100;
/** What a server logs when it loses Redis (lib/transport/redis/link.ts). */
const LOST_REDIS = /sails-hook-rooms: lost the connection to Redis/;

export interface SoakConfig {
  sockets: number;
  durationMs: number;
  warmupMs: number;
  groups: number;
  roomsPerGroup: number;
  timeoutMs: number;
  faults: false | FaultPlan;
  seed: number;
  /** Redis behind Sentinel, and its outage a failover (default: one Redis, restarted). */
  failover?: boolean;
  /** sails.config.rooms.whenRedisDown of the servers (left out of their config when undefined). */
  whenRedisDown?: 'wait' | 'fail';
}

/** Operations by outcome: confirmed, or failed with a code. */
export interface Outcomes {
  confirmed: number;
  failedByCode: Record<string, number>;
}

type Disconnects = { conflict: number; lastResort: number };

export interface SoakReport {
  date: string;
  machine: { cpus: number; node: string; redis: string; platform: string };
  config: SoakConfig;
  operations: {
    total: number;
    confirmed: number;
    failedWithCode: Record<string, number>;
    issuerKilled: number;
    /** A socket's own requests left unanswered because its server disconnected it meanwhile (a conflict after the partition). */
    socketDropped: number;
    lost: number;
    byType: Record<string, { total: number; confirmed: number; failed: number }>;
    broadcasts: number;
    warmup: number;
  };
  throughput: {
    opsPerSecond: number;
    medianPerSecond: number | null;
    minPerSecond: number | null;
    minPerSecondDuringFaults: number | null;
    /** Operations answered in each second of the run; `faultSeconds` marks those from a fault to `timeout` after the recovery. */
    perSecond: number[];
    faultSeconds: number[];
  };
  latencyMs: {
    confirmedP50: number | null;
    confirmedP99: number | null;
    byIdRemoteP50: number | null;
    byIdRemoteP99: number | null;
    roomToRoomsP50: number | null;
    roomToRoomsP99: number | null;
    maxAnswered: number | null;
    maxAllowed: number;
  };
  faults: null | {
    redisOutage: {
      /** Redis killed and restarted, or (Sentinel) the primary killed and the replica promoted. */
      kind: 'restart' | 'failover';
      /** From the kill until Redis was back: restarted, or the sentinels' first +switch-master. */
      downMs: number;
      failuresByCode: Record<string, number>;
      /** Of those, the operations issued after Redis was back, while the servers reconnected. */
      failuresWhileReconnectingByCode: Record<string, number>;
      confirmedDuringOutage: number;
      /** From Redis back until every live server's whole-cluster operations worked. */
      recoveryMs: number | null;
      recoveryMsByServer: Record<string, number | null>;
      /** Sockets disconnected meanwhile: an outage of Redis itself must disconnect none. */
      disconnects: Disconnects;
      /** Failover: from the kill until the killed primary was back as a replica of the new one (null: it did not come back). */
      formerPrimaryRejoinedMs?: number | null;
      /**
       * The operations the outage met. Those its server had sent before it knew Redis was away (its
       * "lost the connection" line) cannot wait: their replies may be lost. Those asked while it knew,
       * until it recovered, by how much of their `timeout` was left when it recovered: at least
       * 500 ms (the outage ended well within it), less, or none (it ended after their timeout).
       */
      byTimeLeft: {
        sentBeforeNoticed: Outcomes;
        wellWithin: Outcomes;
        justWithin: Outcomes;
        past: Outcomes;
        /** Some of those that failed although the outage ended well within their timeout. */
        failedWellWithin: Array<{ n: number; type: string; server: string; code: string; startedMsAfterKill: number; timeLeftMs: number; tookMs: number }>;
      };
    };
    partition: {
      server: string;
      cutMs: number;
      /** When the others fenced it, after the cut (Redis' clock). */
      fencedAfterMs: number | null;
      /** Operations overlapping it, from the cut to the recovery. */
      failuresByCode: Record<string, number>;
      confirmedMeanwhile: number;
      /** Confirmed without it: removals (recorded for it), joins and adds (that did not reach it). */
      confirmedWithoutIt: { removals: number; joinsAndAdds: number };
      /** What it said when it came back (null: nothing within 20 s of the heal). */
      cameBack: null | {
        how: 'caught up' | 'last resort';
        cutOffS: number;
        why: string;
        /** Caught up: the removals it applied, and the memberships they took out. */
        removalsApplied: number | null;
        membershipsTakenOut: number | null;
      };
      /** From the heal until it said it was back, and until every live server's whole-cluster operations worked with it. */
      rejoinedAfterMs: number | null;
      recoveryMs: number | null;
      recoveryMsByServer: Record<string, number | null>;
      disconnects: Disconnects;
      /** Its membership once it was back, against the model. */
      afterHeal: HealCheck | null;
    };
    serverKill: {
      server: string;
      socketsLost: number;
      failuresByCode: Record<string, number>;
      confirmedWhileForgetting: number;
      recoveryMs: number | null;
    };
  };
  consistency: {
    final: Omit<CheckResult, 'mismatches'> & { mismatches: number; examples: CheckResult['mismatches'] };
    onlineQueryMismatches: number;
    /** Confirmed operations whose result (matched, notFound, unreachable, servers answering) contradicts the model. */
    resultCountMismatches: number;
    /** Recovery probes (operations needing every server) confirmed without a live server their result did not count as cut off. */
    probeMismatches: number;
    finalQueryMismatches: number;
    missingSockets: number;
    /** The partitioned server's membership after the heal: pairs and sockets that contradict the model. */
    afterHealMismatches: number;
    /** Answers not judged: about a socket its server disconnected meanwhile, or explained by a fault. */
    answersExcused: { byDisconnect: number; byFault: number };
    /** Confirmed leaves / joins (and joins that did not reach the socket) announced from their callback. */
    orderingSamples: { leaves: OrderingFigures; joins: OrderingFigures; unreachableJoins: OrderingFigures };
    /** Sockets a running server disconnected, and what the servers said of them. */
    disconnects: DisconnectFigures;
    /** Of those, disconnects no server explained. */
    unexpectedDisconnects: number;
    flushed: boolean;
  };
  resources: {
    servers: Array<{
      server: string;
      heapStartMB: number;
      heapEndMB: number | null;
      heapChangePct: number | null;
      /** The transport's map of requests waiting for other servers (null: not found, see server-main.js). */
      pendingPeak: number | null;
      pendingEnd: number | null;
      /** Every map the transport created at lift: size after the warm-up, largest seen (sampled each second), at the end. */
      maps: Array<{ name: string; start: number | null; peak: number | null; end: number | null }>;
      timersStart: number;
      timersEnd: number | null;
      killed: boolean;
    }>;
    redis: {
      /** Subscribed connections: one per live server. */
      subscribersStart: number;
      subscribersEnd: number;
      /** [fewest, most] subscriptions of one server's connection. */
      subscriptionsPerServerStart: [number, number];
      subscriptionsPerServerEnd: [number, number];
      subscriptionsPerServerPeak: number;
      connectionsPerServerStart: number;
      connectionsPerServerEnd: number;
    };
  };
  health: { serversCrashed: string[]; unhandledInServers: string[]; driverUnhandledRejections: number };
  anomalies: unknown[];
  /** What each server's hook logged (its first lines), with when into the run the driver read them. */
  said: Record<string, string[]>;
  /** Each server's standing (member, holding, fenced) when a sample (every 250 ms) found it changed, with when into the run. */
  standings: Record<string, string[]>;
  lost: number;
  inconsistent: number;
  failures: string[];
  ok: boolean;
  summary: string;
  durationMs: number;
}

/** Everything the run produced that the report is made of. */
export interface RunFigures {
  config: SoakConfig;
  servers: readonly SoakServer[];
  fleet: Fleet;
  load: Load;
  timeline: Timeline;
  findings: Findings;
  resources: ResourceWatch;
  /** Each live server's state at the end, after a reset and a full GC; Redis' figures then. */
  endStates: ReadonlyMap<string, ServerState>;
  redisEnd: RedisFigures;
  faults: FaultOutcome | null;
  settled: Settled;
  checks: FinalChecks;
  mainEnd: number;
  driverUnhandledRejections: number;
  redisVersion: string;
  startedAt: number;
}

export function buildReport(run: RunFigures): SoakReport {
  const { config, servers, fleet, load, timeline, findings, resources, endStates, redisEnd, faults, settled, checks } = run;
  const { records } = load;
  const { mainStart } = timeline;
  const live = settled.live;

  const byType: SoakReport['operations']['byType'] = {};
  for (const r of records) {
    const entry = byType[r.type] ?? (byType[r.type] = { total: 0, confirmed: 0, failed: 0 });
    entry.total += 1;
    if (r.outcome === 'confirmed') entry.confirmed += 1;
    if (r.outcome === 'failed') entry.failed += 1;
  }
  const confirmed = records.filter((r) => r.outcome === 'confirmed');
  const latencies = (list: OpRecord[]) => list.map((r) => r.end - r.start);
  const answeredByLive = records.filter((r) => r.outcome === 'confirmed' || r.outcome === 'failed');
  // A loop, not Math.max(...): a run holds more operations than a call has room for arguments.
  const maxAnswered = answeredByLive.length ? latencies(answeredByLive).reduce((max, latency) => Math.max(max, latency), -Infinity) : null;
  const maxAllowed = config.timeoutMs + LATENCY_SLACK_MS;
  const seconds = Math.max(1, Math.ceil((run.mainEnd - mainStart) / 1000));
  const perSecond = new Array<number>(seconds).fill(0);
  for (const r of records) perSecond[Math.min(seconds - 1, Math.floor((r.end - mainStart) / 1000))]! += 1;
  const faultSeconds = new Set<number>();
  for (const { from, to } of timeline.windows()) {
    const last = Math.min(seconds - 1, Math.floor((Math.min(to, run.mainEnd) - mainStart) / 1000));
    for (let s = Math.floor((from - mainStart) / 1000); s <= last; s += 1) faultSeconds.add(s);
  }
  // The last second is partial.
  const steady = perSecond.filter((_, s) => !faultSeconds.has(s) && s < seconds - 1);
  const during = perSecond.filter((_, s) => faultSeconds.has(s));
  // Operations that overlapped a fault, from its start to the cluster's recovery.
  const inWindow = (from?: number, to?: number) => records.filter((r) => from !== undefined && r.end >= from && r.start <= (to ?? run.mainEnd));
  const outageOps = inWindow(timeline.redisKilledAt, timeline.redisRecoveredAt);
  const partitionOps = inWindow(timeline.cutAt, timeline.partitionRecoveredAt);
  const killOps = inWindow(timeline.serverKilledAt, timeline.serverRecoveredAt);
  const failedCodes = (list: OpRecord[]) => tally(list.filter((r) => r.outcome === 'failed').map((r) => r.code!));
  const outageByTimeLeft = faults ? byTimeLeft(records, timeline, faults.redisRecovery, servers, config.timeoutMs) : undefined;
  const confirmedChanges = (list: OpRecord[]) => list.filter((r) => r.outcome === 'confirmed' && MEMBERSHIP_TYPES.includes(r.type)).length;

  const { verdicts, ordering, disconnects } = checks;
  const heal = faults?.partition.heal ?? null;
  const afterHealMismatches = heal ? heal.mismatches + heal.missingSockets : 0;
  const lost = records.filter((r) => r.outcome === 'lost').length;
  const inconsistent = checks.final.mismatches.length + verdicts.onlineQueryMismatches + verdicts.resultCountMismatches + findings.probeMismatches
    + checks.finalQueryMismatches + checks.missingSockets + checks.brokenOutsideFaults + afterHealMismatches;

  const serverResources = servers.map((server) => {
    const start = resources.baseline.get(server.name)!;
    const end = endStates.get(server.name);
    if (end) resources.sampleMaps(server.name, end);
    const maps = start.maps.map((map) => ({
      name: map.name,
      start: map.size,
      peak: resources.mapPeaks.get(server.name)?.get(map.site) ?? null,
      end: end?.maps.find((candidate) => candidate.site === map.site)?.size ?? null,
    }));
    const pending = maps.find((map) => map.name === 'pending');
    return {
      server: server.name,
      heapStartMB: mb(start.heapUsed),
      heapEndMB: end ? mb(end.heapUsed) : null,
      heapChangePct: end ? round(((end.heapUsed - start.heapUsed) / start.heapUsed) * 100, 1) : null,
      pendingPeak: pending?.peak ?? null,
      pendingEnd: pending?.end ?? null,
      maps,
      timersStart: start.resources.Timeout ?? 0,
      timersEnd: end ? end.resources.Timeout ?? 0 : null,
      killed: !server.alive,
    };
  });
  const { redisStart } = resources;
  const redisResources = {
    subscribersStart: redisStart.subscribers,
    subscribersEnd: redisEnd.subscribers,
    subscriptionsPerServerStart: [redisStart.minPerSubscriber, redisStart.maxPerSubscriber] as [number, number],
    subscriptionsPerServerEnd: [redisEnd.minPerSubscriber, redisEnd.maxPerSubscriber] as [number, number],
    subscriptionsPerServerPeak: resources.subscriptionsPeak,
    connectionsPerServerStart: round(redisStart.connections / servers.length, 2)!,
    connectionsPerServerEnd: round(redisEnd.connections / live.length, 2)!,
  };

  const health = servers.map((server) => ({ server, ...healthOf(server) }));
  const serversCrashed = health.filter((h) => h.server.alive && !h.running).map((h) => `${h.server.name} (${h.exit})`);
  const unhandledInServers = health.flatMap((h) => h.unhandled.map((line) => `${h.server.name}: ${line}`));

  const partitioned = timeline.partitioned === undefined ? undefined : servers[timeline.partitioned];
  const standing = faults?.partition.standing ?? null;
  const removalsRecorded = partitionOps.filter(recordedForCutOff).length;

  const failures: string[] = [];
  if (lost > 0) failures.push(`${lost} operation(s) lost`);
  if (inconsistent > 0) failures.push(`${inconsistent} inconsistenc(ies)`);
  if (serversCrashed.length > 0) failures.push(`servers crashed: ${serversCrashed.join(', ')}`);
  if (unhandledInServers.length > 0) failures.push(`unhandled errors in servers: ${unhandledInServers.slice(0, 3).join(' | ')}`);
  if (run.driverUnhandledRejections > 0) failures.push(`${run.driverUnhandledRejections} unhandled rejection(s) in the driver`);
  if (!settled.flushed) failures.push('sentinels did not reach every socket');
  if (disconnects.unexplained > 0) failures.push(`${disconnects.unexplained} socket(s) disconnected by a running server that did not say why`);
  if (disconnects.unseen > 0) failures.push(`servers said they disconnected ${disconnects.unseen} socket(s) their clients did not see go`);
  const { redisRestart, none } = disconnects.byFault;
  if (redisRestart.conflict + redisRestart.lastResort > 0) {
    failures.push(`the ${config.failover ? 'failover' : 'Redis restart'} disconnected ${redisRestart.conflict + redisRestart.lastResort} socket(s): an outage of Redis itself must disconnect none`);
  }
  if (none.conflict + none.lastResort > 0) failures.push(`${none.conflict + none.lastResort} socket(s) disconnected outside every fault`);
  if (maxAnswered !== null && maxAnswered > maxAllowed) failures.push(`an answer took ${Math.round(maxAnswered)} ms (timeout ${config.timeoutMs} ms)`);
  for (const r of serverResources) {
    if (r.killed) continue;
    if (r.heapChangePct === null || r.heapChangePct > HEAP_TOLERANCE * 100) failures.push(`${r.server}: heap ${r.heapStartMB} → ${r.heapEndMB} MB`);
    if (r.pendingEnd === null) failures.push(`${r.server}: the transport's pending-request map was not found (soak/server-main.js)`);
    else if (r.pendingEnd !== 0) failures.push(`${r.server}: ${r.pendingEnd} request(s) still pending at the end`);
  }
  if (redisEnd.subscribers !== live.length || redisEnd.minPerSubscriber !== redisStart.minPerSubscriber
    || redisEnd.maxPerSubscriber !== redisStart.maxPerSubscriber || resources.subscriptionsPeak > redisStart.maxPerSubscriber) {
    failures.push(`Redis subscriptions per server: ${JSON.stringify(redisResources)}`);
  }
  if (config.faults) {
    if (timeline.redisRecoveredAt === undefined || timeline.partitionRecoveredAt === undefined || timeline.serverRecoveredAt === undefined) failures.push('the cluster did not recover from a fault');
    if (!standing) failures.push(`${partitioned?.name} did not say it was back within 20 s of the heal`);
    else if (!heal) failures.push(`${partitioned?.name}'s membership was not checked after the heal (see anomalies)`);
    // A plain cut leaves its catch-up record intact: nothing justifies the last resort.
    if (standing?.kind === 'last resort') failures.push(`${partitioned?.name} took the last resort after the partition: ${standing.why}`);
    else if (standing && standing.removals !== removalsRecorded) failures.push(`${partitioned?.name} applied ${standing.removals} removal(s) on coming back; ${removalsRecorded} were confirmed without it`);
    if (config.failover && timeline.formerPrimaryRejoinedAt === undefined) failures.push('the killed primary did not come back as a replica of the new one (see anomalies)');
    const failedWellWithin = Object.values(outageByTimeLeft!.wellWithin.failedByCode).reduce((sum, n) => sum + n, 0);
    if (config.whenRedisDown === 'wait' && failedWellWithin > 0) {
      failures.push(`whenRedisDown 'wait': ${failedWellWithin} operation(s) asked during the Redis outage failed although their server recovered at least ${WELL_WITHIN_MS} ms before their timeout ran out`);
    }
  }

  const total = records.length;
  return {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, redis: run.redisVersion, platform: `${os.platform()} ${os.arch()}` },
    config,
    operations: {
      total,
      confirmed: confirmed.length,
      failedWithCode: failedCodes(records),
      issuerKilled: records.filter((r) => r.outcome === 'issuer-killed').length,
      socketDropped: records.filter((r) => r.outcome === 'socket-dropped').length,
      lost,
      byType,
      broadcasts: load.broadcasts,
      warmup: load.warmupOps,
    },
    throughput: {
      opsPerSecond: round(total / ((run.mainEnd - mainStart) / 1000), 0)!,
      medianPerSecond: percentile(steady, 50),
      minPerSecond: steady.length ? Math.min(...steady) : null,
      minPerSecondDuringFaults: during.length ? Math.min(...during) : null,
      perSecond,
      faultSeconds: [...faultSeconds].sort((x, y) => x - y),
    },
    latencyMs: {
      confirmedP50: round(percentile(latencies(confirmed), 50), 2),
      confirmedP99: round(percentile(latencies(confirmed), 99), 2),
      byIdRemoteP50: round(percentile(latencies(confirmed.filter((r) => r.type === 'join' || r.type === 'leave')), 50), 2),
      byIdRemoteP99: round(percentile(latencies(confirmed.filter((r) => r.type === 'join' || r.type === 'leave')), 99), 2),
      roomToRoomsP50: round(percentile(latencies(confirmed.filter((r) => ['add-members', 'remove-members', 'leave-all'].includes(r.type))), 50), 2),
      roomToRoomsP99: round(percentile(latencies(confirmed.filter((r) => ['add-members', 'remove-members', 'leave-all'].includes(r.type))), 99), 2),
      maxAnswered: round(maxAnswered, 0),
      maxAllowed,
    },
    faults: config.faults && faults ? {
      redisOutage: {
        kind: config.failover ? 'failover' : 'restart',
        downMs: Math.round((timeline.redisBackAt ?? 0) - (timeline.redisKilledAt ?? 0)),
        failuresByCode: failedCodes(outageOps),
        failuresWhileReconnectingByCode: failedCodes(outageOps.filter((r) => r.start >= timeline.redisBackAt!)),
        confirmedDuringOutage: confirmedChanges(outageOps),
        recoveryMs: timeline.redisRecoveredAt !== undefined ? Math.round(timeline.redisRecoveredAt - timeline.redisBackAt!) : null,
        recoveryMsByServer: roundEach(faults.redisRecovery),
        disconnects: disconnects.byFault.redisRestart,
        ...(config.failover ? { formerPrimaryRejoinedMs: timeline.formerPrimaryRejoinedAt !== undefined ? Math.round(timeline.formerPrimaryRejoinedAt - timeline.redisKilledAt!) : null } : {}),
        byTimeLeft: outageByTimeLeft!,
      },
      partition: {
        server: partitioned?.name ?? '?',
        cutMs: Math.round((timeline.healedAt ?? 0) - (timeline.cutAt ?? 0)),
        fencedAfterMs: faults.partition.fencedAfterMs,
        failuresByCode: failedCodes(partitionOps),
        confirmedMeanwhile: confirmedChanges(partitionOps),
        confirmedWithoutIt: { removals: removalsRecorded, joinsAndAdds: partitionOps.filter(missedCutOff).length },
        cameBack: standing && {
          how: standing.kind,
          cutOffS: standing.cutOffS,
          why: standing.why,
          removalsApplied: standing.kind === 'caught up' ? standing.removals : null,
          membershipsTakenOut: standing.kind === 'caught up' ? standing.takenOut : null,
        },
        rejoinedAfterMs: standing && timeline.healedAt !== undefined ? Math.round(standing.at - timeline.healedAt) : null,
        recoveryMs: timeline.partitionRecoveredAt !== undefined ? Math.round(timeline.partitionRecoveredAt - timeline.healedAt!) : null,
        recoveryMsByServer: roundEach(faults.partition.recovery),
        disconnects: disconnects.byFault.partition,
        afterHeal: heal,
      },
      serverKill: {
        server: timeline.victim === undefined ? '?' : servers[timeline.victim]!.name,
        socketsLost: fleet.sockets.filter((socket) => socket.server === timeline.victim).length,
        failuresByCode: failedCodes(killOps),
        confirmedWhileForgetting: confirmedChanges(killOps),
        recoveryMs: timeline.serverRecoveredAt !== undefined ? Math.round(timeline.serverRecoveredAt - timeline.serverKilledAt!) : null,
      },
    } : null,
    consistency: {
      final: { ...checks.final, mismatches: checks.final.mismatches.length, examples: checks.final.mismatches.slice(0, 10) },
      onlineQueryMismatches: verdicts.onlineQueryMismatches,
      resultCountMismatches: verdicts.resultCountMismatches,
      probeMismatches: findings.probeMismatches,
      finalQueryMismatches: checks.finalQueryMismatches,
      missingSockets: checks.missingSockets,
      afterHealMismatches,
      answersExcused: { byDisconnect: verdicts.excusedByDisconnect, byFault: verdicts.excusedByFault },
      orderingSamples: ordering,
      disconnects,
      unexpectedDisconnects: disconnects.unexplained,
      flushed: settled.flushed,
    },
    resources: { servers: serverResources, redis: redisResources },
    health: { serversCrashed, unhandledInServers, driverUnhandledRejections: run.driverUnhandledRejections },
    anomalies: findings.anomalies,
    standings: Object.fromEntries([...resources.standings].map(([server, changes]) => [server, changes.map(({ at, standing }) => `${timeline.since(at)} ${standing}`)])),
    said: Object.fromEntries(servers.map((server) => [server.name, server.said.slice(0, SAID_KEPT).map(({ at, text }) => `${timeline.since(at)} ${text.slice(0, 300)}`)])),
    lost,
    inconsistent,
    failures,
    ok: failures.length === 0,
    summary: `soak: ${total} operations, ${lost} lost, ${inconsistent} inconsistent`,
    durationMs: Math.round(performance.now() - run.startedAt),
  };
}

type TimeLeftFigures = NonNullable<SoakReport['faults']>['redisOutage']['byTimeLeft'];

/**
 * The operations the Redis outage met: sent before their server knew, or asked while it knew, by
 * how much of their timeout was left when it recovered (its first whole-cluster operation
 * confirmed with every live server's answer).
 */
function byTimeLeft(records: readonly OpRecord[], timeline: Timeline, recovery: Recovery, servers: readonly SoakServer[], timeoutMs: number): TimeLeftFigures {
  const outcomes = (): Outcomes => ({ confirmed: 0, failedByCode: {} });
  const figures: TimeLeftFigures = { sentBeforeNoticed: outcomes(), wellWithin: outcomes(), justWithin: outcomes(), past: outcomes(), failedWellWithin: [] };
  const { redisKilledAt: killedAt, redisBackAt: backAt } = timeline;
  if (killedAt === undefined || backAt === undefined) return figures;
  // When each server said it lost Redis (as the driver read it: a little after it knew).
  const noticedAt = servers.map((server) => server.said.find((line) => line.at >= killedAt && LOST_REDIS.test(line.text))?.at ?? killedAt);
  const count = (bucket: Outcomes, r: OpRecord) => {
    if (r.outcome === 'confirmed') bucket.confirmed += 1;
    else bucket.failedByCode[r.code!] = (bucket.failedByCode[r.code!] ?? 0) + 1;
  };
  for (const r of records) {
    if (r.outcome !== 'confirmed' && r.outcome !== 'failed') continue;
    const recoveredAfter = recovery[servers[r.server]!.name];
    const recoveredAt = recoveredAfter === null || recoveredAfter === undefined ? Infinity : backAt + recoveredAfter;
    if (r.end < killedAt || r.start > recoveredAt) continue;
    if (r.start < noticedAt[r.server]!) {
      count(figures.sentBeforeNoticed, r);
      continue;
    }
    const timeLeft = r.start + timeoutMs - recoveredAt;
    const bucket = timeLeft >= WELL_WITHIN_MS ? figures.wellWithin : timeLeft >= 0 ? figures.justWithin : figures.past;
    count(bucket, r);
    if (r.outcome === 'failed' && bucket === figures.wellWithin && figures.failedWellWithin.length < 10) {
      figures.failedWellWithin.push({
        n: r.n, type: r.type, server: servers[r.server]!.name, code: r.code!,
        startedMsAfterKill: Math.round(r.start - killedAt), timeLeftMs: Math.round(timeLeft), tookMs: Math.round(r.end - r.start),
      });
    }
  }
  return figures;
}

