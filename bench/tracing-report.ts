/**
 * The `l7-tracing` scenario's pure parts: how one round's loads (tracing off, on at 100%, on at
 * 1%) become its recorded values (each figure per configuration, the on/off ratios of the
 * round, the spans the sink received against the requests the agents served), the checks that
 * tracing did what it was set to do, and the scenario's section of the report.
 *
 * @module
 */

import { HTTP_BODY_BYTES, HTTP_CONNECTIONS } from './bench-options.js';
import type { MetricSpec, ScenarioResult } from './bench-types.js';
import { ratioInterval } from './ratio-interval.js';
import type { VariantOutcome } from './resilience-report.js';
import { metricStat, stat, type Stat } from './summary.js';
import { TRACING_OFF, TRACING_ON_1, TRACING_ON_100, TRACING_VARIANTS, type TracingVariant } from './tracing-policy.js';

/** The path the scenario runs on. */
const PATH = 'meshlet-l7';

/** The load's figures, as `l7H1Runner` names them. */
const FIGURES: readonly Omit<MetricSpec, 'proxyOnly'>[] = [
  { key: 'rps', label: 'requests', unit: '/s', better: 'higher', digits: 0 },
  { key: 'p50Ms', label: 'latency p50 (closed loop)', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'p99Ms', label: 'latency p99 (closed loop)', unit: 'ms', better: 'lower', digits: 2 },
  { key: 'cpuPer1k', label: "agents' CPU per 1,000 requests", unit: 's', better: 'lower', digits: 3 },
  { key: 'peakRssMiB', label: 'agents peak RSS (sum)', unit: 'MiB', better: 'lower', digits: 1 },
];

/** Figures whose on/off ratio is recorded per round (peak RSS is not a per-request cost). */
const RATIO_KEYS: readonly string[] = ['rps', 'p50Ms', 'p99Ms', 'cpuPer1k'];

/** The traced configurations and the suffix of their ratio keys (`rpsRatio100`). */
const ON: readonly { readonly variant: TracingVariant; readonly ratio: string }[] = [
  { variant: TRACING_ON_100, ratio: 'Ratio100' },
  { variant: TRACING_ON_1, ratio: 'Ratio1' },
];

/**
 * Spans a request makes at 100%: a CLIENT span from the source agent and a SERVER span from the
 * destination agent (one per try that reaches it). A round whose CLIENT spans are further than
 * {@link SPAN_TOLERANCE} from the source agent's requests, or SERVER spans from the destination
 * agent's, is flagged: spans were lost (dropped, refused) or made twice.
 */
export const SPANS_PER_REQUEST = 2;
export const SPAN_TOLERANCE = 0.01;
/**
 * At 1%, a load of this many requests or more with no span at all is flagged: its chance is
 * 0.99^1000, about 4 in 100,000.
 */
export const MIN_REQUESTS_FOR_1_PERCENT = 1000;

/** What one load of a round gave: the load's figures and what the agents and the sink counted over it. */
export interface TracingLoad {
  readonly outcome: VariantOutcome;
  /** Requests the source agent served (its `istio_requests_total` growth over the load). */
  readonly requests: number;
  /** Requests the destination agent served: more than the source's when a request was tried twice (each try is a SERVER span). */
  readonly destinationRequests: number;
  /** Spans the sink received for the load (off: over the load, on any path). */
  readonly spans: number;
  readonly clientSpans: number;
  readonly serverSpans: number;
}

/** The round's totals that are not per load: the agents' export counters and the sink's refusals. */
export interface TracingRoundCounters {
  /** `meshlet_trace_spans_exported_total` growth, both agents, over the round. */
  readonly exported: number;
  /** `meshlet_trace_spans_dropped_total` growth, both agents, both reasons. */
  readonly dropped: number;
  /** Exports the sink refused over the round, and its first problems. */
  readonly malformed: number;
  readonly problems: readonly string[];
}

