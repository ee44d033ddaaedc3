/**
 * `npm run scale`: case 6 of the benchmark (bench/cases/scale.ts), for N = 2, 4, 8, 16, 32
 * servers on one Redis (`npm run scale -- 2 8` for some N only; those runs write nothing;
 * `-- --runs 5` measures every N five times and reports medians and spreads).
 * Prints one table per N and the targets; writes bench/results/scale.json, scale.md and
 * scale.svg (latency against N). Every process it started is stopped, whatever happens.
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { connectRaw } from '../test/support/clients';
import { startRedis, type TestRedis } from '../test/support/redis';
import { measureConnectCost } from './cases/connect-cost';
import { FRESH, SOCKETS, SOURCE, p50, p99, type ByIdSamples, type RoomToRoomSamples } from './cases/scale';
import { countMessages, NOT_PRESENCE, PRESENCE } from './support/message-counter';
import { median, metOverRuns, round } from './support/stats';
import { startServer, type ServerHandle } from './support/servers';

const RESULTS = path.resolve(__dirname, 'results');
const ALL_N = [2, 4, 8, 16, 32];
const SAMPLES = 150;
const WARMUP_SAMPLES = 100;
const FIRST_TOUCH_SAMPLES = 60;
const LIFT_BATCH = 4;
const PRESENCE_WINDOW_MS = 3000;
const CLUSTER_READY_MS = 60_000;

const running: Array<{ stop(): Promise<void> }> = [];

/** The ID of a socket.io client connected to `url`, which then disconnects. */
async function connectedIdOf(url: string): Promise<string> {
  const client = await connectRaw(url);
  try {
    return await client.socketId();
  } finally {
    client.disconnect();
  }
}

function serverNameOf(socketId: string): string {
  const end = socketId.indexOf('.');
  if (end <= 0) throw new Error(`socket ID ${socketId} names no server`);
  return socketId.slice(0, end);
}
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function redisCpuSeconds(redis: TestRedis): Promise<number> {
  const info = await redis.command<string>('INFO', 'cpu');
  const read = (name: string) => Number(info.match(new RegExp(`${name}:([\\d.]+)`))?.[1] ?? NaN);
  return read('used_cpu_sys') + read('used_cpu_user');
}

interface PerN {
  n: number;
  routedP50: number;
  routedP99: number;
  /** Raw round trip to the last server, between routed operations. */
  floorSameP50: number;
  /** First touch of the last server's sockets, between routed operations. */
  firstTouchSameP50: number;
  /** First touch of each other server's sockets in turn. */
  firstTouchP50: number;
  /** Raw round trip to each other server in turn, between first touches. */
  floorRotatingP50: number;
  roomToRoomP50: number;
  /** Interleaved with our operations: the floor of the ratio. */
  fanoutP50: number;
  /** Interleaved too, every server doing room to room's socket.io work: where the rest goes. */
  applyingFanoutP50: number;
  /** Alone, then with echoes that parse: what parsing costs. */
  plainFanoutP50: number;
  parsedFanoutP50: number;
  /** Redis messages per by-ID operation (routed and first touch), and per room-to-room one. */
  messagesById: number;
  messagesRoomToRoom: number;
  presencePerSecond: number;
  liftToReadySeconds: number;
  redisCpuPercent: number;
}

