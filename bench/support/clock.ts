/** One clock for every process of a run: milliseconds since the epoch, with sub-microsecond resolution. */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
