/**
 * The soak: three Sails servers on one Redis, thousands of sockets, random membership operations,
 * queries and broadcasts from every server for a fixed time, Redis killed and restarted and one
 * server SIGKILLed in the middle; every answer checked against a model of the membership.
 *
 * Load is shaped in groups: each group owns some sockets (spread over every server) and some rooms,
 * and runs one operation at a time, so the model knows the order in which a group's operations
 * took effect; the groups run concurrently. See README, "Reliability".
 */
import os from 'node:os';
import { waitFor } from '../test/support/events';
import { startRedis, type TestRedis } from '../test/support/redis';
import { healthOf, startSoakServer, type Answer, type ServerState, type SoakServer } from './cluster';
import { connectFleet, type Fleet, type FleetSocket } from './fleet';
import { MembershipModel, type CheckResult, type Guard, type State } from './model';
import { mb, percentile, randomGenerator, round, tally } from './stats';

export interface SoakOptions {
  /** Sockets connected, spread evenly over the three servers. */
  sockets: number;
  /** Length of the measured run, faults included. */
  durationMs: number;
  /** Load before the measured run (JIT, pools): then the cluster is reset and the baselines taken. */
  warmupMs: number;
  /** Groups of sockets and rooms, i.e. operations in flight at once. */
  groups: number;
  roomsPerGroup: number;
  /** sails.config.rooms.timeout of the servers (ms). Keep it a value nothing else uses: see server-main.js. */
  timeoutMs: number;
  /** Redis killed at this time into the run and restarted `redisOutageMs` later; a server SIGKILLed at `killServerAtMs`. */
  faults: false | { redisOutageAtMs: number; redisOutageMs: number; killServerAtMs: number };
  seed: number;
  log?: (line: string) => void;
}

/** Above `timeout`, what an answer may take on this 2-core box (HTTP, event loops shared with 3 servers and the driver). */
const LATENCY_SLACK_MS = 2000;
/** A failed operation is retried by a real client after a pause, not in a tight loop. */
const FAILURE_PAUSE_MS = 20;
const HEAP_TOLERANCE = 0.10;
/** How long a server keeps an unanswering peer before forgetting it (lib/transport/redis/peers.ts PEER_EXPIRY_MS). */
const PEER_EXPIRY_MS = 3500;
const PROBE_SOURCE = 'soak:probe-source';
const PROBE_DEST = 'soak:probe-dest';

type OpType = 'join' | 'leave' | 'self-join' | 'self-leave' | 'add-members' | 'remove-members' | 'leave-all' | 'rooms-of' | 'members';
type Outcome = 'confirmed' | 'failed' | 'issuer-killed' | 'lost';

interface OpRecord {
  n: number;
  type: OpType;
  server: number;
  start: number;
  end: number;
  outcome: Outcome;
  code?: string;
}

interface Group {
  sockets: FleetSocket[];
  rooms: string[];
}

interface OrderingSample {
  type: 'join' | 'leave';
  op: number;
  socket: FleetSocket;
  start: number;
  /** When the check ended: the announcement travelled until then. */
  end: number;
  /** Join: the announcement arrived. Leave: it did not, and the flush after it did. Null: could not tell (a fault). */
  kept: boolean | null;
}

/** How long a sample may wait for its announcement or flush before it is counted as missed or unverifiable. */
const SAMPLE_WAIT_MS = 3000;

