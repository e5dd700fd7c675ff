/**
 * `--scaling 1,2`: the results of one run per worker count (agents with N workers, each
 * HAProxy with N threads) as one table: each scenario's throughput or rate, tail and CPU cost
 * per worker count, for meshlet and HAProxy, each figure also as a ratio to the first count's.
 * Pure: the runs are made by `main.ts` with the ordinary runner.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';
import { metricOnPath, PATH_LABELS, type BenchResults, type MetricSpec, type PathName, type ScenarioResult } from './bench-types.js';
import { formatNumber, PINNING_PARAMETER } from './report-markdown.js';
import { comparisonOf, metricStat, pathLabel, ratio, type Stat } from './summary.js';

/** One run of a scaling series. */
export interface ScalingRun {
  /** Agent workers per agent, and HAProxy threads per HAProxy. */
  readonly workers: number;
  /** The run's own results file (beside the scaling report). */
  readonly file: string;
  readonly results: BenchResults;
}

/** What a `--scaling` run writes as `<date>-<mode>[-pinned]-scaling.json`. */
export interface ScalingResults {
  readonly format: 'meshlet-bench-scaling/1';
  readonly mode: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  /** The CPU pinning in words (the runs' `CPU pinning` parameter). */
  readonly pinning: string;
  /** CPUs the proxies may run on: all online CPUs, or the `--pin` proxy set. */
  readonly proxyCpus: number;
  readonly runs: readonly ScalingRun[];
}

/**
 * The figures a scaling table shows, where a scenario has them: what workers should raise
 * (throughput, rates), what they should not change much (the tail), and what each unit of work
 * costs (CPU, memory).
 */
export const SCALING_METRIC_KEYS: readonly string[] = ['gbps', 'rps', 'connPerSec', 'p50Us', 'p99Us', 'p99Ms', 'cpuPerGiB', 'cpuPer1k', 'peakRssMiB'];

function counted(n: number): string {
  return `${n} worker${n === 1 ? '' : 's'}`;
}

/** `median (ratio to the first count)`, or `—` / `failed`. */
function scalingCell(s: Stat | undefined, first: Stat | undefined, m: MetricSpec, isFirst: boolean): string {
  if (s === undefined) return 'failed';
  const v = formatNumber(s.median, m.digits);
  if (isFirst) return v;
  const r = ratio(s, first);
  return r === undefined ? v : `${v} (${formatNumber(r, 2)}x)`;
}

function scenarioIn(run: ScalingRun, id: string): ScenarioResult | undefined {
  return run.results.scenarios.find((s) => s.id === id);
}

/** The rows of one scenario: per metric, one row per path, then the meshlet/HAProxy ratio. */
function scenarioRows(runs: readonly ScalingRun[], def: ScenarioResult): string[] {
  const { subject, peer } = comparisonOf(def);
  const ran = (p: PathName): boolean => runs.some((r) => r.results.paths.includes(p));
  const rows: string[] = [];
  for (const m of def.metrics.filter((x) => SCALING_METRIC_KEYS.includes(x.key))) {
    const label = `${def.id}: ${m.label}${m.unit === '' ? '' : ` (${m.unit})`}`;
    // The direct path does not change with workers: it is there to show the run's noise.
    const paths = (['direct', subject, peer] as const).filter((p) => ran(p) && metricOnPath(m, p) && def.notApplicable[p] === undefined);
    for (const p of paths) {
      const stats = runs.map((r) => {
        const s = scenarioIn(r, def.id);
        return s === undefined ? undefined : metricStat(s, m.key, p);
      });
      rows.push(`| ${label} | ${pathLabel(def, p)} | ${stats.map((s, i) => scalingCell(s, stats[0], m, i === 0)).join(' | ')} |`);
    }
    if (paths.includes(subject) && paths.includes(peer)) {
      const ratios = runs.map((r) => {
        const s = scenarioIn(r, def.id);
        const x = s === undefined ? undefined : ratio(metricStat(s, m.key, subject), metricStat(s, m.key, peer));
        return x === undefined ? '—' : `${formatNumber(x, 2)}x`;
      });
      rows.push(`| ${label} | ${pathLabel(def, subject)}/${peer === 'haproxy' ? 'HAProxy' : pathLabel(def, peer)} | ${ratios.join(' | ')} |`);
    }
  }
  return rows;
}

