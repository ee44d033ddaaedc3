/**
 * Case 5. End to end: sails.io.js clients (socket.io-client 2, as browsers use it) call the
 * documentation's leaveFunRoom action and its join counterpart over socket requests, in closed
 * loops, for fixed windows; ours vs stock sails-hook-sockets, on one server (memory adapter) and
 * on two servers on Redis (clients split between them). Windows alternate ours, stock, stock, ours, …
 *
 * Each flavor is measured on DEPLOYMENTS deployments in turn (single servers; pairs on a Redis of
 * their own, the first being A/B and A'/B'): the same code costs up to 20 % more per request in
 * one Node process than in another for its whole life (how V8 happened to optimize Sails'
 * request path, e.g. Readable.pipe in its virtual responses), and one deployment per flavor
 * would measure that, not the hook. Each deployment gets a warm-up window first, not counted.
 *
 * Memory: heap after a full GC with MEMORY_SOCKETS connected socket.io-client 4 sockets, each
 * joined to 10 rooms through the app's sails.sockets.join, minus the heap before; normalized to
 * 10k sockets (10k real connections do not fit the time budget on two cores). What a socket
 * costs, not what running the path the first time costs: the same is done first with a few
 * sockets, their joins repeated as often as 1,000 sockets make them, so that V8 has compiled and
 * optimized the path before the heap is read (that code is on the heap, and ours runs more of
 * it than stock: counted per socket, 2 % more). Measured on each single server in turn, ours
 * and stock alternating; the ratio is the median of the pairs'.
 */
import { connectRaw, connectSailsIo, type TestClient } from '../../test/support/clients';
import { waitFor } from '../../test/support/events';
import { startRedis, type TestRedis } from '../../test/support/redis';
import { now, sleep } from '../support/clock';
import type { BenchContext } from '../support/context';
import { row, type CaseRow } from '../support/report';
import type { ServerHandle } from '../support/servers';
import type { Commands } from '../support/server-context';
import { median, medianInterval, percentile } from '../support/stats';

const CLIENTS = 40;
const WINDOW_MS = 2000;
const WARMUP_MS = 1000;
// Windows of 2 s on a shared machine move by 10-20 %: enough of them for the medians to hold.
const ROUNDS = 9;
const DEPLOYMENTS = 3;
const MEMORY_SOCKETS = 1000;
const MEMORY_WARMUP_SOCKETS = 50;
// Joins of the warm-up's sockets: enough calls for V8 to optimize the path, as 1,000 sockets do.
const MEMORY_WARMUP_REPEATS = 40;
const MEMORY_ROOMS = Array.from({ length: 10 }, (_, i) => `c5-memory-${i}`);
const CONNECT_BATCH = 100;

export const serverCommands: Commands = {};

interface Window { requestsPerSecond: number; p99: number; errors: number }

type Flavor = 'ours' | 'stock';

/** Every client alternates join and leave requests until the window closes. */
async function loadWindow(clients: TestClient[], durationMs = WINDOW_MS): Promise<Window> {
  const latencies: number[] = [];
  let errors = 0;
  const end = now() + durationMs;
  await Promise.all(clients.map(async (client, i) => {
    const roomName = `fun-${i % 10}`;
    while (now() < end) {
      for (const action of ['/rooms/join-fun-room', '/rooms/leave-fun-room']) {
        const start = now();
        const { statusCode } = await client.request('post', action, { roomName });
        const finished = now();
        if (finished > end) return;
        if (statusCode !== 200) errors++;
        latencies.push(finished - start);
      }
    }
  }));
  return { requestsPerSecond: latencies.length / (durationMs / 1000), p99: percentile(latencies, 99), errors };
}

async function connectAll(servers: ServerHandle[], count: number, connect: (url: string) => Promise<TestClient>): Promise<TestClient[]> {
  const clients: TestClient[] = [];
  for (let i = 0; i < count; i += CONNECT_BATCH) {
    const batch = Array.from({ length: Math.min(CONNECT_BATCH, count - i) }, (_, j) => connect(servers[(i + j) % servers.length]!.url));
    clients.push(...await Promise.all(batch));
  }
  return clients;
}

async function disconnectAll(clients: TestClient[], servers: ServerHandle[]) {
  for (const client of clients) client.disconnect();
  for (const server of servers) {
    await waitFor(async () => (await server.call<string[]>('connectedIds')).length === 0, `${server.spec.name}'s clients to disconnect`, 10_000);
  }
}

/**
 * Requests/s and p99 of each flavor. A deployment is the servers one window loads (clients spread
 * over them); round r loads deployment r of its flavor, modulo their number.
 */
