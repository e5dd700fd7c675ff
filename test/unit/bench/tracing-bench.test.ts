/**
 * The `l7-tracing` scenario of `npm run bench`: the span counter against the official decoder
 * and against broken bodies; the sink process (on 127.0.0.1, no lab) counting per path,
 * refusing what is not an export, keeping decoded spans; the Telemetry it writes, as the
 * agents' own loader reads it; a round's values and the checks that catch tracing doing
 * nothing or never stopping; the report's section; and its registration as a lab scenario.
 */
import t, { type Test } from 'tap';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { encodeSpans } from '../../../src/agent/trace/otlp-encode.js';
import { SPAN_KIND_CLIENT, SPAN_KIND_SERVER, type SpanData, type SpanResource } from '../../../src/agent/trace/span-data.js';
import { loadStaticSnapshot } from '../../../src/cli/static-source.js';
import { planLab, renderLabConfig } from '../../../src/lab/index.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { benchOptions, LAB_SCENARIO_IDS } from '../../../bench/bench-options.js';
import { benchTopology, MESHED_NAMESPACE } from '../../../bench/bench-topology.js';
import type { BenchResults, RunRecord, ScenarioResult } from '../../../bench/bench-types.js';
import { loadRunnerFor } from '../../../bench/load-runs.js';
import { renderReport } from '../../../bench/report-markdown.js';
import { scenarioSpecs, tracingScenario } from '../../../bench/scenarios.js';
import { collectorPath, telemetryYaml, TRACING_CONFIG_FILE, TRACING_SCENARIO_ID, TRACING_VARIANTS } from '../../../bench/tracing-policy.js';
import { combineTracing, MIN_REQUESTS_FOR_1_PERCENT, TRACING_METRICS, tracingCheck, type TracingLoad, type TracingRoundCounters } from '../../../bench/tracing-report.js';
import type { SinkCounts } from '../../../bench/tracing-sink-client.js';
import { countSpans } from '../../../bench/tracing-span-count.js';

const SINK_JS = fileURLToPath(new URL('../../../bench/tracing-sink.js', import.meta.url));
const res = (service: string): SpanResource => ({ key: service, attributes: [['service.name', service]] });
const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

/** `n` pairs of CLIENT and SERVER spans over two resources, with attributes of every kind. */
function spans(n: number): SpanData[] {
  const out: SpanData[] = [];
  for (let i = 0; i < n; i++) {
    const id = (i + 1).toString(16).padStart(16, '0');
    out.push({ context: { traceId: TRACE, spanId: id, sampled: true }, name: 'GET', kind: SPAN_KIND_CLIENT, startNs: 1n, endNs: 2n, attributes: [['url.path', 'x'.repeat(300)], ['n', i], ['b', true], ['r', 0.5]], resource: res('client') });
    out.push({ context: { traceId: TRACE, spanId: id.replace(/^0/, 'f'), parentSpanId: id, sampled: true }, name: 'GET', kind: SPAN_KIND_SERVER, startNs: 3n, endNs: 4n, attributes: [], error: 'HTTP 503', resource: res('server') });
  }
  return out;
}

t.test('countSpans counts what the official decoder decodes, kinds apart', async (t) => {
  t.same(countSpans(encodeSpans(spans(3), '1')), { spans: 6, client: 3, server: 3 });
  t.same(countSpans(encodeSpans(spans(300), '1')), { spans: 600, client: 300, server: 300 }, 'lengths of several varint bytes');
  t.same(countSpans(new Uint8Array(0)), { spans: 0, client: 0, server: 0 }, 'an empty request has no span');
});

t.test('countSpans refuses what is not an export, naming the fault', async (t) => {
  const body = encodeSpans(spans(2), '1');
  const cases: [string, Uint8Array, RegExp][] = [
    ['truncated', body.subarray(0, body.length - 5), /runs past its message|truncated/],
    ['a length past the end', Buffer.from([0x0a, 0x7f, 0x00]), /field 1 of 127 bytes runs past/],
    ['wire type 3 (groups)', Buffer.from([0x0b]), /wire type 3/],
    ['field number 0', Buffer.from([0x02, 0x00]), /field number 0/],
    ['an endless varint', Buffer.from([0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01]), /varint longer than 10 bytes/],
  ];
  for (const [what, b, msg] of cases) {
    let err: unknown;
    try {
      countSpans(b);
    } catch (e) {
      err = e;
    }
    t.ok(isMeshletError(err, 'MESHLET_ERR_HOST_TOOL'), `${what}: MESHLET_ERR_HOST_TOOL`);
    t.match((err as Error | undefined)?.message, msg, what);
  }
});

