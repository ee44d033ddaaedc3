/**
 * Case 3. Remote leave throughput: 10,000 leaves issued back to back on server A against sockets
 * connected to server B.
 *
 * - ours: sails.sockets.leave(id, room, cb) for each, all in flight at once, until the last cb
 *   (every one confirmed by B).
 * - raw: io.in(id).socketsLeave(room) for each (fire-and-forget, @socket.io/redis-adapter on the
 *   same servers), until B applied the last one (its adapter's leave-room events).
 * Rounds alternate (ours, raw, raw, ours, …); leaves/s is the median of the rounds.
 */
import { connectRaw, type TestClient } from '../../test/support/clients';
import { now } from '../support/clock';
import type { BenchContext } from '../support/context';
import { row, type CaseRow } from '../support/report';
import type { Commands } from '../support/server-context';
import { median } from '../support/stats';

const CLIENTS = 100;
const ROOMS = 100;
const LEAVES = CLIENTS * ROOMS;
const ROUNDS = 7;
const TIMEOUT_MS = 20_000;

type Pair = [socketId: string, room: string];
let pairs: Pair[] = [];

export const serverCommands: Commands = {
  setPairs: (_server, args: { pairs: Pair[] }) => { pairs = args.pairs; },

  burstOurs: ({ sails }) => new Promise((resolve, reject) => {
    let confirmed = 0;
    let matched = 0;
    const start = now();
    const cb = (err: unknown, result?: unknown) => {
      if (err) return reject(err);
      matched += (result as { matched: number }).matched;
      if (++confirmed < pairs.length) return;
      const end = now();
      if (matched !== pairs.length) reject(new Error(`ours matched ${matched} of ${pairs.length}`));
      else resolve({ start, end });
    };
    for (const [id, room] of pairs) sails.sockets.leave(id, room, cb);
  }),

  burstRaw: ({ sails }) => {
    const start = now();
    for (const [id, room] of pairs) sails.io.in(id).socketsLeave(room);
    return { start, issued: now() };
  },
};

export async function measure(ctx: BenchContext): Promise<CaseRow[]> {
  const [a, b] = ctx.ours as [typeof ctx.ours[0], typeof ctx.ours[0]];
  const rooms = Array.from({ length: ROOMS }, (_, r) => `c3-room-${r}`);
  const clients: TestClient[] = await Promise.all(Array.from({ length: CLIENTS }, () => connectRaw(b.url)));
  try {
    const ids = await Promise.all(clients.map((client) => client.socketId()));
    const all: Pair[] = [];
    for (const room of rooms) for (const id of ids) all.push([id, room]);
    await a.call('setPairs', { pairs: all });

    const perSecond: Record<'ours' | 'raw', number[]> = { ours: [], raw: [] };
    const order: Array<'ours' | 'raw'> = [];
    for (let r = 0; r < ROUNDS; r++) order.push(...(r % 2 === 0 ? ['ours', 'raw'] as const : ['raw', 'ours'] as const));
    for (const variant of order) {
      await b.call('joinLocally', { ids, rooms });
      await b.call('arm', { name: 'c3', count: all.length, timeoutMs: TIMEOUT_MS });
      if (variant === 'ours') {
        const { start, end } = await a.call<{ start: number; end: number }>('burstOurs');
        await b.call('watched', { name: 'c3' });
        perSecond.ours.push(all.length / ((end - start) / 1000));
      } else {
        const { start } = await a.call<{ start: number }>('burstRaw');
        const applied = await b.call<number>('watched', { name: 'c3' });
        perSecond.raw.push(all.length / ((applied - start) / 1000));
      }
    }
    return [
      row(`3. remote leave throughput, ${LEAVES} in flight`, 'leaves/s', median(perSecond.ours), median(perSecond.raw), 'raw io.in(id).socketsLeave(), until applied on B', { min: 0.8 }),
    ];
  } finally {
    for (const client of clients) client.disconnect();
  }
}
