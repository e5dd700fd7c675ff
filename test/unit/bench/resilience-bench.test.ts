/**
 * The `l7-resilience` scenario of `npm run bench`: the configuration it writes is accepted by
 * the agents' own loader with every section set and none able to trigger under the load; the
 * counters are read from a scrape (an agent's output: bounded, every sample checked); a round's
 * values, the target and the report's section; the agent-log reader it waits with; and its
 * registration as a lab scenario.
 */
import t, { type Test } from 'tap';
import { appendFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStaticSnapshot } from '../../../src/cli/static-source.js';
import { planLab, renderLabConfig } from '../../../src/lab/index.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { benchOptions, HTTP_CONNECTIONS, LAB_SCENARIO_IDS, runsLab } from '../../../bench/bench-options.js';
import { benchTopology, httpPort, L7_PORTS, MESHED_NAMESPACE, SERVICE_NAME } from '../../../bench/bench-topology.js';
import type { BenchResults, RunRecord, ScenarioResult } from '../../../bench/bench-types.js';
import { loadRunnerFor } from '../../../bench/load-runs.js';
import { renderReport } from '../../../bench/report-markdown.js';
import { counterGrowth, MAX_SCRAPE_BYTES, RESILIENCE_COUNTERS, sumCounters, triggered } from '../../../bench/resilience-counters.js';
import { ADAPTIVE_MIN_CONCURRENCY, FAR_ABOVE_LOAD, FAULT_HEADER, FAULT_PROBE_STATUS, RATE_LIMIT_PER_SECOND, RESILIENCE_CONFIG_FILE, RESILIENCE_SCENARIO_ID, resilienceConfigYaml } from '../../../bench/resilience-policy.js';
import { combineRuns, RESILIENCE_METRICS, resilienceVerdict, verdictWord } from '../../../bench/resilience-report.js';
import { ratioInterval, t95 } from '../../../bench/ratio-interval.js';
import { poolResults } from '../../../bench/pool-results.js';
import { AppliedVersionReader } from '../../../bench/resilience-scenario.js';
import { resilienceScenario, scenarioSpecs } from '../../../bench/scenarios.js';

const TARGET = { namespace: MESHED_NAMESPACE, service: SERVICE_NAME, port: httpPort('meshlet-l7', 'http1') };

/** The bench lab's config directory with the scenario's file, as the agents read it. */
function labConfigDir(t: Test, yamlText: string): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-resilience-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [file, text] of renderLabConfig(planLab(benchTopology('bench')))) writeFileSync(join(dir, file), text);
  writeFileSync(join(dir, RESILIENCE_CONFIG_FILE), yamlText);
  return dir;
}

