/**
 * The `l7-tracing` scenario's run: the `l7-h1-rps` load three times per round over the same lab
 * and agents, with tracing off (no Telemetry object), on at 100% and on at 1% sampling
 * (`tracing-policy.ts`), the order alternating by round (off 100% 1%, then 1% 100% off, ...)
 * so drift on a shared machine falls on all alike. The spans go by OTLP/HTTP to a sink in the
 * lab's unmeshed server pod (`tracing-sink.ts`), each traced load to a collector path of its
 * own. Around each load both agents are scraped (the source agent's requests, the export
 * counters) and the sink asked what it got; the round ends with tracing off, which makes the
 * agents close their exporter and send its last batch, and only then are the traced loads'
 * spans read. Every load runs on a snapshot of its own (a marker Service changes with each),
 * so every configuration pays alike for a snapshot change. Before the first round on a lab
 * every configuration runs once unrecorded.
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../src/lab/index.js';
import { scrapeAgent } from './agent-pauses.js';
import { MESHED_NAMESPACE, type PathTarget } from './bench-topology.js';
import { counterGrowth, sumCounters } from './resilience-counters.js';
import { applyConfig, marker, type InnerRunner } from './resilience-scenario.js';
import type { VariantOutcome } from './resilience-report.js';
import { collectorPath, telemetryYaml, TRACING_CONFIG_FILE, TRACING_VARIANTS, type TracingVariant } from './tracing-policy.js';
import { combineTracing, type TracingLoad } from './tracing-report.js';
import { TracingSink, type SinkCounts } from './tracing-sink-client.js';

/** The sink's pod: unmeshed (plain namespace) on node2, idle while this scenario runs on the meshed pods. */
const SINK_POD = 'pserver';
/** This scenario's marker Service: not `l7-resilience`'s, whose file may still name its own. */
const MARKER_NAME = 'bench-trace-marker';
const MARKER_VIP = '198.19.0.251';

/** What the agents count, scraped around each load and round. */
const COUNTERS: Readonly<Record<string, string>> = Object.freeze({
  requests: 'istio_requests_total',
  exported: 'meshlet_trace_spans_exported_total',
  dropped: 'meshlet_trace_spans_dropped_total',
});

/** Both agents' counters: node1's (the source agent: its requests are the load's), node2's (the destination agent), and their sum. */
interface Scrape {
  readonly node1: Record<string, number>;
  readonly node2: Record<string, number>;
  readonly both: Record<string, number>;
}

async function scrape(lab: Lab): Promise<Scrape> {
  const [a, b] = await Promise.all(['node1', 'node2'].map(async (n) => sumCounters(await scrapeAgent(lab, n), COUNTERS)));
  const node1 = a ?? {};
  const node2 = b ?? {};
  return { node1, node2, both: Object.fromEntries(Object.keys(COUNTERS).map((k) => [k, (node1[k] ?? 0) + (node2[k] ?? 0)])) };
}

/** Between scrapes after a load, until the agents' request counts stop moving. */
const SETTLE_POLL_MS = 200;
/** At most this long: requests the load generator left in flight end within milliseconds. */
const SETTLE_LIMIT_MS = 5_000;

/**
 * The scrape after a load, once both agents' request counts are still: wrk stops with requests
 * in flight, which the agents count (and trace) as they end, a little after wrk has returned.
 */
async function settledScrape(lab: Lab): Promise<Scrape> {
  let last = await scrape(lab);
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  for (;;) {
    await sleep(SETTLE_POLL_MS);
    const next = await scrape(lab);
    if (next.both['requests'] === last.both['requests'] || Date.now() > deadline) return next;
    last = next;
  }
}

/** A lab's sink, its rounds so far and its traced loads so far (which name their collector paths). */
interface LabState {
  readonly sink: TracingSink;
  rounds: number;
  loads: number;
}

const states = new WeakMap<Lab, LabState>();

async function stateOf(lab: Lab): Promise<LabState> {
  let state = states.get(lab);
  if (state === undefined) {
    state = { sink: await TracingSink.start(lab, SINK_POD, lab.podAddress(SINK_POD)), rounds: 0, loads: 0 };
    states.set(lab, state);
  }
  return state;
}

/** The configuration of a load: a Telemetry object to a collector path of its own (traced), and a new marker. */
function configFor(state: LabState, v: TracingVariant): { yaml: string; path?: string } {
  const m = marker(MARKER_NAME, MARKER_VIP);
  if (v.samplingPercentage === undefined) return { yaml: m };
  state.loads += 1;
  const path = collectorPath(state.loads);
  return { yaml: `${telemetryYaml(MESHED_NAMESPACE, `${state.sink.url}${path}`, v.samplingPercentage)}---\n${m}`, path };
}

