/**
 * The faults of the measured run, each at its time, apart so that the report can tell their effects
 * apart: Redis killed and restarted (a full outage), or behind Sentinel the primary killed and the
 * replica promoted (a failover); one server cut off from Redis through proxies while the others keep
 * it (a partition); one server SIGKILLed. After each, how long until every live server can make
 * whole-cluster operations again.
 *
 * Once the partitioned server says it is back (docs/partitions.md), the groups of its sockets are
 * paused and its membership checked against the model: every removal confirmed without it holds,
 * no join confirmed without it reached it.
 */
import { waitFor } from '../test/support/events';
import type { TestRedis } from '../test/support/redis';
import { disconnectedBy, standingsOf, type SoakServer, type Standing } from './cluster';
import type { SentinelRedis, SoakRedis } from './deployment';
import type { Fleet } from './fleet';
import type { Findings } from './findings';
import { roomKey, type Load } from './load';
import type { Mismatch, MembershipModel } from './model';
import { roundEach } from './stats';
import type { Timeline } from './timeline';

export interface FaultPlan {
  /**
   * Redis killed at this time into the run, and restarted `redisOutageMs` later. Behind Sentinel the
   * primary is killed and, once the cluster works again, restarts as a replica of the promoted one
   * (the outage lasts as long as the failover: `redisOutageMs` only spaces the faults).
   */
  redisOutageAtMs: number;
  redisOutageMs: number;
  /** One server cut off from Redis at this time, for `partitionMs`. */
  partitionAtMs: number;
  partitionMs: number;
  /** Another server SIGKILLed at this time. */
  killServerAtMs: number;
}

export const PROBE_SOURCE = 'soak:probe-source';
const PROBE_DEST = 'soak:probe-dest';
/** The cluster's record in Redis (lib/transport/redis/registry.ts), default key. */
const REGISTRY = '{socket.io-rooms}:servers';
/** How long the partitioned server may take to say it is back after the heal. */
const REJOIN_WAIT_MS = 20_000;
/** An operation in flight ends within the HTTP deadline, plus a sample's waits. */
const QUIESCE_WAIT_MS = 20_000;
const DISCONNECT_NOTICE_WAIT_MS = 5000;

/**
 * Per live server, ms from the fault's end until its first whole-cluster operation confirmed with
 * every live server's answer came back (null: none).
 */
export type Recovery = Record<string, number | null>;

/** The partitioned server's membership, once it said it was back, against the model. */
export interface HealCheck {
  pairsChecked: number;
  mismatches: number;
  uncertainPairs: number;
  /** Its sockets the model has connected, which it no longer holds. */
  missingSockets: number;
  examples: Mismatch[];
  /** How long its sockets' groups were paused for the check. */
  pausedMs: number;
}

export interface PartitionFigures {
  /** When the others fenced it, after the cut (Redis' clock, from the record). */
  fencedAfterMs: number | null;
  /** What it said when it came back: its catch-up, or the last resort. */
  standing: Standing | null;
  recovery: Recovery;
  heal: HealCheck | null;
}

export interface FaultOutcome {
  redisRecovery: Recovery;
  partition: PartitionFigures;
  killRecovery: Recovery;
}

