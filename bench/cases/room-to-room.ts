/**
 * Case 4. Room to room at scale: removeRoomMembersFromRooms(source, [dest]) called on server A,
 * the members of `source` spread evenly over three servers.
 *
 * - ours: sails-hook-rooms, until the callback (confirmed by every server).
 * - stock: sails-hook-sockets with @sailshq/socket.io-redis, until `dest` is empty on every
 *   server (its callback fires before the other servers acted).
 * Messages: PUBLISHes seen on that cluster's Redis during the call (heartbeats left out).
 * Linearity: each server's time from its first member leaving to the last (adapter events), per
 * member, from 10k to 50k members, against the same growth for raw socket.leave on those members.
 *
 * Members are simulated sockets (test/support/simulated-sockets.ts): 50,000 real websocket clients do
 * not fit the time budget on two cores. They run the same code path: the hook's membership code,
 * socket.leave(), the adapter.
 */
import { sleep, now } from '../support/clock';
import type { BenchContext } from '../support/context';
import { countMessages, PRESENCE } from '../support/message-counter';
import { row, type CaseRow } from '../support/report';
import type { ServerHandle } from '../support/servers';
import type { Commands } from '../support/server-context';
import { median } from '../support/stats';

const SIZES = [1_000, 10_000, 50_000];
const ROUNDS = 5;
const SOURCE = 'c4-source';
const DEST = 'c4-dest';
const PREFIX = 'c4-';
const TIMEOUT_MS = 30_000;
/** Replies still on their way when the caller was told: counted too. */
const SETTLE_MS = 100;

/** On each server: when the first member left DEST, and when DEST became empty. */
let applying: { first?: number; empty?: number; stop(): void } | undefined;

export const serverCommands: Commands = {
  /** Times how long this server takes to apply the change to its own members (no network in it). */
  timeApply: ({ nsp }) => {
    applying?.stop();
    const timing: NonNullable<typeof applying> = {
      stop: () => { nsp.adapter.off('leave-room', onLeave); nsp.adapter.off('delete-room', onDelete); },
    };
    const onLeave = (room: string) => { if (room === DEST) timing.first ??= now(); };
    const onDelete = (room: string) => { if (room === DEST) timing.empty = now(); };
    nsp.adapter.on('leave-room', onLeave);
    nsp.adapter.on('delete-room', onDelete);
    applying = timing;
  },
  /** The physical cost on this server: raw socket.leave(DEST) for each member, timed. */
  rawLeaveAll: ({ nsp }) => {
    const members = [...(nsp.adapter.rooms.get(DEST) ?? [])].map((id) => nsp.sockets.get(id)!);
    const start = now();
    for (const socket of members) void socket.leave(DEST);
    return now() - start;
  },

  appliedIn: () => {
    const timing = applying!;
    timing.stop();
    applying = undefined;
    if (timing.first === undefined || timing.empty === undefined) throw new Error(`${DEST} was not emptied here`);
    return timing.empty - timing.first;
  },


  roomToRoomOurs: ({ sails }) => new Promise((resolve, reject) => {
    const start = now();
    sails.sockets.removeRoomMembersFromRooms(SOURCE, [DEST], (err, result) => {
      const end = now();
      if (err) reject(err);
      else resolve({ start, end, result });
    });
  }),

  roomToRoomStock: ({ stock }) => {
    const start = now();
    stock.removeRoomMembersFromRooms(SOURCE, [DEST], () => {});
    return start;
  },
};

async function simulateMembers(servers: ServerHandle[], members: number) {
  const perServer = Math.round(members / servers.length);
  await Promise.all(servers.map((server) => server.call('simulate', { prefix: PREFIX, count: perServer, rooms: [SOURCE, DEST] })));
  await Promise.all(servers.map((server) => server.call('collectGarbage')));
  return perServer;
}

async function assertEmptied(servers: ServerHandle[]) {
  for (const server of servers) {
    const left = await server.call<number>('roomSize', { room: DEST });
    if (left !== 0) throw new Error(`${server.spec.name} still has ${left} members in ${DEST}`);
  }
}