/** One load under `v`: its outcome, the source agent's requests over it, and what the sink got during it. */
async function oneLoad(inner: InnerRunner, state: LabState, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number, v: TracingVariant): Promise<{ outcome: VariantOutcome; requests: number; destinationRequests: number; path?: string; spansDuring: number }> {
  const config = configFor(state, v);
  await applyConfig(lab, config.yaml, TRACING_CONFIG_FILE);
  const [before, sinkBefore] = await Promise.all([scrape(lab), state.sink.counts()]);
  const outcome = await inner(lab, target, pids, seconds);
  const after = await settledScrape(lab);
  const sinkAfter = await state.sink.counts();
  const requests = counterGrowth(before.node1, after.node1)['requests'] ?? 0;
  const destinationRequests = counterGrowth(before.node2, after.node2)['requests'] ?? 0;
  return { outcome, requests, destinationRequests, spansDuring: sinkAfter.total.spans - sinkBefore.total.spans, ...(config.path === undefined ? {} : { path: config.path }) };
}

/** A finished load's spans: a traced one's from its collector path (complete once its exporter closed), tracing off's from the sink's total during it. */
function loadOf(r: Awaited<ReturnType<typeof oneLoad>>, end: SinkCounts): TracingLoad {
  const base = { outcome: r.outcome, requests: r.requests, destinationRequests: r.destinationRequests };
  if (r.path === undefined) return { ...base, spans: r.spansDuring, clientSpans: 0, serverSpans: 0 };
  const p = end.byPath[r.path];
  return { ...base, spans: p?.spans ?? 0, clientSpans: p?.client ?? 0, serverSpans: p?.server ?? 0 };
}

/** One round: every configuration in `order`, then tracing off; the round's values and checks. */
async function round(inner: InnerRunner, state: LabState, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number, order: readonly TracingVariant[]): Promise<VariantOutcome> {
  const [start, sinkStart] = await Promise.all([scrape(lab), state.sink.counts()]);
  const raw = new Map<TracingVariant['key'], Awaited<ReturnType<typeof oneLoad>>>();
  try {
    for (const v of order) raw.set(v.key, await oneLoad(inner, state, lab, target, pids, seconds, v));
  } finally {
    // Tracing off: the agents close the last exporter (sending its batch), and the scenarios after this one measure them as before.
    await applyConfig(lab, '', TRACING_CONFIG_FILE);
  }
  const [end, sinkEnd] = await Promise.all([scrape(lab), state.sink.counts()]);
  const grown = counterGrowth(start.both, end.both);
  const loads: Partial<Record<TracingVariant['key'], TracingLoad>> = {};
  for (const [key, r] of raw) loads[key] = loadOf(r, sinkEnd);
  return combineTracing(loads, {
    exported: grown['exported'] ?? 0,
    dropped: grown['dropped'] ?? 0,
    malformed: sinkEnd.malformed - sinkStart.malformed,
    problems: sinkEnd.problems.slice(sinkStart.problems.length),
  }, order[0]?.key === 'Off');
}

/**
 * Seconds of each unrecorded warm-up load: the first round would otherwise measure its first
 * configuration on cold code (JIT, the exporter's first connection) and the others on warm code.
 */
const WARMUP_SECONDS = 2;

async function warmUp(inner: InnerRunner, state: LabState, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number): Promise<void> {
  try {
    for (const v of [...TRACING_VARIANTS].reverse()) {
      await applyConfig(lab, configFor(state, v).yaml, TRACING_CONFIG_FILE);
      await inner(lab, target, pids, Math.min(seconds, WARMUP_SECONDS));
    }
  } finally {
    await applyConfig(lab, '', TRACING_CONFIG_FILE);
  }
}

/**
 * The scenario's runner around `inner` (the `l7-h1-rps` load on the meshlet L7 path). Its
 * values are `combineTracing`'s. The first call on a lab starts the sink and warms every
 * configuration up (unless `warm` is false: the smoke mode checks the plumbing, not the speed);
 * odd rounds run off, 100%, 1%, even rounds the reverse.
 */
export function tracingRunner(inner: InnerRunner, warm = true): InnerRunner {
  return async (lab, target, pids, seconds) => {
    const state = await stateOf(lab);
    if (state.rounds === 0 && warm) await warmUp(inner, state, lab, target, pids, seconds);
    state.rounds += 1;
    const order = state.rounds % 2 === 1 ? TRACING_VARIANTS : [...TRACING_VARIANTS].reverse();
    return round(inner, state, lab, target, pids, seconds, order);
  };
}
