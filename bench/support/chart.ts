/** The results as an SVG chart: one bar per row, ours / baseline on a log scale, with the target. */
import type { CaseRow } from './report';

const WIDTH = 1120;
const LABEL_WIDTH = 600;
const PLOT_WIDTH = 330;
const ROW_HEIGHT = 24;
const TOP = 70;
const COLORS = { pass: '#2e7d32', fail: '#c62828', info: '#9e9e9e' };

function escape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function targetValue(target: string | null): number | undefined {
  const match = target?.match(/[\d.]+/);
  return match ? Number(match[0]) : undefined;
}

export function chart(rows: readonly CaseRow[], subtitle: string): string {
  const shown = rows.filter((r) => Number.isFinite(r.ratio) && r.ratio > 0);
  const values = shown.flatMap((r) => [r.ratio, targetValue(r.target) ?? 1]);
  const low = Math.min(-1, Math.floor(Math.log10(Math.min(...values))));
  const high = Math.max(1, Math.ceil(Math.log10(Math.max(...values))));
  const x = (ratio: number) => LABEL_WIDTH + ((Math.log10(ratio) - low) / (high - low)) * PLOT_WIDTH;
  const height = TOP + shown.length * ROW_HEIGHT + 40;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="10" y="22" font-size="16" font-weight="bold">sails-hook-rooms: ours / baseline (log scale; ▼ = target)</text>`,
    `<text x="10" y="42" fill="#555">${escape(subtitle)}</text>`,
    `<text x="10" y="58" fill="#555">green: meets its target · red: misses it · grey: no target, for information. Times: lower is better; leaves/s and requests/s: higher is better.</text>`,
  ];
  for (let power = low; power <= high; power++) {
    const at = x(10 ** power);
    parts.push(`<line x1="${at}" y1="${TOP - 4}" x2="${at}" y2="${height - 36}" stroke="${power === 0 ? '#333' : '#ddd'}"/>`);
    parts.push(`<text x="${at}" y="${height - 22}" text-anchor="middle" fill="#555">${10 ** power}×</text>`);
  }
  shown.forEach((r, i) => {
    const y = TOP + i * ROW_HEIGHT;
    const color = r.pass === null ? COLORS.info : r.pass ? COLORS.pass : COLORS.fail;
    const [from, to] = [x(1), x(r.ratio)].sort((a, b) => a - b) as [number, number];
    parts.push(`<text x="${LABEL_WIDTH - 8}" y="${y + 15}" text-anchor="end">${escape(`${r.name} (vs ${r.baselineName})`.slice(0, 100))}</text>`);
    parts.push(`<rect x="${from}" y="${y + 4}" width="${Math.max(1, to - from)}" height="${ROW_HEIGHT - 8}" fill="${color}"/>`);
    const target = r.target ? ` (target ${r.target.replace('<=', '≤').replace('>=', '≥')})` : '';
    parts.push(`<text x="${LABEL_WIDTH + PLOT_WIDTH + 8}" y="${y + 15}">${escape(`${r.ratio}×${target}`)}</text>`);
    const bound = targetValue(r.target);
    if (bound !== undefined) parts.push(`<text x="${x(bound)}" y="${y + 8}" text-anchor="middle" font-size="10">▼</text>`);
  });
  parts.push('</svg>');
  return parts.join('\n');
}