async function measureN(n: number, log: (message: string) => void): Promise<PerN> {
  const redis = await startRedis();
  running.push(redis);
  const servers: ServerHandle[] = [];
  const liftTimes: number[] = [];
  try {
    for (let i = 0; i < n; i += LIFT_BATCH) {
      await Promise.all(Array.from({ length: Math.min(LIFT_BATCH, n - i) }, async (_, j) => {
        const started = Date.now();
        const server = await startServer({ name: `s6-${i + j}`, flavor: 'ours', adapter: 'redis', redisUrl: redis.url });
        liftTimes.push((Date.now() - started) / 1000);
        servers[i + j] = server;
        running.push(server);
      }));
    }
    const deadline = Date.now() + CLUSTER_READY_MS;
    while (await servers[0]!.call<number>('scaleClusterSize') < n) {
      if (Date.now() > deadline) throw new Error(`the ${n} servers did not all answer within ${CLUSTER_READY_MS} ms`);
      await sleep(200);
    }
    log(`N=${n}: lifted and ready`);
    // Simulated sockets are named prefix + index (test/support/simulated-sockets.ts); the prefix
    // starts as the IDs of the server's connected sockets do (socket-ids.ts), read off a real one.
    const prefixes = await Promise.all(servers.map(async (server, i) => `${serverNameOf(await connectedIdOf(server.url))}.s6-${i}-`));
    await Promise.all(servers.map((server, i) => server.call('simulate', { prefix: prefixes[i], count: SOCKETS, rooms: [SOURCE] })));
    const idsOf = prefixes.map((prefix) => Array.from({ length: SOCKETS }, (_, k) => `${prefix}${k}`));
    const routedId = idsOf[n - 1]![0]!;
    const routedServer = servers[n - 1]!.spec.name;
    // Sockets of the last server that only first touches name, warm-up's then the samples'.
    const freshPrefix = `${serverNameOf(prefixes[n - 1]!)}.s6-fresh-`;
    await servers[n - 1]!.call('simulate', { prefix: freshPrefix, count: WARMUP_SAMPLES + SAMPLES, rooms: [FRESH] });
    const fresh = Array.from({ length: WARMUP_SAMPLES + SAMPLES }, (_, k) => `${freshPrefix}${k}`);
    // Untouched sockets, spread over the other servers in turn.
    const untouched: Array<{ id: string; server: string }> = [];
    for (let k = 1; untouched.length < FIRST_TOUCH_SAMPLES && k < SOCKETS; k++) {
      for (let s = 1; s < n && untouched.length < FIRST_TOUCH_SAMPLES; s++) untouched.push({ id: idsOf[s]![k]!, server: servers[s]!.spec.name });
    }

    await Promise.all(servers.slice(1).map((server) => server.call('scaleEcho', { parse: false })));
    await servers[0]!.call('scaleFanoutPinger', { replies: n - 1 });
    // Freshly lifted processes run their first thousand operations slower (the JIT): warm them up,
    // every server answering by-ID requests too (about sockets left out of the first touches).
    const warmUp = Array.from({ length: WARMUP_SAMPLES }, (_, k) => ({ id: idsOf[1 + (k % (n - 1))]![0]!, server: servers[1 + (k % (n - 1))]!.spec.name }));
    await servers[0]!.call('scaleById', { routedId, routedServer, fresh, untouched: warmUp, samples: WARMUP_SAMPLES });
    await servers[0]!.call('scaleRoomToRoom', { samples: WARMUP_SAMPLES });
    const presence = await countMessages(redis.url, NOT_PRESENCE);
    await sleep(PRESENCE_WINDOW_MS);
    const presencePerSecond = presence.count / (PRESENCE_WINDOW_MS / 1000);
    await presence.close();

    const cpuBefore = await redisCpuSeconds(redis);
    const wallBefore = Date.now();
    const byIdMessages = await countMessages(redis.url, PRESENCE);
    let byId: ByIdSamples;
    try {
      byId = await servers[0]!.call<ByIdSamples>('scaleById', { routedId, routedServer, fresh: fresh.slice(WARMUP_SAMPLES), untouched, samples: SAMPLES });
    } finally {
      await byIdMessages.close();
    }
    const roomToRoomMessages = await countMessages(redis.url, PRESENCE);
    let roomToRoom: RoomToRoomSamples;
    try {
      roomToRoom = await servers[0]!.call<RoomToRoomSamples>('scaleRoomToRoom', { samples: SAMPLES });
    } finally {
      await roomToRoomMessages.close();
    }
    const redisCpuPercent = 100 * (await redisCpuSeconds(redis) - cpuBefore) / ((Date.now() - wallBefore) / 1000);
    // Less the floor's own: a ping and its echo.
    const messagesById = (byIdMessages.count - 2 * (byId.floorSame.length + byId.floorRotating.length)) / (byId.routed.length + byId.firstTouchSame.length + byId.firstTouch.length);
    // Less the floor's own: one PUBLISH and N−1 echoes per ping.
    const messagesRoomToRoom = (roomToRoomMessages.count - (roomToRoom.fanout.length + roomToRoom.applyingFanout.length) * n) / roomToRoom.roomToRoom.length;

    // Plain and parsing echoes back to back, alone: what parsing costs the fan-out.
    const plainFanout = await servers[0]!.call<number[]>('scaleFanout', { samples: 2 * SAMPLES });
    await Promise.all(servers.slice(1).map((server) => server.call('scaleEcho', { parse: true })));
    const parsedFanout = await servers[0]!.call<number[]>('scaleFanout', { samples: 2 * SAMPLES });
    await Promise.all(servers.map((server) => server.call('scaleStopFloors')));
    return {
      n,
      routedP50: p50(byId.routed),
      routedP99: p99(byId.routed),
      floorSameP50: p50(byId.floorSame),
      firstTouchSameP50: p50(byId.firstTouchSame),
      firstTouchP50: p50(byId.firstTouch),
      floorRotatingP50: p50(byId.floorRotating),
      roomToRoomP50: p50(roomToRoom.roomToRoom),
      fanoutP50: p50(roomToRoom.fanout),
      applyingFanoutP50: p50(roomToRoom.applyingFanout),
      plainFanoutP50: p50(plainFanout),
      parsedFanoutP50: p50(parsedFanout),
      messagesById,
      messagesRoomToRoom,
      presencePerSecond,
      liftToReadySeconds: p50(liftTimes),
      redisCpuPercent,
    };
  } finally {
    await Promise.allSettled(servers.map((server) => server.stop()));
    await redis.stop();
    running.splice(0);
  }
}