t.test('the configuration: the agents\' own loader takes it, every section set, none able to trigger', async (t) => {
  t.equal(TARGET.port, L7_PORTS.http, 'the HTTP/1.1 L7 port the load dials');
  const dir = labConfigDir(t, resilienceConfigYaml(TARGET));
  const snap = await loadStaticSnapshot(dir, 'node1', 'cluster.local');
  const svc = snap.services.find((s) => s.key === `${MESHED_NAMESPACE}/${SERVICE_NAME}`);
  const p = svc?.trafficPolicy;
  t.equal(p?.policy, `${MESHED_NAMESPACE}/bench-resilience`, 'the policy is attached to the Service');
  t.equal(p?.timeout?.requestMs, 30_000);
  t.equal(p?.retry?.retries, 2);
  t.same(p?.retry?.triggers, ['gateway-error', 'connect-failure', 'reset']);
  t.equal(p?.retry?.perTryTimeoutMs, 10_000);
  t.same(p?.retryBudget, { ratio: 0.2, minPerSecond: 10, ttlMs: 10_000 });
  t.equal(p?.hedge?.percentile, 99);
  t.equal(p?.hedge?.minDelayMs, 5_000, 'a hedge never before 5 s');
  t.equal(p?.circuitBreaker?.maxRequests, FAR_ABOVE_LOAD);
  t.equal(p?.circuitBreaker?.maxConnections, FAR_ABOVE_LOAD);
  t.equal(p?.circuitBreaker?.maxPendingRequests, FAR_ABOVE_LOAD);
  t.equal(p?.passiveHealth?.consecutive5xx, 5);
  t.not(p?.passiveHealth?.successRate, undefined, 'success-rate ejection on');
  t.equal(p?.adaptiveConcurrency?.minConcurrency, ADAPTIVE_MIN_CONCURRENCY);
  t.equal(p?.adaptiveConcurrency?.maxConcurrency, FAR_ABOVE_LOAD);
  t.same(p?.fault?.headers.map((h) => h.name.toLowerCase()), [FAULT_HEADER], 'the fault only behind the header');
  t.equal(p?.fault?.abort?.httpStatus, FAULT_PROBE_STATUS);
  t.equal(p?.rateLimit?.rules.length, 1);
  t.equal(p?.rateLimit?.rules[0]?.requests, RATE_LIMIT_PER_SECOND);
  t.equal(p?.rateLimit?.rules[0]?.periodMs, 1_000);
  t.same(p?.rateLimit?.rules[0]?.headers, [], 'the rule matches every request: each takes a token');

  const route = snap.routes?.find((r) => r.name === 'bench-resilience');
  t.equal(route?.kind, 'HTTPRoute', 'the route is accepted');
  const rule = route?.kind === 'HTTPRoute' ? route.rules[0] : undefined;
  const mirror = rule?.filters.find((f) => f.type === 'RequestMirror');
  t.same(mirror?.type === 'RequestMirror' ? mirror.requestMirror.percent : undefined, 0, 'a mirror at 0% is accepted');
  t.equal(mirror?.type === 'RequestMirror' ? mirror.requestMirror.backendRef.invalid : 'no mirror', undefined, 'its backend resolves');
  t.equal(rule?.timeouts.requestMs, 30_000);
  t.equal(rule?.retry?.attempts, 2);

  const dest = await loadStaticSnapshot(dir, 'node2', 'cluster.local');
  t.equal(dest.services.find((s) => s.key === svc?.key)?.trafficPolicy?.rateLimit?.rules.length, 1, 'the destination agent gets the rate limit and adaptive concurrency too');

  // Far above the load: the bound holds with two orders of magnitude to spare.
  t.ok(ADAPTIVE_MIN_CONCURRENCY > HTTP_CONNECTIONS * 10, 'adaptive concurrency never goes below what the load keeps in flight');
  t.ok(FAR_ABOVE_LOAD > HTTP_CONNECTIONS * 100, 'circuit breaker thresholds far above 64 in flight');

  const empty = await loadStaticSnapshot(labConfigDir(t, ''), 'node1', 'cluster.local');
  t.equal(empty.services.find((s) => s.key === svc?.key)?.trafficPolicy, undefined, 'the empty file: nothing configured');
  t.not(empty.version, snap.version, 'the two configurations are different snapshots (the wait can tell them apart)');
});

const SCRAPE = [
  '# HELP meshlet_request_retries_total Retries',
  '# TYPE meshlet_request_retries_total counter',
  'meshlet_request_retries_total{service="bench/server",reason="5xx"} 3',
  'meshlet_request_retries_total{service="bench/server",reason="reset"} 2 1733500000000',
  'meshlet_request_retries_suppressed_total{service="bench/server",reason="budget"} 7',
  'meshlet_rate_limited_total{scope="inbound",target="a} b \\"c\\""} 4',
  'meshlet_faults_injected_total 1',
  'meshlet_outlier_ejected_endpoints{service="bench/server"} 9',
  'istio_requests_total{response_code="200"} 100000',
  '',
].join('\n');

t.test('counters from a scrape: summed over label sets, absent ones 0, hostile samples refused', async (t) => {
  const c = sumCounters(SCRAPE, RESILIENCE_COUNTERS);
  t.equal(c['retries'], 5, 'both label sets, a timestamp after the value ignored');
  t.equal(c['retriesSuppressed'], 7, 'a longer name with the same prefix is its own counter');
  t.equal(c['rateLimited'], 4, 'braces, spaces and quotes inside a label value');
  t.equal(c['faults'], 1, 'a sample without labels');
  t.equal(c['hedges'], 0, 'never incremented: no sample, 0');
  t.equal(c['ejections'], 0, 'a gauge with a similar name is not the counter');
  t.same(Object.keys(c).sort(), Object.keys(RESILIENCE_COUNTERS).sort(), 'every counter reported');
  for (const bad of ['NaN', '-1', '+Inf', 'x', '']) {
    t.throws(() => sumCounters(`meshlet_request_hedges_total{service="s"} ${bad}\n`, RESILIENCE_COUNTERS), { code: 'MESHLET_ERR_HOST_TOOL' }, `value ${JSON.stringify(bad)} refused`);
  }
  t.throws(() => sumCounters('meshlet_request_hedges_total{service="s} 1\n', RESILIENCE_COUNTERS), /line 1: .* is not a counter sample/, 'an unterminated label set');
  t.throws(() => sumCounters(`# x\n${'a'.repeat(MAX_SCRAPE_BYTES)}`, RESILIENCE_COUNTERS), /more than 4194304/, 'an oversized scrape');
  t.equal(sumCounters('istio_requests_total{x="1"} NaN\n', RESILIENCE_COUNTERS)['retries'], 0, 'other series are not checked');
});

