/**
 * Case 2. Remote confirmed leave and join latency: a socket connected to server B leaves a room
 * and joins it again, called on server A (separate processes, one Redis).
 *
 * - ours: on A, for each (socket, room) in turn: sails.sockets.leave(id, room, cb) until cb,
 *   sails.sockets.join(id, room, cb) until cb, then the same as apps await them
 *   (`await sails.sockets.leave(id, room)`, `await sails.sockets.join(id, room)`); one at a time.
 * - floor: a raw Redis round trip A → B → A over pub/sub (support/floor.ts), after each of ours,
 *   in the same processes.
 * - stock: sails-hook-sockets' leave(id, room) on A' with @sailshq/socket.io-redis, until B'
 *   really applied it (its adapter's leave-room event, on the shared clock); its callback
 *   fires at once and says nothing.
 * - ours applied on B: when B applied ours, in rounds of their own (B records each leave inside
 *   it, which the confirmed rounds should not pay).
 * - in an action: the same four forms and floor inside an action of the app, called over a
 *   sails.io.js socket request, as apps call theirs (info rows: the targets are on the rows above).
 * p50: median of the rounds' p50; p99: over every sample.
 */
import { PerformanceObserver } from 'node:perf_hooks';
import { connectRaw, connectSailsIo, type TestClient } from '../../test/support/clients';
import { now } from '../support/clock';
import type { BenchContext } from '../support/context';
import { startEcho, startPinger } from '../support/floor';
import { row, type CaseRow } from '../support/report';
import type { BenchServer, Commands } from '../support/server-context';
import { median, percentile } from '../support/stats';

const CLIENTS = 20;
const ROOMS = 190;
const ROUNDS = 7;
/** Leaves per round timing when B applied them. */
const OURS_SAMPLES_PER_ROUND = 300;
/** Pairs per round: each serves the four forms, so 600 operations a round. */
const OURS_PAIRS_PER_ROUND = 150;
/** Rounds of ours with B recording when each leave is applied, apart: the recording runs inside the leave. */
const APPLIED_ROUNDS = 2;
/** Rounds of the four forms inside an action called over a socket request (sails.io.js). */
const IN_ACTION_ROUNDS = 3;
const STOCK_SAMPLES_PER_ROUND = 60;
// A server that changes memberships all day runs this path optimized: measure it warm.
const WARMUP_SAMPLES = 1000;
const TIMEOUT_MS = 5000;

type Pair = [socketId: string, room: string];
type OpForm = 'leaveCallback' | 'joinCallback' | 'leavePromise' | 'joinPromise';

let closeFloor: (() => Promise<void>) | undefined;
/** Garbage collections of this process while watched: [start on the shared clock, duration]. */
const gcPauses: Array<[number, number]> = [];
let gcObserver: PerformanceObserver | undefined;
let pinger: Awaited<ReturnType<typeof startPinger>> | undefined;
/**
 * On B/B': each leave as (room, socket, when) on the shared clock. A push per leave: the recording
 * runs inside the leave it times, so it should cost next to nothing.
 */
const leftLog: Array<string | number> = [];
const leftWaiters = new Map<string, (at: number) => void>();

function findLeave(room: string, id: string): number | undefined {
  for (let i = leftLog.length - 3; i >= 0; i -= 3) {
    if (leftLog[i] === room && leftLog[i + 1] === id) return leftLog[i + 2] as number;
  }
  return undefined;
}
let recording: ((room: string, id: string) => void) | undefined;