export interface SoakReport {
  date: string;
  machine: { cpus: number; node: string; redis: string; platform: string };
  config: Omit<SoakOptions, 'log'>;
  operations: {
    total: number;
    confirmed: number;
    failedWithCode: Record<string, number>;
    issuerKilled: number;
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
      downMs: number;
      failuresByCode: Record<string, number>;
      /** Of those, the operations issued after Redis was back, while the servers reconnected. */
      failuresWhileReconnectingByCode: Record<string, number>;
      confirmedDuringOutage: number;
      recoveryMs: number | null;
      recoveryMsByServer: Record<string, number | null>;
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
    /** Confirmed operations whose result (matched, notFound, servers answering) contradicts the model. */
    resultCountMismatches: number;
    /** Recovery probes (operations needing every server) confirmed without every live server. */
    probeMismatches: number;
    finalQueryMismatches: number;
    missingSockets: number;
    /** Confirmed leaves / joins announced from their callback: verified, broken outside / during faults, unverifiable. */
    orderingSamples: Record<'leaves' | 'joins', { verified: number; broken: number; brokenDuringFaults: number; unverifiable: number }>;
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
  lost: number;
  inconsistent: number;
  failures: string[];
  ok: boolean;
  summary: string;
  durationMs: number;
}

/** Subscriptions per subscribed connection (each server has one), and connections, as Redis counts them. */
async function redisFigures(redis: TestRedis): Promise<{ subscribers: number; minPerSubscriber: number; maxPerSubscriber: number; connections: number }> {
  const list = await redis.command<string>('CLIENT', 'LIST');
  const perSubscriber: number[] = [];
  let connections = 0;
  for (const line of list.trim().split('\n')) {
    if (/\bcmd=client\|list\b/.test(line)) continue; // the connection asking
    connections += 1;
    let subscriptions = 0;
    for (const match of line.matchAll(/\b(?:sub|psub|ssub)=(\d+)/g)) subscriptions += Number(match[1]);
    if (subscriptions > 0) perSubscriber.push(subscriptions);
  }
  return {
    subscribers: perSubscriber.length,
    minPerSubscriber: perSubscriber.length ? Math.min(...perSubscriber) : 0,
    maxPerSubscriber: perSubscriber.length ? Math.max(...perSubscriber) : 0,
    connections,
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export async function runSoak(options: SoakOptions): Promise<SoakReport> {
  const log = options.log ?? (() => {});
  const startedAt = performance.now();
  const rng = randomGenerator(options.seed);
  const driverUnhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => { driverUnhandled.push(reason); };
  process.on('unhandledRejection', onUnhandled);

  let redis: TestRedis | undefined;
  const servers: SoakServer[] = [];
  let fleet: Fleet | undefined;
  try {
    redis = await startRedis();
    const started = await Promise.allSettled([0, 1, 2].map((i) => startSoakServer(i, redis!.url, options.timeoutMs)));
    for (const outcome of started) if (outcome.status === 'fulfilled') servers.push(outcome.value);
    const failedStart = started.find((outcome) => outcome.status === 'rejected');
    if (failedStart) throw (failedStart as PromiseRejectedResult).reason;
    log(`soak: redis on ${redis.port}, ${servers.map((s) => `${s.name} ${s.url}`).join(', ')}`);

    fleet = await connectFleet(servers, options.sockets);
    log(`soak: ${fleet.sockets.length} sockets connected`);
    return await drive(options, rng, log, redis, servers, fleet, driverUnhandled, startedAt);
  } finally {
    process.off('unhandledRejection', onUnhandled);
    fleet?.disconnectAll();
    await Promise.all(servers.map((server) => server.child.stop()));
    await redis?.stop();
  }
}

async function drive(
  options: SoakOptions,
  rng: ReturnType<typeof randomGenerator>,
  log: (line: string) => void,
  redis: TestRedis,
  servers: SoakServer[],
  fleet: Fleet,
  driverUnhandled: unknown[],
  startedAt: number,
): Promise<SoakReport> {
  const model = new MembershipModel();
  for (const socket of fleet.sockets) model.addSocket(socket.id, socket.server);
  const groups: Group[] = Array.from({ length: options.groups }, (_, g) => ({
    sockets: fleet.sockets.filter((_, i) => i % options.groups === g),
    rooms: Array.from({ length: options.roomsPerGroup }, (_, r) => `g${g}-r${r}`),
  }));
  const liveServers = () => servers.filter((server) => server.alive);
  const aliveSockets = (group: Group) => group.sockets.filter((socket) => servers[socket.server]!.alive && socket.connected);
  const deadlineMs = options.timeoutMs + 5000;

  let phase: 'warmup' | 'main' = 'warmup';
  let opCounter = 0;
  let warmupOps = 0;
  let broadcasts = 0;
  const records: OpRecord[] = [];
  const anomalies: unknown[] = [];
  const anomaly = (entry: Record<string, unknown>) => { if (anomalies.length < 50) anomalies.push(entry); };
  let onlineQueryMismatches = 0;
  let resultCountMismatches = 0;
  let probeMismatches = 0;
  const samples: OrderingSample[] = [];
  /** Per socket, the operations that named it or its rooms: what an anomaly report shows of it. */
  const history = new Map<string, string[]>();
  const trace = (ids: Iterable<string>, line: string) => {
    for (const id of ids) {
      const lines = history.get(id) ?? [];
      lines.push(line);
      if (lines.length > 40) lines.shift();
      history.set(id, lines);
    }
  };
  const at = (time: number) => `${Math.round(time - (mainStart || time))}ms`;
  const events: { redisKilledAt?: number; redisRestartedAt?: number; redisRecoveredAt?: number; serverKilledAt?: number; serverRecoveredAt?: number } = {};
  const killedDuring = (start: number, end: number) => events.serverKilledAt !== undefined && start <= events.serverKilledAt + PEER_EXPIRY_MS && end >= events.serverKilledAt;

  const classify = (answer: Answer, server: SoakServer): { outcome: Outcome; code?: string } => {
    if (answer.status === 200) return { outcome: 'confirmed' };
    const code = (answer.body as { code?: string } | undefined)?.code;
    if (answer.status === 503 && (code === 'E_TIMEOUT' || code === 'E_UNAVAILABLE')) return { outcome: 'failed', code };
    if (answer.status === null && !server.alive) return { outcome: 'issuer-killed' };
    return { outcome: 'lost', code: answer.status === null ? `no answer (${answer.error}: ${answer.detail})` : `HTTP ${answer.status}` };
  };

  /** How the operation applied on each socket's server, from what its issuer answered. */
  const guardFor = (n: number, type: OpType, issuer: number, outcome: Outcome): Guard => {
    if (outcome === 'confirmed') return () => true;
    const unknowns = new Map<number, State>();
    const unknownOn = (server: number) => {
      if (!unknowns.has(server)) unknowns.set(server, model.unknown(`op ${n} (${type}) on server-${server + 1}`));
      return unknowns.get(server)!;
    };
    // The change on the issuing server applies before the call returns; elsewhere it may or may not have.
    if (outcome === 'failed') return (socket) => (socket.server === issuer ? true : unknownOn(socket.server));
    return (socket) => unknownOn(socket.server);
  };

  const record = (n: number, type: OpType, server: SoakServer, start: number, result: { outcome: Outcome; code?: string }, answer?: Answer) => {
    const end = performance.now();
    if (phase === 'warmup') warmupOps += 1;
    else records.push({ n, type, server: server.index, start, end, outcome: result.outcome, code: result.code });
    if (result.outcome === 'lost') anomaly({ kind: 'lost', n, type, server: server.name, code: result.code, body: answer?.body });
    return end;
  };

  /**
   * The group waits while a sample is checked, so nothing else changes the socket's rooms meanwhile.
   * A join's announcement must arrive. A leave's must not: once a message the same server sent
   * later to the socket's own ID room (a flush) has arrived, it never will.
   */
  async function checkOrdering(type: 'join' | 'leave', op: number, socket: FleetSocket, server: SoakServer, start: number): Promise<OrderingSample> {
    const within = (condition: () => boolean) => waitFor(condition, 'a sample', SAMPLE_WAIT_MS).then(() => true, () => false);
    // A socket whose server was killed meanwhile tells nothing.
    const told = (kept: boolean | null) => (socket.connected && servers[socket.server]!.alive ? kept : null);
    if (type === 'join') {
      const arrived = await within(() => socket.announcements.has(op));
      return { type, op, socket, start, end: performance.now(), kept: told(arrived) };
    }
    const sent = await server.call('POST', '/rooms/broadcast', { roomName: socket.id, eventName: 'soak:flush', data: { flush: op } }, deadlineMs);
    const flushed = sent.status === 200 && await within(() => socket.flushes.has(op));
    return { type, op, socket, start, end: performance.now(), kept: told(flushed ? !socket.announcements.has(op) : null) };
  }

  async function byId(group: Group, type: 'join' | 'leave', server: SoakServer) {
    const alive = aliveSockets(group);
    if (alive.length === 0) return;
    const targets = rng.sample(alive, rng.next() < 0.7 ? 1 : 2 + rng.int(2));
    const rooms = rng.sample(group.rooms, rng.next() < 0.8 ? 1 : 2);
    const n = ++opCounter;
    const sampled = targets.length === 1 && rooms.length === 1 && rng.next() < 0.3;
    const ids = targets.map((socket) => socket.id);
    const body: Record<string, unknown> = { socketId: ids.length === 1 ? ids[0] : ids, roomName: rooms.length === 1 ? rooms[0] : rooms };
    if (sampled) body.announce = type === 'leave' ? { leaveOf: ids[0], op: n } : { joinOf: ids[0], op: n };
    const start = performance.now();
    const answer = await server.call('POST', type === 'join' ? '/rooms/add-socket' : '/rooms/remove-socket', body, deadlineMs);
    const result = classify(answer, server);
    const end = record(n, type, server, start, result, answer);
    const guard = guardFor(n, type, server.index, result.outcome);
    if (type === 'join') model.join(ids, rooms, guard);
    else model.leave(ids, rooms, guard);
    trace(ids, `#${n} ${type} ${rooms} via ${server.name} ${at(start)}..${at(end)}: ${result.outcome} ${result.code ?? ''} ${JSON.stringify(answer.body)?.slice(0, 120)}`);
    if (result.outcome === 'confirmed') {
      const allAlive = targets.every((socket) => servers[socket.server]!.alive);
      // Confirmed means the servers holding the sockets applied it: each must have answered.
      const holders = new Set(targets.map((socket) => socket.server).filter((index) => index !== server.index));
      if (allAlive && !killedDuring(start, end)
        && (answer.body.matched !== ids.length || answer.body.notFound.length !== 0 || answer.body.servers < 1 + holders.size)) {
        resultCountMismatches += 1;
        anomaly({ kind: 'result count', n, type, ids, rooms, body: answer.body });
      }
      if (sampled && phase === 'main') samples.push(await checkOrdering(type, n, targets[0]!, server, start));
    }
    return result;
  }

  async function self(group: Group, type: 'self-join' | 'self-leave') {
    const alive = aliveSockets(group);
    if (alive.length === 0) return;
    const socket = rng.pick(alive);
    const server = servers[socket.server]!;
    const rooms = rng.sample(group.rooms, rng.next() < 0.85 ? 1 : 2);
    const n = ++opCounter;
    const start = performance.now();
    let answer: Answer;
    try {
      const response = await socket.client.request('post', type === 'self-join' ? '/rooms/join-fun-room' : '/rooms/leave-fun-room', { roomName: rooms.length === 1 ? rooms[0] : rooms });
      answer = { status: response.statusCode, body: response.body, ms: performance.now() - start };
    } catch (err) {
      answer = { status: null, body: undefined, error: 'network', detail: (err as Error).message, ms: performance.now() - start };
    }
    const expected = `${type === 'self-join' ? 'Joined' : 'Left'} a fun room called ${rooms.join(',')}!`;
    const result = answer.status === 200 && answer.body?.message !== expected
      ? { outcome: 'lost' as const, code: 'unexpected message' }
      : classify(answer, server);
    const end = record(n, type, server, start, result, answer);
    const guard = guardFor(n, type, server.index, result.outcome);
    if (type === 'self-join') model.join([socket.id], rooms, guard);
    else model.leave([socket.id], rooms, guard);
    trace([socket.id], `#${n} ${type} ${rooms} ${at(start)}..${at(end)}: ${result.outcome} ${result.code ?? ''}`);
    return result;
  }

  async function roomToRooms(group: Group, type: 'add-members' | 'remove-members' | 'leave-all', server: SoakServer) {
    const sourceRoom = rng.pick(group.rooms);
    const destRooms = rng.sample(group.rooms.filter((room) => room !== sourceRoom), rng.next() < 0.7 ? 1 : 2);
    const includeSourceRoom = rng.next() < 0.7;
    const n = ++opCounter;
    const body: Record<string, unknown> = type === 'leave-all'
      ? { operation: 'leaveAll', sourceRoom, ...(includeSourceRoom ? {} : { options: { includeSourceRoom: false } }) }
      : { operation: type === 'add-members' ? 'add' : 'remove', sourceRoom, destRooms: destRooms.length === 1 ? destRooms[0] : destRooms };
    const members = model.membersOf(sourceRoom);
    const start = performance.now();
    const answer = await server.call('POST', '/rooms/room-to-rooms', body, deadlineMs);
    const result = classify(answer, server);
    const end = record(n, type, server, start, result, answer);
    const guard = guardFor(n, type, server.index, result.outcome);
    trace([...members.sure, ...members.unsure], `#${n} ${type} ${sourceRoom} -> ${type === 'leave-all' ? `includeSourceRoom ${includeSourceRoom}` : destRooms} via ${server.name} ${at(start)}..${at(end)}: ${result.outcome} ${result.code ?? ''} ${JSON.stringify(answer.body)?.slice(0, 120)}`);
    if (type === 'leave-all') model.leaveAll(sourceRoom, includeSourceRoom, guard);
    else model.roomToRooms(sourceRoom, destRooms, guard, type === 'add-members');
    if (result.outcome === 'confirmed' && !killedDuring(start, end)) {
      const { matched, servers: answered } = answer.body as { matched: number; servers: number };
      // Confirmed means every live server applied it: each must have answered.
      if (matched < members.sure.length || matched > members.sure.length + members.unsure.length || answered !== liveServers().length) {
        resultCountMismatches += 1;
        anomaly({ kind: 'result count', n, type, sourceRoom, expected: [members.sure.length, members.sure.length + members.unsure.length], live: liveServers().length, body: answer.body });
      }
    }
    return result;
  }

  async function query(group: Group, type: 'rooms-of' | 'members', server: SoakServer) {
    const alive = aliveSockets(group);
    if (alive.length === 0) return;
    const n = ++opCounter;
    const socket = rng.pick(alive);
    const room = rng.pick(group.rooms);
    const start = performance.now();
    const answer = type === 'rooms-of'
      ? await server.call('GET', `/rooms/rooms-of?socketId=${encodeURIComponent(socket.id)}`, undefined, deadlineMs)
      : await server.call('GET', `/rooms/members?roomName=${encodeURIComponent(room)}`, undefined, deadlineMs);
    const result = classify(answer, server);
    const end = record(n, type, server, start, result, answer);
    trace(type === 'rooms-of' ? [socket.id] : [], `#${n} rooms-of via ${server.name} ${at(start)}..${at(end)}: ${result.outcome} ${JSON.stringify(answer.body)?.slice(0, 120)}`);
    if (result.outcome !== 'confirmed' || killedDuring(start, end)) return result;
    const wrong: string[] = [];
    if (type === 'rooms-of') {
      const rooms: string[] | null = answer.body.rooms;
      if (rooms === null) wrong.push('null');
      for (const r of group.rooms) {
        const state = model.state(socket.id, r);
        if (state === true && !rooms?.includes(r)) wrong.push(`missing ${r}`);
        if (state === false && rooms?.includes(r)) wrong.push(`extra ${r}`);
      }
    } else {
      const listed = new Set<string>(answer.body.members);
      for (const member of alive) {
        const state = model.state(member.id, room);
        if (state === true && !listed.has(member.id)) wrong.push(`missing ${member.id}`);
        if (state === false && listed.has(member.id)) wrong.push(`extra ${member.id}`);
      }
    }
    if (wrong.length > 0) {
      onlineQueryMismatches += 1;
      anomaly({ kind: 'query', n, type, server: server.name, socket: socket.id, room, wrong: wrong.slice(0, 5) });
    }
    return result;
  }

  async function broadcast(group: Group, server: SoakServer) {
    const answer = await server.call('POST', '/rooms/broadcast', { roomName: rng.pick(group.rooms), data: { load: true } }, deadlineMs);
    if (phase === 'main') broadcasts += 1;
    if (answer.status !== 200 && server.alive) anomaly({ kind: 'broadcast', server: server.name, status: answer.status, detail: answer.detail });
  }

  async function step(group: Group) {
    const live = liveServers();
    const server = rng.pick(live);
    const r = rng.int(100);
    let result: { outcome: Outcome } | undefined;
    if (r < 24) result = await byId(group, 'join', server);
    else if (r < 48) result = await byId(group, 'leave', server);
    else if (r < 54) result = await self(group, 'self-join');
    else if (r < 60) result = await self(group, 'self-leave');
    else if (r < 67) result = await roomToRooms(group, 'add-members', server);
    else if (r < 74) result = await roomToRooms(group, 'remove-members', server);
    else if (r < 79) result = await roomToRooms(group, 'leave-all', server);
    else if (r < 85) result = await query(group, 'rooms-of', server);
    else if (r < 90) result = await query(group, 'members', server);
    else await broadcast(group, server);
    if (result && result.outcome !== 'confirmed') await sleep(FAILURE_PAUSE_MS);
  }

  const runLoad = async (durationMs: number) => {
    const until = performance.now() + durationMs;
    await Promise.all(groups.map(async (group) => {
      while (performance.now() < until) await step(group);
    }));
  };

  /**
   * From `since`, each live server starts every 25 ms (100 ms after 2 s) an operation that needs every other live
   * server; it has recovered from the first one that every live server answered.
   */
  const recovery = async (since: number): Promise<Record<string, number | null>> => {
    const recoveredAfter: Record<string, number | null> = {};
    await Promise.all(liveServers().map(async (server) => {
      recoveredAfter[server.name] = null;
      const probes: Array<Promise<void>> = [];
      while (recoveredAfter[server.name] === null && performance.now() - since < 60_000 && server.alive) {
        const issued = performance.now();
        probes.push(server.call('POST', '/rooms/room-to-rooms', { operation: 'add', sourceRoom: PROBE_SOURCE, destRooms: PROBE_DEST }, deadlineMs)
          .then((answer) => {
            if (answer.status !== 200) return;
            // Confirmed without every live server: the change did not reach them all.
            if (answer.body.servers !== liveServers().length) {
              probeMismatches += 1;
              anomaly({ kind: 'probe confirmed without every server', server: server.name, afterMs: Math.round(issued - since), body: answer.body });
              return;
            }
            const after = issued - since;
            if (recoveredAfter[server.name] === null || after < recoveredAfter[server.name]!) recoveredAfter[server.name] = after;
          }));
        // Often at first, when the servers are reconnecting one after the other.
        await sleep(performance.now() - since < 2000 ? 25 : 100);
      }
      await Promise.all(probes);
    }));
    return recoveredAfter;
  };

  let redisRecovery: Record<string, number | null> = {};
  let killRecovery: Record<string, number | null> = {};
  let victim: SoakServer | undefined;
  let mainStart = 0;
  const faultTimeline = async () => {
    if (!options.faults) return;
    const { redisOutageAtMs, redisOutageMs, killServerAtMs } = options.faults;
    await sleep(mainStart + redisOutageAtMs - performance.now());
    events.redisKilledAt = performance.now();
    log(`soak: +${Math.round(events.redisKilledAt - mainStart)} ms Redis killed`);
    await redis.kill();
    await sleep(events.redisKilledAt + redisOutageMs - performance.now());
    await redis.restart();
    events.redisRestartedAt = performance.now();
    log(`soak: +${Math.round(events.redisRestartedAt - mainStart)} ms Redis restarted`);
    redisRecovery = await recovery(events.redisRestartedAt);
    const times = Object.values(redisRecovery);
    if (times.every((t) => t !== null)) events.redisRecoveredAt = events.redisRestartedAt + Math.max(...(times as number[]));
    log(`soak: cluster operations work again after ${JSON.stringify(redisRecovery)} ms`);

    await sleep(mainStart + killServerAtMs - performance.now());
    victim = servers[servers.length - 1]!;
    victim.alive = false;
    for (const socket of fleet.sockets) {
      if (socket.server === victim.index) model.sockets.get(socket.id)!.alive = false;
    }
    events.serverKilledAt = performance.now();
    log(`soak: +${Math.round(events.serverKilledAt - mainStart)} ms ${victim.name} SIGKILLed`);
    await victim.child.stop('SIGKILL');
    killRecovery = await recovery(events.serverKilledAt);
    const killTimes = Object.values(killRecovery);
    if (killTimes.every((t) => t !== null)) events.serverRecoveredAt = events.serverKilledAt + Math.max(...(killTimes as number[]));
    log(`soak: whole-cluster operations work again after ${JSON.stringify(killRecovery)} ms`);
  };

  // Warm-up, then a clean slate for the baselines.
  await runLoad(options.warmupMs);
  await Promise.all(servers.map((server) => server.call('POST', '/__soak/reset')));
  model.clear();
  const baseline = new Map<string, ServerState>();
  for (const server of servers) baseline.set(server.name, await server.state('?gc=1'));
  const redisStart = await redisFigures(redis);
  let subscriptionsPeak = redisStart.maxPerSubscriber;
  /** Largest size seen of each transport map, per server: server name → map site → size. */
  const mapPeaks = new Map<string, Map<string, number>>();
  const sampleMaps = (server: string, state: ServerState) => {
    const peaks = mapPeaks.get(server) ?? new Map<string, number>();
    for (const map of state.maps) peaks.set(map.site, Math.max(peaks.get(map.site) ?? 0, map.size ?? 0));
    mapPeaks.set(server, peaks);
  };
  for (const [name, state] of baseline) sampleMaps(name, state);
  log(`soak: warm-up done (${warmupOps} operations); heap ${servers.map((s) => `${s.name} ${mb(baseline.get(s.name)!.heapUsed)} MB`).join(', ')}`);

  // The measured run.
  phase = 'main';
  mainStart = performance.now();
  let running = true;
  const watchSubscriptions = (async () => {
    while (running) {
      await sleep(1000);
      const figures = await redisFigures(redis).catch(() => null);
      if (figures) subscriptionsPeak = Math.max(subscriptionsPeak, figures.maxPerSubscriber);
      await Promise.all(liveServers().map(async (server) => {
        const state = await server.state().catch(() => null);
        if (state) sampleMaps(server.name, state);
      }));
    }
  })();
  const faults = faultTimeline();
  await runLoad(options.durationMs);
  const mainEnd = performance.now();
  await faults;
  running = false;
  await watchSubscriptions;
  log(`soak: run done, ${records.length} operations; checking`);

  // Everything any live server broadcast before now has reached its sockets once its sentinel has.
  const nonce = Date.now();
  const live = liveServers();
  await Promise.all(live.map((server) => server.call('POST', '/__soak/blast', { nonce })));
  const receivers = fleet.sockets.filter((socket) => socket.connected && servers[socket.server]!.alive);
  let flushed = true;
  await waitFor(() => receivers.every((socket) => (socket.sentinels.get(nonce)?.size ?? 0) === live.length), 'every sentinel', 20_000)
    .catch(() => { flushed = false; });

  // The cluster's actual membership, against the model.
  const actual = new Map<string, string[]>();
  let missingSockets = 0;
  for (const server of live) {
    const state = await server.state('?membership=1');
    for (const [id, rooms] of Object.entries(state.membership ?? {})) actual.set(id, rooms);
  }
  for (const socket of model.sockets.values()) {
    if (socket.alive && !actual.has(socket.id)) {
      missingSockets += 1;
      anomaly({ kind: 'socket missing', socket: socket.id });
    }
  }
  const isGroupRoom = (room: string) => /^g\d+-r\d+$/.test(room);
  const final = model.check(actual, isGroupRoom);
  for (const mismatch of final.mismatches.slice(0, 10)) anomaly({ ...mismatch, kind: 'final state', how: mismatch.kind, model: JSON.stringify(model.state(mismatch.socketId, mismatch.room)) });
  for (const id of new Set(final.mismatches.map((mismatch) => mismatch.socketId))) {
    const socket = fleet.sockets.find((candidate) => candidate.id === id);
    anomaly({ kind: 'history', socket: id, server: socket && servers[socket.server]!.name, actual: actual.get(id), operations: history.get(id) });
  }

  // The public queries, now that nothing moves, must tell exactly the actual state. The killed
  // server stays fenced (nobody can tell it from one cut off): the queries answer for the others.
  let finalQueryMismatches = 0;
  const aliveIds = [...actual.keys()];
  for (const id of rng.sample(aliveIds, 30)) {
    const answer = await rng.pick(live).call('GET', `/rooms/rooms-of?socketId=${encodeURIComponent(id)}&partial=true`);
    const expected = actual.get(id)!.filter(isGroupRoom).sort();
    const got = (answer.body?.rooms ?? null)?.filter(isGroupRoom).sort();
    if (answer.status !== 200 || JSON.stringify(got) !== JSON.stringify(expected)) {
      finalQueryMismatches += 1;
      anomaly({ kind: 'final rooms-of', id, expected, got: answer.body });
    }
  }
  const allRooms = groups.flatMap((group) => group.rooms);
  for (const room of rng.sample(allRooms, 20)) {
    const answer = await rng.pick(live).call('GET', `/rooms/members?roomName=${encodeURIComponent(room)}&partial=true`);
    const expected = aliveIds.filter((id) => actual.get(id)!.includes(room)).sort();
    const got = [...(answer.body?.members ?? [])].sort();
    if (answer.status !== 200 || JSON.stringify(got) !== JSON.stringify(expected)) {
      finalQueryMismatches += 1;
      anomaly({ kind: 'final members', room, expected: expected.length, got: answer.body });
    }
  }

  // Ordering samples: a sample that failed while a fault was on is reported, not counted (the
  // announcement is a broadcast, which Redis cannot carry while it is down).
  const inFaultWindow = (sample: OrderingSample) => events.redisKilledAt !== undefined
    && sample.end >= events.redisKilledAt && sample.start <= (events.redisRecoveredAt ?? Infinity) + 2000;
  const broken = samples.filter((sample) => sample.kept === false);
  const brokenOutsideFaults = broken.filter((sample) => !inFaultWindow(sample));
  for (const sample of broken.slice(0, 5)) anomaly({
    kind: `${sample.type} announcement ${sample.type === 'join' ? 'missed' : 'reached the socket'}`,
    op: sample.op,
    socket: sample.socket.id,
    server: servers[sample.socket.server]!.name,
    inFaultWindow: inFaultWindow(sample),
    operations: history.get(sample.socket.id),
  });
  const orderingOf = (type: 'join' | 'leave') => {
    const ofType = samples.filter((sample) => sample.type === type);
    return {
      verified: ofType.filter((sample) => sample.kept !== null).length,
      broken: ofType.filter((sample) => sample.kept === false && !inFaultWindow(sample)).length,
      brokenDuringFaults: ofType.filter((sample) => sample.kept === false && inFaultWindow(sample)).length,
      unverifiable: ofType.filter((sample) => sample.kept === null).length,
    };
  };

  // Resources: back to the baseline's empty rooms, then a full GC.
  await Promise.all(live.map((server) => server.call('POST', '/__soak/reset')));
  const endStates = new Map<string, ServerState>();
  for (const server of live) endStates.set(server.name, await server.state('?gc=1'));
  const redisEnd = await redisFigures(redis);

  const health = servers.map((server) => ({ server, ...healthOf(server) }));
  const serversCrashed = health.filter((h) => h.server.alive && !h.running).map((h) => `${h.server.name} (${h.exit})`);
  const unhandledInServers = health.flatMap((h) => h.unhandled.map((line) => `${h.server.name}: ${line}`));

  // Figures.
  const membershipTypes: OpType[] = ['join', 'leave', 'self-join', 'self-leave', 'add-members', 'remove-members', 'leave-all'];
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
  const maxAnswered = answeredByLive.length ? Math.max(...latencies(answeredByLive)) : null;
  const maxAllowed = options.timeoutMs + LATENCY_SLACK_MS;
  const seconds = Math.max(1, Math.ceil((mainEnd - mainStart) / 1000));
  const perSecond = new Array<number>(seconds).fill(0);
  for (const r of records) perSecond[Math.min(seconds - 1, Math.floor((r.end - mainStart) / 1000))]! += 1;
  const faultSeconds = new Set<number>();
  const markSeconds = (from?: number, to?: number) => {
    if (from === undefined) return;
    for (let s = Math.floor((from - mainStart) / 1000); s <= Math.floor(((to ?? mainEnd) - mainStart) / 1000); s += 1) faultSeconds.add(s);
  };
  // Until the recovery, and the timeout after it: operations issued before may wait that long.
  const afterRecovery = (at?: number) => (at === undefined ? undefined : at + options.timeoutMs);
  markSeconds(events.redisKilledAt, afterRecovery(events.redisRecoveredAt));
  markSeconds(events.serverKilledAt, afterRecovery(events.serverRecoveredAt));
  // The last second is partial.
  const steady = perSecond.filter((_, s) => !faultSeconds.has(s) && s < seconds - 1);
  const during = perSecond.filter((_, s) => faultSeconds.has(s));
  // Operations that overlapped a fault, from its start to the cluster's recovery.
  const inWindow = (from?: number, to?: number) => records.filter((r) => from !== undefined && r.end >= from && r.start <= (to ?? mainEnd));
  const outageOps = inWindow(events.redisKilledAt, events.redisRecoveredAt);
  const killOps = inWindow(events.serverKilledAt, events.serverRecoveredAt);
  const failedCodes = (list: OpRecord[]) => tally(list.filter((r) => r.outcome === 'failed').map((r) => r.code!));

  const lost = records.filter((r) => r.outcome === 'lost').length;
  const inconsistent = final.mismatches.length + onlineQueryMismatches + resultCountMismatches + probeMismatches + finalQueryMismatches
    + missingSockets + brokenOutsideFaults.length;

  const serverResources = servers.map((server) => {
    const start = baseline.get(server.name)!;
    const end = endStates.get(server.name);
    if (end) sampleMaps(server.name, end);
    const maps = start.maps.map((map) => ({
      name: map.name,
      start: map.size,
      peak: mapPeaks.get(server.name)?.get(map.site) ?? null,
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
  const redisResources = {
    subscribersStart: redisStart.subscribers,
    subscribersEnd: redisEnd.subscribers,
    subscriptionsPerServerStart: [redisStart.minPerSubscriber, redisStart.maxPerSubscriber] as [number, number],
    subscriptionsPerServerEnd: [redisEnd.minPerSubscriber, redisEnd.maxPerSubscriber] as [number, number],
    subscriptionsPerServerPeak: subscriptionsPeak,
    connectionsPerServerStart: round(redisStart.connections / servers.length, 2)!,
    connectionsPerServerEnd: round(redisEnd.connections / live.length, 2)!,
  };
  const failures: string[] = [];
  if (lost > 0) failures.push(`${lost} operation(s) lost`);
  if (inconsistent > 0) failures.push(`${inconsistent} inconsistenc(ies)`);
  if (serversCrashed.length > 0) failures.push(`servers crashed: ${serversCrashed.join(', ')}`);
  if (unhandledInServers.length > 0) failures.push(`unhandled errors in servers: ${unhandledInServers.slice(0, 3).join(' | ')}`);
  if (driverUnhandled.length > 0) failures.push(`${driverUnhandled.length} unhandled rejection(s) in the driver`);
  if (!flushed) failures.push('sentinels did not reach every socket');
  if (fleet.unexpectedDisconnects.length > 0) failures.push(`${fleet.unexpectedDisconnects.length} socket(s) disconnected from a running server`);
  if (maxAnswered !== null && maxAnswered > maxAllowed) failures.push(`an answer took ${Math.round(maxAnswered)} ms (timeout ${options.timeoutMs} ms)`);
  for (const r of serverResources) {
    if (r.killed) continue;
    if (r.heapChangePct === null || r.heapChangePct > HEAP_TOLERANCE * 100) failures.push(`${r.server}: heap ${r.heapStartMB} → ${r.heapEndMB} MB`);
    if (r.pendingEnd === null) failures.push(`${r.server}: the transport's pending-request map was not found (soak/server-main.js)`);
    else if (r.pendingEnd !== 0) failures.push(`${r.server}: ${r.pendingEnd} request(s) still pending at the end`);
  }
  if (redisEnd.subscribers !== live.length || redisEnd.minPerSubscriber !== redisStart.minPerSubscriber
    || redisEnd.maxPerSubscriber !== redisStart.maxPerSubscriber || subscriptionsPeak > redisStart.maxPerSubscriber) {
    failures.push(`Redis subscriptions per server: ${JSON.stringify(redisResources)}`);
  }
  if (options.faults && (events.redisRecoveredAt === undefined || events.serverRecoveredAt === undefined)) failures.push('the cluster did not recover from a fault');

  const total = records.length;
  const summary = `soak: ${total} operations, ${lost} lost, ${inconsistent} inconsistent`;
  return {
    date: new Date().toISOString(),
    machine: { cpus: os.cpus().length, node: process.version, redis: await redis.command<string>('INFO', 'server').then((info) => /redis_version:(\S+)/.exec(info)?.[1] ?? '?'), platform: `${os.platform()} ${os.arch()}` },
    config: { sockets: options.sockets, durationMs: options.durationMs, warmupMs: options.warmupMs, groups: options.groups, roomsPerGroup: options.roomsPerGroup, timeoutMs: options.timeoutMs, faults: options.faults, seed: options.seed },
    operations: {
      total,
      confirmed: confirmed.length,
      failedWithCode: failedCodes(records),
      issuerKilled: records.filter((r) => r.outcome === 'issuer-killed').length,
      lost,
      byType,
      broadcasts,
      warmup: warmupOps,
    },
    throughput: {
      opsPerSecond: round(total / ((mainEnd - mainStart) / 1000), 0)!,
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
    faults: options.faults ? {
      redisOutage: {
        downMs: Math.round((events.redisRestartedAt ?? 0) - (events.redisKilledAt ?? 0)),
        failuresByCode: failedCodes(outageOps),
        failuresWhileReconnectingByCode: failedCodes(outageOps.filter((r) => r.start >= events.redisRestartedAt!)),
        confirmedDuringOutage: outageOps.filter((r) => r.outcome === 'confirmed' && membershipTypes.includes(r.type)).length,
        recoveryMs: events.redisRecoveredAt !== undefined ? Math.round(events.redisRecoveredAt - events.redisRestartedAt!) : null,
        recoveryMsByServer: Object.fromEntries(Object.entries(redisRecovery).map(([name, ms]) => [name, ms === null ? null : Math.round(ms)])),
      },
      serverKill: {
        server: victim?.name ?? '?',
        socketsLost: fleet.sockets.filter((socket) => victim && socket.server === victim.index).length,
        failuresByCode: failedCodes(killOps),
        confirmedWhileForgetting: killOps.filter((r) => r.outcome === 'confirmed' && membershipTypes.includes(r.type)).length,
        recoveryMs: events.serverRecoveredAt !== undefined ? Math.round(events.serverRecoveredAt - events.serverKilledAt!) : null,
      },
    } : null,
    consistency: {
      final: { ...final, mismatches: final.mismatches.length, examples: final.mismatches.slice(0, 10) },
      onlineQueryMismatches,
      resultCountMismatches,
      probeMismatches,
      finalQueryMismatches,
      missingSockets,
      orderingSamples: { leaves: orderingOf('leave'), joins: orderingOf('join') },
      unexpectedDisconnects: fleet.unexpectedDisconnects.length,
      flushed,
    },
    resources: { servers: serverResources, redis: redisResources },
    health: { serversCrashed, unhandledInServers, driverUnhandledRejections: driverUnhandled.length },
    anomalies,
    lost,
    inconsistent,
    failures,
    ok: failures.length === 0,
    summary,
    durationMs: Math.round(performance.now() - startedAt),
  };
}
