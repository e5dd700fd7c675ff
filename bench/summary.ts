/**
 * From raw runs to what the report says: median and range of every metric per path, the
 * ratios, and whether meshlet meets the bar the issue sets against HAProxy. Pure.
 *
 * @module
 */

import type { BenchResults, PathName, ScenarioResult } from './bench-types.js';

/** Median and range of one metric on one path over the rounds. */
export interface Stat {
  readonly median: number;
  readonly min: number;
  readonly max: number;
  readonly n: number;
}

/** Median (mean of the middle two for an even count), min and max; undefined when empty. */
export function stat(values: readonly number[]): Stat | undefined {
  const xs = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (xs.length === 0) return undefined;
  const mid = Math.floor(xs.length / 2);
  const median = xs.length % 2 === 1 ? (xs[mid] as number) : ((xs[mid - 1] as number) + (xs[mid] as number)) / 2;
  return { median, min: xs[0] as number, max: xs[xs.length - 1] as number, n: xs.length };
}

/** The stat of a metric on a path in a scenario. */
export function metricStat(scenario: ScenarioResult, key: string, path: PathName): Stat | undefined {
  return stat(scenario.runs.filter((r) => r.path === path).map((r) => r.values[key]).filter((v): v is number => v !== undefined));
}

/** a / b of two medians, undefined when either is missing or b is 0. */
export function ratio(a: Stat | undefined, b: Stat | undefined): number | undefined {
  if (a === undefined || b === undefined || b.median === 0) return undefined;
  return a.median / b.median;
}

/** One check of the bar. `meets` is undefined when a figure is missing. */
export interface Verdict {
  readonly area: 'throughput' | 'latency' | 'cpu';
  readonly what: string;
  readonly meets: boolean | undefined;
  /** The figures behind it, in words. */
  readonly detail: string;
}

const THROUGHPUT: readonly [string, string][] = [
  ['bulk-1', 'gbps'],
  ['bulk-8', 'gbps'],
  ['connect-rate', 'connPerSec'],
  ['http-rps', 'rps'],
];
const CPU: readonly [string, string][] = [
  ['http-rps', 'cpuPer1k'],
  ['connect-rate', 'cpuPer1k'],
];
const LATENCY_KEYS: readonly string[] = ['p50Us', 'p99Us'];

function fmt(n: number, digits = 2): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function throughputVerdict(s: ScenarioResult, key: string): Verdict {
  const m = metricStat(s, key, 'meshlet');
  const h = metricStat(s, key, 'haproxy');
  const r = ratio(m, h);
  const unit = s.metrics.find((x) => x.key === key)?.unit ?? '';
  return {
    area: 'throughput',
    what: `${s.title}: meshlet >= 1.0x HAProxy`,
    meets: r === undefined ? undefined : r >= 1,
    detail: r === undefined || m === undefined || h === undefined ? 'not measured' : `${fmt(r)}x (${fmt(m.median)} vs ${fmt(h.median)} ${unit})`,
  };
}

function latencyVerdict(s: ScenarioResult, key: string): Verdict {
  const [d, m, h] = (['direct', 'meshlet', 'haproxy'] as const).map((p) => metricStat(s, key, p));
  const label = s.metrics.find((x) => x.key === key)?.label ?? key;
  const what = `${s.title}, ${label}: added latency over direct <= 1.0x HAProxy's`;
  if (d === undefined || m === undefined || h === undefined) return { area: 'latency', what, meets: undefined, detail: 'not measured' };
  const addedM = m.median - d.median;
  const addedH = h.median - d.median;
  const times = addedH > 0 ? `${fmt(addedM / addedH)}x, ` : '';
  return { area: 'latency', what, meets: addedM <= addedH, detail: `${times}meshlet adds ${fmt(addedM, 0)} µs, HAProxy ${fmt(addedH, 0)} µs` };
}

function cpuVerdict(s: ScenarioResult, key: string): Verdict {
  const m = metricStat(s, key, 'meshlet');
  const h = metricStat(s, key, 'haproxy');
  const r = ratio(m, h);
  const label = s.metrics.find((x) => x.key === key)?.label ?? key;
  return {
    area: 'cpu',
    what: `${label} (${s.title}): meshlet <= 1.0x HAProxy`,
    meets: r === undefined ? undefined : r <= 1,
    detail: r === undefined || m === undefined || h === undefined ? 'not measured' : `${fmt(r)}x (${fmt(m.median, 3)} vs ${fmt(h.median, 3)} s)`,
  };
}

/** Every check of the bar the results allow (none when meshlet or HAProxy was not run). */
export function verdicts(results: Pick<BenchResults, 'scenarios' | 'paths'>): Verdict[] {
  if (!results.paths.includes('meshlet') || !results.paths.includes('haproxy')) return [];
  const byId = new Map(results.scenarios.map((s) => [s.id, s]));
  const out: Verdict[] = [];
  for (const [id, key] of THROUGHPUT) {
    const s = byId.get(id);
    if (s !== undefined) out.push(throughputVerdict(s, key));
  }
  for (const s of results.scenarios.filter((x) => x.id.startsWith('latency-'))) {
    for (const key of LATENCY_KEYS) out.push(latencyVerdict(s, key));
  }
  for (const [id, key] of CPU) {
    const s = byId.get(id);
    if (s !== undefined) out.push(cpuVerdict(s, key));
  }
  return out;
}