export async function measure(ctx: BenchContext): Promise<CaseRow[]> {
  const [oursC, stockC] = await Promise.all([
    ctx.start({ name: 'ours-C', flavor: 'ours', adapter: 'redis', redisUrl: ctx.redis.ours.url }),
    ctx.start({ name: 'stock-C', flavor: 'stock', adapter: 'redis', redisUrl: ctx.redis.stock.url }),
  ]);
  const ours = [...ctx.ours, oursC];
  const stock = [...ctx.stock, stockC];
  const oursMessages = await countMessages(ctx.redis.ours.url, PRESENCE);
  const stockMessages = await countMessages(ctx.redis.stock.url, PRESENCE);
  const results = new Map<number, { ours: number[]; stock: number[]; oursMessages: number[]; stockMessages: number[]; apply: number[]; raw: number[]; perServer: number }>();
  try {
    for (const size of SIZES) {
      const result = { ours: [] as number[], stock: [] as number[], oursMessages: [] as number[], stockMessages: [] as number[], apply: [] as number[], raw: [] as number[], perServer: 0 };
      results.set(size, result);
      for (let round = 0; round < ROUNDS; round++) {
        result.perServer = await simulateMembers(ours, size);
        await Promise.all(ours.map((server) => server.call('timeApply')));
        oursMessages.reset();
        const { start, end } = await ours[0]!.call<{ start: number; end: number }>('roomToRoomOurs');
        await assertEmptied(ours);
        result.apply.push(...await Promise.all(ours.map((server) => server.call<number>('appliedIn'))));
        // The same members in DEST again, left with raw socket.leave: how the physical cost grows.
        await simulateMembers(ours, size);
        result.raw.push(...await Promise.all(ours.map((server) => server.call<number>('rawLeaveAll'))));
        await sleep(SETTLE_MS);
        result.ours.push(end - start);
        result.oursMessages.push(oursMessages.count);
        await Promise.all(ours.map((server) => server.call('dropSimulated', { prefix: PREFIX })));

        await simulateMembers(stock, size);
        await Promise.all(stock.map((server, i) => server.call('arm', { name: `c4-${i}`, room: DEST, timeoutMs: TIMEOUT_MS })));
        stockMessages.reset();
        const stockStart = await stock[0]!.call<number>('roomToRoomStock');
        const emptied = await Promise.all(stock.map((server, i) => server.call<number>('watched', { name: `c4-${i}` })));
        await sleep(SETTLE_MS);
        result.stock.push(Math.max(...emptied) - stockStart);
        result.stockMessages.push(stockMessages.count);
        await Promise.all(stock.map((server) => server.call('dropSimulated', { prefix: PREFIX })));
      }
    }
  } finally {
    await Promise.allSettled([oursMessages.close(), stockMessages.close(), oursC.stop(), stockC.stop()]);
  }

  const rows: CaseRow[] = [];
  const label = (size: number) => `${size / 1000}k`;
  for (const [size, r] of results) {
    rows.push(row(`4. removeRoomMembersFromRooms, ${label(size)} members on 3 servers`, 'ms', median(r.ours), median(r.stock), 'stock hook, until applied everywhere'));
  }
  const first = results.get(SIZES[0]!)!;
  const last = results.get(SIZES.at(-1)!)!;
  const middle = results.get(SIZES.at(-2)!)!;
  rows.push(row(`4. Redis messages per call, ${label(SIZES.at(-1)!)} vs ${label(SIZES[0]!)} members (constant)`, 'messages', median(last.oursMessages), median(first.oursMessages), `ours at ${label(SIZES[0]!)} members`, { max: 1 }));
  rows.push(row(`4. Redis messages per call, ${label(SIZES.at(-1)!)} members`, 'messages', median(last.oursMessages), median(last.stockMessages), 'stock hook'));
  // Each server's own apply time, network left out (a Redis round trip hides the slope at 10k),
  // against raw socket.leave on the same members: both grow as the members outgrow the CPU caches.
  const growth = (times: (r: typeof last) => number[]) => (median(times(last)) / last.perServer) / (median(times(middle)) / middle.perServer);
  rows.push(row(`4. growth of apply time per member on a server, ${label(SIZES.at(-2)!)} to ${label(SIZES.at(-1)!)} members (linear)`, 'x', growth((r) => r.apply), growth((r) => r.raw), 'raw socket.leave, same members', { max: 1.2 }));
  return rows;
}