t.test('growth over the configured run, and what fired', async (t) => {
  const g = counterGrowth({ retries: 5, hedges: 0 }, { retries: 8, hedges: 0, faults: 2 });
  t.same(g, { retries: 3, hedges: 0, faults: 2 });
  t.same(triggered(g), ['meshlet_request_retries_total 3', 'meshlet_faults_injected_total 2']);
  t.same(triggered({ retries: 0 }), []);
  t.throws(() => counterGrowth({ retries: 5 }, { retries: 1 }), /meshlet_request_retries_total went down from 5 to 1: did an agent restart\?/);
});

t.test('a round: both runs\' figures, their ratios, the counters, errors of either run', async (t) => {
  const none = { values: { rps: 1000, p50Ms: 2, p99Ms: 8, cpuPer1k: 0.2, peakRssMiB: 100 } };
  const all = { values: { rps: 950, p50Ms: 2.2, p99Ms: 8, cpuPer1k: 0.21, peakRssMiB: 101 } };
  const r = combineRuns(none, all, { retries: 0, hedges: 0 });
  t.equal(r.values['rpsNone'], 1000);
  t.equal(r.values['rpsAll'], 950);
  t.equal(r.values['rpsRatio'], 0.95);
  t.equal(r.values['p50MsRatio'], 1.1);
  t.equal(r.values['peakRssMiBAll'], 101);
  t.equal(r.values['peakRssMiBRatio'], undefined, 'no ratio for peak RSS');
  t.equal(r.values['retries'], 0);
  t.equal(r.error, undefined);
  const keys = new Set(RESILIENCE_METRICS.map((m) => m.key));
  t.same(Object.keys(r.values).filter((k) => !keys.has(k)), [], 'every value has a row');
  const failed = combineRuns({ values: {}, error: 'wrk completed no request' }, { values: { rps: 5 }, error: '3 errors in 9 requests' }, {});
  t.equal(failed.values['rpsRatio'], undefined, 'no ratio without both figures');
  t.equal(failed.error, 'nothing configured: wrk completed no request; everything configured: 3 errors in 9 requests');
  t.equal(combineRuns({ values: { rps: 0 } }, { values: { rps: 5 } }, {}).values['rpsRatio'], undefined, 'no ratio over 0');
});

function run(round: number, values: Record<string, number>, error?: string): RunRecord {
  return { round, path: 'meshlet-l7', values, wallMs: 1, ...(error === undefined ? {} : { error }) };
}

function scenario(runs: RunRecord[]): ScenarioResult {
  return { ...resilienceScenario(), runs };
}

const ROUND = { rpsNone: 10_000, rpsAll: 9_800, rpsRatio: 0.98, cpuPer1kNone: 0.2, cpuPer1kAll: 0.206, cpuPer1kRatio: 1.03, p50MsNone: 4, p50MsAll: 4.1, p50MsRatio: 1.025, p99MsNone: 9, p99MsAll: 9.5, p99MsRatio: 1.055, peakRssMiBNone: 120, peakRssMiBAll: 121 };
const ZERO = Object.fromEntries(Object.keys(RESILIENCE_COUNTERS).map((k) => [k, 0]));