function table(results: readonly PerN[]): string {
  const header = '| N | by ID, routed p50 / p99 (ms) | raw round trip, same server | first touch p50: same server / each server in turn | raw round trip, each server in turn | room to room p50 | raw fan-out p50, interleaved: plain / applying | room to room / fan-out: plain / applying | fan-out alone: plain / parsing echoes | room to room / fan-out alone | Redis messages per operation: by ID / room to room | presence messages/s | lift to ready (s) | Redis CPU |';
  const rows = results.map((r) => `| ${r.n} | ${round(r.routedP50)} / ${round(r.routedP99)} | ${round(r.floorSameP50)} | ${round(r.firstTouchSameP50)} / ${round(r.firstTouchP50)} | ${round(r.floorRotatingP50)} | ${round(r.roomToRoomP50)} | ${round(r.fanoutP50)} / ${round(r.applyingFanoutP50)} | ${round(r.roomToRoomP50 / r.fanoutP50)} / ${round(r.roomToRoomP50 / r.applyingFanoutP50)} | ${round(r.plainFanoutP50)} / ${round(r.parsedFanoutP50)} | ${round(r.roomToRoomP50 / r.plainFanoutP50)} | ${round(r.messagesById)} / ${round(r.messagesRoomToRoom)} | ${round(r.presencePerSecond)} | ${round(r.liftToReadySeconds)} | ${round(r.redisCpuPercent, 2)} % |`);
  return [header, `|${'---|'.repeat(14)}`, ...rows].join('\n');
}

/** A ratio case 6 reports: a target (`max`) or, without one, where the rest goes. */
interface Check {
  what: string;
  ratio: number;
  max?: number;
}

