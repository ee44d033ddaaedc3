/**
 * The soak: three Sails servers on one Redis, thousands of sockets, random membership operations,
 * queries and broadcasts from every server for a fixed time, with three faults in turn: Redis killed
 * and restarted (with `failover`, the primary of a Sentinel deployment killed and the replica
 * promoted), one server cut off from Redis while the others keep it, one server SIGKILLed. Every
 * answer is checked against a model of the membership. See docs/reliability.md.
 *
 * It runs in phases, each below with what it takes and gives: start the cluster and connect the
 * sockets; warm up (then reset, and take the baselines); run with the faults; settle; final checks
 * (checks.ts); report (report.ts). The load is load.ts, the faults faults.ts.
 */
import { finalChecks, isGroupRoom, settle } from './checks';
import { startSoakServer, type HookSettings, type ServerState, type SoakServer } from './cluster';
import { startSoakRedis, type SoakRedis } from './deployment';
import { checkPlan, runFaults, type FaultOutcome } from './faults';
import { Findings } from './findings';
import { connectFleet, type Fleet } from './fleet';
import { Load } from './load';
import { MembershipModel } from './model';
import { buildReport, type SoakConfig, type SoakReport } from './report';
import { redisFigures, ResourceWatch, type RedisFigures } from './resources';
import { mb, randomGenerator } from './stats';
import { Timeline } from './timeline';

export type { SoakReport } from './report';

export interface SoakOptions extends SoakConfig {
  log?: (line: string) => void;
}

/** server-2 reaches Redis through proxies (the one cut off); server-3 is the one SIGKILLed. */
const PARTITIONED = 1;
const VICTIM = 2;

/** What every phase of one run works on. */
interface Run {
  options: SoakOptions;
  log: (line: string) => void;
  rng: ReturnType<typeof randomGenerator>;
  servers: SoakServer[];
  fleet: Fleet;
  model: MembershipModel;
  timeline: Timeline;
  findings: Findings;
  load: Load;
}

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  if (options.faults) checkPlan(options.faults, options.durationMs);
  const log = options.log ?? (() => {});
  const startedAt = performance.now();
  const driverUnhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => { driverUnhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);

  let redis: SoakRedis | undefined;
  const servers: SoakServer[] = [];
  let fleet: Fleet | undefined;
  try {
    redis = await startSoakRedis({ failover: options.failover ?? false, partitionable: options.faults !== false });
    await startServers(servers, redis, { timeoutMs: options.timeoutMs, whenRedisDown: options.whenRedisDown });
    log(`soak: ${redis.describe()}; ${servers.map((s) => `${s.name} ${s.url}`).join(', ')}${options.faults ? ` (${servers[PARTITIONED]!.name} through the proxies)` : ''}`);
    fleet = await connectFleet(servers, options.sockets);
    log(`soak: ${fleet.sockets.length} sockets connected`);

    const run = prepare(options, log, servers, fleet);
    const resources = await warmUp(run, redis);
    const { mainEnd, faults } = await runWithFaults(run, resources, redis);
    log(`soak: run done, ${run.load.records.length} operations; checking`);
    const settled = await settle(servers, fleet);
    const checks = await finalChecks(run, settled);
    const { endStates, redisEnd } = await measureEnd(settled.live, redis);
    const redisVersion = await redis.primary().command<string>('INFO', 'server').then((info) => /redis_version:(\S+)/.exec(info)?.[1] ?? '?');
    const config: SoakConfig = {
      sockets: options.sockets, durationMs: options.durationMs, warmupMs: options.warmupMs, groups: options.groups,
      roomsPerGroup: options.roomsPerGroup, timeoutMs: options.timeoutMs, faults: options.faults, seed: options.seed,
      failover: options.failover ?? false, ...(options.whenRedisDown === undefined ? {} : { whenRedisDown: options.whenRedisDown }),
    };
    return buildReport({
      config, servers, fleet, load: run.load, timeline: run.timeline, findings: run.findings, resources, endStates, redisEnd,
      faults, settled, checks, mainEnd, driverUnhandledRejections: driverUnhandled.length, redisVersion, startedAt,
    });
  } finally {
    process.off('unhandledRejection', onUnhandled);
    fleet?.disconnectAll();
    await Promise.all(servers.map((server) => server.child.stop()));
    await redis?.stop();
  }
}

