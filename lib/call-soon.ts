import type { RoomsError } from './errors';
import type { RoomsCallback, RoomsResult } from './types';

/** An error waiting for its callback (a result waits as it is). */
class Failure {
  constructor(readonly err: RoomsError) {}
}

/** Callbacks due, with their outcomes: one process.nextTick calls a whole batch of them. */
let dueCallbacks: RoomsCallback[] = [];
let dueOutcomes: Array<RoomsResult | Failure> = [];
/** Inside {@link callingBackAfter}: its end calls the batch, no tick is scheduled. */
let holding = 0;

function callDue(): void {
  const callbacks = dueCallbacks;
  const outcomes = dueOutcomes;
  dueCallbacks = [];
  dueOutcomes = [];
  let next = 0;
  try {
    while (next < callbacks.length) {
      const outcome = outcomes[next]!;
      const cb = callbacks[next++]!;
      if (outcome instanceof Failure) cb(outcome.err);
      else cb(null, outcome);
    }
  } finally {
    // A callback threw: that surfaces as from process.nextTick, and the rest still run, next tick.
    if (next < callbacks.length) {
      if (dueCallbacks.length === 0) process.nextTick(callDue);
      dueCallbacks = callbacks.slice(next).concat(dueCallbacks);
      dueOutcomes = outcomes.slice(next).concat(dueOutcomes);
    }
  }
}

/**
 * Calls a caller's `cb` soon: never synchronously, and out of any promise chain (an exception in
 * it is the caller's, as in any Node callback API, and never reaches a Redis client's handler).
 */
export function callSoon(cb: RoomsCallback, err: RoomsError | null, result?: RoomsResult): void {
  if (dueCallbacks.length === 0 && holding === 0) process.nextTick(callDue);
  dueCallbacks.push(cb);
  dueOutcomes.push(err ? new Failure(err) : result!);
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
    if (--holding === 0 && dueCallbacks.length > 0) {
      try {
        callDue();
      } catch (err) {
        process.nextTick(rethrow, err);
      }
    }
  }
}
