/**
 * `npm run soak`: the full soak (README, "Reliability"). Prints the figures, writes them to
 * soak/results/latest.json, and exits non-zero unless nothing was lost and nothing was inconsistent.
 *
 *   npm run soak -- --sockets 3000 --duration 120 --warmup 10 --groups 48 --seed 1 [--no-faults] [--out FILE]
 *                   [--failover] [--when-redis-down wait|fail] [--timeout MS]
 *
 * --failover: Redis behind Sentinel (a primary, a replica, three sentinels), and the Redis outage a
 * failover: the primary SIGKILLed, the replica promoted. --when-redis-down sets the servers'
 * sails.config.rooms.whenRedisDown; --timeout their `timeout` (2500 ms by default).
 */
import { execFileSync } from 'node:child_process';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { runSoak, type SoakOptions, type SoakReport } from './engine';
import type { Outcomes } from './report';

export const FULL_SOAK: Omit<SoakOptions, 'log'> = {
  sockets: 3000,
  durationMs: 120_000,
  warmupMs: 10_000,
  groups: 48,
  roomsPerGroup: 8,
  timeoutMs: 2500,
  // Redis restarted in the first third, a server cut off in the middle, another SIGKILLed in the last third.
  faults: { redisOutageAtMs: 30_000, redisOutageMs: 5_000, partitionAtMs: 54_000, partitionMs: 6_000, killServerAtMs: 90_000 },
  seed: 1,
};

function parseArgs(argv: string[]): { options: Omit<SoakOptions, 'log'>; out: string } {
  const options = { ...FULL_SOAK };
  let out = path.resolve(__dirname, 'results/latest.json');
  let faults = true;
  for (let i = 0; i < argv.length; i += 1) {
    const value = () => {
      const next = argv[++i];
      if (next === undefined) throw new Error(`${argv[i - 1]} needs a value`);
      return next;
    };
    switch (argv[i]) {
      case '--sockets': options.sockets = Number(value()); break;
      case '--duration': options.durationMs = Number(value()) * 1000; break;
      case '--warmup': options.warmupMs = Number(value()) * 1000; break;
      case '--groups': options.groups = Number(value()); break;
      case '--seed': options.seed = Number(value()); break;
      case '--no-faults': faults = false; break;
      case '--failover': options.failover = true; break;
      case '--when-redis-down': options.whenRedisDown = whenRedisDown(value()); break;
      case '--timeout': options.timeoutMs = positiveMs('--timeout', value()); break;
      case '--out': out = path.resolve(value()); break;
      default: throw new Error(`unknown option ${argv[i]}`);
    }
  }
  // Faults at the same fractions of the run as in the default 120 s run.
  options.faults = faults ? {
    redisOutageAtMs: Math.round(options.durationMs * 0.25),
    redisOutageMs: 5_000,
    partitionAtMs: Math.round(options.durationMs * 0.45),
    partitionMs: 6_000,
    killServerAtMs: Math.round(options.durationMs * 0.75),
  } : false;
  return { options, out };
}

function whenRedisDown(value: string): 'wait' | 'fail' {
  if (value !== 'wait' && value !== 'fail') throw new Error(`--when-redis-down ${value}: use wait or fail`);
  return value;
}

function positiveMs(flag: string, value: string): number {
  const ms = Number(value);
  if (!Number.isInteger(ms) || ms <= 0) throw new Error(`${flag} ${value}: use a whole number of milliseconds`);
  return ms;
}

const outcomes = ({ confirmed, failedByCode }: Outcomes) => `${confirmed} confirmed, failed ${JSON.stringify(failedByCode)}`;

