/**
 * The `noisy-neighbour` scenario's figures and its bar (issue 18): a quiet pod doing one
 * HTTP/1.1 request at a time while a neighbour pod on the same node floods, with bulk bytes
 * (iperf3 -P 8) or with many small requests (wrk, 64 connections). Each round's ratios are
 * taken within the round (flooded against alone, same path, minutes apart at most), so drift
 * between rounds does not enter them; the bar is checked on the median of the rounds' ratios.
 * Pure: `noisy-neighbour.ts` runs the loads.
 *
 * @module
 */

import { PATH_LABELS, type MetricSpec, type PathName, type ScenarioResult } from './bench-types.js';
import { metricStat, scenarioPaths } from './summary.js';

export const NOISY_NEIGHBOUR_ID = 'noisy-neighbour';

/** Parallel streams of the bulk flood, as in the issue's measurement. */
export const FLOOD_STREAMS = 8;
/** Connections of the small-request flood: as many as `http-rps`, each one request at a time. */
export const FLOOD_CONNECTIONS = 64;

export const NOISY_NEIGHBOUR_TITLE = 'Noisy neighbour: a quiet pod beside a flooding pod on the same node';

export const NOISY_NEIGHBOUR_MEASURES =
  `A quiet pod on node1 sends HTTP/1.1 requests one at a time (wrk -t1 -c1, ${'1 KiB'} answers) to the server pod on node2; a neighbour pod on node1 (another workload: its own service account) floods the same server pod, with bulk bytes (iperf3 -P ${FLOOD_STREAMS}) or with small requests (wrk -c${FLOOD_CONNECTIONS} to a second origin process in that pod, so the two do not queue in one server). Per path and round: the quiet pod alone, each flood alone, and each flood with the quiet pod (the flood starts 1 s before the quiet load and ends 1 s after it; iperf3 omits its first second). Ratios are flooded / alone within the round; the table shows the median of the rounds and min–max. The agents' event-loop delay is read over each flooded run (meshlet only). Everything shares the machine's cores: the direct path shows what the kernel and the CPU contention alone do.`;

/** The bar of issue 18: with the flood, the quiet pod's p50 at most 2x, p99 at most 3x, rate at least 50% of alone; the flood keeps 80% of its alone throughput. */
export const NOISY_BAR = { p50x: 2, p99x: 3, rateShare: 0.5, floodShare: 0.8 } as const;

/** The two floods. */
export type FloodKind = 'bulk' | 'small';
export const FLOOD_KINDS: readonly FloodKind[] = ['bulk', 'small'];

const FLOOD_WORDS: Readonly<Record<FloodKind, string>> = { bulk: `bulk flood (iperf3 -P ${FLOOD_STREAMS})`, small: `small-request flood (wrk -c${FLOOD_CONNECTIONS})` };

/** What one quiet load measured. */
export interface QuietFigures {
  readonly p50Us: number;
  readonly p99Us: number;
  readonly rps: number;
}

/** One flood in one round: its throughput alone and beside the quiet pod, the quiet pod's figures beside it, the agents' loop delay then (agent paths). */
export interface FloodRound {
  readonly alone: number;
  readonly shared: number;
  readonly quiet: QuietFigures;
  /** The agents' event-loop delay p99 over the flooded run, µs, per node (agent paths only). */
  readonly loopP99Us?: { readonly node1: number; readonly node2: number };
}

/** One round on one path: the quiet pod alone, and each flood. */
export interface NoisyRound {
  readonly quiet: QuietFigures;
  readonly floods: Readonly<Partial<Record<FloodKind, FloodRound>>>;
}

/** A round's values (the metric keys below): the raw figures and the within-round ratios. */
export function noisyValues(r: NoisyRound): Record<string, number> {
  const v: Record<string, number> = { quietP50Us: r.quiet.p50Us, quietP99Us: r.quiet.p99Us, quietRps: r.quiet.rps };
  for (const kind of FLOOD_KINDS) {
    const f = r.floods[kind];
    if (f === undefined) continue;
    Object.assign(v, {
      [`${kind}Alone`]: f.alone,
      [`${kind}Shared`]: f.shared,
      [`${kind}QuietP50Us`]: f.quiet.p50Us,
      [`${kind}QuietP99Us`]: f.quiet.p99Us,
      [`${kind}QuietRps`]: f.quiet.rps,
    });
    // A ratio against a zero is no figure: absent rather than Infinity.
    if (r.quiet.p50Us > 0) v[`${kind}P50x`] = f.quiet.p50Us / r.quiet.p50Us;
    if (r.quiet.p99Us > 0) v[`${kind}P99x`] = f.quiet.p99Us / r.quiet.p99Us;
    if (r.quiet.rps > 0) v[`${kind}RateShare`] = f.quiet.rps / r.quiet.rps;
    if (f.alone > 0) v[`${kind}FloodShare`] = f.shared / f.alone;
    if (f.loopP99Us !== undefined) {
      v[`${kind}LoopP99Node1Us`] = f.loopP99Us.node1;
      v[`${kind}LoopP99Node2Us`] = f.loopP99Us.node2;
    }
  }
  return v;
}

