/**
 * The results chart: one small panel per headline figure, each with a bar per path (median,
 * with a min–max whisker and the value written out), drawn as SVG (pure) and turned into a
 * PNG with `rsvg-convert` (Debian's librsvg2-bin).
 *
 * @module
 */

import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { promisify } from 'node:util';
import { MeshletError } from '../src/mesh/errors.js';
import { metricOnPath, type BenchResults, type PathName } from './bench-types.js';
import { formatNumber } from './report-markdown.js';
import { metricStat, pathLabel, scenarioPaths } from './summary.js';

const PANEL_W = 300;
const PANEL_H = 150;
const COLS = 4;
const TOP = 70;
const BAR_H = 22;
/** Room for the longest path name ("HAProxy HTTP pair") at 11 px. */
const LABEL_W = 112;
const COLORS: Readonly<Record<PathName, string>> = { direct: '#8a8f98', meshlet: '#2f6fde', haproxy: '#e07b24', 'meshlet-l7': '#16388a', 'haproxy-http': '#a34f0c' };

/** A panel: one metric of one scenario. */
interface Panel {
  readonly scenario: string;
  readonly metric: string;
  readonly title: string;
  /** Unit and direction. */
  readonly sub: string;
}

function panelsFor(r: BenchResults): Panel[] {
  const rates = r.scenarios.filter((s) => s.id.startsWith('latency-')).map((s) => s.id);
  const higher = (unit: string): string => `${unit}, higher is better`;
  const lower = (unit: string): string => `${unit}, lower is better`;
  const candidates: Panel[] = [
    { scenario: 'bulk-1', metric: 'gbps', title: 'Bulk TCP, 1 stream', sub: higher('Gbit/s') },
    { scenario: 'bulk-8', metric: 'gbps', title: 'Bulk TCP, 8 streams', sub: higher('Gbit/s') },
    ...rates.flatMap((id) => {
      const rate = Number(id.slice('latency-'.length)).toLocaleString('en-US');
      return [
        { scenario: id, metric: 'p50Us', title: `p50 round trip at ${rate}/s`, sub: lower('µs') },
        { scenario: id, metric: 'p99Us', title: `p99 round trip at ${rate}/s`, sub: lower('µs') },
      ];
    }),
    { scenario: 'connect-rate', metric: 'connPerSec', title: 'Connection setup rate', sub: higher('connections/s') },
    { scenario: 'http-rps', metric: 'rps', title: 'HTTP/1.1, 64 connections', sub: higher('requests/s') },
    { scenario: 'http-rps', metric: 'cpuPer1k', title: 'Proxy CPU per 1,000 requests', sub: lower('s') },
    { scenario: 'l7-h1-rps', metric: 'rps', title: 'L7 HTTP/1.1, 64 connections', sub: higher('requests/s') },
    { scenario: 'l7-h2-rps', metric: 'rps', title: 'L7 h2c, 64 connections', sub: higher('requests/s') },
    { scenario: 'l7-h1-rps', metric: 'cpuPer1k', title: 'L7 proxy CPU per 1,000 requests', sub: lower('s') },
    { scenario: 'l7-latency-1000', metric: 'p50Us', title: 'L7 p50 at 1,000 requests/s', sub: lower('µs') },
    { scenario: 'idle-memory', metric: 'perConnKiB', title: 'Proxy memory per idle connection', sub: lower('KiB') },
  ];
  return candidates.filter((p) => r.scenarios.some((s) => s.id === p.scenario));
}