/** The sink on 127.0.0.1 in a child process, and its stdin/stdout protocol. */
async function sink(t: Test, decode: boolean): Promise<{ url: string; ask(cmd: string): Promise<Record<string, unknown>>; end(): Promise<number | null> }> {
  const child = spawn(process.execPath, [SINK_JS, '0', '--host=127.0.0.1', ...(decode ? ['--decode'] : [])], { stdio: ['pipe', 'pipe', 'inherit'] });
  t.teardown(() => void child.kill('SIGKILL'));
  let buf = '';
  const lines: string[] = [];
  let wake: (() => void) | undefined;
  child.stdout.on('data', (c: Buffer) => {
    buf += c.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    lines.push(...parts);
    wake?.();
  });
  const next = async (): Promise<Record<string, unknown>> => {
    const deadline = Date.now() + 20_000;
    while (lines.length === 0) {
      if (Date.now() > deadline) throw new Error('the sink said nothing within 20 s');
      await new Promise<void>((r) => {
        wake = r;
        setTimeout(r, 200);
      });
    }
    return JSON.parse(lines.shift() as string) as Record<string, unknown>;
  };
  const first = await next();
  return {
    url: `http://127.0.0.1:${String(first['listening'])}`,
    ask: async (cmd) => {
      child.stdin.write(`${cmd}\n`);
      return next();
    },
    end: async () => {
      child.stdin.end();
      const [code] = (await once(child, 'exit')) as [number | null];
      return code;
    },
  };
}

const post = (url: string, body: Uint8Array, type = 'application/x-protobuf', method = 'POST'): Promise<Response> => fetch(url, { method, headers: { 'content-type': type }, ...(method === 'POST' ? { body } : {}) });

t.test('the sink counts spans per collector path and refuses what is not an export', async (t) => {
  const s = await sink(t, false);
  const a = await post(`${s.url}${collectorPath(1)}`, encodeSpans(spans(5), '1'));
  t.equal(a.status, 200, 'an export is answered 200');
  t.equal(a.headers.get('content-type'), 'application/x-protobuf');
  t.equal((await post(`${s.url}${collectorPath(1)}`, encodeSpans(spans(2), '1'))).status, 200);
  t.equal((await post(`${s.url}${collectorPath(2)}`, encodeSpans(spans(1), '1'))).status, 200);
  t.equal((await post(`${s.url}/junk`, Buffer.from([0x0a, 0x7f]))).status, 400, 'a broken body is refused');
  t.equal((await post(`${s.url}/json`, Buffer.from('{}'), 'application/json')).status, 400, 'JSON is refused (protobuf only)');
  t.equal((await post(`${s.url}${collectorPath(1)}`, new Uint8Array(0), 'application/x-protobuf', 'GET')).status, 400, 'a GET is refused');
  const counts = (await s.ask('counts'))['counts'] as SinkCounts;
  t.same(counts.byPath[collectorPath(1)], { spans: 14, client: 7, server: 7, exports: 2 });
  t.same(counts.byPath[collectorPath(2)], { spans: 2, client: 1, server: 1, exports: 1 });
  t.same(counts.total, { spans: 16, client: 8, server: 8, exports: 3 });
  t.equal(counts.malformed, 3, 'three refusals counted');
  t.equal(counts.byPath['/junk'], undefined, 'a refused export counts no span');
  t.match(counts.problems[0], /\/junk: OTLP export is not a valid ExportTraceServiceRequest/);
  t.match(counts.problems[1], /content-type application\/json/);
  t.same(await s.ask('spans'), { spans: [] }, 'without --decode no span is kept');
  // The body bound: 16 MiB (an export of 512 spans is about 450 KiB); more is refused, not buffered.
  t.equal((await post(`${s.url}/big`, Buffer.alloc(16 * 1024 * 1024 + 1))).status, 413, 'an export over 16 MiB is refused');
  const after = (await s.ask('counts'))['counts'] as SinkCounts;
  t.equal(after.malformed, 4, 'and counted');
  t.match(after.problems[3], /\/big: export of 16777217 bytes, more than 16777216/);
  t.same(after.total, counts.total, 'it counts no span');
  for (let i = 0; i < 2; i++) await post(`${s.url}/junk`, Buffer.from([0x0b]));
  const capped = (await s.ask('counts'))['counts'] as SinkCounts;
  t.equal(capped.malformed, 6, 'every refusal is counted');
  t.equal(capped.problems.length, 5, 'the first five are kept in words (the answer stays small)');
  t.match((await s.ask('bogus'))['error'], /unknown command "bogus"/);
  t.equal(await s.end(), 0, 'the sink exits when its stdin ends');
});

