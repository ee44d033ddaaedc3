/**
 * Case 7. Where case 2's gap to its floor goes: the hook's own time per confirmed by-ID leave or
 * join, in this process, with servers A and B built from the real parts (the compiled hook) over
 * a link that delivers each PUBLISH on the next turn of the event loop. Side by side, over the
 * same link: a raw round trip (the floor), the least such an operation needs (a JSON request
 * parsed and applied on B, a JSON reply parsed on A: no routing, fencing, timeouts or results),
 * and the change alone on B (no message read or built).
 *
 * Warm: one operation after another. Cold: before each delivery, and before each operation,
 * THRASH_MB of memory are touched, as the other processes of a busy machine do between two
 * messages of one server; that time is left out of the samples. The figures are p50s, minus the
 * raw round trip's. Info rows: the issue sets no target on them.
 */
import { Server, Socket, type Namespace } from 'socket.io';
import { FakeRegistry } from '../../test/support/fake-registry';
import { addSimulatedSockets } from '../../test/support/simulated-sockets';
import type { BenchContext } from '../support/context';
import { row, type CaseRow } from '../support/report';
import type { Commands } from '../support/server-context';
import { percentile } from '../support/stats';

/* eslint-disable @typescript-eslint/no-require-imports */
const { DEFAULTS } = require('../../dist/config');
const { RoomManager } = require('../../dist/room-manager');
const { createRoomsApi } = require('../../dist/sockets-api');
const { OperationStats } = require('../../dist/stats');
const { startNode } = require('../../dist/transport/redis/node');
const { systemClock } = require('../../dist/transport/redis/clock');
/* eslint-enable @typescript-eslint/no-require-imports */

const OPERATIONS = 1500;
const COLD_ROUNDS = 2;
const THRASH_MB = 16;
const A = 'aaaaaaaaaaaaaaaa';
const B = 'bbbbbbbbbbbbbbbb';

export const serverCommands: Commands = {};

type Listener = (message: string) => void;
type Variant = 'raw' | 'ours' | 'least' | 'change';
type Callback = (err: unknown, result?: { matched: number; servers: number }) => void;
type RoomsApi = Record<'join' | 'leave', (id: string, room: string, cb: Callback) => void>;

/** Pub/sub in this process: each PUBLISH reaches its subscribers on the next turn, after `beforeDelivery`. */
function createLocalRedis(beforeDelivery: () => void) {
  const subscribers = new Map<string, Listener[]>();
  const publish = (channel: string, payload: string) => {
    const listeners = subscribers.get(channel) ?? [];
    for (const listener of listeners) setImmediate(() => { beforeDelivery(); listener(payload); });
    return Promise.resolve(listeners.length);
  };
  const subscribe = (channel: string, listener: Listener) => { subscribers.set(channel, [...(subscribers.get(channel) ?? []), listener]); };
  const link = {
    sharded: false,
    isReady: () => true,
    pubReady: () => true,
    publish,
    subscribe: async (channel: string, listener: Listener) => subscribe(channel, listener),
    onReady: () => {},
    onSubscriberLost: () => {},
    close: async () => {},
  };
  return { publish, subscribe, link };
}