/** The targets of case 6, where the Ns they compare were measured, then what explains them. */
function checks(results: readonly PerN[]): Check[] {
  const at = (n: number) => results.find((r) => r.n === n);
  const list: Check[] = [];
  const [two, last] = [at(2), results.at(-1)];
  if (two && last && last.n > 2) {
    list.push({ what: `by ID, routed p50 at ${last.n} servers / at 2`, ratio: last.routedP50 / two.routedP50, max: 1.2 });
    list.push({ what: `first touch p50 at ${last.n} servers / routed at 2`, ratio: last.firstTouchSameP50 / two.routedP50, max: 1.5 });
  }
  for (const r of results) list.push({ what: `room to room p50 / raw fan-out p50 at ${r.n} servers`, ratio: r.roomToRoomP50 / r.fanoutP50, max: 1.5 });
  // Not targets: where the rest goes (a server woken after the others ran, on 2 cores).
  for (const r of results) {
    list.push({ what: `at ${r.n} servers: routed / raw round trip to the same server`, ratio: r.routedP50 / r.floorSameP50 });
    list.push({ what: `at ${r.n} servers: room to room / raw fan-out applying the change through socket.io`, ratio: r.roomToRoomP50 / r.applyingFanoutP50 });
    list.push({ what: `at ${r.n} servers: first touch / routed, same server`, ratio: r.firstTouchSameP50 / r.routedP50 });
    list.push({ what: `at ${r.n} servers: first touch, each server in turn / raw round trip to each server in turn`, ratio: r.firstTouchP50 / r.floorRotatingP50 });
  }
  if (two && last && last.n > 2) {
    // The two targets above compare processes measured a minute apart: the machine's drift meanwhile
    // moves the raw round trip as much. Each against its own N's round trip leaves the drift out.
    const drift = last.floorSameP50 / two.floorSameP50;
    list.push({ what: `by ID, routed p50 at ${last.n} servers / at 2, each against the raw round trip at its N`, ratio: last.routedP50 / two.routedP50 / drift });
    list.push({ what: `first touch p50 at ${last.n} servers / routed at 2, each against the raw round trip at its N`, ratio: last.firstTouchSameP50 / two.routedP50 / drift });
    list.push({ what: `first touch, each server in turn, at ${last.n} servers / routed at 2`, ratio: last.firstTouchP50 / two.routedP50 });
    list.push({ what: `raw round trip to each server in turn at ${last.n} servers / to the same server at 2`, ratio: last.floorRotatingP50 / two.floorSameP50 });
  }
  return list;
}

/** Each check's median over the runs, its range, and whether it is met (median within, no run 10 % past). */
function checkLines(runs: readonly PerN[][]): string[] {
  const perRun = runs.map(checks);
  return perRun[0]!.map((first, i) => {
    const ratios = perRun.map((list) => list[i]!.ratio);
    const mid = median(ratios);
    const spread = runs.length > 1 ? `, ${round(Math.min(...ratios))}–${round(Math.max(...ratios))} over ${runs.length} runs` : '';
    if (first.max === undefined) return `${first.what}: ${round(mid)}${spread}`;
    const met = metOverRuns('max', first.max, ratios);
    return `${first.what}: ${round(mid)}${spread} (target ≤ ${first.max}: ${met ? 'met' : 'MISS'})`;
  });
}

/** Each figure of each N, the median over the runs. */
function medianResults(runs: readonly PerN[][]): PerN[] {
  return runs[0]!.map((first, i) => {
    const merged = { ...first };
    for (const key of Object.keys(first) as Array<keyof PerN>) merged[key] = median(runs.map((run) => run[i]![key]));
    return merged;
  });
}

