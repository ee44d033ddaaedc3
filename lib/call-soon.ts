import type { RoomsError } from './errors';
import type { RoomsCallback, RoomsResult } from './types';

/** An error waiting for its callback (a result waits as it is). */
class Failure {
  constructor(readonly err: RoomsError) {}
}

/** Callbacks due, with their outcomes: one process.nextTick calls a whole batch of them. */
let dueCallbacks: RoomsCallback[] = [];
let dueOutcomes: Array<RoomsResult | Failure> = [];

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
 * Calls a caller's `cb` soon: never synchronously, and out of any promise chain or Redis message
 * handler (an exception in it is the caller's, as in any Node callback API).
 */
export function callSoon(cb: RoomsCallback, err: RoomsError | null, result?: RoomsResult): void {
  if (dueCallbacks.length === 0) process.nextTick(callDue);
  dueCallbacks.push(cb);
  dueOutcomes.push(err ? new Failure(err) : result!);
}