export interface FaultContext {
  plan: FaultPlan;
  timeline: Timeline;
  /** Redis, and the partitioned server's way to it. */
  redis: SoakRedis;
  servers: readonly SoakServer[];
  /** The server behind the proxies, and the one to kill (another). */
  partitioned: SoakServer;
  victim: SoakServer;
  load: Load;
  model: MembershipModel;
  fleet: Fleet;
  findings: Findings;
  timeoutMs: number;
  isGroupRoom(room: string): boolean;
  log(line: string): void;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

const latest = (recovery: Recovery): number | undefined => {
  const times = Object.values(recovery);
  return times.every((t) => t !== null) ? Math.max(...(times as number[])) : undefined;
};

/** Probes one server has waiting at most: with whenRedisDown 'wait', those sent during an outage wait for its end. */
const PROBES_IN_FLIGHT = 4;

/**
 * From `since`, each live server starts every 25 ms (100 ms after 2 s) an operation that needs every
 * other server; it has recovered when the first one that every live server answered comes back
 * (its answer, not its start: one started during the outage may have waited for its end).
 */
async function probeRecovery(ctx: FaultContext, since: number): Promise<Recovery> {
  const { load, findings, servers } = ctx;
  const recoveredAfter: Recovery = {};
  await Promise.all(load.liveServers().map(async (server) => {
    recoveredAfter[server.name] = null;
    const probes: Array<Promise<void>> = [];
    let inFlight = 0;
    while (recoveredAfter[server.name] === null && performance.now() - since < 60_000 && server.alive) {
      if (inFlight >= PROBES_IN_FLIGHT) {
        await sleep(25);
        continue;
      }
      const issued = performance.now();
      inFlight += 1;
      probes.push(server.call('POST', '/rooms/room-to-rooms', { operation: 'add', sourceRoom: PROBE_SOURCE, destRooms: PROBE_DEST }, ctx.timeoutMs + 5000)
        .then((answer) => {
          inFlight -= 1;
          if (answer.status !== 200) return;
          const { servers: answered, unreachableServers = 0 } = answer.body as { servers: number; unreachableServers?: number };
          // Every server of the record answered or was counted cut off (a killed one stays fenced in it).
          if (answered + unreachableServers !== servers.length) {
            findings.probeMismatches += 1;
            findings.anomaly({ kind: 'probe confirmed without a server it did not count as cut off', server: server.name, at: ctx.timeline.since(issued), afterMs: Math.round(issued - since), body: answer.body });
            return;
          }
          // One cut off was counted, not asked: not recovered yet.
          if (answered !== load.liveServers().length) return;
          const after = performance.now() - since;
          if (recoveredAfter[server.name] === null || after < recoveredAfter[server.name]!) recoveredAfter[server.name] = after;
        }));
      // Often at first, when the servers are reconnecting one after the other.
      await sleep(performance.now() - since < 2000 ? 25 : 100);
    }
    await Promise.all(probes);
  }));
  return recoveredAfter;
}

/** Probes from `timeline.redisBackAt` on; the cluster recovered once every live server did. */
async function recoveryFromRedis(ctx: FaultContext): Promise<Recovery> {
  const { timeline, log } = ctx;
  const recovery = await probeRecovery(ctx, timeline.redisBackAt!);
  const after = latest(recovery);
  if (after !== undefined) timeline.redisRecoveredAt = timeline.redisBackAt! + after;
  log(`soak: cluster operations work again after ${JSON.stringify(roundEach(recovery))} ms`);
  return recovery;
}

/** A full outage: Redis killed, and restarted `redisOutageMs` later. */
async function redisRestart(ctx: FaultContext, redis: TestRedis): Promise<Recovery> {
  const { plan, timeline, log } = ctx;
  await sleep(timeline.mainStart + plan.redisOutageAtMs - performance.now());
  timeline.redisKilledAt = performance.now();
  log(`soak: +${Math.round(timeline.redisKilledAt - timeline.mainStart)} ms Redis killed`);
  await redis.kill();
  // The outage itself.
  await sleep(timeline.redisKilledAt + plan.redisOutageMs - performance.now());
  await redis.restart();
  timeline.redisBackAt = performance.now();
  log(`soak: +${Math.round(timeline.redisBackAt - timeline.mainStart)} ms Redis restarted`);
  return recoveryFromRedis(ctx);
}

/**
 * A failover: the primary SIGKILLed, the sentinels promote the replica (from their +switch-master
 * on, there is a Redis to connect to again); once the cluster works again, the killed primary
 * restarts as a replica of the new one, so that the deployment is whole for the faults after.
 */
async function failover(ctx: FaultContext, deployment: SentinelRedis): Promise<Recovery> {
  const { plan, timeline, findings, log } = ctx;
  await sleep(timeline.mainStart + plan.redisOutageAtMs - performance.now());
  const watcher = await deployment.topology.watchSwitch();
  const killed = deployment.primary();
  let switched: { at: number; port: number };
  try {
    timeline.redisKilledAt = performance.now();
    log(`soak: +${Math.round(timeline.redisKilledAt - timeline.mainStart)} ms the primary (${killed.port}) SIGKILLed`);
    await killed.kill();
    switched = await watcher.switched;
  } finally {
    watcher.close();
  }
  deployment.promoted(switched.port);
  // The switch was heard at switched.at (Date.now()); the timeline is on performance.now().
  timeline.redisBackAt = performance.now() - (Date.now() - switched.at);
  log(`soak: +${Math.round(timeline.redisBackAt - timeline.mainStart)} ms +switch-master, ${Math.round(timeline.redisBackAt - timeline.redisKilledAt)} ms after the kill: the replica (${switched.port}) is the primary`);
  const recovery = await recoveryFromRedis(ctx);
  try {
    await deployment.topology.rejoinAsReplica(killed, switched.port);
    timeline.formerPrimaryRejoinedAt = performance.now();
    log(`soak: +${Math.round(timeline.formerPrimaryRejoinedAt - timeline.mainStart)} ms the former primary (${killed.port}) is back, a replica of the new one`);
  } catch (err) {
    // Reported as a failure of the run, not thrown: the other faults still run and count.
    findings.anomaly({ kind: 'the former primary did not rejoin as a replica', error: String(err) });
  }
  return recovery;
}

/** Redis' clock now, in ms (the record's timestamps are on it). */
async function redisNowMs(redis: TestRedis): Promise<number> {
  const [seconds, micros] = await redis.command<string[]>('TIME');
  return Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
}

/** When a server of the record was fenced ("F:<ms>"), Redis' clock; null if none is. */
async function fencedSinceMs(redis: TestRedis): Promise<number | null> {
  const reply = await redis.command<Record<string, string> | string[]>('HGETALL', REGISTRY);
  const states = Array.isArray(reply) ? reply.filter((_, i) => i % 2 === 1) : Object.values(reply);
  const fenced = states.filter((state) => state.startsWith('F:')).map((state) => Number(state.slice(2)));
  return fenced.length > 0 ? Math.min(...fenced) : null;
}

/** Pauses the groups of the partitioned server's sockets and checks its membership against the model. */
async function checkAfterHeal(ctx: FaultContext, cutAt: number): Promise<HealCheck> {
  const { load, model, fleet, partitioned, isGroupRoom } = ctx;
  const pausedAt = performance.now();
  const release = await load.quiesce((group) => group.sockets.some((socket) => socket.server === partitioned.index), QUIESCE_WAIT_MS);
  // It caught up, and none of its sockets' operations is in flight: its view is the cluster's again.
  model.closeLocalView();
  try {
    // The sockets it disconnected (conflicts, or the last resort) leave the model once their clients notice.
    const said = standingsOf(partitioned, cutAt).reduce((sum, standing) => sum + disconnectedBy(standing), 0);
    const noticed = () => fleet.disconnects.filter((d) => d.socket.server === partitioned.index && d.at >= cutAt).length;
    await waitFor(() => noticed() >= said, 'the clients of the sockets it disconnected to notice', DISCONNECT_NOTICE_WAIT_MS).catch(() => {});
    const state = await partitioned.state('?membership=1');
    const actual = new Map(Object.entries(state.membership ?? {}));
    const onIt = (socket: { server: number }) => socket.server === partitioned.index;
    const result = model.check(actual, isGroupRoom, onIt);
    const missing = [...model.sockets.values()].filter((socket) => socket.alive && onIt(socket) && !actual.has(socket.id));
    return {
      pairsChecked: result.pairsChecked,
      mismatches: result.mismatches.length,
      uncertainPairs: result.uncertainPairs,
      missingSockets: missing.length,
      examples: result.mismatches.slice(0, 10),
      pausedMs: Math.round(performance.now() - pausedAt),
    };
  } finally {
    release();
  }
}

async function partition(ctx: FaultContext): Promise<PartitionFigures> {
  const { plan, timeline, redis, partitioned, findings, model, log } = ctx;
  await sleep(timeline.mainStart + plan.partitionAtMs - performance.now());
  redis.cut();
  const cutAt = performance.now();
  timeline.cutAt = cutAt;
  // Until it catches up, removals confirmed without it are not in its own view.
  model.openLocalView(partitioned.index);
  const cutOnRedisClock = await redisNowMs(redis.primary()).catch(() => null);
  log(`soak: +${Math.round(cutAt - timeline.mainStart)} ms ${partitioned.name} cut off from Redis`);
  // The partition itself.
  await sleep(cutAt + plan.partitionMs - performance.now());
  // Read before the heal: coming back, it registers again.
  const fencedSince = await fencedSinceMs(redis.primary()).catch(() => null);
  redis.heal();
  const healedAt = performance.now();
  timeline.healedAt = healedAt;
  log(`soak: +${Math.round(healedAt - timeline.mainStart)} ms ${partitioned.name} reaches Redis again`);

  const said = waitFor(() => standingsOf(partitioned, cutAt).length > 0, `${partitioned.name} to say it is back`, REJOIN_WAIT_MS)
    .then(() => standingsOf(partitioned, cutAt)[0]!, () => null);
  const heal = said.then(async (standing) => {
    if (!standing) return null;
    timeline.rejoinedAt = standing.at;
    return checkAfterHeal(ctx, cutAt);
  }).catch((err: unknown) => {
    // Reported as not checked (a failure of the run), not thrown: the rest of the figures still count.
    findings.anomaly({ kind: 'after the heal: not checked', error: String(err) });
    return null;
  });
  const [recovery, standing, healCheck] = await Promise.all([probeRecovery(ctx, healedAt), said, heal]);
  model.closeLocalView();
  const after = latest(recovery);
  if (after !== undefined) timeline.partitionRecoveredAt = healedAt + after;
  log(`soak: ${partitioned.name} ${standing ? `said it is back after ${Math.round(standing.at - healedAt)} ms (${standing.kind})` : 'did not say it is back'}; `
    + `whole-cluster operations work again after ${JSON.stringify(roundEach(recovery))} ms; its membership against the model: ${healCheck ? `${healCheck.mismatches} mismatched of ${healCheck.pairsChecked}` : 'not checked'}`);
  if (healCheck) {
    for (const mismatch of healCheck.examples) {
      findings.anomaly({ ...mismatch, kind: 'after the heal', how: mismatch.kind, model: JSON.stringify(model.state(mismatch.socketId, mismatch.room)), operations: [...findings.history.get(mismatch.socketId) ?? []], roomOperations: [...findings.history.get(roomKey(mismatch.room)) ?? []] });
    }
  }
  return {
    fencedAfterMs: fencedSince !== null && cutOnRedisClock !== null ? fencedSince - cutOnRedisClock : null,
    standing,
    recovery,
    heal: healCheck,
  };
}

async function serverKill(ctx: FaultContext): Promise<Recovery> {
  const { plan, timeline, victim, fleet, model, log } = ctx;
  await sleep(timeline.mainStart + plan.killServerAtMs - performance.now());
  victim.alive = false;
  timeline.victim = victim.index;
  for (const socket of fleet.sockets) if (socket.server === victim.index) model.disconnect(socket.id);
  timeline.serverKilledAt = performance.now();
  log(`soak: +${Math.round(timeline.serverKilledAt - timeline.mainStart)} ms ${victim.name} SIGKILLed`);
  await victim.child.stop('SIGKILL');
  const recovery = await probeRecovery(ctx, timeline.serverKilledAt);
  const after = latest(recovery);
  if (after !== undefined) timeline.serverRecoveredAt = timeline.serverKilledAt + after;
  log(`soak: whole-cluster operations work again after ${JSON.stringify(roundEach(recovery))} ms`);
  return recovery;
}

/** Runs the three faults in turn, from `timeline.mainStart` on. */
export async function runFaults(ctx: FaultContext): Promise<FaultOutcome> {
  ctx.timeline.partitioned = ctx.partitioned.index;
  const { redis } = ctx;
  const redisRecovery = redis.kind === 'sentinel' ? await failover(ctx, redis) : await redisRestart(ctx, redis.redis);
  const partitionFigures = await partition(ctx);
  const killRecovery = await serverKill(ctx);
  return { redisRecovery, partition: partitionFigures, killRecovery };
}

/** The plan's faults must come in this order, each over before the next. */
export function checkPlan(plan: FaultPlan, durationMs: number): void {
  const order: Array<[string, number, number]> = [
    ['redisOutageAtMs', plan.redisOutageAtMs, plan.redisOutageAtMs + plan.redisOutageMs],
    ['partitionAtMs', plan.partitionAtMs, plan.partitionAtMs + plan.partitionMs],
    ['killServerAtMs', plan.killServerAtMs, plan.killServerAtMs],
  ];
  for (let i = 1; i < order.length; i += 1) {
    const [name, start] = order[i]!;
    const [previous, , previousEnd] = order[i - 1]!;
    if (start <= previousEnd) throw new Error(`soak faults: ${name} (${start} ms) must come after ${previous}'s fault is over (${previousEnd} ms)`);
  }
  if (plan.killServerAtMs >= durationMs) throw new Error(`soak faults: killServerAtMs (${plan.killServerAtMs} ms) must fall within the run (${durationMs} ms)`);
}