/** The scaling table: one column per worker count; cells are medians of the rounds, with the ratio to the first count. */
export function scalingTable(runs: readonly ScalingRun[]): string {
  if (runs.length === 0) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'a scaling table needs at least one run');
  const head = ['scenario: figure', 'path', ...runs.map((r) => counted(r.workers))];
  const rows = [`| ${head.join(' | ')} |`, `|---|---|${runs.map(() => '---:').join('|')}|`];
  const ids = [...new Set(runs.flatMap((r) => r.results.scenarios.map((s) => s.id)))];
  for (const id of ids) {
    const def = runs.map((r) => scenarioIn(r, id)).find((s) => s !== undefined);
    if (def !== undefined) rows.push(...scenarioRows(runs, def));
  }
  return rows.join('\n');
}

/** Notes on the counts: more workers than the proxies have CPUs share those CPUs. */
export function scalingNotes(s: Pick<ScalingResults, 'proxyCpus' | 'runs'>): string[] {
  const over = s.runs.map((r) => r.workers).filter((n) => n > s.proxyCpus);
  if (over.length === 0) return [];
  return [
    `${over.map(counted).join(', ')}: more than the ${s.proxyCpus} CPU${s.proxyCpus === 1 ? '' : 's'} the proxies may use; the workers (and HAProxy's threads) then take turns on ${s.proxyCpus === 1 ? 'it' : 'them'}, so these columns show the cost of extra processes (or threads), not more parallel work.`,
  ];
}

/** The whole scaling report. */
export function renderScalingReport(s: ScalingResults): string {
  const first = s.runs[0];
  const doubtful = s.runs.flatMap((r) => r.results.scenarios.flatMap((sc) => sc.runs.filter((x) => x.error !== undefined).map((x) => `- ${counted(r.workers)}, ${sc.id}, round ${x.round}, ${PATH_LABELS[x.path]}: ${x.error}`)));
  const notes = [...scalingNotes(s), ...s.runs.flatMap((r) => r.results.notes.map((n) => `${counted(r.workers)}: ${n}`))];
  const load = s.runs.map((r) => `${formatNumber(r.results.loadAverage.start, 2)}–${formatNumber(r.results.loadAverage.end, 2)}`).join(', ');
  const out = [
    `# meshlet benchmark: scaling with workers, ${s.mode} run, ${s.startedAt.slice(0, 10)}`,
    '',
    `Started ${s.startedAt}, finished ${s.finishedAt}. One ordinary bench run per count (its own lab), agents with that many workers (\`meshlet agent --workers N\`) and each HAProxy of the pairs with that many threads (\`nbthread N\`): ${s.runs.map((r) => `${counted(r.workers)}: \`${r.file}\``).join(', ')}.`,
    '',
    `- CPU pinning: ${s.pinning}.`,
    ...(first === undefined ? [] : [`- Machine: ${first.results.machine.cores} cores, ${first.results.machine.cpuModel}; ${first.results.machine.node}, ${first.results.machine.haproxy}.`]),
    `- Load average (1 min) at start–end of each run: ${load} (includes the bench's own processes).`,
    ...(first === undefined ? [] : [`- Per run: ${Object.entries(first.results.parameters).filter(([k]) => !['agent workers', 'HAProxy threads', PINNING_PARAMETER].includes(k)).map(([k, v]) => `${k} ${String(v)}`).join(', ')}.`]),
    ...notes.map((n) => `- Note: ${n}`),
    '',
    'Cells: the median of the rounds; after the first column, in brackets, the ratio to the first column. The `meshlet/HAProxy` rows are the ratio of the two medians in that column.',
    '',
    scalingTable(s.runs),
    '',
  ];
  if (doubtful.length > 0) out.push('Doubtful runs:', '', ...doubtful, '');
  return `${out.join('\n').trimEnd()}\n`;
}