t.test('the target: within 5% on throughput and CPU, from the medians of the rounds\' ratios', async (t) => {
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO }), run(2, { ...ROUND, ...ZERO })])).meets, true);
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO })])).detail, "throughput 0.980x (1 of 1 rounds within), CPU per 1,000 requests 1.030x (1 of 1 within); medians of the rounds' own ratios");
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, rpsRatio: 0.95, cpuPer1kRatio: 1.05 })])).meets, true, 'exactly 5% is within');
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, rpsRatio: 0.94 })])).meets, false, '6% fewer requests');
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, cpuPer1kRatio: 1.06 })])).meets, false, '6% more CPU');
  const noisy = resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, rpsRatio: 1.21 }), run(2, { ...ROUND, ...ZERO, rpsRatio: 2.12 })]));
  t.equal(noisy.meets, undefined, 'rounds 0.91 apart cannot tell 5% from noise');
  t.match(noisy.detail, /^inconclusive: the rounds disagree by more than 0\.10 and the 90% interval of their geometric mean \(at least 4 rounds\) straddles the bound/);
  t.match(noisy.detail, /noisy: the rounds' ratios differ by up to 0\.910$/);
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, cpuPer1kRatio: 0.99 }), run(2, { ...ROUND, ...ZERO, cpuPer1kRatio: 1.09 })])).meets, true, 'rounds 0.10 apart are not noise yet: the median 1.04 is within');
  t.equal(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, cpuPer1kRatio: 0.98 }), run(2, { ...ROUND, ...ZERO, cpuPer1kRatio: 1.09 })])).meets, undefined, '0.11 apart: inconclusive');
  const fired = resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, hedges: 2 })]));
  t.equal(fired.meets, undefined, 'a feature fired: the run measured something else');
  t.match(fired.detail, /not measured: resilience fired \(meshlet_request_hedges_total 2\)/);
  const rounds = (cpu: readonly number[]): ScenarioResult => scenario(cpu.map((c, i) => run(i + 1, { ...ROUND, ...ZERO, cpuPer1kRatio: c })));
  const slow = resilienceVerdict(rounds([1.09, 1.17, 1.12, 1.08, 1.22, 1.26, 1.06, 1.04]));
  t.equal(slow.meets, false, 'noisy rounds whose whole interval is above 1.05: falls short');
  t.match(slow.detail, /CPU per 1,000 requests 1\.105x \(1 of 8 within, 90% interval 1\.077–1\.181x\)/);
  t.match(slow.detail, /noisy: the rounds' ratios differ by up to 0\.220$/);
  t.equal(resilienceVerdict(rounds([1.01, 0.9, 1.0, 1.02, 1.2, 0.98, 1.03, 1.04])).meets, undefined, 'noisy rounds, 7 of 8 within, but 8 cannot show that the truth is: inconclusive');
  const many = resilienceVerdict(rounds(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 0.92 : 1.1))));
  t.equal(many.meets, true, '30 rounds swinging ±9% around 1.006: the interval is within 1.05');
  t.match(many.detail, /CPU per 1,000 requests 1\.010x \(15 of 30 within, 90% interval 0\.978–1\.035x\)/);
  t.equal(resilienceVerdict(rounds(Array.from({ length: 30 }, (_, i) => (i % 2 === 0 ? 0.98 : 1.16)))).meets, undefined, 'the same swing around 1.066: the interval straddles 1.05');
  t.equal(resilienceVerdict(rounds([1.01, 0.9, 1.2, 1.12, 1.2, 0.98, 1.03, 1.09])).meets, undefined, 'noisy rounds split 5 to 3: inconclusive');
  t.equal(resilienceVerdict(rounds([1.2, 1.3, 1.1])).meets, undefined, 'noisy and fewer than 4 rounds: inconclusive, whatever side');
  t.equal(resilienceVerdict(rounds([1.2, 1.3, 1.1, 1.25])).meets, false, '4 noisy rounds all above: falls short');
  t.equal(resilienceVerdict(scenario([])).meets, undefined, 'no runs: not measured');
  t.equal(verdictWord(noisy), 'inconclusive');
  t.equal(verdictWord(fired), 'not measured');
  t.equal(verdictWord(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO })]))), 'meets');
  t.equal(verdictWord(resilienceVerdict(scenario([run(1, { ...ROUND, ...ZERO, rpsRatio: 0.9 })]))), 'falls short');
  t.equal(resilienceVerdict(scenario([run(1, {}, 'probe failed')])).detail, 'not measured');
});

function results(s: ScenarioResult): BenchResults {
  return {
    format: 'meshlet-bench/1',
    mode: 'quick',
    profile: false,
    startedAt: '2026-12-06T23:00:00.000Z',
    finishedAt: '2026-12-06T23:05:00.000Z',
    machine: { cores: 2, cpuModel: 'cpu', memoryGiB: 8, kernel: 'Linux 6', node: 'v20', haproxy: 'HAProxy 2.6', iperf3: '3.12', sockperf: '3.7', wrk: '4.1', fdLimit: 20000 },
    loadAverage: { start: 1, end: 2 },
    paths: ['meshlet-l7'],
    parameters: { rounds: 2 },
    tls: {},
    notes: [],
    scenarios: [s],
  };
}