/** For each pair, its four confirmed operations one at a time on `sails`, each followed by a floor round trip. */
async function confirmedOpsOn(sails: BenchServer['sails'], pairs: Pair[]) {
  const checked = (what: string, id: string, result: unknown) => {
    if ((result as { matched: number }).matched !== 1) throw new Error(`${what} of ${id} matched ${JSON.stringify(result)}`);
  };
  const starts: Record<OpForm, number[]> = { leaveCallback: [], joinCallback: [], leavePromise: [], joinPromise: [] };
  const withCallback = (type: 'leave' | 'join', [id, room]: Pair) => new Promise<number>((resolve, reject) => {
    const start = now();
    starts[`${type}Callback`].push(start);
    sails.sockets[type](id, room, (err, result) => {
      const rtt = now() - start;
      if (err) return reject(err);
      checked(type, id, result);
      resolve(rtt);
    });
  });
  const awaited = async (type: 'leave' | 'join', [id, room]: Pair) => {
    const start = now();
    starts[`${type}Promise`].push(start);
    const result = await sails.sockets[type](id, room);
    const rtt = now() - start;
    checked(type, id, result);
    return rtt;
  };
  const samples: Record<OpForm, number[]> = { leaveCallback: [], joinCallback: [], leavePromise: [], joinPromise: [] };
  const floor: number[] = [];
  for (const pair of pairs) {
    samples.leaveCallback.push(await withCallback('leave', pair));
    floor.push(await pinger!.ping());
    samples.joinCallback.push(await withCallback('join', pair));
    floor.push(await pinger!.ping());
    samples.leavePromise.push(await awaited('leave', pair));
    floor.push(await pinger!.ping());
    samples.joinPromise.push(await awaited('join', pair));
    floor.push(await pinger!.ping());
  }
  return { samples, floor, starts };
}

/**
 * The same operations inside an action of the app, called over a socket request (as apps call
 * theirs): the route the bench servers of ours add at lift (bench/server.ts).
 */
export const benchRoutes = {
  'POST /bench/confirmed-ops': async (req: { _sails: BenchServer['sails']; body: { pairs: Pair[] } }, res: { json(body: unknown): void; serverError(err: unknown): void }) => {
    try {
      res.json(await confirmedOpsOn(req._sails, req.body.pairs));
    } catch (err) {
      res.serverError(String(err));
    }
  },
};

export const serverCommands: Commands = {
  startFloorEcho: async ({ spec }) => { closeFloor = await startEcho(spec.redisUrl!); },
  startFloorPinger: async ({ spec }) => { pinger = await startPinger(spec.redisUrl!); },
  stopFloor: async () => {
    await closeFloor?.();
    await pinger?.close();
    closeFloor = undefined;
    pinger = undefined;
  },

  recordLeaves: ({ nsp }) => {
    if (recording) return;
    recording = (room, id) => {
      const at = now();
      leftLog.push(room, id, at);
      if (leftWaiters.size > 0) leftWaiters.get(`${room}|${id}`)?.(at);
    };
    nsp.adapter.on('leave-room', recording);
  },
  stopRecordingLeaves: ({ nsp }) => {
    if (recording) nsp.adapter.off('leave-room', recording);
    recording = undefined;
    const all: Record<string, number> = {};
    for (let i = 0; i < leftLog.length; i += 3) all[`${leftLog[i]}|${leftLog[i + 1]}`] = leftLog[i + 2] as number;
    leftLog.length = 0;
    return all;
  },
  /** Resolves with when `id` left `room` here, as soon as it has. */
  leftAt: (_server, { id, room }: { id: string; room: string }) => {
    const key = `${room}|${id}`;
    const at = findLeave(room, id);
    if (at !== undefined) return at;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => { leftWaiters.delete(key); reject(new Error(`${id} did not leave ${room} within ${TIMEOUT_MS} ms`)); }, TIMEOUT_MS);
      leftWaiters.set(key, (at) => { clearTimeout(timer); leftWaiters.delete(key); resolve(at); });
    });
  },

  /** On A: for each pair, its four confirmed operations one at a time, each followed by a floor round trip. */
  confirmedOps: ({ sails }, { pairs }: { pairs: Pair[] }) => confirmedOpsOn(sails, pairs),

  /** Records this process's garbage collections (on the shared clock) until gcWatched. */
  gcWatch: () => {
    gcPauses.length = 0;
    gcObserver ??= new PerformanceObserver((list) => {
      for (const entry of list.getEntries()) gcPauses.push([performance.timeOrigin + entry.startTime, entry.duration]);
    });
    gcObserver.observe({ entryTypes: ['gc'] });
  },
  gcWatched: () => {
    gcObserver?.disconnect();
    return gcPauses.splice(0);
  },

  /** On A: confirmed leaves one at a time, with a callback (the rounds timing when B applied them). */
  confirmedLeaves: async ({ sails }, { pairs }: { pairs: Pair[] }) => {
    const starts: number[] = [];
    for (const [id, room] of pairs) {
      starts.push(now());
      await new Promise<void>((resolve, reject) => sails.sockets.leave(id, room, (err) => (err ? reject(err) : resolve())));
    }
    return starts;
  },

  /** On A': sails-hook-sockets' leave by ID; resolves with when it was called. */
  stockLeave: ({ stock }, { pair: [id, room] }: { pair: Pair }) => {
    const start = now();
    stock.leave(id, room, () => {});
    return start;
  },
};

