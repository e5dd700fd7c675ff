/**
 * From raw runs to what the report says: median and range of every metric per path, the
 * ratios, and whether meshlet meets the bar the issue sets against HAProxy. Pure.
 *
 * @module
 */

import { L4_COMPARISON, L4_PATHS, PATH_LABELS, type AuthzScenarioResult, type BenchResults, type Comparison, type PathName, type ScenarioResult } from './bench-types.js';

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

/** The paths a scenario's table shows: its own (or the L4 ones for older results) that the run ran. */
export function scenarioPaths(s: Pick<ScenarioResult, 'paths'>, runPaths: readonly PathName[]): PathName[] {
  return (s.paths ?? L4_PATHS).filter((p) => runPaths.includes(p));
}

/** What a scenario's ratios compare. */
export function comparisonOf(s: Pick<ScenarioResult, 'compare'>): Comparison {
  return s.compare ?? L4_COMPARISON;
}

/** A path's name in a scenario's table. */
export function pathLabel(s: Pick<ScenarioResult, 'labels'>, p: PathName): string {
  return s.labels?.[p] ?? PATH_LABELS[p];
}

/** a / b of two medians, undefined when either is missing or b is 0. */
export function ratio(a: Stat | undefined, b: Stat | undefined): number | undefined {
  if (a === undefined || b === undefined || b.median === 0) return undefined;
  return a.median / b.median;
}

/** One check of the bar. `meets` is undefined when a figure is missing. */
export interface Verdict {
  readonly area: 'throughput' | 'latency' | 'cpu' | 'authz';
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
  ['l7-h1-rps', 'rps'],
  ['l7-h2-rps', 'rps'],
];
const CPU: readonly [string, string][] = [
  ['http-rps', 'cpuPer1k'],
  ['connect-rate', 'cpuPer1k'],
  ['l7-h1-rps', 'cpuPer1k'],
  ['l7-h2-rps', 'cpuPer1k'],
];
/** Latency percentiles checked: p50 and p99 at L4; the L7 bar names the added p50 only. */
function latencyKeys(s: ScenarioResult): readonly string[] {
  return s.id.startsWith('l7-') ? ['p50Us'] : ['p50Us', 'p99Us'];
}

function fmt(n: number, digits = 2): string {
  return n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

function throughputVerdict(s: ScenarioResult, key: string): Verdict {
  const c = comparisonOf(s);
  const m = metricStat(s, key, c.subject);
  const h = metricStat(s, key, c.peer);
  const r = ratio(m, h);
  const unit = s.metrics.find((x) => x.key === key)?.unit ?? '';
  return {
    area: 'throughput',
    what: `${s.title}: ${whoVsWho(s)}`,
    meets: r === undefined ? undefined : r >= 1,
    detail: r === undefined || m === undefined || h === undefined ? 'not measured' : `${fmt(r)}x (${fmt(m.median)} vs ${fmt(h.median)} ${unit})`,
  };
}

function latencyVerdict(s: ScenarioResult, key: string): Verdict {
  const c = comparisonOf(s);
  const [d, m, h] = (['direct', c.subject, c.peer] as const).map((p) => metricStat(s, key, p));
  const label = s.metrics.find((x) => x.key === key)?.label ?? key;
  const what = `${s.title}, ${label}: added latency over direct <= 1.0x ${pathLabel(s, c.peer)}'s`;
  if (d === undefined || m === undefined || h === undefined) return { area: 'latency', what, meets: undefined, detail: 'not measured' };
  const addedM = m.median - d.median;
  const addedH = h.median - d.median;
  const times = addedH > 0 ? `${fmt(addedM / addedH)}x, ` : '';
  return { area: 'latency', what, meets: addedM <= addedH, detail: `${times}${pathLabel(s, c.subject)} adds ${fmt(addedM, 0)} µs, ${pathLabel(s, c.peer)} ${fmt(addedH, 0)} µs` };
}

function cpuVerdict(s: ScenarioResult, key: string): Verdict {
  const c = comparisonOf(s);
  const m = metricStat(s, key, c.subject);
  const h = metricStat(s, key, c.peer);
  const r = ratio(m, h);
  const label = s.metrics.find((x) => x.key === key)?.label ?? key;
  return {
    area: 'cpu',
    what: `${label} (${s.title}): ${whoVsWho(s).replace('>=', '<=')}`,
    meets: r === undefined ? undefined : r <= 1,
    detail: r === undefined || m === undefined || h === undefined ? 'not measured' : `${fmt(r)}x (${fmt(m.median, 3)} vs ${fmt(h.median, 3)} s)`,
  };
}

/** `meshlet >= 1.0x HAProxy` in the scenario's own names (`meshlet L7 >= 1.0x HAProxy HTTP pair`). */
function whoVsWho(s: ScenarioResult): string {
  const c = comparisonOf(s);
  return c.subject === 'meshlet' && c.peer === 'haproxy' ? 'meshlet >= 1.0x HAProxy' : `${pathLabel(s, c.subject)} >= 1.0x ${pathLabel(s, c.peer)}`;
}

/**
 * Every check of the bar the results allow: a scenario counts when the run ran both paths it
 * compares (none when only meshlet ran, as in a profile run).
 */
export function verdicts(results: Pick<BenchResults, 'scenarios' | 'paths'>): Verdict[] {
  const compared = (s: ScenarioResult): boolean => {
    const c = comparisonOf(s);
    return results.paths.includes(c.subject) && results.paths.includes(c.peer);
  };
  const byId = new Map(results.scenarios.filter(compared).map((s) => [s.id, s]));
  const out: Verdict[] = [];
  for (const [id, key] of THROUGHPUT) {
    const s = byId.get(id);
    if (s !== undefined) out.push(throughputVerdict(s, key));
  }
  for (const s of [...byId.values()].filter((x) => /^(l7-)?latency-/.test(x.id))) {
    for (const key of latencyKeys(s)) out.push(latencyVerdict(s, key));
  }
  for (const [id, key] of CPU) {
    const s = byId.get(id);
    if (s !== undefined) out.push(cpuVerdict(s, key));
  }
  return out;
}

/**
 * The authorization target: one per-connection check (opaque or HTTP port) of the workload with
 * the most of 1,000 policies on the node takes under 50 µs. A budget next to a connection's
 * mTLS handshake and dial, not a comparison with HAProxy (which has no such engine here).
 */
export const AUTHZ_CONNECTION_TARGET_NS = 50_000;

/** The `authz-1000` scenario against its target; undefined when the scenario did not run. */
export function authzVerdict(a: AuthzScenarioResult | undefined): Verdict | undefined {
  if (a === undefined) return undefined;
  const what = `per-connection check, 1,000 policies on the node, worst workload: < ${fmt(AUTHZ_CONNECTION_TARGET_NS / 1000, 0)} µs`;
  const w = a.figures?.worst;
  if (w === undefined) return { area: 'authz', what, meets: undefined, detail: 'not measured' };
  const worst = Math.max(w.connectionOpaqueNs, w.connectionHttpNs);
  return { area: 'authz', what, meets: worst < AUTHZ_CONNECTION_TARGET_NS, detail: `${fmt(worst / 1000)} µs worst (${w.policies} policies, ${w.rules} rules)` };
}
