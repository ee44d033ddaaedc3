/** The statistics the benchmark reports: medians of rounds, percentiles of samples. */

export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

/** Rounds to `digits` significant digits, for the report. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  return Number(value.toPrecision(digits));
}

/**
 * A percentile-bootstrap interval of the median of `values` (`confidence` of 0.9: the 5th and
 * 95th percentiles of the medians of `resamples` resamples). Seeded: the same values give the
 * same interval.
 */
export function medianInterval(values: readonly number[], confidence = 0.9, resamples = 2000): [number, number] {
  if (values.length === 0) return [NaN, NaN];
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const medians: number[] = [];
  for (let r = 0; r < resamples; r++) {
    medians.push(median(Array.from({ length: values.length }, () => values[Math.floor(random() * values.length)]!)));
  }
  const tail = ((1 - confidence) / 2) * 100;
  return [percentile(medians, tail), percentile(medians, 100 - tail)];
}

/** How far past its target one run may be, the median meeting it. */
export const RUN_SLACK = 0.1;

/** A target met over several runs: the median meets `bound`, and no run is more than RUN_SLACK past it. */
export function metOverRuns(kind: 'max' | 'min', bound: number, ratios: readonly number[]): boolean {
  const mid = median(ratios);
  if (kind === 'max') return mid <= bound && ratios.every((r) => r <= bound * (1 + RUN_SLACK));
  return mid >= bound && ratios.every((r) => r >= bound * (1 - RUN_SLACK));
}