async function connectClients(url: string): Promise<TestClient[]> {
  return Promise.all(Array.from({ length: CLIENTS }, () => connectRaw(url)));
}

function pairsOf(ids: string[]): Pair[] {
  const pairs: Pair[] = [];
  for (let r = 0; r < ROOMS; r++) for (const id of ids) pairs.push([id, `c2-room-${r}`]);
  return pairs;
}

export async function measure(ctx: BenchContext): Promise<CaseRow[]> {
  const [a, b] = ctx.ours as [typeof ctx.ours[0], typeof ctx.ours[0]];
  const [stockA, stockB] = ctx.stock as [typeof ctx.stock[0], typeof ctx.stock[0]];
  const rooms = Array.from({ length: ROOMS }, (_, r) => `c2-room-${r}`);
  const oursClients = await connectClients(b.url);
  const stockClients = await connectClients(stockB.url);
  const clients = [...oursClients, ...stockClients];
  try {
    const oursIds = await Promise.all(oursClients.map((client) => client.socketId()));
    const stockIds = await Promise.all(stockClients.map((client) => client.socketId()));
    await b.call('joinLocally', { ids: oursIds, rooms });
    await stockB.call('joinLocally', { ids: stockIds, rooms });
    const oursPairs = pairsOf(oursIds);
    // The last pairs, which no other round uses.
    const inActionPairs = oursPairs.slice(-IN_ACTION_ROUNDS * OURS_PAIRS_PER_ROUND);
    const stockPairs = pairsOf(stockIds);
    await b.call('startFloorEcho');
    await a.call('startFloorPinger');
    await stockB.call('recordLeaves');

    type Samples = { samples: Record<OpForm, number[]>; floor: number[]; starts: Record<OpForm, number[]> };
    const confirmedOps = (pairs: Pair[]) => a.call<Samples>('confirmedOps', { pairs });
    // Each pair serves four operations and ends where it began (in the room).
    await confirmedOps(oursPairs.slice(0, WARMUP_SAMPLES / 4));
    const stockLeave = async (pair: Pair) => {
      const start = await stockA.call<number>('stockLeave', { pair });
      return await stockB.call<number>('leftAt', { id: pair[0], room: pair[1] }) - start;
    };
    for (const pair of stockPairs.splice(0, STOCK_SAMPLES_PER_ROUND)) await stockLeave(pair);
    const rounds: Array<Samples & { stockApplied: number[] }> = [];
    const pauses: Array<[number, number]> = [];
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all([a.call('gcWatch'), b.call('gcWatch')]);
      const { samples, floor, starts } = await confirmedOps(oursPairs.slice(round * OURS_PAIRS_PER_ROUND, (round + 1) * OURS_PAIRS_PER_ROUND));
      for (const server of [a, b]) pauses.push(...await server.call<Array<[number, number]>>('gcWatched'));
      const stockApplied: number[] = [];
      for (const pair of stockPairs.splice(0, STOCK_SAMPLES_PER_ROUND)) stockApplied.push(await stockLeave(pair));
      rounds.push({ samples, floor, starts, stockApplied });
    }
    const appliedRounds: Array<{ oursApplied: number[] }> = [];
    for (let round = 0; round < APPLIED_ROUNDS; round++) {
      const batch = oursPairs.splice(0, OURS_SAMPLES_PER_ROUND);
      await b.call('recordLeaves');
      const starts = await a.call<number[]>('confirmedLeaves', { pairs: batch });
      const applied = await b.call<Record<string, number>>('stopRecordingLeaves');
      appliedRounds.push({ oursApplied: batch.map(([id, room], i) => applied[`${room}|${id}`]! - starts[i]!) });
    }

    const caller = await connectSailsIo(a.url);
    clients.push(caller);
    const inAction: Samples[] = [];
    for (let round = 0; round < IN_ACTION_ROUNDS; round++) {
      const pairs = inActionPairs.slice(round * OURS_PAIRS_PER_ROUND, (round + 1) * OURS_PAIRS_PER_ROUND);
      const { statusCode, body } = await caller.request('post', '/bench/confirmed-ops', { pairs });
      if (statusCode !== 200) throw new Error(`the action answered ${statusCode}: ${JSON.stringify(body)}`);
      inAction.push(body as Samples);
    }

    type Round = typeof rounds[0];
    const p50 = (pick: (r: Round) => number[]) => median(rounds.map((r) => percentile(pick(r), 50)));
    const p99 = (pick: (r: Round) => number[]) => percentile(rounds.flatMap(pick), 99);
    const oursAppliedP50 = median(appliedRounds.map((r) => percentile(r.oursApplied, 50)));
    const forms: Array<[OpForm, string]> = [
      ['leaveCallback', 'leave, callback'], ['joinCallback', 'join, callback'],
      ['leavePromise', 'leave, await'], ['joinPromise', 'join, await'],
    ];
    // The slowest 1 % of ours: how many had a garbage collection on A or B while they ran.
    const operations = rounds.flatMap((r) => forms.flatMap(([form]) => r.samples[form].map((rtt, i) => [r.starts[form][i]!, rtt] as const)));
    const duringGc = ([start, rtt]: readonly [number, number]) => pauses.some(([at, ms]) => at < start + rtt && at + ms > start);
    const slowest = operations.filter(([, rtt]) => rtt >= percentile(operations.map(([, t]) => t), 99));
    const share = (ops: ReadonlyArray<readonly [number, number]>) => (100 * ops.filter(duringGc).length) / Math.max(1, ops.length);
    const ms = 'ms';
    const floorName = 'floor: raw Redis round trip A→B→A';
    return [
      ...forms.flatMap(([form, label]) => [
        row(`2. remote confirmed ${label}, p50`, ms, p50((r) => r.samples[form]), p50((r) => r.floor), floorName, { max: 1.15 }),
        row(`2. remote confirmed ${label}, p99`, ms, p99((r) => r.samples[form]), p99((r) => r.floor), floorName, { max: 1.5 }),
      ]),
      ...forms.map(([form, label]) => row(
        `2. remote confirmed ${label}, p50, inside an action called over a socket`, ms,
        median(inAction.map((r) => percentile(r.samples[form], 50))), median(inAction.map((r) => percentile(r.floor, 50))), `${floorName}, in the action`,
      )),
      row('2. remote leave p50: ours confirmed vs stock applied on B', ms, p50((r) => r.samples.leaveCallback), p50((r) => r.stockApplied), 'stock hook, until applied on B'),
      row('2. remote leave p99: ours confirmed vs stock applied on B', ms, p99((r) => r.samples.leaveCallback), p99((r) => r.stockApplied), 'stock hook, until applied on B'),
      row('2. remote leave applied on B, p50', ms, oursAppliedP50, p50((r) => r.stockApplied), 'stock hook'),
      row('2. share of the slowest 1 % of ours with a GC on A or B meanwhile', '%', share(slowest), share(operations), 'share of all of ours'),
    ];
  } finally {
    for (const client of clients) client.disconnect();
    await Promise.allSettled([a.call('stopFloor'), b.call('stopFloor'), b.call('stopRecordingLeaves'), stockB.call('stopRecordingLeaves')]);
  }
}