t.test('with --decode the sink keeps every span, decoded by the official definitions', async (t) => {
  const s = await sink(t, true);
  t.equal((await post(`${s.url}/v1/traces`, encodeSpans(spans(2), '1'))).status, 200);
  const got = (await s.ask('spans'))['spans'] as { traceId: string; kind: number; parentSpanId: string; spanId: string }[];
  t.equal(got.length, 4);
  t.same(got.map((x) => x.kind).sort(), [2, 2, 3, 3]);
  t.equal(got.find((x) => x.kind === 2)?.traceId, TRACE);
  t.equal(await s.end(), 0);
});

t.test('the Telemetry it writes: the agents\' own loader takes it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-tracing-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [file, text] of renderLabConfig(planLab(benchTopology('bench')))) writeFileSync(join(dir, file), text);
  const collector = `http://198.18.2.3:4318${collectorPath(7)}`;
  writeFileSync(join(dir, TRACING_CONFIG_FILE), telemetryYaml(MESHED_NAMESPACE, collector, 100));
  const snap = await loadStaticSnapshot(dir, 'node1', 'cluster.local');
  t.same(snap.telemetry?.map((x) => ({ ns: x.namespace, tracing: x.tracing })), [{ ns: MESHED_NAMESPACE, tracing: { collector, samplingPercentage: 100 } }]);
  writeFileSync(join(dir, TRACING_CONFIG_FILE), '');
  t.same((await loadStaticSnapshot(dir, 'node1', 'cluster.local')).telemetry ?? [], [], 'an empty file: no tracing');
});

const COUNTERS: TracingRoundCounters = { exported: 2002, dropped: 0, malformed: 0, problems: [] };
const load = (rps: number, cpu: number, requests: number, spans: number): TracingLoad => ({
  outcome: { values: { rps, p50Ms: 10, p99Ms: 20, cpuPer1k: cpu, peakRssMiB: 300 } },
  requests,
  destinationRequests: requests,
  spans,
  clientSpans: spans / 2,
  serverSpans: spans / 2,
});
const GOOD = { Off: load(4000, 0.5, 20_000, 0), On100: load(3600, 0.6, 1000, 2000), On1: load(3900, 0.52, 19_500, 2) };

t.test('a round: each figure per configuration, ratios on/off, spans per request', async (t) => {
  const r = combineTracing(GOOD, COUNTERS);
  t.equal(r.error, undefined, 'a round where tracing did what it was set to do is not flagged');
  t.equal(r.values['rpsOff'], 4000);
  t.equal(r.values['rpsRatio100'], 0.9);
  t.equal(r.values['cpuPer1kRatio100'], 0.6 / 0.5);
  t.equal(r.values['cpuPer1kRatio1'], 0.52 / 0.5);
  t.equal(r.values['spansPerRequestOn100'], 2);
  t.equal(r.values['spansPerRequestOn1'], 2 / 19_500);
  t.equal(r.values['spansOff'], 0);
  t.equal(r.values['spansExported'], 2002);
  t.equal(r.values['offFirst'], 1, 'the order, recorded');
  t.equal(combineTracing(GOOD, COUNTERS, false).values['offFirst'], 0);
  t.same(TRACING_METRICS.map((m) => m.key).filter((k) => r.values[k] === undefined), [], 'every metric has a value');
});

