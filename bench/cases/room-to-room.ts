/**
 * Case 4. Room to room at scale: removeRoomMembersFromRooms(source, [dest]) called on server A,
 * the members of `source` spread evenly over three servers.
 *
 * - ours: sails-hook-rooms, until the callback (confirmed by every server).
 * - stock: sails-hook-sockets with @sailshq/socket.io-redis, until `dest` is empty on every
 *   server (its callback fires before the other servers acted).
 * Messages: PUBLISHes seen on that cluster's Redis during the call (heartbeats left out).
 *
 * Members are simulated sockets (support/simulated-sockets.ts): 50,000 real websocket clients do
 * not fit the time budget on two cores. They run the same code path: the hook's membership code,
 * socket.leave(), the adapter.
 */
import { sleep, now } from '../support/clock';
import type { BenchContext } from '../support/context';
import { countMessages } from '../support/message-counter';
import { row, type CaseRow } from '../support/report';
import type { ServerHandle } from '../support/servers';
import type { Commands } from '../support/server-context';
import { median } from '../support/stats';

const SIZES = [1_000, 10_000, 50_000];
const ROUNDS = 3;
const SOURCE = 'c4-source';
const DEST = 'c4-dest';
const PREFIX = 'c4-';
const TIMEOUT_MS = 30_000;
/** Replies still on their way when the caller was told: counted too. */
const SETTLE_MS = 100;
const PRESENCE = /"t":"(hello|up|beat|bye)"/;

export const serverCommands: Commands = {
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
  const results = new Map<number, { ours: number[]; stock: number[]; oursMessages: number[]; stockMessages: number[]; perServer: number }>();
  try {
    for (const size of SIZES) {
      const result = { ours: [] as number[], stock: [] as number[], oursMessages: [] as number[], stockMessages: [] as number[], perServer: 0 };
      results.set(size, result);
      for (let round = 0; round < ROUNDS; round++) {
        result.perServer = await simulateMembers(ours, size);
        oursMessages.reset();
        const { start, end } = await ours[0]!.call<{ start: number; end: number }>('roomToRoomOurs');
        await assertEmptied(ours);
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
  const perMember = (r: typeof last) => (median(r.ours) * 1000) / r.perServer;
  rows.push(row(`4. time per member per server, ${label(SIZES.at(-1)!)} vs ${label(SIZES.at(-2)!)} members (linear)`, 'µs', perMember(last), perMember(middle), `ours at ${label(SIZES.at(-2)!)} members`, { max: 1.2 }));
  return rows;
}
