/**
 * `npm run bench:runs` (`-- 3` for another count): the full benchmark, 5 consecutive runs, each
 * in processes of its own (bench/run.ts), then each row's median over the runs and its spread.
 * A target is met when the median meets it and no run is more than 10 % past it. Writes
 * bench/results/runs.json (every run's rows too) and runs.md; the last run's latest.* stay as
 * they are. `-- --again` reports the stored runs again.
 */
import { spawnSync } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { CaseRow } from './support/report';
import { median, metOverRuns, round, RUN_SLACK } from './support/stats';

const RESULTS = path.resolve(__dirname, 'results');
const LATEST = path.join(RESULTS, 'latest.json');
const RUNS = path.join(RESULTS, 'runs.json');

interface Aggregate {
  name: string;
  unit: string;
  baselineName: string;
  target: string | null;
  ratios: number[];
  medianRatio: number;
  medianOurs: number;
  met: boolean | null;
}

function verdict(target: string | null, ratios: number[]): boolean | null {
  if (target === null) return null;
  return metOverRuns(target.startsWith('<=') ? 'max' : 'min', Number(target.slice(3)), ratios);
}

/** The rows of each run, matched by position (every run has the same cases, in the same order). */
function aggregate(runs: CaseRow[][]): Aggregate[] {
  const stripped = (name: string) => name.replace(/\s*\(.*?\)/g, '');
  return runs[0]!.map((first, index) => {
    const rows = runs.map((rowsOfRun) => rowsOfRun[index]).filter((r): r is CaseRow => r !== undefined && stripped(r.name) === stripped(first.name));
    const ratios = rows.map((r) => r.ratio).filter(Number.isFinite);
    const medianRatio = median(ratios);
    return {
      name: first.name,
      unit: first.unit,
      baselineName: first.baselineName,
      target: first.target,
      ratios,
      medianRatio,
      medianOurs: median(rows.map((r) => r.ours).filter(Number.isFinite)),
      met: ratios.length === runs.length ? verdict(first.target, ratios) : false,
    };
  });
}

async function report(runs: CaseRow[][]) {
  const aggregates = aggregate(runs);
  const count = runs.length;
  const lines = [
    `| case | against | unit | ours, median | ratio, median | ratio, min–max over ${count} runs | target | met |`,
    '|---|---|---|---|---|---|---|---|',
    ...aggregates.map((a) => `| ${a.name} | ${a.baselineName} | ${a.unit} | ${round(a.medianOurs)} | ${round(a.medianRatio)} | ${round(Math.min(...a.ratios))}–${round(Math.max(...a.ratios))} | ${a.target ?? '—'} | ${a.met === null ? 'info' : a.met ? 'yes' : 'no'} |`),
  ];
  const markdown = `${lines.join('\n')}\n\nMet: the median meets the target and no run is more than ${RUN_SLACK * 100} % past it. Rows whose name carries a figure (case 5's intervals) are named as in the first run.\n`;
  console.log(`\n${markdown}`);
  await writeFile(RUNS, `${JSON.stringify({ date: new Date().toISOString(), runs, aggregates }, null, 2)}\n`);
  await writeFile(path.join(RESULTS, 'runs.md'), markdown);
  console.log('wrote bench/results/runs.json and runs.md');
}

async function main() {
  // `-- --again`: the report of the runs stored in runs.json, computed again.
  if (process.argv[2] === '--again') return report((JSON.parse(await readFile(RUNS, 'utf8')) as { runs: CaseRow[][] }).runs);
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
  await report(runs);
}

main().catch((err) => {
  console.error(err);
  process.exitCode = 1;
});