t.test('the checks: spans with tracing off, none at 100%, a wrong count, lost or refused spans', async (t) => {
  const flag = (loads: Partial<typeof GOOD>, counters = COUNTERS): string => combineTracing(loads, counters).error ?? '';
  t.match(flag({ ...GOOD, Off: load(4000, 0.5, 20_000, 12) }), /the sink received 12 spans with tracing off/);
  t.match(flag({ ...GOOD, On100: load(3600, 0.6, 1000, 0) }), /no span with tracing on at 100% \(1000 requests\): tracing did nothing/);
  t.match(flag({ ...GOOD, On100: load(3600, 0.6, 1000, 1000) }), /500 CLIENT and 500 SERVER spans at 100% for 1000 requests at the source agent and 1000 at the destination agent/);
  t.equal(flag({ ...GOOD, On100: load(3600, 0.6, 1000, 2018) }), '', 'within 1% of one span a request at each agent passes');
  t.match(flag({ ...GOOD, On100: load(3600, 0.6, 1000, 2022) }), /1011 CLIENT and 1011 SERVER spans at 100%/, 'beyond 1% is flagged');
  const retried = { ...load(3600, 0.6, 1000, 2030), clientSpans: 1000, serverSpans: 1030, destinationRequests: 1030 };
  t.equal(flag({ ...GOOD, On100: retried }), '', 'a request tried twice at the destination: a SERVER span per try');
  t.match(flag({ ...GOOD, On100: { ...retried, destinationRequests: 1000 } }), /1030 SERVER spans/, 'SERVER spans beyond the destination agent\'s requests are flagged');
  t.match(flag({ ...GOOD, On1: load(3900, 0.52, MIN_REQUESTS_FOR_1_PERCENT, 0) }), /no span at 1% over 1000 requests/);
  t.equal(flag({ ...GOOD, On1: load(3900, 0.52, MIN_REQUESTS_FOR_1_PERCENT - 1, 0) }), '', 'fewer requests at 1% may give no span');
  t.match(flag(GOOD, { ...COUNTERS, dropped: 40 }), /the agents dropped 40 spans/);
  t.match(flag(GOOD, { ...COUNTERS, malformed: 1, problems: ['/x: bad'] }), /the sink refused 1 exports: \/x: bad/);
  const failedLoad = combineTracing({ ...GOOD, Off: { ...GOOD.Off, outcome: { values: {}, error: 'wrk completed no request' } } }, COUNTERS);
  t.match(failedLoad.error, /tracing off: wrk completed no request/, 'a load generator\'s error names the configuration');
  t.equal(failedLoad.values['rpsRatio100'], undefined, 'no ratio without the off figure');
});

function scenario(rounds: RunRecord[]): ScenarioResult {
  return { ...tracingScenario(), runs: rounds };
}
const run = (round: number, o: { values: Readonly<Record<string, number>>; error?: string }): RunRecord => ({ round, path: 'meshlet-l7', values: o.values, ...(o.error === undefined ? {} : { error: o.error }), wallMs: 1 });

t.test('the spans check over the rounds', async (t) => {
  const good = scenario([run(1, combineTracing(GOOD, COUNTERS)), run(2, combineTracing(GOOD, COUNTERS))]);
  t.same(tracingCheck(good).ok, true);
  t.match(tracingCheck(good).detail, /4,000 spans for 2,000 requests at 100% \(2\.000 a request\), 0 with tracing off/);
  const leaked = scenario([run(1, combineTracing(GOOD, COUNTERS)), run(2, combineTracing({ ...GOOD, Off: load(4000, 0.5, 20_000, 3) }, COUNTERS))]);
  t.equal(tracingCheck(leaked).ok, false);
  t.match(tracingCheck(leaked).detail, /tracing did not stop: the sink received 3 spans with tracing off/);
  const silent = scenario([run(1, combineTracing({ ...GOOD, On100: load(3600, 0.6, 1000, 0) }, COUNTERS))]);
  t.equal(tracingCheck(silent).ok, false);
  t.match(tracingCheck(silent).detail, /tracing did nothing/);
  const dropped = scenario([run(1, combineTracing(GOOD, { ...COUNTERS, dropped: 5 })), run(2, combineTracing(GOOD, COUNTERS))]);
  t.equal(tracingCheck(dropped).ok, true, 'spans dropped under load: tracing worked, the round is doubtful');
  t.match(tracingCheck(dropped).detail, /1 round\(s\) doubtful: spans dropped or not one per request/);
  const uneven = scenario([run(1, combineTracing({ ...GOOD, On100: { ...GOOD.On100, serverSpans: 900 } }, COUNTERS))]);
  t.equal(tracingCheck(uneven).ok, true);
  t.match(tracingCheck(uneven).detail, /1 round\(s\) doubtful/, 'SERVER spans short of the destination agent\'s requests: doubtful');
  const refused = scenario([run(1, combineTracing(GOOD, { ...COUNTERS, malformed: 2, problems: ['/x: bad'] }))]);
  t.equal(tracingCheck(refused).ok, false, 'an export that is not OTLP fails the check');
  t.match(tracingCheck(refused).detail, /the sink refused 2 exports/);
  const silentRound = scenario([run(1, combineTracing(GOOD, COUNTERS)), run(2, combineTracing({ ...GOOD, On100: load(3600, 0.6, 1000, 0) }, COUNTERS))]);
  t.equal(tracingCheck(silentRound).ok, false, 'one round with no span at 100% fails, though another had some');
  t.match(tracingCheck(silentRound).detail, /no span at 100% in 1 round/);
  const silentLow = scenario([run(1, combineTracing({ ...GOOD, On1: load(3900, 0.52, MIN_REQUESTS_FOR_1_PERCENT, 0) }, COUNTERS))]);
  t.equal(tracingCheck(silentLow).ok, false, 'no span at 1% over 1,000 requests fails');
  const slow = scenario([run(1, combineTracing({ ...GOOD, Off: { ...GOOD.Off, outcome: { ...GOOD.Off.outcome, error: '3 errors in 9000 requests' } } }, COUNTERS))]);
  t.equal(tracingCheck(slow).ok, true, 'a load generator\'s error alone does not fail the spans check');
  t.equal(tracingCheck(scenario([])).ok, undefined, 'no round: not measured');
});