/** Every value a round records, as rows (the JSON's and the generic table's view). */
export const TRACING_METRICS: readonly MetricSpec[] = [
  ...FIGURES.flatMap((f) => TRACING_VARIANTS.map((v) => ({ ...f, key: `${f.key}${v.key}`, label: `${f.label}, ${v.label}` }))),
  ...ON.flatMap(({ variant, ratio }) => FIGURES.filter((f) => RATIO_KEYS.includes(f.key)).map((f) => ({ key: `${f.key}${ratio}`, label: `${f.label}, ${variant.label} / off (same round)`, unit: 'x', better: f.better, digits: 3 }))),
  ...TRACING_VARIANTS.flatMap((v): MetricSpec[] => [
    { key: `requests${v.key}`, label: `requests served (source agent), ${v.label}`, unit: '', better: 'higher', digits: 0 },
    { key: `destRequests${v.key}`, label: `requests served (destination agent), ${v.label}`, unit: '', better: 'higher', digits: 0 },
    { key: `spans${v.key}`, label: `spans the sink received, ${v.label}`, unit: '', better: 'higher', digits: 0 },
  ]),
  ...ON.flatMap(({ variant }): MetricSpec[] => [
    { key: `spansPerRequest${variant.key}`, label: `spans per request, ${variant.label}`, unit: '', better: 'higher', digits: 3 },
    { key: `clientSpans${variant.key}`, label: `CLIENT spans (source agent), ${variant.label}`, unit: '', better: 'higher', digits: 0 },
    { key: `serverSpans${variant.key}`, label: `SERVER spans (destination agent), ${variant.label}`, unit: '', better: 'higher', digits: 0 },
  ]),
  { key: 'spansExported', label: "spans the agents counted exported (meshlet_trace_spans_exported_total), round", unit: '', better: 'higher', digits: 0 },
  { key: 'spansDropped', label: 'spans the agents dropped (meshlet_trace_spans_dropped_total), round', unit: '', better: 'lower', digits: 0 },
  { key: 'spansRefused', label: 'exports the sink refused (not valid OTLP), round', unit: '', better: 'lower', digits: 0 },
  { key: 'offFirst', label: 'order of the round: 1 off, 100%, 1%; 0 the reverse', unit: '', better: 'higher', digits: 0 },
];

/** The scenario's title and what it measures. */
export const TRACING_TITLE = `L7: the cost of tracing, HTTP/1.1, ${HTTP_CONNECTIONS} connections`;
export const TRACING_MEASURES = `The l7-h1-rps load (wrk, ${HTTP_CONNECTIONS} keep-alive connections, ${HTTP_BODY_BYTES} B answers) on the meshlet L7 path, three times per round over the same lab and agents, in alternating order (odd rounds off, 100%, 1%; even rounds backwards, so drift and any advantage of going first fall on all alike): with no Telemetry object (tracing off), and with a Telemetry object in the bench namespace turning tracing on at 100% and at 1% sampling, exporting by OTLP/HTTP protobuf to a collector sink in the lab (an unmeshed pod on node2 that counts the spans, checks the first export of each load with the official opentelemetry-proto decoder, and answers 200). Each traced load exports to a collector path of its own; removing or changing the Telemetry object closes the agents' exporter, which sends its last batch. Before the first round every configuration runs once unrecorded (2 s each). CPU is both agents' user+system time per 1,000 requests of the load alone (span encoding and export included; the sink's CPU is not). Requests are the source agent's istio_requests_total growth over the load; at 100% every request makes ${SPANS_PER_REQUEST} spans (CLIENT and SERVER). The spans check fails (and the run exits 1) when the sink got spans with tracing off, none at 100% in a round, none at 1% in a round of ${MIN_REQUESTS_FOR_1_PERCENT.toLocaleString('en-US')} requests or more, or refused an export; a round is doubtful when the agents dropped spans, or at 100% its CLIENT spans are more than ${SPAN_TOLERANCE * 100}% away from the source agent's requests or its SERVER spans from the destination agent's (each try of a request reaching it is a SERVER span).`;

