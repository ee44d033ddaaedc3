/** Read once: `performance.timeOrigin` is a getter, and now() runs inside the operations it times. */
const origin = performance.timeOrigin;

/** One clock for every process of a run: milliseconds since the epoch, with sub-microsecond resolution. */
export function now(): number {
  return origin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
