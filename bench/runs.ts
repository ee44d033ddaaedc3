/**
 * `npm run bench:runs` (`-- 3` for another count): the full benchmark, 5 consecutive runs, each
 * in processes of its own (bench/run.ts), then each row's median over the runs and its spread.
 * A target is met when the median meets it and no run is more than 10 % past it. Writes
 * bench/results/runs.json and runs.md; the last run's latest.* stay as they are.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CaseRow } from './support/report';
import { median, round } from './support/stats';

const RESULTS = path.resolve(__dirname, 'results');
const LATEST = path.join(RESULTS, 'latest.json');
/** How far past its target one run may be, the median meeting it. */
const SLACK = 0.1;

interface Aggregate {
  name: string;
  unit: string;
  target: string | null;
  ratios: number[];
  medianRatio: number;
  medianOurs: number;
  met: boolean | null;
}

function verdict(target: string | null, medianRatio: number, ratios: number[]): boolean | null {
  if (target === null) return null;
  const bound = Number(target.slice(3));
  if (target.startsWith('<=')) return medianRatio <= bound && ratios.every((r) => r <= bound * (1 + SLACK));
  return medianRatio >= bound && ratios.every((r) => r >= bound * (1 - SLACK));
}

async function main() {
  const count = Number(process.argv[2] ?? 5);
  const runs: CaseRow[][] = [];
  for (let run = 1; run <= count; run++) {
    console.log(`run ${run} of ${count}`);
    const started = Date.now();
    // A row that misses its target makes the run exit 1; a run that wrote no results is a failure.
    spawnSync(process.execPath, [require.resolve('tsx/cli'), path.join(__dirname, 'run.ts')], { stdio: 'inherit' });
    const results = JSON.parse(await readFile(LATEST, 'utf8')) as { date: string; cases: CaseRow[] };
    if (Date.parse(results.date) < started) throw new Error(`run ${run} wrote no results`);
    runs.push(results.cases);
  }
  const aggregates: Aggregate[] = runs[0]!.map((first) => {
    const rows = runs.map((rowsOfRun) => rowsOfRun.find((r) => r.name === first.name)).filter((r): r is CaseRow => r !== undefined);
    const ratios = rows.map((r) => r.ratio).filter(Number.isFinite);
    const medianRatio = median(ratios);
    return {
      name: first.name,
      unit: first.unit,
      target: first.target,
      ratios,
      medianRatio,
      medianOurs: median(rows.map((r) => r.ours).filter(Number.isFinite)),
      met: ratios.length === count ? verdict(first.target, medianRatio, ratios) : false,
    };
  });
  const lines = [
    `| case | unit | ours, median | ratio, median | ratio, min–max over ${count} runs | target | met |`,
    '|---|---|---|---|---|---|---|',
    ...aggregates.map((a) => `| ${a.name} | ${a.unit} | ${round(a.medianOurs)} | ${round(a.medianRatio)} | ${round(Math.min(...a.ratios))}–${round(Math.max(...a.ratios))} | ${a.target ?? '—'} | ${a.met === null ? 'info' : a.met ? 'yes' : 'no'} |`),
  ];
  const markdown = `${lines.join('\n')}\n\nMet: the median meets the target and no run is more than ${SLACK * 100} % past it.\n`;
  console.log(`\n${markdown}`);
  await writeFile(path.join(RESULTS, 'runs.json'), `${JSON.stringify({ date: new Date().toISOString(), runs: count, aggregates }, null, 2)}\n`);
  await writeFile(path.join(RESULTS, 'runs.md'), markdown);
  console.log('wrote bench/results/runs.json and runs.md');
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