function fmt(n: number, digits: number): string {
  return n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

/** The checks of one round: what tracing was set to do against what the sink saw. */
export function tracingProblems(loads: Readonly<Partial<Record<TracingVariant['key'], TracingLoad>>>, counters: TracingRoundCounters): string[] {
  const out: string[] = [];
  const off = loads.Off;
  if (off !== undefined && off.spans > 0) out.push(`the sink received ${off.spans} spans with tracing off`);
  const full = loads.On100;
  if (full !== undefined) {
    const off = (got: number, want: number): boolean => Math.abs(got - want) > SPAN_TOLERANCE * want;
    if (full.spans === 0) out.push(`the sink received no span with tracing on at 100% (${full.requests} requests): tracing did nothing`);
    else if (off(full.clientSpans, full.requests) || off(full.serverSpans, full.destinationRequests)) {
      out.push(`the sink received ${full.clientSpans} CLIENT and ${full.serverSpans} SERVER spans at 100% for ${full.requests} requests at the source agent and ${full.destinationRequests} at the destination agent (want one span each)`);
    }
  }
  const low = loads.On1;
  if (low !== undefined && low.spans === 0 && low.requests >= MIN_REQUESTS_FOR_1_PERCENT) out.push(`the sink received no span at 1% over ${low.requests} requests`);
  if (counters.dropped > 0) out.push(`the agents dropped ${counters.dropped} spans (queue full or export failed): the traced loads exported less than they made`);
  if (counters.malformed > 0) out.push(`the sink refused ${counters.malformed} exports: ${counters.problems.join('; ')}`);
  return out;
}

/**
 * One round's values from its loads and counters; an error when a load failed or a check did.
 * `offFirst`: the round ran off, 100%, 1% (else the reverse), kept so that pooled rounds, renumbered, still say.
 */
export function combineTracing(loads: Readonly<Partial<Record<TracingVariant['key'], TracingLoad>>>, counters: TracingRoundCounters, offFirst = true): VariantOutcome {
  const values: Record<string, number> = { offFirst: offFirst ? 1 : 0 };
  const errors: string[] = [];
  for (const v of TRACING_VARIANTS) {
    const load = loads[v.key];
    if (load === undefined) continue;
    for (const f of FIGURES) {
      const x = load.outcome.values[f.key];
      if (x !== undefined) values[`${f.key}${v.key}`] = x;
    }
    values[`requests${v.key}`] = load.requests;
    values[`destRequests${v.key}`] = load.destinationRequests;
    values[`spans${v.key}`] = load.spans;
    if (v.samplingPercentage !== undefined) {
      if (load.requests > 0) values[`spansPerRequest${v.key}`] = load.spans / load.requests;
      values[`clientSpans${v.key}`] = load.clientSpans;
      values[`serverSpans${v.key}`] = load.serverSpans;
    }
    if (load.outcome.error !== undefined) errors.push(`${v.label}: ${load.outcome.error}`);
  }
  for (const { variant, ratio } of ON) {
    for (const key of RATIO_KEYS) {
      const a = values[`${key}Off`];
      const b = values[`${key}${variant.key}`];
      if (a !== undefined && b !== undefined && a > 0) values[`${key}${ratio}`] = b / a;
    }
  }
  values['spansExported'] = counters.exported;
  values['spansDropped'] = counters.dropped;
  values['spansRefused'] = counters.malformed;
  errors.push(...tracingProblems(loads, counters));
  return errors.length === 0 ? { values } : { values, error: errors.join('; ') };
}

/** Whether the runs show tracing working: spans at 100%, none with tracing off. */
export interface TracingCheck {
  /** Undefined: not measured (no round with both figures). */
  readonly ok: boolean | undefined;
  readonly detail: string;
}

function total(s: ScenarioResult, key: string): number | undefined {
  const xs = s.runs.filter((r) => r.path === PATH).map((r) => r.values[key]).filter((v): v is number => v !== undefined && Number.isFinite(v));
  return xs.length === 0 ? undefined : xs.reduce((a, b) => a + b, 0);
}

/** A round whose spans at 100% were lost (dropped) or do not match the agents' requests: its cost is doubtful, tracing did work. */
function countsOff(v: Readonly<Record<string, number>>): boolean {
  const off = (got: number | undefined, want: number | undefined): boolean => got !== undefined && want !== undefined && Math.abs(got - want) > SPAN_TOLERANCE * want;
  return (v['spansDropped'] ?? 0) > 0 || off(v['clientSpansOn100'], v['requestsOn100']) || off(v['serverSpansOn100'], v['destRequestsOn100']);
}

/**
 * The scenario's own check over every round. It fails when the figures did not measure
 * tracing: the sink got spans with tracing off (tracing never stopped), no span at 100% in
 * some round, or none at 1% over {@link MIN_REQUESTS_FOR_1_PERCENT} requests (tracing silently
 * did nothing), or refused an export (the agents sent something that is not OTLP). Spans
 * dropped under load or counts off by more than {@link SPAN_TOLERANCE} make their rounds
 * doubtful (said in the detail and the doubtful runs), not a failure: tracing worked, and
 * lost spans are a finding about it.
 */
export function tracingCheck(s: ScenarioResult): TracingCheck {
  const rounds = s.runs.filter((r) => r.path === PATH);
  const offSpans = total(s, 'spansOff');
  const fullSpans = total(s, 'spansOn100');
  const fullRequests = total(s, 'requestsOn100');
  if (offSpans === undefined || fullSpans === undefined || fullRequests === undefined) return { ok: undefined, detail: 'not measured' };
  const figures = `${fmt(fullSpans, 0)} spans for ${fmt(fullRequests, 0)} requests at 100% (${fullRequests > 0 ? fmt(fullSpans / fullRequests, 3) : '-'} a request), ${fmt(offSpans, 0)} with tracing off`;
  const fatal: string[] = [];
  if (offSpans > 0) fatal.push(`tracing did not stop: the sink received ${fmt(offSpans, 0)} spans with tracing off`);
  const silent = rounds.filter((r) => r.values['spansOn100'] === 0).length;
  if (silent > 0) fatal.push(`tracing did nothing: no span at 100% in ${silent} round(s)`);
  const silentLow = rounds.filter((r) => r.values['spansOn1'] === 0 && (r.values['requestsOn1'] ?? 0) >= MIN_REQUESTS_FOR_1_PERCENT).length;
  if (silentLow > 0) fatal.push(`tracing did nothing at 1%: no span in ${silentLow} round(s) of ${fmt(MIN_REQUESTS_FOR_1_PERCENT, 0)} requests or more`);
  const refused = total(s, 'spansRefused') ?? 0;
  if (refused > 0) fatal.push(`the sink refused ${fmt(refused, 0)} exports (see the doubtful runs)`);
  const doubtful = rounds.filter((r) => countsOff(r.values)).length;
  const note = doubtful === 0 ? '' : `; ${doubtful} round(s) doubtful: spans dropped or not one per request at each agent (see the doubtful runs)`;
  return fatal.length > 0 ? { ok: false, detail: `${fatal.join('; ')}; ${figures}${note}` } : { ok: true, detail: `${figures}${note}` };
}

function cell(st: Stat | undefined, digits: number, suffix = ''): string {
  if (st === undefined) return 'failed';
  const median = `${fmt(st.median, digits)}${suffix}`;
  return st.n > 1 ? `${median} (${fmt(st.min, digits)}–${fmt(st.max, digits)})` : median;
}

/** A ratio's median over the rounds, range, and the 90% interval of the rounds' geometric mean. */
function ratioCell(s: ScenarioResult, key: string): string {
  const st = metricStat(s, key, PATH);
  if (st === undefined) return '—';
  const iv = ratioInterval(s.runs.filter((r) => r.path === PATH).map((r) => r.values[key]).filter((v): v is number => v !== undefined));
  return `${cell(st, 3, 'x')}${iv === undefined ? '' : `; 90% interval ${fmt(iv.low, 3)}–${fmt(iv.high, 3)}x`}`;
}

/** One row per round: its order, each configuration's throughput and CPU, the on/off ratios, the spans per request at 100%. */
function roundRows(s: ScenarioResult): string[] {
  const runs = s.runs.filter((r) => r.path === PATH).sort((a, b) => a.round - b.round);
  const v = (r: (typeof runs)[number], key: string, digits: number, suffix = ''): string => {
    const x = r.values[key];
    return x === undefined ? '—' : `${fmt(x, digits)}${suffix}`;
  };
  return [
    '| round | order | requests/s: off / 100% / 1% | CPU per 1,000 requests (s): off / 100% / 1% | CPU 100% / off | CPU 1% / off | requests/s 100% / off | spans per request at 100% |',
    '|---:|---|---:|---:|---:|---:|---:|---:|',
    ...runs.map((r) => {
      // As recorded; results without it: odd rounds ran off, 100%, 1%, even rounds the reverse.
      const order = (r.values['offFirst'] ?? r.round % 2) === 1 ? 'off, 100%, 1%' : '1%, 100%, off';
      const rps = ['Off', 'On100', 'On1'].map((k) => v(r, `rps${k}`, 0)).join(' / ');
      const cpu = ['Off', 'On100', 'On1'].map((k) => v(r, `cpuPer1k${k}`, 3)).join(' / ');
      return `| ${r.round} | ${order} | ${rps} | ${cpu} | ${v(r, 'cpuPer1kRatio100', 3, 'x')} | ${v(r, 'cpuPer1kRatio1', 3, 'x')} | ${v(r, 'rpsRatio100', 3, 'x')} | ${v(r, 'spansPerRequestOn100', 3)} |`;
    }),
  ];
}

/** The scenario's section of the report: the three configurations side by side, their cost ratios, each round, the spans. */
export function tracingSection(s: ScenarioResult): string[] {
  const check = tracingCheck(s);
  const word = check.ok === undefined ? 'not measured' : check.ok ? 'tracing verified' : '**FAILED**';
  const head = ['| metric | tracing off | on, 100% | on, 1% | 100% / off (per round) | 1% / off (per round) |', '|---|---:|---:|---:|---:|---:|'];
  const rows = FIGURES.map((f) => {
    const ratios = RATIO_KEYS.includes(f.key) ? ON.map(({ ratio }) => ratioCell(s, `${f.key}${ratio}`)) : ['—', '—'];
    const values = [TRACING_OFF, TRACING_ON_100, TRACING_ON_1].map((v) => cell(metricStat(s, `${f.key}${v.key}`, PATH), f.digits));
    return `| ${f.label} (${f.unit}) | ${[...values, ...ratios].join(' | ')} |`;
  });
  const spanRows = TRACING_VARIANTS.map((v) => {
    const requests = total(s, `requests${v.key}`);
    const dest = total(s, `destRequests${v.key}`);
    const spans = total(s, `spans${v.key}`);
    const per = requests !== undefined && spans !== undefined && requests > 0 ? fmt(spans / requests, 3) : '—';
    const kinds = v.samplingPercentage === undefined ? '—' : `${fmt(total(s, `clientSpans${v.key}`) ?? 0, 0)} / ${fmt(total(s, `serverSpans${v.key}`) ?? 0, 0)}`;
    return `| ${v.label} | ${requests === undefined ? '—' : fmt(requests, 0)} / ${dest === undefined ? '—' : fmt(dest, 0)} | ${spans === undefined ? '—' : fmt(spans, 0)} | ${kinds} | ${per} |`;
  });
  const rounds = stat(s.runs.filter((r) => r.path === PATH && r.values['rpsOff'] !== undefined).map((r) => r.round))?.n ?? 0;
  return [
    `Spans check: ${word}; ${check.detail}.`,
    '',
    ...head,
    ...rows,
    '',
    'Each round (the ratios are of the same round\'s loads):',
    '',
    ...roundRows(s),
    '',
    `Spans the sink received against the requests the source agent served (${rounds} round${rounds === 1 ? '' : 's'}, summed; at 100% each request makes a CLIENT and a SERVER span, so 2 a request; at 1% about 0.02):`,
    '',
    '| configuration | requests, source / destination agent | spans received | CLIENT / SERVER | spans per source request |',
    '|---|---:|---:|---:|---:|',
    ...spanRows,
    '',
    `The agents counted ${fmt(total(s, 'spansExported') ?? 0, 0)} spans exported and ${fmt(total(s, 'spansDropped') ?? 0, 0)} dropped over the rounds.`,
  ];
}
