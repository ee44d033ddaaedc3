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
    // A usage error: nothing was changed.
    if (cb) {
      process.nextTick(cb, err as RoomsError);
      return undefined;
    }
    if (warnUsageErrors) log.warn(`sails.sockets.${fnName}():`, (err as Error).message);
    return watch(Promise.reject(err), fnName, log, warnUsageErrors);
  }

  if (!cb) return watch(outcome instanceof Promise ? outcome : Promise.resolve(outcome), fnName, log, false);

  if (outcome instanceof Promise) {
    // nextTick keeps an exception thrown by cb out of the promise chain, as in any Node callback API.
    outcome.then(
      (result) => process.nextTick(cb, null, result),
      (err: RoomsError) => process.nextTick(cb, err),
    );
  } else {
    process.nextTick(cb, null, outcome);
  }
  return undefined;
}
