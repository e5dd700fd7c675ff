import t from 'tap';
import type { BenchResults, PathName, RunRecord, ScenarioResult } from '../../../bench/bench-types.js';
import { renderReport } from '../../../bench/report-markdown.js';
import { renderScalingReport, scalingNotes, scalingTable, type ScalingResults, type ScalingRun } from '../../../bench/scaling-report.js';
import { scenarioSpecs } from '../../../bench/scenarios.js';

function run(path: PathName, round: number, values: Record<string, number>, error?: string): RunRecord {
  return { round, path, values, wallMs: 1000, ...(error === undefined ? {} : { error }) };
}

/** A run's results with bulk-8 and http-rps: meshlet and HAProxy figures times `scale`. */
function results(workers: number, scale: { meshlet: number; haproxy: number }, notes: string[] = []): BenchResults {
  const specs = scenarioSpecs({ latencyRates: [10_000], idleConnections: 10 }).filter((s) => s.id === 'bulk-8' || s.id === 'http-rps');
  const runs: Record<string, RunRecord[]> = {
    'bulk-8': [
      run('direct', 1, { gbps: 10 }),
      run('meshlet', 1, { gbps: 2 * scale.meshlet, cpuPerGiB: 1, peakRssMiB: 100 * workers }),
      run('meshlet', 2, { gbps: 2 * scale.meshlet, cpuPerGiB: 1, peakRssMiB: 100 * workers }),
      run('haproxy', 1, { gbps: 4 * scale.haproxy, cpuPerGiB: 0.5, peakRssMiB: 20 }),
    ],
    'http-rps': [run('direct', 1, { rps: 50_000, p50Ms: 1, p99Ms: 2 }), run('meshlet', 1, { rps: 16_000 * scale.meshlet, p50Ms: 3, p99Ms: 6, cpuPer1k: 0.06, peakRssMiB: 90 }), run('haproxy', 1, {}, 'wrk completed no request')],
  };
  const scenarios: ScenarioResult[] = specs.map((s) => ({ ...s, runs: runs[s.id] ?? [] }));
  return {
    format: 'meshlet-bench/1',
    mode: 'quick',
    profile: false,
    startedAt: '2026-12-07T12:00:00.000Z',
    finishedAt: '2026-12-07T12:02:00.000Z',
    machine: { cores: 2, cpuModel: 'cpu', memoryGiB: 8, kernel: 'Linux 6', node: 'v20.0.0', haproxy: 'HAProxy 2.6', iperf3: '3.12', sockperf: '3.7', wrk: '4.1', fdLimit: 20000 },
    loadAverage: { start: 0.5, end: 2 },
    paths: ['direct', 'meshlet', 'haproxy'],
    parameters: { rounds: 2, 'agent workers': workers, 'HAProxy threads': workers, 'CPU pinning': 'proxies on CPU 1' },
    tls: {},
    notes,
    scenarios,
  };
}

function series(): ScalingResults {
  const runs: ScalingRun[] = [
    { workers: 1, file: 'x-w1.json', results: results(1, { meshlet: 1, haproxy: 1 }) },
    { workers: 2, file: 'x-w2.json', results: results(2, { meshlet: 1.5, haproxy: 1.25 }, ['something odd']) },
  ];
  return { format: 'meshlet-bench-scaling/1', mode: 'quick', startedAt: '2026-12-07T12:00:00.000Z', finishedAt: '2026-12-07T12:05:00.000Z', pinning: 'proxies on CPU 1', proxyCpus: 1, runs };
}

t.test('the scaling table: a column per count, medians with the ratio to the first', async (t) => {
  const table = scalingTable(series().runs);
  const lines = table.split('\n');
  t.equal(lines[0], '| scenario: figure | path | 1 worker | 2 workers |');
  t.equal(lines[1], '|---|---|---:|---:|');
  t.ok(lines.includes('| bulk-8: throughput (Gbit/s) | meshlet | 2.00 | 3.00 (1.50x) |'), 'meshlet bulk 2 -> 3 Gbit/s');
  t.ok(lines.includes('| bulk-8: throughput (Gbit/s) | HAProxy pair | 4.00 | 5.00 (1.25x) |'), 'HAProxy 4 -> 5');
  t.ok(lines.includes('| bulk-8: throughput (Gbit/s) | direct | 10.00 | 10.00 (1.00x) |'), 'direct shown as the noise reference');
  t.ok(lines.includes('| bulk-8: throughput (Gbit/s) | meshlet/HAProxy | 0.50x | 0.60x |'), 'meshlet against HAProxy per count');
  t.ok(lines.includes('| bulk-8: proxy CPU per GiB (s) | meshlet | 1.00 | 1.00 (1.00x) |'));
  t.ok(lines.includes('| bulk-8: proxies peak RSS (sum) (MiB) | meshlet | 100.0 | 200.0 (2.00x) |'), 'memory per worker shows');
  t.equal(lines.filter((l) => l.startsWith('| bulk-8: proxy CPU per GiB (s) | direct')).length, 0, 'no proxy figure for the direct path');
  t.ok(lines.includes('| http-rps: requests (/s) | meshlet | 16,000 | 24,000 (1.50x) |'));
  t.ok(lines.includes('| http-rps: requests (/s) | HAProxy pair | failed | failed |'), 'a failed path says so');
  t.ok(lines.includes('| http-rps: requests (/s) | meshlet/HAProxy | — | — |'), 'no ratio without both');
  t.ok(lines.includes('| http-rps: latency p99 (ms) | meshlet | 6.00 | 6.00 (1.00x) |'));
  t.equal(lines.filter((l) => l.includes('latency p50')).length, 0, 'the closed-loop p50 is left to the runs\' own reports');
  t.throws(() => scalingTable([]), { code: 'MESHLET_ERR_CONFIG_INVALID' });
});

t.test('the scaling report: facts, notes, doubtful runs', async (t) => {
  const md = renderScalingReport(series());
  t.match(md, /^# meshlet benchmark: scaling with workers, quick run, 2026-12-07\n/);
  t.match(md, /1 worker: `x-w1\.json`, 2 workers: `x-w2\.json`/);
  t.match(md, /- CPU pinning: proxies on CPU 1\./);
  t.match(md, /- Note: 2 workers: more than the 1 CPU the proxies may use; the workers \(and HAProxy's threads\) then take turns on it/);
  t.match(md, /- Note: 2 workers: something odd/, 'each run\'s own notes, with its count');
  t.match(md, /- Per run: rounds 2\./, 'the runs\' parameters, without the ones the series varies');
  t.notMatch(md, /- Per run: [^\n]*agent workers/);
  t.match(md, /- 1 worker, http-rps, round 1, HAProxy pair: wrk completed no request/);
  t.same(scalingNotes({ proxyCpus: 4, runs: series().runs }), [], 'no note when every count has its CPUs');
});

t.test('a run report shows the pinning with the machine, not among the parameters', async (t) => {
  const md = renderReport(results(1, { meshlet: 1, haproxy: 1 }));
  t.match(md, /\| CPU pinning \| proxies on CPU 1 \|/);
  t.match(md, /- rounds 2, agent workers 1, HAProxy threads 1\./);
  const { 'CPU pinning': _gone, ...older } = results(1, { meshlet: 1, haproxy: 1 }).parameters;
  t.notMatch(renderReport({ ...results(1, { meshlet: 1, haproxy: 1 }), parameters: older }), /CPU pinning/, 'older results: no row');
});