t.test('the report: the three configurations, the ratios with their interval, the spans', async (t) => {
  const s = scenario([1, 2, 3].map((r) => run(r, combineTracing(GOOD, COUNTERS, r % 2 === 1))));
  const results = { format: 'meshlet-bench/1', mode: 'quick', profile: false, startedAt: '2026-12-07T00:00:00Z', finishedAt: '2026-12-07T00:01:00Z', machine: { cores: 2, cpuModel: 'x', memoryGiB: 4, kernel: 'k', node: 'v24', haproxy: 'h', iperf3: 'i', sockperf: 's', wrk: 'w', fdLimit: 1024 }, loadAverage: { start: 0, end: 0 }, paths: ['meshlet-l7'], parameters: {}, tls: {}, notes: [], scenarios: [s] } satisfies BenchResults;
  const md = renderReport(results);
  t.match(md, /## L7: the cost of tracing/);
  t.match(md, /Spans check: tracing verified; 6,000 spans for 3,000 requests/);
  t.match(md, /\| requests \(\/s\) \| 4,000 \(4,000–4,000\) \| 3,600 \(3,600–3,600\) \| 3,900 \(3,900–3,900\) \| 0\.900x \(0\.900–0\.900\); 90% interval 0\.900–0\.900x \|/);
  t.match(md, /\| 2 \| 1%, 100%, off \| 4,000 \/ 3,600 \/ 3,900 \| 0\.500 \/ 0\.600 \/ 0\.520 \| 1\.200x \| 1\.040x \| 0\.900x \| 2\.000 \|/, 'a row per round, its order');
  t.match(md, /\| tracing on, 100% sampled \| 3,000 \/ 3,000 \| 6,000 \| 3,000 \/ 3,000 \| 2\.000 \|/);
  t.match(md, /\| tracing off \| 60,000 \/ 60,000 \| 0 \| — \| 0\.000 \|/);
  const failed = renderReport({ ...results, scenarios: [scenario([run(1, combineTracing({ ...GOOD, Off: load(4000, 0.5, 20_000, 9) }, COUNTERS))])] });
  t.match(failed, /Spans check: \*\*FAILED\*\*; tracing did not stop/);
  t.match(failed, /Doubtful runs:\n\n- round 1, meshlet L7: the sink received 9 spans with tracing off/);
});

t.test('registered: --only takes it, every mode runs it, a runner exists', async (t) => {
  t.ok(LAB_SCENARIO_IDS.includes(TRACING_SCENARIO_ID), 'a lab scenario');
  t.same(benchOptions({ only: TRACING_SCENARIO_ID }).only, [TRACING_SCENARIO_ID]);
  for (const mode of [{}, { quick: true }, { smoke: true }]) {
    t.ok(scenarioSpecs(benchOptions(mode)).some((s) => s.id === TRACING_SCENARIO_ID), `in ${JSON.stringify(mode)}`);
  }
  t.equal(typeof loadRunnerFor(TRACING_SCENARIO_ID), 'function');
  t.same(tracingScenario().paths, ['meshlet-l7']);
  t.same(TRACING_VARIANTS.map((v) => v.samplingPercentage), [undefined, 100, 1], 'off, 100% and 1%');
});