/** Latency against N, log-log: one line per measure. */
function chart(results: readonly PerN[], subtitle: string): string {
  const series: Array<[string, string, (r: PerN) => number]> = [
    ['by ID, routed', '#1565c0', (r) => r.routedP50],
    ['by ID, first touch', '#c62828', (r) => r.firstTouchSameP50],
    ['first touch, each server in turn', '#ef9a9a', (r) => r.firstTouchP50],
    ['room to room', '#2e7d32', (r) => r.roomToRoomP50],
    ['raw fan-out (floor)', '#9e9e9e', (r) => r.fanoutP50],
  ];
  const [width, height, left, top, plotW, plotH] = [760, 420, 70, 60, 480, 300];
  const values = results.flatMap((r) => series.map(([, , pick]) => pick(r))).filter((v) => v > 0);
  const [low, high] = [Math.floor(Math.log10(Math.min(...values))), Math.ceil(Math.log10(Math.max(...values)))];
  const xs = results.map((r) => r.n);
  const x = (n: number) => left + (Math.log2(n / xs[0]!) / Math.max(1, Math.log2(xs.at(-1)! / xs[0]!))) * plotW;
  const y = (ms: number) => top + plotH - ((Math.log10(ms) - low) / Math.max(1, high - low)) * plotH;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    '<text x="10" y="22" font-size="16" font-weight="bold">sails-hook-rooms, case 6: p50 latency (ms, log) against the number of servers</text>',
    `<text x="10" y="42" fill="#555">${subtitle}</text>`,
  ];
  for (let power = low; power <= high; power++) {
    parts.push(`<line x1="${left}" y1="${y(10 ** power)}" x2="${left + plotW}" y2="${y(10 ** power)}" stroke="#ddd"/>`);
    parts.push(`<text x="${left - 6}" y="${y(10 ** power) + 4}" text-anchor="end" fill="#555">${10 ** power}</text>`);
  }
  for (const n of xs) parts.push(`<text x="${x(n)}" y="${top + plotH + 18}" text-anchor="middle" fill="#555">${n}</text>`);
  series.forEach(([name, color, pick], i) => {
    const points = results.map((r) => `${x(r.n)},${y(pick(r))}`).join(' ');
    parts.push(`<polyline points="${points}" fill="none" stroke="${color}" stroke-width="2"/>`);
    parts.push(`<text x="${left + plotW + 16}" y="${top + 14 + i * 18}" fill="${color}">${name}</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}

async function main() {
  // `-- --runs 5`: every N that many times, the figures being the medians over the runs.
  const args = process.argv.slice(2);
  const runsAt = args.indexOf('--runs');
  const runCount = runsAt >= 0 ? Number(args[runsAt + 1]) : 1;
  const selected = args.filter((_, i) => runsAt < 0 || (i !== runsAt && i !== runsAt + 1)).map(Number).filter((n) => n >= 2);
  const ns = selected.length > 0 ? selected : ALL_N;
  const started = Date.now();
  const log = (message: string) => console.log(`[${((Date.now() - started) / 1000).toFixed(1).padStart(6)} s] ${message}`);
  const runs: PerN[][] = [];
  for (let run = 1; run <= runCount; run++) {
    const results: PerN[] = [];
    for (const n of ns) {
      log(`run ${run} of ${runCount}, N=${n}: lifting`);
      results.push(await measureN(n, log));
    }
    runs.push(results);
  }
  log('connect cost of socket IDs that name their server');
  const connectCost = await measureConnectCost();
  const medians = medianResults(runs);
  const heading = runCount > 1 ? `Medians of ${runCount} runs.\n\n` : '';
  const output = [`${heading}${table(medians)}`, '', ...checkLines(runs).map((line) => `- ${line}`), '', connectCost.summary].join('\n');
  console.log(`\n${output}\n`);
  if (selected.length === 0) {
    await mkdir(RESULTS, { recursive: true });
    const date = new Date().toISOString();
    await writeFile(path.join(RESULTS, 'scale.json'), `${JSON.stringify({ date, samples: SAMPLES, socketsPerServer: SOCKETS, runs, connectCost: connectCost.rounds }, null, 2)}\n`);
    await writeFile(path.join(RESULTS, 'scale.md'), `${output}\n`);
    const runsText = runCount > 1 ? `medians of ${runCount} runs` : `${SAMPLES} samples per N`;
    await writeFile(path.join(RESULTS, 'scale.svg'), chart(medians, `${date.slice(0, 10)} · one Redis, N Sails servers on one 2-core machine · ${runsText}`));
    log('wrote bench/results/scale.json, scale.md and scale.svg');
  }
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => { void Promise.allSettled(running.map((p) => p.stop())).then(() => process.exit(130)); });
}
main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
}).finally(() => Promise.allSettled(running.map((p) => p.stop())));