function describeRedisOutage(o: NonNullable<SoakReport['faults']>['redisOutage'], config: SoakReport['config']): string[] {
  const sockets = `sockets disconnected ${o.disconnects.conflict + o.disconnects.lastResort} (last resort ${o.disconnects.lastResort})`;
  const lines = [o.kind === 'failover'
    ? `failover: the primary SIGKILLed, +switch-master ${o.downMs} ms later: failures ${JSON.stringify(o.failuresByCode)} (${JSON.stringify(o.failuresWhileReconnectingByCode)} of them issued after the switch), ${o.confirmedDuringOutage} changes confirmed meanwhile; `
      + `cluster operations back ${o.recoveryMs} ms after +switch-master (${JSON.stringify(o.recoveryMsByServer)}); ${sockets}; the killed primary back as a replica ${o.formerPrimaryRejoinedMs ?? 'never'} ms after the kill`
    : `Redis down ${o.downMs} ms: failures ${JSON.stringify(o.failuresByCode)} (${JSON.stringify(o.failuresWhileReconnectingByCode)} of them issued once Redis was back), ${o.confirmedDuringOutage} changes confirmed meanwhile; cluster operations back ${o.recoveryMs} ms after restart (${JSON.stringify(o.recoveryMsByServer)}); ${sockets}`];
  const t = o.byTimeLeft;
  lines.push(`  operations the ${o.kind === 'failover' ? 'failover' : 'outage'} met (whenRedisDown ${config.whenRedisDown ?? 'not set'}, timeout ${config.timeoutMs} ms): sent before their server knew, ${outcomes(t.sentBeforeNoticed)}; `
    + `asked while it knew, by the time left of their timeout when it recovered: ≥ 500 ms ${outcomes(t.wellWithin)}; 0-500 ms ${outcomes(t.justWithin)}; none ${outcomes(t.past)}`);
  for (const f of t.failedWellWithin.slice(0, 3)) lines.push(`  failed with ${f.timeLeftMs} ms left: #${f.n} ${f.type} on ${f.server}, ${f.code} after ${f.tookMs} ms, started ${f.startedMsAfterKill} ms after the kill`);
  return lines;
}

export function describeReport(report: SoakReport): string[] {
  const lines = [
    `operations: ${report.operations.total} (${report.operations.confirmed} confirmed, failed with a code: ${JSON.stringify(report.operations.failedWithCode)}, issuer killed: ${report.operations.issuerKilled}, socket disconnected by its server before the answer: ${report.operations.socketDropped}, lost: ${report.operations.lost}); ${report.operations.broadcasts} broadcasts`,
    `throughput: ${report.throughput.opsPerSecond} ops/s overall; per second outside faults: median ${report.throughput.medianPerSecond}, min ${report.throughput.minPerSecond}; min during faults ${report.throughput.minPerSecondDuringFaults}`,
    `confirmed latency: p50 ${report.latencyMs.confirmedP50} ms, p99 ${report.latencyMs.confirmedP99} ms (by ID p50/p99 ${report.latencyMs.byIdRemoteP50}/${report.latencyMs.byIdRemoteP99}, room-to-rooms ${report.latencyMs.roomToRoomsP50}/${report.latencyMs.roomToRoomsP99}); slowest answer ${report.latencyMs.maxAnswered} ms (allowed ${report.latencyMs.maxAllowed})`,
  ];
  if (report.faults) {
    const { redisOutage: o, partition: p, serverKill: k } = report.faults;
    lines.push(...describeRedisOutage(o, report.config));
    const back = p.cameBack;
    lines.push(`${p.server} cut off from Redis for ${p.cutMs} ms (fenced by the others after ${p.fencedAfterMs} ms): failures ${JSON.stringify(p.failuresByCode)}, ${p.confirmedMeanwhile} changes confirmed meanwhile, `
      + `of them without it ${p.confirmedWithoutIt.removals} removals (recorded for it) and ${p.confirmedWithoutIt.joinsAndAdds} joins/adds (not reaching it); `
      + `${back ? (back.how === 'caught up' ? `caught up ${p.rejoinedAfterMs} ms after the heal, applying ${back.removalsApplied} removals (${back.membershipsTakenOut} memberships taken out)` : `LAST RESORT ${p.rejoinedAfterMs} ms after the heal: ${back.why}`) : 'did not say it was back'}; `
      + `whole-cluster operations back after ${p.recoveryMs} ms; sockets disconnected for a conflict ${p.disconnects.conflict}, by the last resort ${p.disconnects.lastResort}; `
      + `its membership after the heal: ${p.afterHeal ? `${p.afterHeal.pairsChecked} pairs checked, ${p.afterHeal.mismatches} mismatched, ${p.afterHeal.missingSockets} sockets missing (groups paused ${p.afterHeal.pausedMs} ms)` : 'not checked'}`);
    lines.push(`${k.server} SIGKILLed (${k.socketsLost} sockets): failures ${JSON.stringify(k.failuresByCode)}, ${k.confirmedWhileForgetting} changes confirmed meanwhile; whole-cluster operations back after ${k.recoveryMs} ms`);
  }
  const c = report.consistency;
  lines.push(`consistency: ${c.final.pairsChecked} (socket, room) pairs checked, ${c.final.mismatches} mismatched; ${c.final.uncertainPairs} depended on failed operations (${c.final.unknownsResolved.applied} applied, ${c.final.unknownsResolved.notApplied} not); queries ${c.onlineQueryMismatches}+${c.finalQueryMismatches} wrong; results ${c.resultCountMismatches} wrong; probes confirmed without a server they did not count as cut off ${c.probeMismatches}; after the heal ${c.afterHealMismatches} wrong; not judged: ${c.answersExcused.byDisconnect} (socket disconnected meanwhile), ${c.answersExcused.byFault} (fault)`);
  const { leaves, joins, unreachableJoins } = c.orderingSamples;
  lines.push(`ordering: ${leaves.verified} confirmed leaves announced from their callback, ${leaves.broken} announcements reached the socket that left (${leaves.brokenDuringFaults} during faults, ${leaves.unverifiable} unverifiable); ${joins.verified} confirmed joins announced, ${joins.broken} missed the socket that joined (${joins.brokenDuringFaults} during faults, ${joins.unverifiable} unverifiable, of which ${joins.senderKilled.samples} sent by the server SIGKILLed, ${joins.senderKilled.samples - joins.senderKilled.announced} of those missed); ${unreachableJoins.verified} joins confirmed without reaching the socket announced, ${unreachableJoins.broken} reached it (${unreachableJoins.unverifiable} unverifiable)`);
  const d = c.disconnects;
  lines.push(`disconnects: ${d.total} sockets disconnected by running servers (${Object.entries(d.byServer).filter(([, s]) => s.seen + s.conflict + s.lastResort > 0).map(([name, s]) => `${name}: ${s.seen} seen, said ${s.conflict} for a conflict, ${s.lastResort} by the last resort`).join('; ') || 'none'}); ${d.unexplained} unexplained, ${d.unseen} said but not seen`);
  for (const line of d.said.filter((said) => said.how === 'last resort')) lines.push(`  ${line.server} at ${line.at} (${line.fault}): last resort, ${line.sockets} sockets: ${line.why}`);
  const changed = Object.entries(report.standings).filter(([, changes]) => changes.length > 1);
  lines.push(`standings (sampled every 250 ms): ${changed.map(([server, changes]) => `${server} ${changes.join(' → ')}`).join('; ') || 'every server a member throughout'}`);
  for (const s of report.resources.servers) {
    lines.push(s.killed
      ? `${s.server}: killed (heap at start ${s.heapStartMB} MB)`
      : `${s.server}: heap ${s.heapStartMB} → ${s.heapEndMB} MB (${s.heapChangePct}%); transport maps start/peak/end: ${s.maps.map((m) => `${m.name} ${m.start}/${m.peak}/${m.end}`).join(', ')}`);
  }
  const r = report.resources.redis;
  lines.push(`Redis: ${r.subscribersStart} → ${r.subscribersEnd} subscribed connections with [${r.subscriptionsPerServerStart}] → [${r.subscriptionsPerServerEnd}] subscriptions each (peak ${r.subscriptionsPerServerPeak}); connections per server ${r.connectionsPerServerStart} → ${r.connectionsPerServerEnd}`);
  lines.push(`health: crashed ${JSON.stringify(report.health.serversCrashed)}, unhandled ${report.health.unhandledInServers.length} (servers) + ${report.health.driverUnhandledRejections} (driver)`);
  for (const failure of report.failures) lines.push(`FAILED: ${failure}`);
  lines.push(report.summary);
  return lines;
}

