/** What a case reports: one row per comparison, as printed and as written to results/latest.json. */
import { round } from './stats';

export type Target = { max: number } | { min: number } | null;

export interface CaseRow {
  name: string;
  unit: string;
  ours: number;
  baseline: number;
  /** What `baseline` is. */
  baselineName: string;
  /** ours / baseline; where they were measured in pairs of windows, the median of the pairs' ratios. */
  ratio: number;
  /** The bound on `ratio`, e.g. "<= 1.5"; null where the issue sets none (reported for information). */
  target: string | null;
  pass: boolean | null;
}

export function row(
  name: string,
  unit: string,
  ours: number,
  baseline: number,
  baselineName: string,
  target: Target = null,
  ratio = ours / baseline,
): CaseRow {
  let pass: boolean | null = null;
  let targetText: string | null = null;
  // Judged on the ratio as printed (3 significant digits), as the runs' report judges it.
  const shown = round(ratio);
  if (target && 'max' in target) {
    targetText = `<= ${target.max}`;
    pass = shown <= target.max;
  } else if (target) {
    targetText = `>= ${target.min}`;
    pass = shown >= target.min;
  }
  return { name, unit, ours: round(ours), baseline: round(baseline), baselineName, ratio: shown, target: targetText, pass };
}

/** A row for a case that could not be measured (it failed or ran out of time). */
export function failedRow(name: string, err: unknown): CaseRow {
  const message = err instanceof Error ? err.message.split('\n')[0]! : String(err);
  return { name, unit: '', ours: NaN, baseline: NaN, baselineName: `not measured: ${message}`, ratio: NaN, target: null, pass: false };
}

function cell(value: number): string {
  if (!Number.isFinite(value)) return '—';
  return String(value);
}

export function table(rows: readonly CaseRow[]): string {
  const header = ['case', 'unit', 'ours', 'baseline', 'ratio', 'target', 'pass'];
  const lines = rows.map((r) => [
    r.name, r.unit, cell(r.ours), `${cell(r.baseline)} (${r.baselineName})`, cell(r.ratio), r.target ?? '—',
    r.pass === null ? 'info' : r.pass ? 'PASS' : 'FAIL',
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const format = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ');
  return [format(header), widths.map((w) => '-'.repeat(w)).join('  '), ...lines.map(format)].join('\n');
}

/** The same figures as a Markdown table, for the README. */
export function markdownTable(rows: readonly CaseRow[]): string {
  const lines = ['| case | ours | baseline | ratio | target | |', '|---|---|---|---|---|---|'];
  for (const r of rows) {
    lines.push(`| ${r.name} | ${cell(r.ours)} ${r.unit} | ${cell(r.baseline)} ${r.unit} (${r.baselineName}) | ${cell(r.ratio)} | ${r.target ?? '—'} | ${r.pass === null ? 'info' : r.pass ? 'pass' : '**miss**'} |`);
  }
  return lines.join('\n');
}