function floodMetrics(kind: FloodKind): MetricSpec[] {
  const w = kind === 'bulk' ? 'bulk' : 'small-request';
  const [unit, digits, what] = kind === 'bulk' ? ['Gbit/s', 2, 'throughput'] : ['req/s', 0, 'requests'];
  return [
    { key: `${kind}Alone`, label: `${w} flood alone, ${what}`, unit, better: 'higher', digits },
    { key: `${kind}QuietP50Us`, label: `quiet p50 with the ${w} flood`, unit: 'µs', better: 'lower', digits: 0 },
    { key: `${kind}QuietP99Us`, label: `quiet p99 with the ${w} flood`, unit: 'µs', better: 'lower', digits: 0 },
    { key: `${kind}QuietRps`, label: `quiet requests with the ${w} flood`, unit: '/s', better: 'higher', digits: 0 },
    { key: `${kind}Shared`, label: `${w} flood beside the quiet pod, ${what}`, unit, better: 'higher', digits },
    { key: `${kind}P50x`, label: `${w}: quiet p50, flooded / alone (bar <= ${NOISY_BAR.p50x})`, unit: 'x', better: 'lower', digits: 2 },
    { key: `${kind}P99x`, label: `${w}: quiet p99, flooded / alone (bar <= ${NOISY_BAR.p99x})`, unit: 'x', better: 'lower', digits: 2 },
    { key: `${kind}RateShare`, label: `${w}: quiet rate, flooded / alone (bar >= ${NOISY_BAR.rateShare})`, unit: 'x', better: 'higher', digits: 2 },
    { key: `${kind}FloodShare`, label: `${w}: flood beside the quiet pod / alone (bar >= ${NOISY_BAR.floodShare})`, unit: 'x', better: 'higher', digits: 2 },
    { key: `${kind}LoopP99Node1Us`, label: `${w}: node1 agent event-loop delay p99 while flooded`, unit: 'µs', better: 'lower', digits: 0, onlyPaths: ['meshlet'] },
    { key: `${kind}LoopP99Node2Us`, label: `${w}: node2 agent event-loop delay p99 while flooded`, unit: 'µs', better: 'lower', digits: 0, onlyPaths: ['meshlet'] },
  ];
}

/** The scenario's rows, in table order. */
export const NOISY_METRICS: readonly MetricSpec[] = [
  { key: 'quietP50Us', label: 'quiet alone, p50', unit: 'µs', better: 'lower', digits: 0 },
  { key: 'quietP99Us', label: 'quiet alone, p99', unit: 'µs', better: 'lower', digits: 0 },
  { key: 'quietRps', label: 'quiet alone, requests', unit: '/s', better: 'higher', digits: 0 },
  ...FLOOD_KINDS.flatMap(floodMetrics),
];

/** One check of the bar on one path and flood; `meets` undefined when a figure is missing. */
export interface NoisyCheck {
  readonly path: PathName;
  readonly kind: FloodKind;
  readonly what: string;
  readonly value: number | undefined;
  readonly bound: number;
  readonly meets: boolean | undefined;
}

/** Every check of the bar on every path the scenario ran (medians of the rounds' ratios). */
export function noisyChecks(s: ScenarioResult, runPaths: readonly PathName[]): NoisyCheck[] {
  const out: NoisyCheck[] = [];
  for (const path of scenarioPaths(s, runPaths)) {
    for (const kind of FLOOD_KINDS) {
      const rows: [string, string, number, 'max' | 'min'][] = [
        ['quiet p50 flooded / alone', `${kind}P50x`, NOISY_BAR.p50x, 'max'],
        ['quiet p99 flooded / alone', `${kind}P99x`, NOISY_BAR.p99x, 'max'],
        ['quiet rate flooded / alone', `${kind}RateShare`, NOISY_BAR.rateShare, 'min'],
        ['flood beside the quiet pod / alone', `${kind}FloodShare`, NOISY_BAR.floodShare, 'min'],
      ];
      for (const [what, key, bound, side] of rows) {
        const value = metricStat(s, key, path)?.median;
        const meets = value === undefined ? undefined : side === 'max' ? value <= bound : value >= bound;
        out.push({ path, kind, what: `${what} ${side === 'max' ? '<=' : '>='} ${bound}`, value, bound, meets });
      }
    }
  }
  return out;
}

/** The section under the scenario's table: each path against the bar, per flood. */
export function noisyBarLines(s: ScenarioResult, runPaths: readonly PathName[]): string[] {
  const checks = noisyChecks(s, runPaths);
  if (checks.length === 0) return [];
  const lines = ['Against the bar of issue 18 (medians of the rounds\' ratios; the bar is for meshlet, the other paths are the reference):', '', '| path | flood | check | ratio | result |', '|---|---|---|---:|---|'];
  for (const c of checks) {
    const result = c.meets === undefined ? 'not measured' : c.meets ? 'meets' : '**falls short**';
    lines.push(`| ${PATH_LABELS[c.path]} | ${FLOOD_WORDS[c.kind]} | ${c.what} | ${c.value === undefined ? '—' : `${c.value.toFixed(2)}x`} | ${result} |`);
  }
  return lines;
}
