/**
 * How an operation's end reaches its caller, the one path for all of them: every operation ends
 * by calling its `done` once, through callSoon; `done` is the caller's callback, or settles the
 * promise handed back (exposed). Only the fast path, a socket connected here, has its result at
 * once and hands it to doneHere, which needs no promise to watch.
 */
import { RoomsError, describeValue } from './errors';
import type { Logger } from './sails';
import { createTickBatch } from './tick-batch';
import type { RoomsCallback, RoomsResult } from './types';

/** Callbacks due, each followed by its error and its result: one flush calls a whole batch of them. */
let due: Array<RoomsCallback | RoomsError | RoomsResult | null | undefined> = [];

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
      due = batch.slice(next).concat(due);
      callbacks.queued();
    }
  }
}

const callbacks = createTickBatch(callDue);

/**
 * Calls `cb` soon: never synchronously, and out of any promise chain (an exception in it is the
 * caller's, as in any Node callback API, and never reaches a Redis client's handler).
 */
export function callSoon(cb: RoomsCallback, err: RoomsError | null, result?: RoomsResult): void {
  due.push(cb, err, result);
  callbacks.queued();
}

/** Runs `work(arg)` (e.g. handling a Redis message), then calls the callbacks it made due, without waiting for the tick to end. */
export function callingBackAfter<T>(work: (arg: T) => void, arg: T): void {
  callbacks.around(work, arg);
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

/** An operation's work: parses its arguments (throwing usage errors), then ends by calling `done` once. */
export type Operation = (first: unknown, second: unknown, done: RoomsCallback) => void;

/** An operation as installed: the callback told soon, or, without one, a promise returned. */
export type Exposed = (first: unknown, second: unknown, cb?: unknown) => Promise<RoomsResult> | undefined;

/**
 * Installs `operation` as `fnName`. A usage error goes to the callback, or rejects the promise;
 * `warnUsageErrors` (sails.sockets) also warns of it at once, as stock Sails does.
 */
export function exposed(fnName: string, operation: Operation, log: Logger, warnUsageErrors: boolean, ended: RoomsCallback): Exposed {
  return (first, second, cb) => {
    if (typeof cb === 'function') {
      const done: RoomsCallback = (err, result) => {
        ended(err, result);
        if (err) (cb as RoomsCallback)(err);
        else (cb as RoomsCallback)(null, result);
      };
      try {
        operation(first, second, done);
      } catch (err) {
        callSoon(done, err as RoomsError);
      }
      return undefined;
    }
    let settle!: RoomsCallback;
    const promise = new WatchedPromise<RoomsResult>((resolve, reject) => {
      settle = (err, result) => {
        ended(err, result);
        if (err) reject(err);
        else resolve(result!);
      };
    });
    let warned = false;
    try {
      if (cb !== undefined && cb !== null) {
        throw new RoomsError(
          'E_INVALID_CALLBACK',
          `sails.sockets.${fnName}() got ${describeValue(cb)} as its callback: pass a function, or nothing to get a promise.`,
        );
      }
      operation(first, second, settle);
    } catch (err) {
      warned = warnUsageErrors;
      // The message names the call already.
      if (warned) log.warn((err as RoomsError).message);
      settle(err as RoomsError);
    }
    // Subscribing through the base class marks the rejection handled without counting as a subscriber.
    Promise.prototype.then.call(promise, undefined, (err: unknown) => {
      if (warned) return;
      // `await p` subscribes in a later microtask: give callers that turn before judging.
      setImmediate(() => {
        if (!promise.subscribed) log.error(`sails.sockets.${fnName}() failed and nobody handled it:`, err);
      });
    });
    return promise;
  };
}

/** Hands over the result of an operation done on this server alone (it cannot fail any more: nothing to watch). */
export function doneHere(result: RoomsResult, cb: RoomsCallback | undefined): Promise<RoomsResult> | undefined {
  if (!cb) return Promise.resolve(result);
  callSoon(cb, null, result);
  return undefined;
}