export async function measure(_ctx: BenchContext): Promise<CaseRow[]> {
  const junk = new Float64Array(THRASH_MB * 131072);
  let cold = false;
  let thrashMs = 0;
  let sink = 0;
  const thrash = () => {
    if (!cold) return;
    const start = performance.now();
    let sum = 0;
    for (let i = 0; i < junk.length; i += 8) sum += junk[i]!++;
    sink += sum;
    thrashMs += performance.now() - start;
  };
  const redis = createLocalRedis(thrash);
  const registry = new FakeRegistry();
  const config = { ...DEFAULTS, adapter: 'redis', url: 'redis://local', timeout: 5000 };
  const log = { warn: () => {}, error: () => {} };
  const lift = async (uid: string) => {
    const nsp: Namespace = new Server().of('/');
    const transport = await startNode({ uid, config, nsp, clock: systemClock, link: redis.link, registry, discoveryMs: 50, log, emit: () => {}, attachAdapter: async () => {} });
    const operations = new OperationStats();
    const api = createRoomsApi(new RoomManager(nsp, transport, operations), operations, log, { warnUsageErrors: false }) as RoomsApi;
    return { nsp, transport, api };
  };
  const a = await lift(A);
  const b = await lift(B);
  try {
    const [socketId] = addSimulatedSockets(b.nsp, Socket.prototype, `${B}.c7-`, 1, ['c7-room']) as [string];
    const ours = (type: 'join' | 'leave') => new Promise<void>((resolve, reject) => a.api[type](socketId, 'c7-room', (err, result) => {
      if (err) reject(err);
      else if (result?.matched !== 1 || result.servers !== 2) reject(new Error(`case 7: ${type} answered ${JSON.stringify(result)}`));
      else resolve();
    }));
    // A counts B as a member once their hellos crossed: until then its requests do not wait for B.
    for (let tries = 0; ; tries++) {
      try {
        await ours('leave');
        break;
      } catch (err) {
        if (tries > 100) throw err;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    }
    const socket = b.nsp.sockets.get(socketId)!;

    let pong: (() => void) | undefined;
    redis.subscribe('c7-ping', (message) => { void redis.publish('c7-pong', message); });
    redis.subscribe('c7-pong', () => pong?.());
    const ping = `["${A}",1,"q",1,1,5000,"leave",["${socketId}"],["c7-room"]]`;
    const raw = () => new Promise<void>((resolve) => { pong = resolve; void redis.publish('c7-ping', ping); });

    const waiting = new Map<number, () => void>();
    let nextId = 0;
    redis.subscribe('c7-request', (message) => {
      const [, , , id, , , type, [target], [room]] = JSON.parse(message) as [string, number, string, number, number, number, string, string[], string[]];
      const held = b.nsp.sockets.get(target!)!;
      void (type === 'join' ? held.join(room!) : held.leave(room!));
      void redis.publish('c7-reply', `["${B}",${Date.now()},"r",${id},1,"all"]`);
    });
    redis.subscribe('c7-reply', (message) => {
      const id = (JSON.parse(message) as unknown[])[3] as number;
      const done = waiting.get(id);
      waiting.delete(id);
      done?.();
    });
    const least = (type: 'join' | 'leave') => new Promise<void>((resolve) => {
      const id = ++nextId;
      waiting.set(id, resolve);
      void redis.publish('c7-request', `["${A}",${Date.now()},"q",${id},1,5000,"${type}",["${socketId}"],["c7-room"]]`);
    });

    let changeDone: (() => void) | undefined;
    let changeType: 'join' | 'leave' = 'leave';
    redis.subscribe('c7-change', () => { void (changeType === 'join' ? socket.join('c7-room') : socket.leave('c7-room')); void redis.publish('c7-changed', ''); });
    redis.subscribe('c7-changed', () => changeDone?.());
    const change = (type: 'join' | 'leave') => new Promise<void>((resolve) => { changeDone = resolve; changeType = type; void redis.publish('c7-change', ''); });

    const timed = async (run: () => Promise<void>) => {
      thrash();
      const thrashedBefore = thrashMs;
      const start = performance.now();
      await run();
      return (performance.now() - start - (thrashMs - thrashedBefore)) * 1000;
    };
    const round = async () => {
      const samples: Record<Variant, number[]> = { raw: [], ours: [], least: [], change: [] };
      for (let i = 0; i < OPERATIONS; i++) {
        const type = i % 2 === 0 ? 'join' : 'leave';
        samples.raw.push(await timed(raw));
        samples.ours.push(await timed(() => ours(type)));
        samples.least.push(await timed(() => least(type)));
        samples.change.push(await timed(() => change(type)));
      }
      const p50 = (variant: Variant) => percentile(samples[variant], 50);
      return { raw: p50('raw'), ours: p50('ours') - p50('raw'), least: p50('least') - p50('raw'), change: p50('change') - p50('raw') };
    };

    const warm = await round();
    cold = true;
    const colds: Array<Awaited<ReturnType<typeof round>>> = [];
    for (let i = 0; i < COLD_ROUNDS; i++) colds.push(await round());
    const coldMedian = (pick: (r: Awaited<ReturnType<typeof round>>) => number) => percentile(colds.map(pick), 50);
    if (!Number.isFinite(sink)) throw new Error('unreachable: keeps the thrash loop from being optimized away');
    const floor = 'the raw round trip, in-process';
    return [
      row('7. hook\'s own time per confirmed by-ID op, warm (A and B in one process)', 'µs', warm.ours, warm.raw, floor),
      row(`7. hook's own time per confirmed by-ID op, cold (${THRASH_MB} MB touched before each delivery)`, 'µs', coldMedian((r) => r.ours), coldMedian((r) => r.raw), floor),
      row('7. the least one needs, cold: JSON request parsed and applied, JSON reply parsed', 'µs', coldMedian((r) => r.least), coldMedian((r) => r.raw), floor),
      row('7. the change alone on B, cold', 'µs', coldMedian((r) => r.change), coldMedian((r) => r.raw), floor),
    ];
  } finally {
    await a.transport.close();
    await b.transport.close();
  }
}