async function throughput(label: string, ours: ServerHandle[][], stock: ServerHandle[][]): Promise<CaseRow[]> {
  const deployments = { ours, stock };
  const clients: Record<Flavor, TestClient[][]> = { ours: [], stock: [] };
  const windows: Record<Flavor, Window[]> = { ours: [], stock: [] };
  const warmups: Window[] = [];
  try {
    for (const flavor of ['ours', 'stock'] as const) {
      for (const servers of deployments[flavor]) clients[flavor].push(await connectAll(servers, CLIENTS, connectSailsIo));
    }
    for (const flavor of ['ours', 'stock'] as const) {
      for (const deployment of clients[flavor]) warmups.push(await loadWindow(deployment, WARMUP_MS));
    }
    for (let r = 0; r < ROUNDS; r++) {
      const order = r % 2 === 0 ? ['ours', 'stock'] as const : ['stock', 'ours'] as const;
      for (const flavor of order) windows[flavor].push(await loadWindow(clients[flavor][r % clients[flavor].length]!));
    }
  } finally {
    await disconnectAll([...clients.ours.flat(), ...clients.stock.flat()], [...ours.flat(), ...stock.flat()]);
  }
  const errors = [...warmups, ...windows.ours, ...windows.stock].reduce((total, w) => total + w.errors, 0);
  if (errors > 0) throw new Error(`${errors} requests failed (${label})`);
  const rps = (flavor: Flavor) => median(windows[flavor].map((w) => w.requestsPerSecond));
  const p99 = (flavor: Flavor) => median(windows[flavor].map((w) => w.p99));
  // A round's two windows ran side by side on the same deployment index: their ratio leaves out
  // the machine's drift over the run, which moves whole rounds by tens of percent.
  const pairRatios = (pick: (w: Window) => number) => windows.ours.map((w, r) => pick(w) / pick(windows.stock[r]!));
  const pairedRatio = (pick: (w: Window) => number) => median(pairRatios(pick));
  const [low, high] = medianInterval(pairRatios((w) => w.requestsPerSecond));
  return [
    row(`5. end to end, ${label}: requests/s`, 'req/s', rps('ours'), rps('stock'), 'stock hook', { min: 1.0 }, pairedRatio((w) => w.requestsPerSecond)),
    // How sure the median ratio is: the lower bound of its 90 % interval over the rounds' pairs.
    row(`5. end to end, ${label}: requests/s ratio, 90 % interval (${low.toFixed(2)}–${high.toFixed(2)}), lower bound`, 'x', low, 1, 'parity', { min: 0.97 }),
    // No target: a 2 s window's p99 on this shared machine is its worst hiccups.
    row(`5. end to end, ${label}: p99`, 'ms', p99('ours'), p99('stock'), 'stock hook', null, pairedRatio((w) => w.p99)),
  ];
}

/** The heap `count` sockets in MEMORY_ROOMS add to `server` (bytes), back to none after. */
async function heapOfSockets(server: ServerHandle, count: number, repeat = 1): Promise<number> {
  const before = await server.call<{ heapUsed: number }>('memory');
  const clients = await connectAll([server], count, connectRaw);
  try {
    await server.call('joinConnectedThroughApp', { rooms: MEMORY_ROOMS, repeat });
    await sleep(100);
    const after = await server.call<{ heapUsed: number }>('memory');
    return after.heapUsed - before.heapUsed;
  } finally {
    await disconnectAll(clients, [server]);
  }
}

async function heapPer10k(server: ServerHandle): Promise<number> {
  await heapOfSockets(server, MEMORY_WARMUP_SOCKETS, MEMORY_WARMUP_REPEATS);
  return (await heapOfSockets(server, MEMORY_SOCKETS) / MEMORY_SOCKETS) * 10_000 / 2 ** 20;
}

export async function measure(ctx: BenchContext): Promise<CaseRow[]> {
  const started: ServerHandle[] = [];
  const redisServers: TestRedis[] = [];
  const startOne = async (flavor: Flavor, index: number) => {
    const server = await ctx.start({ name: `${flavor}-memory-${index}`, flavor, adapter: 'memory' });
    started.push(server);
    return [server];
  };
  /** Two servers of a flavor on a Redis of their own. */
  const startTwo = async (flavor: Flavor, index: number) => {
    const redis = await startRedis();
    redisServers.push(redis);
    const pair = await Promise.all(['A', 'B'].map((letter) => ctx.start({ name: `${flavor}-${letter}${index}`, flavor, adapter: 'redis', redisUrl: redis.url })));
    started.push(...pair);
    return pair;
  };
  try {
    const indexes = Array.from({ length: DEPLOYMENTS }, (_, i) => i + 1);
    const single = await Promise.all((['ours', 'stock'] as const).map((flavor) => Promise.all(indexes.map((i) => startOne(flavor, i)))));
    const pairs = await Promise.all((['ours', 'stock'] as const).map((flavor) => Promise.all(indexes.slice(1).map((i) => startTwo(flavor, i)))));
    const rows = [
      ...await throughput('one server', single[0]!, single[1]!),
      ...await throughput('two servers on Redis', [ctx.ours, ...pairs[0]!], [ctx.stock, ...pairs[1]!]),
    ];
    const heaps: Array<{ ours: number; stock: number }> = [];
    for (let i = 0; i < DEPLOYMENTS; i++) {
      const ours = await heapPer10k(single[0]![i]![0]!);
      heaps.push({ ours, stock: await heapPer10k(single[1]![i]![0]!) });
    }
    rows.push(row('5. memory per 10k sockets in 10 rooms each (heap)', 'MB', median(heaps.map((h) => h.ours)), median(heaps.map((h) => h.stock)), 'stock hook',
      { max: 1.0 }, median(heaps.map((h) => h.ours / h.stock))));
    return rows;
  } finally {
    await Promise.allSettled(started.map((server) => server.stop()));
    await Promise.allSettled(redisServers.map((redis) => redis.stop()));
  }
}