t.test('report: both runs side by side, the per-round ratio, the target and the counters', async (t) => {
  const md = renderReport(results(scenario([run(1, { ...ROUND, ...ZERO }), run(2, { ...ROUND, ...ZERO, rpsNone: 10_200, rpsAll: 9_900, rpsRatio: 0.97 })])));
  t.match(md, /^## L7: resilience configured but not triggering, HTTP\/1\.1, 64 connections$/m);
  t.match(md, /\| metric \| nothing configured \| everything configured \| configured \/ nothing \(per round\) \|/);
  t.match(md, /\| requests \(\/s\) \| 10,100 \(10,000–10,200\) \| 9,850 \(9,800–9,900\) \| 0\.975x \(0\.970–0\.980\) \|/);
  t.match(md, /\| proxy CPU per 1,000 requests \(s\) \| 0\.200 \(0\.200–0\.200\) \| 0\.206 \(0\.206–0\.206\) \| 1\.030x \(1\.030–1\.030\) \|/);
  t.match(md, /\| proxies peak RSS \(sum\) \(MiB\) \| 120\.0 \(120\.0–120\.0\) \| 121\.0 \(121\.0–121\.0\) \| — \|/);
  t.match(md, /Target \(issue 13\): meets; throughput 0\.975x \(2 of 2 rounds within\), CPU per 1,000 requests 1\.030x \(2 of 2 within\)/);
  t.match(md, /\| `meshlet_upstream_overflow_total` \| 0 \|/);
  t.match(md, /growth over the configured runs \(2 rounds, summed; each should be 0\)/);
  t.match(md, /All zero: nothing fired/);
  t.notMatch(md, /undefined|NaN/);

  const fired = renderReport(results(scenario([run(1, { ...ROUND, ...ZERO, rateLimited: 12 }, 'resilience fired during the configured run (it measured something else): meshlet_rate_limited_total 12')])));
  t.match(fired, /\| `meshlet_rate_limited_total` \| 12 \|/);
  t.match(fired, /\*\*A counter grew: some feature fired/);
  t.match(fired, /Target \(issue 13\): not measured; not measured: resilience fired/);
  const noisy = renderReport(results(scenario([run(1, { ...ROUND, ...ZERO, rpsRatio: 1.3 }), run(2, { ...ROUND, ...ZERO, rpsRatio: 0.9 })])));
  t.match(noisy, /Target \(issue 13\): inconclusive; inconclusive: the rounds disagree/);
  t.match(fired, /Doubtful runs:\n\n- round 1, meshlet L7: resilience fired/);

  const none = renderReport(results(scenario([])));
  t.match(none, /\| requests \(\/s\) \| failed \| failed \| failed \|/, 'no runs: every cell says so');
  t.notMatch(none, /undefined|NaN/);
});

t.test('the agent-log reader: the last snapshot version, only new bytes, partial and overlong lines', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-resilience-log-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, 'node1.log');
  const line = (msg: string, version: string): string => `${JSON.stringify({ level: 30, msg, version })}\n`;
  const reader = new AppliedVersionReader(file, 256);
  t.equal(reader.read(), undefined, 'no log yet');
  writeFileSync(file, line('snapshot applied', 'v1') + line('request completed', 'x') + line('snapshot applied', 'v2'));
  t.equal(reader.read(), 'v2', 'the last one');
  appendFileSync(file, line('snapshot applied', 'v3').slice(0, 20));
  t.equal(reader.read(), 'v2', 'a partial line is not read yet');
  appendFileSync(file, line('snapshot applied', 'v3').slice(20));
  t.equal(reader.read(), 'v3', 'read once whole');
  appendFileSync(file, `${'y'.repeat(1000)}"snapshot applied"\n${line('snapshot applied', 'v4')}`);
  t.equal(reader.read(), 'v4', 'a line longer than a piece is skipped, the next one read');
  appendFileSync(file, `{"msg":"snapshot applied","version":7}\nnot json "snapshot applied"\n`);
  t.equal(reader.read(), 'v4', 'a version that is not a string, and a line that is not JSON, change nothing');
  const fresh = new AppliedVersionReader(file, 256);
  t.equal(fresh.read(), 'v4', 'a new reader reads the whole log');
});