/** The three servers, into `servers` as each starts (so that they are stopped whatever happens). */
async function startServers(servers: SoakServer[], redis: SoakRedis, hook: HookSettings): Promise<void> {
  const started = await Promise.allSettled([0, 1, 2].map((i) => startSoakServer(i, redis.serverEnv(i === PARTITIONED), hook)));
  for (const outcome of started) if (outcome.status === 'fulfilled') servers.push(outcome.value);
  const failedStart = started.find((outcome) => outcome.status === 'rejected');
  if (failedStart) throw (failedStart as PromiseRejectedResult).reason;
}

/** The model, the findings and the load over the connected fleet. */
function prepare(options: SoakOptions, log: (line: string) => void, servers: SoakServer[], fleet: Fleet): Run {
  const rng = randomGenerator(options.seed);
  const model = new MembershipModel();
  for (const socket of fleet.sockets) model.addSocket(socket.id, socket.server);
  const timeline = new Timeline(options.timeoutMs);
  const findings = new Findings();
  // A socket its server disconnected is gone: out of every room, as far as the model knows.
  fleet.onDisconnect = ({ socket, reason }) => {
    model.disconnect(socket.id);
    findings.trace([socket.id], `disconnected by ${servers[socket.server]!.name} at ${timeline.since(performance.now())} (${reason})`);
  };
  const load = new Load({ groups: options.groups, roomsPerGroup: options.roomsPerGroup, timeoutMs: options.timeoutMs, rng, servers, fleet, model, timeline, findings });
  return { options, log, rng, servers, fleet, model, timeline, findings, load };
}

/** Load before the measured run (JIT, pools); then every room emptied, the model cleared, and the baselines taken. */
async function warmUp(run: Run, redis: SoakRedis): Promise<ResourceWatch> {
  const { load, servers, model, options, log } = run;
  await load.run(options.warmupMs);
  await Promise.all(servers.map((server) => server.call('POST', '/__soak/reset')));
  model.clear();
  const resources = await ResourceWatch.take(servers, redis.primary());
  log(`soak: warm-up done (${load.warmupOps} operations); heap ${servers.map((s) => `${s.name} ${mb(resources.baseline.get(s.name)!.heapUsed)} MB`).join(', ')}`);
  return resources;
}

/** The measured run: the load for `durationMs`, the faults at their times meanwhile, resources sampled each second. */
async function runWithFaults(run: Run, resources: ResourceWatch, redis: SoakRedis): Promise<{ mainEnd: number; faults: FaultOutcome | null }> {
  const { load, timeline, options, servers } = run;
  load.phase = 'main';
  timeline.mainStart = performance.now();
  resources.start(() => redis.primary(), () => load.liveServers());
  try {
    const faults = options.faults
      ? runFaults({
        plan: options.faults, timeline, redis, servers, partitioned: servers[PARTITIONED]!, victim: servers[VICTIM]!,
        load, model: run.model, fleet: run.fleet, findings: run.findings, timeoutMs: options.timeoutMs, isGroupRoom, log: run.log,
      })
      : Promise.resolve(null);
    // Both awaited whatever happens to the other: neither failure goes unhandled.
    const [ran, faulted] = await Promise.allSettled([load.run(options.durationMs).then(() => performance.now()), faults]);
    if (ran.status === 'rejected') throw ran.reason;
    if (faulted.status === 'rejected') throw faulted.reason;
    return { mainEnd: ran.value, faults: faulted.value };
  } finally {
    await resources.stop();
  }
}

/** Back to the baseline's empty rooms, then each live server's state after a full GC, and the primary's figures. */
async function measureEnd(live: readonly SoakServer[], redis: SoakRedis): Promise<{ endStates: Map<string, ServerState>; redisEnd: RedisFigures }> {
  await Promise.all(live.map((server) => server.call('POST', '/__soak/reset')));
  const endStates = new Map<string, ServerState>();
  for (const server of live) endStates.set(server.name, await server.state('?gc=1'));
  return { endStates, redisEnd: await redisFigures(redis.primary()) };
}
