/**
 * Case 1. Local leave: a socket connected to this server leaves a room, through
 * sails.sockets.leave (ours: with a callback, without one as Sails' pubsub calls it, and awaited
 * as apps write it), raw socket.leave, raw socket.leave followed by process.nextTick(cb) (the
 * least a callback that is always asynchronous costs), raw socket.leave awaited (the least an
 * awaited leave costs), and sails-hook-sockets' own leave.
 *
 * CLIENTS real clients are connected to server A, each in ROOMS rooms; the memberships are left
 * in a shuffled order (leaves come from unrelated requests). A sample is one variant leaving a
 * slice of SLICE of them, CHUNK per turn of the event loop (a busy server runs several requests
 * per turn; callbacks are called before the next turn); the slice is joined again (untimed)
 * before the next variant, in a rotating order. ns/op is the median over the samples:
 * short samples and medians keep this shared, noisy machine's pauses out of the figures.
 */
import { connectRaw, type TestClient } from '../../test/support/clients';
import type { BenchContext } from '../support/context';
import { row, type CaseRow } from '../support/report';
import type { Commands } from '../support/server-context';
import { median } from '../support/stats';

const CLIENTS = 500;
const ROOMS = 20;
const SLICE = 1000;
const CHUNK = 100;
const REPETITIONS = 20;
const WARMUP_REPETITIONS = 2;

type Variant = 'raw' | 'rawNextTick' | 'rawAwait' | 'stock' | 'oursCallback' | 'oursNoCallback' | 'oursAwait';

/** The same shuffle every run. */
function shuffled<T>(items: T[]): T[] {
  let seed = 1;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

export const serverCommands: Commands = {
  localLeave: async ({ sails, nsp, stock }, { ids }: { ids: string[] }) => {
    const rooms = Array.from({ length: ROOMS }, (_, i) => `c1-room-${i}`);
    const sockets = ids.map((id) => nsp.sockets.get(id)!);
    const pairs = shuffled(sockets.flatMap((socket) => rooms.map((room) => [socket, room] as const)));

    type Leave = (from: number, to: number) => void | Promise<void>;
    const turn = () => new Promise((resolve) => setImmediate(resolve));
    let called = 0;
    const cb = () => { called++; };
    const inChunks = async (from: number, to: number, leaveChunk: Leave) => {
      for (let at = from; at < to; at += CHUNK) {
        await leaveChunk(at, Math.min(at + CHUNK, to));
        await turn();
      }
    };
    const variants: Record<Variant, Leave> = {
      raw: (from, to) => {
        for (let i = from; i < to; i++) void pairs[i]![0].leave(pairs[i]![1]);
      },
      // The least a callback API that calls back asynchronously can cost on top of raw.
      rawNextTick: (from, to) => {
        for (let i = from; i < to; i++) {
          void pairs[i]![0].leave(pairs[i]![1]);
          process.nextTick(cb);
        }
      },
      // The least an awaited leave can cost: socket.io's own, awaited (a turn of the microtask queue each).
      rawAwait: async (from, to) => {
        for (let i = from; i < to; i++) await pairs[i]![0].leave(pairs[i]![1]);
      },
      stock: (from, to) => {
        for (let i = from; i < to; i++) stock.leave(pairs[i]![0], pairs[i]![1], cb);
      },
      oursCallback: (from, to) => {
        for (let i = from; i < to; i++) sails.sockets.leave(pairs[i]![0], pairs[i]![1], cb);
      },
      // As Sails' pubsub hook and blueprints call it: no callback, the promise ignored.
      oursNoCallback: (from, to) => {
        for (let i = from; i < to; i++) sails.sockets.leave(pairs[i]![0], pairs[i]![1]);
      },
      // As an action writes it: `await sails.sockets.leave(req, room)`, one after the other.
      oursAwait: async (from, to) => {
        for (let i = from; i < to; i++) await sails.sockets.leave(pairs[i]![0], pairs[i]![1]);
      },
    };

    const names = Object.keys(variants) as Variant[];
    const nsPerOp: Record<Variant, number[]> = { raw: [], rawNextTick: [], rawAwait: [], stock: [], oursCallback: [], oursNoCallback: [], oursAwait: [] };
    for (const socket of sockets) void nsp.adapter.addAll(socket.id, new Set(rooms));
    let sample = 0;
    for (let repetition = 0; repetition < WARMUP_REPETITIONS + REPETITIONS; repetition++) {
      for (let from = 0; from < pairs.length; from += SLICE, sample++) {
        const to = Math.min(from + SLICE, pairs.length);
        for (let v = 0; v < names.length; v++) {
          const name = names[(sample + v) % names.length]!;
          // Each variant starts with an empty nursery: it pays for its own garbage only.
          global.gc?.({ type: 'minor' });
          const start = process.hrtime.bigint();
          called = 0;
          await inChunks(from, to, variants[name]);
          const elapsed = Number(process.hrtime.bigint() - start);
          if (pairs[from]![0].rooms.has(pairs[from]![1])) throw new Error(`${name} did not leave`);
          if ((name === 'oursCallback' || name === 'rawNextTick') && called !== to - from) throw new Error(`${name}: ${called} of ${to - from} callbacks called`);
          if (repetition >= WARMUP_REPETITIONS) nsPerOp[name].push(elapsed / (to - from));
          for (let i = from; i < to; i++) void nsp.adapter.addAll(pairs[i]![0].id, new Set([pairs[i]![1]]));
        }
      }
    }
    return nsPerOp;
  },
};

export async function measure(ctx: BenchContext): Promise<CaseRow[]> {
  const server = ctx.ours[0]!;
  const clients: TestClient[] = [];
  try {
    for (let i = 0; i < CLIENTS; i += 100) clients.push(...await Promise.all(Array.from({ length: 100 }, () => connectRaw(server.url))));
    const ids = await Promise.all(clients.map((client) => client.socketId()));
    const nsPerOp = await server.call<Record<Variant, number[]>>('localLeave', { ids });
    const { raw, rawNextTick, rawAwait, stock, oursCallback, oursNoCallback, oursAwait } = Object.fromEntries(
      Object.entries(nsPerOp).map(([name, samples]) => [name, median(samples)]),
    ) as Record<Variant, number>;
    return [
      row('1. local leave, callback', 'ns/op', oursCallback, raw, 'raw socket.leave', { max: 1.25 }),
      row('1. local leave, no callback (as Sails pubsub calls it)', 'ns/op', oursNoCallback, raw, 'raw socket.leave', { max: 1.5 }),
      row('1. local leave, awaited', 'ns/op', oursAwait, raw, 'raw socket.leave', { max: 1.5 }),
      row('1. local leave, callback', 'ns/op', oursCallback, stock, 'stock hook leave'),
      row('1. raw socket.leave, then process.nextTick(cb): an asynchronous callback at its cheapest', 'ns/op', rawNextTick, raw, 'raw socket.leave'),
      row('1. local leave, callback', 'ns/op', oursCallback, rawNextTick, 'raw socket.leave, then process.nextTick(cb)'),
      row('1. raw socket.leave, awaited: an awaited leave at its cheapest', 'ns/op', rawAwait, raw, 'raw socket.leave'),
      row('1. local leave, awaited', 'ns/op', oursAwait, rawAwait, 'raw socket.leave, awaited'),
    ];
  } finally {
    for (const client of clients) client.disconnect();
  }
}
