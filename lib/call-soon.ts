import type { RoomsError } from './errors';
import type { RoomsCallback, RoomsResult } from './types';

/** Callbacks due, each followed by its error and its result: one process.nextTick calls a whole batch of them. */
let due: Array<RoomsCallback | RoomsError | RoomsResult | null | undefined> = [];
/** Inside {@link callingBackAfter}: its end calls the batch, no tick is scheduled. */
let holding = 0;

function callDue(): void {
  const batch = due;
  due = [];
  let next = 0;
  try {
    while (next < batch.length) {
      const cb = batch[next] as RoomsCallback;
      const err = batch[next + 1] as RoomsError | null;
      const result = batch[next + 2] as RoomsResult;
      next += 3;
      if (err) cb(err);
      else cb(null, result);
    }
  } finally {
    // A callback threw: that surfaces as from process.nextTick, and the rest still run, next tick.
    if (next < batch.length) {
      if (due.length === 0) process.nextTick(callDue);
      due = batch.slice(next).concat(due);
    }
  }
}

/**
 * Calls a caller's `cb` soon: never synchronously, and out of any promise chain (an exception in
 * it is the caller's, as in any Node callback API, and never reaches a Redis client's handler).
 */
export function callSoon(cb: RoomsCallback, err: RoomsError | null, result?: RoomsResult): void {
  if (due.length === 0 && holding === 0) process.nextTick(callDue);
  due.push(cb, err, result);
}

function rethrow(err: unknown): never {
  throw err;
}

/**
 * Runs `work(arg)` (e.g. handling a Redis message), then calls the callbacks it made due, without
 * waiting for the next tick. A callback that throws does so from process.nextTick, as with callSoon.
 */
export function callingBackAfter<T>(work: (arg: T) => void, arg: T): void {
  holding++;
  try {
    work(arg);
  } finally {
    if (--holding === 0 && due.length > 0) {
      try {
        callDue();
      } catch (err) {
        process.nextTick(rethrow, err);
      }
    }
  }
}
