import { callSoon } from './call-soon';
import type { RoomsError } from './errors';
import type { Outcome } from './room-manager';
import type { RoomsCallback, RoomsResult } from './types';

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

/**
 * Hands an operation's outcome over: to `cb` (asynchronously, exactly once) or as a promise. No
 * outcome: the operation was given `cb` and tells it itself, once the other servers answered.
 */
export function settle(
  outcome: Outcome,
  cb: RoomsCallback | undefined,
  fnName: string,
  log: Logger,
): Promise<RoomsResult> | undefined {
  if (outcome === undefined) return undefined;
  if (!(outcome instanceof Promise)) {
    // Done on this server alone: it cannot fail any more, so there is nothing to watch.
    if (!cb) return Promise.resolve(outcome);
    callSoon(cb, null, outcome);
    return undefined;
  }
  if (!cb) return watch(outcome, fnName, log, false);
  outcome.then(
    (result) => callSoon(cb, null, result),
    (err: RoomsError) => callSoon(cb, err),
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
    callSoon(cb, err);
    return undefined;
  }
  if (warnUsageErrors) log.warn(`sails.sockets.${fnName}():`, err.message);
  return watch(Promise.reject(err), fnName, log, warnUsageErrors);
}
