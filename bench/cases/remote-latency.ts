/**
 * Case 2. Remote confirmed leave latency: a socket connected to server B leaves a room, called on
 * server A (separate processes, one Redis).
 *
 * - ours: sails.sockets.leave(id, room, cb) on A, until cb; one leave at a time.
 * - floor: a raw Redis round trip A → B → A over pub/sub (support/floor.ts), interleaved with
 *   ours sample by sample, in the same processes.
 * - stock: sails-hook-sockets' leave(id, room) on A' with @sailshq/socket.io-redis, until B'
 *   really applied it (its adapter's leave-room event, on the shared clock); its callback
 *   fires at once and says nothing.
 * - ours applied on B: when B applied ours, in rounds of their own (B records each leave inside
 *   it, which the confirmed rounds should not pay).
 * p50: median of the rounds' p50; p99: over every sample.
 */
import { connectRaw, type TestClient } from '../../test/support/clients';
import { now } from '../support/clock';
import type { BenchContext } from '../support/context';
import { startEcho, startPinger } from '../support/floor';
import { row, type CaseRow } from '../support/report';
import type { Commands } from '../support/server-context';
import { median, percentile } from '../support/stats';

const CLIENTS = 20;
const ROOMS = 190;
const ROUNDS = 7;
const OURS_SAMPLES_PER_ROUND = 300;
/** Rounds of ours with B recording when each leave is applied, apart: the recording runs inside the leave. */
const APPLIED_ROUNDS = 2;
const STOCK_SAMPLES_PER_ROUND = 60;
// A server that changes memberships all day runs this path optimized: measure it warm.
const WARMUP_SAMPLES = 1000;
const TIMEOUT_MS = 5000;

type Pair = [socketId: string, room: string];

let closeFloor: (() => Promise<void>) | undefined;
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

  /** On A: confirmed leaves one at a time, each followed or preceded by a floor round trip. */
  confirmedLeaves: async ({ sails }, { pairs }: { pairs: Pair[] }) => {
    const leave = ([id, room]: Pair) => new Promise<{ start: number; rtt: number }>((resolve, reject) => {
      const start = now();
      sails.sockets.leave(id, room, (err, result) => {
        const rtt = now() - start;
        if (err) return reject(err);
        if ((result as { matched: number }).matched !== 1) return reject(new Error(`leave of ${id} matched ${JSON.stringify(result)}`));
        resolve({ start, rtt });
      });
    });
    const ours: Array<{ start: number; rtt: number }> = [];
    const floor: number[] = [];
    for (let i = 0; i < pairs.length; i++) {
      if (i % 2 === 0) {
        ours.push(await leave(pairs[i]!));
        floor.push(await pinger!.ping());
      } else {
        floor.push(await pinger!.ping());
        ours.push(await leave(pairs[i]!));
      }
    }
    return { ours, floor };
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
    const stockPairs = pairsOf(stockIds);
    await b.call('startFloorEcho');
    await a.call('startFloorPinger');
    await stockB.call('recordLeaves');

    await a.call('confirmedLeaves', { pairs: oursPairs.splice(0, WARMUP_SAMPLES) });
    const stockLeave = async (pair: Pair) => {
      const start = await stockA.call<number>('stockLeave', { pair });
      return await stockB.call<number>('leftAt', { id: pair[0], room: pair[1] }) - start;
    };
    for (const pair of stockPairs.splice(0, STOCK_SAMPLES_PER_ROUND)) await stockLeave(pair);
    type Samples = { start: number; rtt: number };
    const confirmedLeaves = (pairs: Pair[]) => a.call<{ ours: Samples[]; floor: number[] }>('confirmedLeaves', { pairs });
    const rounds: Array<{ ours: number[]; floor: number[]; stockApplied: number[] }> = [];
    for (let round = 0; round < ROUNDS; round++) {
      const { ours, floor } = await confirmedLeaves(oursPairs.splice(0, OURS_SAMPLES_PER_ROUND));
      const stockApplied: number[] = [];
      for (const pair of stockPairs.splice(0, STOCK_SAMPLES_PER_ROUND)) stockApplied.push(await stockLeave(pair));
      rounds.push({ ours: ours.map((s) => s.rtt), floor, stockApplied });
    }
    const appliedRounds: Array<{ oursApplied: number[] }> = [];
    for (let round = 0; round < APPLIED_ROUNDS; round++) {
      const batch = oursPairs.splice(0, OURS_SAMPLES_PER_ROUND);
      await b.call('recordLeaves');
      const { ours } = await confirmedLeaves(batch);
      const applied = await b.call<Record<string, number>>('stopRecordingLeaves');
      appliedRounds.push({ oursApplied: batch.map(([id, room], i) => applied[`${room}|${id}`]! - ours[i]!.start) });
    }

    const p50 = (pick: (r: typeof rounds[0]) => number[]) => median(rounds.map((r) => percentile(pick(r), 50)));
    const p99 = (pick: (r: typeof rounds[0]) => number[]) => percentile(rounds.flatMap(pick), 99);
    const oursAppliedP50 = median(appliedRounds.map((r) => percentile(r.oursApplied, 50)));
    const ms = 'ms';
    return [
      row('2. remote confirmed leave p50', ms, p50((r) => r.ours), p50((r) => r.floor), 'floor: raw Redis round trip A→B→A', { max: 1.3 }),
      row('2. remote confirmed leave p99', ms, p99((r) => r.ours), p99((r) => r.floor), 'floor: raw Redis round trip A→B→A'),
      row('2. remote leave p50: ours confirmed vs stock applied on B', ms, p50((r) => r.ours), p50((r) => r.stockApplied), 'stock hook, until applied on B'),
      row('2. remote leave p99: ours confirmed vs stock applied on B', ms, p99((r) => r.ours), p99((r) => r.stockApplied), 'stock hook, until applied on B'),
      row('2. remote leave applied on B, p50', ms, oursAppliedP50, p50((r) => r.stockApplied), 'stock hook'),
    ];
  } finally {
    for (const client of clients) client.disconnect();
    await Promise.allSettled([a.call('stopFloor'), b.call('stopFloor'), b.call('stopRecordingLeaves'), stockB.call('stopRecordingLeaves')]);
  }
}
