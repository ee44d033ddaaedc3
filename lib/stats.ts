/**
 * What the operations did, for `stats()` and the Prometheus metrics: counts by outcome since the
 * lift, and how long those that waited for other servers took, over the last minute. On the hot
 * path this is an increment; a confirmed operation adds a clock read and a histogram bucket.
 */
import { performance } from 'node:perf_hooks';
import type { RoomsError } from './errors';
import type { RoomsOperationName, RoomsOperationStats, RoomsOutcome, RoomsResult } from './types';

export const OPERATION_NAMES: readonly RoomsOperationName[] = [
  'join', 'leave', 'leaveAll', 'addRoomMembersToRooms', 'removeRoomMembersFromRooms', 'roomsOf', 'membersOf',
];

/** The outcome of a call that ended with `err` or `result`. */
export function outcomeOf(err: RoomsError | null | undefined, result?: RoomsResult): RoomsOutcome {
  if (err) return err.code ?? 'E_UNAVAILABLE';
  if (result && result.unreachable.length + result.unreachableServers > 0) return 'unreachable';
  return result && result.notFound.length > 0 ? 'notFound' : 'ok';
}

/** Latency buckets: eight per doubling from 10 µs (a ~9 % step), up to about 3 minutes. */
const BUCKETS_PER_DOUBLING = 8;
const SMALLEST_MS = 0.01;
const BUCKETS = 24 * BUCKETS_PER_DOUBLING;
/** The minute is kept as six slots of ten seconds: what is older than six slots is forgotten. */
const SLOT_MS = 10_000;
const SLOTS = 6;

function bucketOf(ms: number): number {
  if (ms <= SMALLEST_MS) return 0;
  return Math.min(BUCKETS - 1, Math.ceil(Math.log2(ms / SMALLEST_MS) * BUCKETS_PER_DOUBLING));
}

/** A bucket's upper bound: a percentile read from the histogram is at most ~9 % high. */
const upperBoundOf = (bucket: number) => SMALLEST_MS * 2 ** (bucket / BUCKETS_PER_DOUBLING);

/** A histogram of the last minute's latencies. */
class RecentLatencies {
  private readonly slots = Array.from({ length: SLOTS }, () => new Uint32Array(BUCKETS));
  private readonly slotPeriod = new Array<number>(SLOTS).fill(-1);

  record(ms: number, now: number): void {
    const period = Math.floor(now / SLOT_MS);
    const slot = period % SLOTS;
    if (this.slotPeriod[slot] !== period) {
      this.slots[slot]!.fill(0);
      this.slotPeriod[slot] = period;
    }
    this.slots[slot]![bucketOf(ms)]!++;
  }

  summary(now: number): RoomsOperationStats['confirm'] {
    const period = Math.floor(now / SLOT_MS);
    const merged = new Uint32Array(BUCKETS);
    let count = 0;
    for (let slot = 0; slot < SLOTS; slot++) {
      if (period - this.slotPeriod[slot]! >= SLOTS) continue;
      const counts = this.slots[slot]!;
      for (let b = 0; b < BUCKETS; b++) {
        merged[b]! += counts[b]!;
        count += counts[b]!;
      }
    }
    if (count === 0) return { count: 0, p50Ms: null, p99Ms: null };
    const percentile = (p: number) => {
      const rank = Math.ceil((p / 100) * count);
      let seen = 0;
      for (let b = 0; b < BUCKETS; b++) {
        seen += merged[b]!;
        if (seen >= rank) return Number(upperBoundOf(b).toPrecision(3));
      }
      return Number(upperBoundOf(BUCKETS - 1).toPrecision(3));
    };
    return { count, p50Ms: percentile(50), p99Ms: percentile(99) };
  }
}

/** Told of every operation that waited for other servers, e.g. to feed Prometheus (metrics.ts). */
export type ConfirmObserver = (operation: RoomsOperationName, seconds: number) => void;

export class OperationStats {
  /** Successes, kept apart from the other outcomes: the fast path only adds one. */
  private readonly ok = Object.fromEntries(OPERATION_NAMES.map((name) => [name, 0])) as Record<RoomsOperationName, number>;
  private readonly otherOutcomes = new Map<RoomsOperationName, Map<RoomsOutcome, number>>();
  private readonly latencies = new Map<RoomsOperationName, RecentLatencies>();
  private readonly observers: ConfirmObserver[] = [];

  constructor(
    private readonly onFailure: (operation: RoomsOperationName, err: RoomsError) => void = () => {},
    /** Milliseconds, monotonic. */
    private readonly now: () => number = () => performance.now(),
  ) {
    for (const name of OPERATION_NAMES) {
      this.otherOutcomes.set(name, new Map());
      this.latencies.set(name, new RecentLatencies());
    }
  }

  /** Tells `observer` of every confirm latency from now on; returns how to stop. */
  observeConfirms(observer: ConfirmObserver): () => void {
    this.observers.push(observer);
    return () => {
      const index = this.observers.indexOf(observer);
      if (index >= 0) this.observers.splice(index, 1);
    };
  }

  /** The fast path's end: done on this server, nothing could fail. */
  doneHere(operation: 'join' | 'leave'): void {
    this.ok[operation]++;
  }

  ended(operation: RoomsOperationName, err: RoomsError | null | undefined, result?: RoomsResult): void {
    const outcome = outcomeOf(err, result);
    if (outcome === 'ok') {
      this.ok[operation]++;
    } else {
      const counts = this.otherOutcomes.get(operation)!;
      counts.set(outcome, (counts.get(outcome) ?? 0) + 1);
    }
    if (err) this.onFailure(operation, err);
  }

  /** A clock reading to hand to {@link confirmed}. */
  startClock(): number {
    return this.now();
  }

  confirmed(operation: RoomsOperationName, startedAt: number): void {
    const now = this.now();
    const ms = now - startedAt;
    this.latencies.get(operation)!.record(ms, now);
    for (const observer of this.observers) observer(operation, ms / 1000);
  }

  /** Counts since the lift, by outcome (those that never happened left out, `ok` always there). */
  outcomesOf(operation: RoomsOperationName): Partial<Record<RoomsOutcome, number>> {
    return { ok: this.ok[operation], ...Object.fromEntries(this.otherOutcomes.get(operation)!) };
  }

  snapshot(): Record<RoomsOperationName, RoomsOperationStats> {
    const now = this.now();
    const operations = {} as Record<RoomsOperationName, RoomsOperationStats>;
    for (const name of OPERATION_NAMES) {
      operations[name] = { outcomes: this.outcomesOf(name), confirm: this.latencies.get(name)!.summary(now) };
    }
    return operations;
  }
}
