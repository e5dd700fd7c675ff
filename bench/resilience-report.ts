/**
 * The `l7-resilience` scenario's pure parts: how one round's two runs become its recorded values
 * (each figure with nothing and with everything configured, their ratios for the round, the
 * counters' growth), its rows, its section of the report, and the issue's target: with all of
 * it configured but not triggering, L7 throughput and CPU per 1,000 requests within 5% of none.
 *
 * @module
 */

import { HTTP_BODY_BYTES, HTTP_CONNECTIONS } from './bench-options.js';
import type { MetricSpec, ScenarioResult } from './bench-types.js';
import { RESILIENCE_COUNTERS } from './resilience-counters.js';
import { ratioInterval, type RatioInterval } from './ratio-interval.js';
import { metricStat, stat, type Stat } from './summary.js';

/** What one load run gives (a `LoadOutcome` of `load-runs.ts`). */
export interface VariantOutcome {
  readonly values: Readonly<Record<string, number>>;
  readonly error?: string;
}

/** The issue's bound: throughput at least 95% and CPU per 1,000 requests at most 105% of none configured. */
export const RESILIENCE_TOLERANCE = 0.05;

/** The path the scenario runs on. */
const PATH = 'meshlet-l7';

/** The load's figures, as `l7H1Runner` names them, with their rows. */
const FIGURES: readonly { readonly key: string; readonly label: string; readonly unit: string; readonly better: 'higher' | 'lower'; readonly digits: number }[] = [
  { key: 'rps', label: 'requests', unit: '/s', better: 'higher', digits: 0 },
  { key: 'p50Ms', label: 'latency p50 (closed loop)', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'p99Ms', label: 'latency p99 (closed loop)', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'cpuPer1k', label: 'proxy CPU per 1,000 requests', unit: 's', better: 'lower', digits: 3 },
  { key: 'peakRssMiB', label: 'proxies peak RSS (sum)', unit: 'MiB', better: 'lower', digits: 1 },
];

/** Figures whose configured/none ratio is recorded per round (peak RSS is not a per-request cost). */
const RATIO_KEYS: readonly string[] = ['rps', 'p50Ms', 'p99Ms', 'cpuPer1k'];

/** Every value a round records, as rows (the JSON's and the generic table's view). */
export const RESILIENCE_METRICS: readonly MetricSpec[] = [
  ...FIGURES.flatMap((f) => [
    { ...f, key: `${f.key}None`, label: `${f.label}, nothing configured` },
    { ...f, key: `${f.key}All`, label: `${f.label}, everything configured` },
  ]),
  ...FIGURES.filter((f) => RATIO_KEYS.includes(f.key)).map((f) => ({ key: `${f.key}Ratio`, label: `${f.label}, configured / nothing (same round)`, unit: 'x', better: f.better, digits: 3 })),
  ...Object.entries(RESILIENCE_COUNTERS).map(([key, name]) => ({ key, label: `${name} growth, configured run`, unit: '', better: 'lower' as const, digits: 0 })),
];

/** The scenario's title and what it measures. */
export const RESILIENCE_TITLE = `L7: resilience configured but not triggering, HTTP/1.1, ${HTTP_CONNECTIONS} connections`;
export const RESILIENCE_MEASURES = `The l7-h1-rps load (wrk, ${HTTP_CONNECTIONS} keep-alive connections, ${HTTP_BODY_BYTES} B answers) on the meshlet L7 path, twice per round over the same lab and agents, in alternating order (odd rounds nothing configured first, even rounds everything configured first, so drift and any advantage of going first fall on both alike): once with nothing configured, once with a TrafficPolicy on the Service that sets every section (request timeout 30s; retry: 2 retries on gateway-error, connect-failure, reset, per-try timeout 10s, budget 20%; hedging at p99, minDelay 5s; circuit breaker thresholds 100,000; passive health with success rate; adaptive concurrency min 1,000, max 100,000; a fault injection behind a header no load request has; a local rate limit of 1,000,000 requests/s) and an HTTPRoute on the port with its own timeout and retry and a RequestMirror at 0%. Before the first round both configurations run once unrecorded (2 s each) so that neither is measured on cold code. A probe request with the fault header before each load shows which configuration is in force; the agents' resilience counters are scraped around the configured load (any growth marks the round doubtful). CPU is both agents' user+system time per 1,000 requests of the load alone.`;