/** The commit measured (SOAK_COMMIT when run outside a git work tree), and whether lib/ had changes on top. */
function commitMeasured(): string {
  if (process.env.SOAK_COMMIT) return process.env.SOAK_COMMIT;
  try {
    const git = (...args: string[]) => execFileSync('git', args, { cwd: path.resolve(__dirname, '..'), encoding: 'utf8' }).trim();
    return `${git('rev-parse', '--short', 'HEAD')}${git('status', '--porcelain', 'lib') ? ' + uncommitted changes in lib/' : ''}`;
  } catch {
    return 'unknown';
  }
}

async function main() {
  const { options, out } = parseArgs(process.argv.slice(2));
  const report = await runSoak({ ...options, log: (line) => console.log(line) });
  await mkdir(path.dirname(out), { recursive: true });
  await writeFile(out, `${JSON.stringify({ commit: commitMeasured(), ...report }, null, 2)}\n`);
  const lines = describeReport(report);
  for (const line of lines.slice(0, -1)) console.log(line);
  console.log(`(figures written to ${path.relative(process.cwd(), out)})`);
  // The last line: the verdict.
  console.log(lines[lines.length - 1]);
  if (!report.ok) process.exitCode = 1;
}

if (require.main === module) {
  main().catch((err) => {
    console.error(err);
    process.exitCode = 1;
  });
}