t.test('registered: a lab scenario after the other L7 ones, selectable, with its runner', async (t) => {
  t.equal(resilienceScenario().id, RESILIENCE_SCENARIO_ID);
  t.same(resilienceScenario().paths, ['meshlet-l7'], 'meshlet L7 only: no HAProxy pair started for it');
  const ids = scenarioSpecs({ latencyRates: [1_000], idleConnections: 1 }).map((s) => s.id);
  t.equal(ids.indexOf(RESILIENCE_SCENARIO_ID), ids.indexOf('l7-latency-1000') + 1);
  t.ok(LAB_SCENARIO_IDS.includes(RESILIENCE_SCENARIO_ID));
  const only = benchOptions({ only: RESILIENCE_SCENARIO_ID });
  t.same(only.only, [RESILIENCE_SCENARIO_ID]);
  t.equal(runsLab(only), true, 'it needs the lab');
  t.equal(typeof loadRunnerFor(RESILIENCE_SCENARIO_ID), 'function');
  try {
    benchOptions({ only: 'l7-resilience-typo' });
    t.fail('an unknown id was accepted');
  } catch (err) {
    t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), 'a near miss is refused');
  }
});

t.test('ratioInterval: the geometric mean and Student t interval of log ratios', async (t) => {
  t.equal(ratioInterval([1.1]), undefined, 'one round has no spread');
  const same = ratioInterval([1.02, 1.02, 1.02]);
  t.equal(same?.mean.toFixed(6), '1.020000');
  t.equal(same?.low.toFixed(6), '1.020000', 'no spread: a point');
  const sym = ratioInterval([0.8, 1.25]);
  t.equal(sym?.mean.toFixed(6), '1.000000', '0.8x and 1.25x are symmetric about 1');
  t.ok((sym?.low ?? 1) < 0.5, 'two rounds: a wide interval (t = 6.3)');
  t.equal(t95(1), 6.314);
  t.equal(t95(29), 1.699);
  t.equal(t95(1000), 1.645);
  t.equal(t95(0), Infinity);
  t.equal(ratioInterval([0, -1, Number.NaN, 1.1]), undefined, 'non-positive and non-finite ratios are not rounds');
});

t.test('poolResults: the rounds of several runs as one, renumbered; runs taken differently refused', async (t) => {
  const a = results(scenario([run(1, { ...ROUND, ...ZERO, cpuPer1kRatio: 1.2 }), run(2, { ...ROUND, ...ZERO })]));
  const b = { ...results(scenario([run(1, { ...ROUND, ...ZERO, cpuPer1kRatio: 0.9 })])), startedAt: '2026-12-06T22:00:00.000Z', finishedAt: '2026-12-07T01:00:00.000Z' };
  const pooled = poolResults([{ name: 'a.json', results: a }, { name: 'b.json', results: b }]);
  const runs = pooled.scenarios[0]?.runs ?? [];
  t.same(runs.map((r) => r.round), [1, 2, 3], 'the second run\'s rounds follow the first\'s');
  t.same(runs.map((r) => r.values['cpuPer1kRatio']), [1.2, 1.03, 0.9]);
  t.equal(pooled.startedAt, '2026-12-06T22:00:00.000Z', 'the earliest start');
  t.equal(pooled.finishedAt, '2026-12-07T01:00:00.000Z', 'the latest end');
  t.match(pooled.notes[0] ?? '', /rounds pooled from 2 runs: a\.json, b\.json/);
  const refused = (files: Parameters<typeof poolResults>[0], why: RegExp, what: string): void => {
    t.throws(() => poolResults(files), why, what);
  };
  refused([{ name: 'a.json', results: a }], /at least two/, 'one file is no pool');
  refused([{ name: 'a.json', results: a }, { name: 'c.json', results: { ...b, mode: 'full' } }], /c\.json is a full run, the first file a quick run/, 'another mode');
  refused([{ name: 'a.json', results: a }, { name: 'c.json', results: { ...b, paths: ['direct', 'meshlet-l7'] } }], /c\.json ran paths direct, meshlet-l7/, 'other paths');
  refused([{ name: 'a.json', results: a }, { name: 'c.json', results: { ...b, profile: true } }], /profile run/, 'a profile run');
  refused([{ name: 'a.json', results: a }, { name: 'c.json', results: { ...b, format: 'other/1' } as unknown as BenchResults }], /not a meshlet bench results file/, 'another format');
  refused(Array.from({ length: 21 }, (_, i) => ({ name: `${i}.json`, results: a })), /at most 20/, 'a bounded number of files');
});