function mergeError(none: VariantOutcome, all: VariantOutcome): string | undefined {
  const parts = [none.error === undefined ? undefined : `nothing configured: ${none.error}`, all.error === undefined ? undefined : `everything configured: ${all.error}`];
  const kept = parts.filter((p) => p !== undefined);
  return kept.length === 0 ? undefined : kept.join('; ');
}

/** One round's values from its two runs and the counters' growth over the configured one. */
export function combineRuns(none: VariantOutcome, all: VariantOutcome, counters: Readonly<Record<string, number>>): VariantOutcome {
  const values: Record<string, number> = {};
  for (const { key } of FIGURES) {
    const a = none.values[key];
    const b = all.values[key];
    if (a !== undefined) values[`${key}None`] = a;
    if (b !== undefined) values[`${key}All`] = b;
    if (RATIO_KEYS.includes(key) && a !== undefined && b !== undefined && a > 0) values[`${key}Ratio`] = b / a;
  }
  for (const key of Object.keys(RESILIENCE_COUNTERS)) {
    const c = counters[key];
    if (c !== undefined) values[key] = c;
  }
  const error = mergeError(none, all);
  return error === undefined ? { values } : { values, error };
}

function num(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function cell(s: Stat | undefined, digits: number, suffix = ''): string {
  if (s === undefined) return 'failed';
  const median = `${num(s.median, digits)}${suffix}`;
  return s.n > 1 ? `${median} (${num(s.min, digits)}–${num(s.max, digits)})` : median;
}

/** The target, from the medians of the rounds' own ratios. */
export interface ResilienceVerdict {
  readonly what: string;
  /**
   * Undefined when a figure is missing, a counter grew (the run measured something else) or
   * the rounds are too noisy to say (see `judge`).
   */
  readonly meets: boolean | undefined;
  readonly detail: string;
}

/** Sum over the rounds of each counter's growth. */
export function counterTotals(s: ScenarioResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(RESILIENCE_COUNTERS)) out[key] = s.runs.reduce((sum, r) => sum + (r.values[key] ?? 0), 0);
  return out;
}

/** Fewer noisy rounds than this decide nothing, whatever their interval says. */
const NOISY_MIN_ROUNDS = 4;

/** One metric's judgement: met, not met, or undecided; how many rounds fell within; the interval when the rounds were noisy. */
interface Judgement {
  readonly meets: boolean | undefined;
  readonly inside: number;
  readonly interval?: RatioInterval;
}

/**
 * One metric against its bound (`side`: the ratio must stay at least `bound`, or at most).
 * Rounds within twice the tolerance of each other (a quiet machine): their median decides.
 * Noisier rounds: the 90% interval of their geometric mean decides when it lies wholly on one
 * side of the bound (equivalence testing's two one-sided tests); else nothing is decided and
 * more rounds are needed.
 */
function judge(ratios: readonly number[], bound: number, side: 'at-least' | 'at-most'): Judgement {
  // A hair of rounding must not flip the verdict: compare with the bound plus 1e-9.
  const within = (r: number): boolean => (side === 'at-least' ? r >= bound - 1e-9 : r <= bound + 1e-9);
  const st = stat(ratios);
  const inside = ratios.filter(within).length;
  if (st === undefined) return { meets: undefined, inside };
  if (st.max - st.min <= 2 * RESILIENCE_TOLERANCE + 1e-9) return { meets: within(st.median), inside };
  const interval = ratioInterval(ratios);
  if (interval === undefined || ratios.length < NOISY_MIN_ROUNDS) return { meets: undefined, inside, ...(interval === undefined ? {} : { interval }) };
  const [near, far] = side === 'at-least' ? [interval.low, interval.high] : [interval.high, interval.low];
  if (within(near)) return { meets: true, inside, interval };
  if (!within(far)) return { meets: false, inside, interval };
  return { meets: undefined, inside, interval };
}

function intervalText(j: Judgement): string {
  return j.interval === undefined ? '' : `, 90% interval ${num(j.interval.low, 3)}–${num(j.interval.high, 3)}x`;
}

