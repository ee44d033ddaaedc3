/** Checks about *when* things happen: callbacks, rejections nobody handled, "a little later". */

/** Lets `count` macrotask turns pass (setImmediate), so that anything scheduled "soon" has run. */
export async function macrotaskTurns(count = 2): Promise<void> {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
}

/** Records every 'unhandledRejection' of the process from now on, until `stop()`. */
export function recordUnhandledRejections(): { reasons: unknown[]; stop(): void } {
  const reasons: unknown[] = [];
  const listener = (reason: unknown) => { reasons.push(reason); };
  process.on('unhandledRejection', listener);
  return { reasons, stop: () => { process.off('unhandledRejection', listener); } };
}

export interface CallbackRecorder<A extends unknown[] = any[]> {
  /** Pass this as the callback. */
  readonly callback: (...args: A) => void;
  /** The arguments of every call so far. */
  readonly calls: A[];
  /** Call right after the function that takes `callback` returned. */
  returned(): void;
  /** Whether every call so far came after `returned()`. */
  readonly alwaysAsync: boolean;
  /** Resolves with the arguments of the first call, or rejects after `timeoutMs`. */
  firstCall(timeoutMs?: number): Promise<A>;
}

/** A callback that records its calls and whether the function it was given to had returned. */
export function recordCallback<A extends unknown[] = any[]>(): CallbackRecorder<A> {
  const calls: A[] = [];
  let hasReturned = false;
  let alwaysAsync = true;
  const waiters: Array<(args: A) => void> = [];
  return {
    callback: (...args: A) => {
      if (!hasReturned) alwaysAsync = false;
      calls.push(args);
      for (const wake of waiters.splice(0)) wake(args);
    },
    calls,
    returned: () => { hasReturned = true; },
    get alwaysAsync() { return alwaysAsync; },
    firstCall(timeoutMs = 5000) {
      if (calls.length > 0) return Promise.resolve(calls[0]);
      return new Promise<A>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`callback not called within ${timeoutMs} ms`)), timeoutMs);
        waiters.push((args) => { clearTimeout(timer); resolve(args); });
      });
    },
  };
}