function esc(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

function panelSvg(r: BenchResults, panel: Panel, x: number, y: number): string {
  const s = r.scenarios.find((sc) => sc.id === panel.scenario);
  const spec = s?.metrics.find((m) => m.key === panel.metric);
  const parts = [
    `<text x="${x}" y="${y + 12}" font-size="12" font-weight="bold">${esc(panel.title)}</text>`,
    `<text x="${x}" y="${y + 26}" font-size="10" fill="#555">${esc(panel.sub)}</text>`,
  ];
  if (s === undefined || spec === undefined) return parts.join('');
  const paths = scenarioPaths(s, r.paths).filter((p) => s.notApplicable[p] === undefined && metricOnPath(spec, p));
  const stats = paths.map((p) => ({ p, st: metricStat(s, spec.key, p) }));
  // Scaled to the largest median, so one wild round cannot flatten the bars; whiskers past
  // the edge are clipped there (the report's tables have every range).
  const top = Math.max(...stats.map(({ st }) => st?.median ?? 0), 1e-9);
  const width = PANEL_W - LABEL_W - 80;
  const x0 = x + LABEL_W;
  const at = (v: number): number => x0 + Math.min(1.08, v / top) * width;
  stats.forEach(({ p, st }, i) => {
    const by = y + 36 + i * (BAR_H + 8);
    parts.push(`<text x="${x}" y="${by + 15}" font-size="11">${esc(pathLabel(s, p))}</text>`);
    if (st === undefined) {
      parts.push(`<text x="${x0}" y="${by + 15}" font-size="11" fill="#b00">failed</text>`);
      return;
    }
    parts.push(`<rect x="${x0}" y="${by}" width="${Math.max(1, at(st.median) - x0).toFixed(1)}" height="${BAR_H}" fill="${COLORS[p]}"/>`);
    if (st.n > 1) {
      const mid = by + BAR_H / 2;
      parts.push(`<line x1="${at(st.min).toFixed(1)}" x2="${at(st.max).toFixed(1)}" y1="${mid}" y2="${mid}" stroke="#222" stroke-width="1.5"/>`);
    }
    parts.push(`<text x="${x0 + width * 1.08 + 6}" y="${by + 15}" font-size="11">${esc(formatNumber(st.median, spec.digits))}</text>`);
  });
  return parts.join('');
}

/** The chart as SVG text. */
export function renderChartSvg(r: BenchResults): string {
  const panels = panelsFor(r);
  const rows = Math.max(1, Math.ceil(panels.length / COLS));
  const w = COLS * PANEL_W + 40;
  const h = TOP + rows * PANEL_H + 10;
  const rounds = Number(r.parameters['rounds'] ?? 0);
  const title = `meshlet vs HAProxy pair vs direct: ${r.mode} run ${r.startedAt.slice(0, 10)}, ${r.machine.cores} cores, ${rounds} round${rounds === 1 ? '' : 's'} (bar = median, line = min–max)`;
  const body = panels.map((p, i) => panelSvg(r, p, 20 + (i % COLS) * PANEL_W, TOP + Math.floor(i / COLS) * PANEL_H)).join('\n');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${w}" height="${h}" viewBox="0 0 ${w} ${h}" font-family="DejaVu Sans, Arial, sans-serif">`,
    `<rect width="${w}" height="${h}" fill="#fff"/>`,
    `<text x="20" y="30" font-size="16" font-weight="bold">${esc(title)}</text>`,
    `<text x="20" y="50" font-size="11" fill="#444">${esc(`${r.machine.kernel}, Node.js ${r.machine.node}, ${r.machine.haproxy}`)}</text>`,
    body,
    '</svg>',
  ].join('\n');
}

/**
 * Writes the SVG next to `pngFile` and converts it with `rsvg-convert`. Throws
 * `MESHLET_ERR_HOST_TOOL` when the converter is missing or fails (`node scripts/setup-bench.mjs`
 * installs it).
 */
export async function writeChartPng(r: BenchResults, svgFile: string, pngFile: string): Promise<void> {
  writeFileSync(svgFile, renderChartSvg(r));
  try {
    await promisify(execFile)('rsvg-convert', ['--format', 'png', '--output', pngFile, svgFile], { timeout: 30_000 });
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `rsvg-convert could not make ${pngFile}: ${(err as Error).message}`, { cause: err });
  }
}