/** The issue's target for the scenario's results. */
export function resilienceVerdict(s: ScenarioResult): ResilienceVerdict {
  const pct = num(RESILIENCE_TOLERANCE * 100, 0);
  const what = `resilience configured but not triggering: throughput >= ${num(1 - RESILIENCE_TOLERANCE, 2)}x and CPU per 1,000 requests <= ${num(1 + RESILIENCE_TOLERANCE, 2)}x of nothing configured (within ${pct}%)`;
  const rps = metricStat(s, 'rpsRatio', PATH);
  const cpu = metricStat(s, 'cpuPer1kRatio', PATH);
  if (rps === undefined || cpu === undefined) return { what, meets: undefined, detail: 'not measured' };
  const fired = Object.entries(counterTotals(s)).filter(([, v]) => v > 0);
  const ratios = (key: string): number[] => s.runs.filter((r) => r.path === PATH).map((r) => r.values[key]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  const r = judge(ratios('rpsRatio'), 1 - RESILIENCE_TOLERANCE, 'at-least');
  const c = judge(ratios('cpuPer1kRatio'), 1 + RESILIENCE_TOLERANCE, 'at-most');
  const figures = `throughput ${num(rps.median, 3)}x (${r.inside} of ${rps.n} rounds within${intervalText(r)}), CPU per 1,000 requests ${num(cpu.median, 3)}x (${c.inside} of ${cpu.n} within${intervalText(c)}); medians of the rounds' own ratios`;
  if (fired.length > 0) return { what, meets: undefined, detail: `not measured: resilience fired (${fired.map(([k, v]) => `${RESILIENCE_COUNTERS[k]} ${v}`).join(', ')}); ${figures}` };
  const spread = Math.max(rps.max - rps.min, cpu.max - cpu.min);
  const noisy = spread > 2 * RESILIENCE_TOLERANCE + 1e-9 ? `; noisy: the rounds' ratios differ by up to ${num(spread, 3)}` : '';
  if (r.meets === false || c.meets === false) return { what, meets: false, detail: `${figures}${noisy}` };
  if (r.meets === true && c.meets === true) return { what, meets: true, detail: `${figures}${noisy}` };
  return {
    what,
    meets: undefined,
    detail: `inconclusive: the rounds disagree by more than ${num(2 * RESILIENCE_TOLERANCE, 2)} and the 90% interval of their geometric mean (at least ${NOISY_MIN_ROUNDS} rounds) straddles the bound (run more rounds); ${figures}${noisy}`,
  };
}

/** The verdict in one word: meets, falls short, inconclusive (noise) or not measured. */
export function verdictWord(v: ResilienceVerdict): string {
  if (v.meets !== undefined) return v.meets ? 'meets' : 'falls short';
  return v.detail.startsWith('inconclusive') ? 'inconclusive' : 'not measured';
}

/** The scenario's section of the report: both runs side by side, the target, the counters. */
export function resilienceSection(s: ScenarioResult): string[] {
  const head = ['| metric | nothing configured | everything configured | configured / nothing (per round) |', '|---|---:|---:|---:|'];
  const rows = FIGURES.map((f) => {
    const ratio = RATIO_KEYS.includes(f.key) ? cell(metricStat(s, `${f.key}Ratio`, PATH), 3, 'x') : '—';
    return `| ${f.label} (${f.unit}) | ${cell(metricStat(s, `${f.key}None`, PATH), f.digits)} | ${cell(metricStat(s, `${f.key}All`, PATH), f.digits)} | ${ratio} |`;
  });
  const v = resilienceVerdict(s);
  const verdict = v.meets === false ? '**falls short**' : verdictWord(v);
  const totals = counterTotals(s);
  const rounds = stat(s.runs.filter((r) => r.path === PATH && r.values['rpsAll'] !== undefined).map((r) => r.round))?.n ?? 0;
  const fired = Object.values(totals).some((x) => x > 0);
  const counterRows = Object.entries(RESILIENCE_COUNTERS).map(([key, name]) => `| \`${name}\` | ${num(totals[key] ?? 0, 0)} |`);
  return [
    `Target (issue 13): ${verdict}; ${v.detail}.`,
    '',
    ...head,
    ...rows,
    '',
    `Resilience counters of both agents, growth over the configured runs (${rounds} round${rounds === 1 ? '' : 's'}, summed; each should be 0):`,
    '',
    '| counter | growth |',
    '|---|---:|',
    ...counterRows,
    '',
    fired ? '**A counter grew: some feature fired, and the configured run measured more than configuration.**' : 'All zero: nothing fired, so the configured runs measured the cost of having it configured.',
  ];
}
