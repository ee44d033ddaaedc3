import type { Outcome } from './room-manager';
import type { RoomsCallback, RoomsResult } from './types';
import type { RoomsError } from './errors';

export interface Logger {
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
}

/**
 * A promise that notices whether anyone subscribed to it, so that a failure nobody will ever see
 * is logged instead of becoming an unhandled rejection.
 */
class WatchedPromise<T> extends Promise<T> {
  // Derived promises (then/catch/finally) are plain promises.
  static override get [Symbol.species]() {
    return Promise;
  }

  subscribed = false;

  override then<R1 = T, R2 = never>(
    onFulfilled?: ((value: T) => R1 | PromiseLike<R1>) | null,
    onRejected?: ((reason: unknown) => R2 | PromiseLike<R2>) | null,
  ): Promise<R1 | R2> {
    this.subscribed = true;
    return super.then(onFulfilled, onRejected);
  }
}

function watch(
  operation: Promise<RoomsResult>,
  fnName: string,
  log: Logger,
  alreadyLogged: boolean,
): Promise<RoomsResult> {
  const watched = new WatchedPromise<RoomsResult>((resolve, reject) => {
    operation.then(resolve, reject);
  });
  // Subscribing through the base class marks the rejection handled without counting as a subscriber.
  Promise.prototype.then.call(watched, undefined, (err: unknown) => {
    if (alreadyLogged) return;
    // `await p` subscribes in a later microtask: give callers that turn before judging.
    setImmediate(() => {
      if (!watched.subscribed) log.error(`sails.sockets.${fnName}() failed and nobody handled it:`, err);
    });
  });
  return watched;
}

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

/** Calls `cb` soon, never synchronously, out of any promise chain (an exception in it is the caller's). */
function callSoon(cb: RoomsCallback, outcome: RoomsResult | Failure): void {
  if (dueCallbacks.length === 0) process.nextTick(callDue);
  dueCallbacks.push(cb);
  dueOutcomes.push(outcome);
}

/** Hands an operation's outcome over: to `cb` (asynchronously, exactly once) or as a promise. */
export function settle(
  outcome: Outcome,
  cb: RoomsCallback | undefined,
  fnName: string,
  log: Logger,
): Promise<RoomsResult> | undefined {
  if (!(outcome instanceof Promise)) {
    // Done on this server alone: it cannot fail any more, so there is nothing to watch.
    if (!cb) return Promise.resolve(outcome);
    callSoon(cb, outcome);
    return undefined;
  }
  if (!cb) return watch(outcome, fnName, log, false);
  outcome.then(
    (result) => callSoon(cb, result),
    (err: RoomsError) => callSoon(cb, new Failure(err)),
  );
  return undefined;
}

/** Hands a usage error over (nothing was changed): to `cb`, or as a rejected promise, warned of at once. */
export function reject(
  err: RoomsError,
  cb: RoomsCallback | undefined,
  fnName: string,
  log: Logger,
  warnUsageErrors = true,
): Promise<RoomsResult> | undefined {
  if (cb) {
    callSoon(cb, new Failure(err));
    return undefined;
  }
  if (warnUsageErrors) log.warn(`sails.sockets.${fnName}():`, err.message);
  return watch(Promise.reject(err), fnName, log, warnUsageErrors);
}

/**
 * Runs an operation and hands its result over the way the caller asked: to `cb` (always
 * asynchronously, exactly once) or as a promise. Never throws.
 */
export function deliver(
  run: () => Outcome,
  cb: RoomsCallback | undefined,
  fnName: string,
  log: Logger,
  warnUsageErrors = true,
): Promise<RoomsResult> | undefined {
  let outcome: Outcome;
  try {
    outcome = run();
  } catch (err) {
    return reject(err as RoomsError, cb, fnName, log, warnUsageErrors);
  }
  return settle(outcome, cb, fnName, log);
}
