/**
 * Time as the transport's parts see it, so each can be tested with a fake clock: durations on a
 * monotonic clock, the wall clock only for the timestamps messages carry.
 */
export interface Clock {
  /** Milliseconds on a monotonic clock (deadlines, silences). */
  now(): number;
  /** Milliseconds since the epoch (what messages are stamped with). */
  wallNow(): number;
  /** A timer that never keeps the process alive by itself. */
  setTimeout(callback: () => void, ms: number): Timer;
  setInterval(callback: () => void, ms: number): Timer;
}

export interface Timer {
  cancel(): void;
}

export const systemClock: Clock = {
  now: () => performance.now(),
  wallNow: () => Date.now(),
  setTimeout(callback, ms) {
    const timer = setTimeout(callback, ms).unref();
    return { cancel: () => clearTimeout(timer) };
  },
  setInterval(callback, ms) {
    const timer = setInterval(callback, ms).unref();
    return { cancel: () => clearInterval(timer) };
  },
};
