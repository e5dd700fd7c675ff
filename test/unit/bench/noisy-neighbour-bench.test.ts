/**
 * The `noisy-neighbour` scenario's pure parts: a round's values and within-round ratios, the
 * checks against issue 18's bar, the report's lines, where the scenario is listed, and the
 * flooding pods of the lab.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadStaticSnapshot } from '../../../src/cli/static-source.js';
import { planLab, renderLabConfig } from '../../../src/lab/index.js';
import { benchOptions, LAB_SCENARIO_IDS } from '../../../bench/bench-options.js';
import { benchTopology, FLOOD_PODS, FLOOD_SA, floodPodOf, PORTS } from '../../../bench/bench-topology.js';
import type { RunRecord, ScenarioResult } from '../../../bench/bench-types.js';
import { loadRunnerFor } from '../../../bench/load-runs.js';
import { NOISY_BAR, NOISY_NEIGHBOUR_ID, noisyBarLines, noisyChecks, noisyValues, type NoisyRound } from '../../../bench/noisy-neighbour-report.js';
import { renderReport } from '../../../bench/report-markdown.js';
import { noisyNeighbourScenario } from '../../../bench/scenarios.js';

const QUIET = { p50Us: 100, p99Us: 1000, rps: 5000 };

/** A round where the bulk flood doubles the quiet p50 and the small flood quadruples it. */
const ROUND: NoisyRound = {
  quiet: QUIET,
  floods: {
    bulk: { alone: 2, shared: 1.8, quiet: { p50Us: 200, p99Us: 2500, rps: 2600 }, loopP99Us: { node1: 900, node2: 300 } },
    small: { alone: 10_000, shared: 7000, quiet: { p50Us: 400, p99Us: 4000, rps: 1000 } },
  },
};

t.test('a round: raw figures and the ratios within it', async (t) => {
  const v = noisyValues(ROUND);
  t.equal(v['quietP50Us'], 100);
  t.equal(v['bulkP50x'], 2);
  t.equal(v['bulkP99x'], 2.5);
  t.equal(v['bulkRateShare'], 0.52);
  t.equal(v['bulkFloodShare'], 0.9);
  t.equal(v['bulkLoopP99Node1Us'], 900);
  t.equal(v['bulkLoopP99Node2Us'], 300);
  t.equal(v['smallP50x'], 4);
  t.equal(v['smallFloodShare'], 0.7);
  t.equal(v['smallLoopP99Node1Us'], undefined, 'no loop figure off the agent paths');
});

t.test('a ratio against a zero is left out, not Infinity', async (t) => {
  const v = noisyValues({ quiet: { p50Us: 0, p99Us: 0, rps: 0 }, floods: { bulk: { alone: 0, shared: 1, quiet: QUIET } } });
  t.equal(v['bulkP50x'], undefined);
  t.equal(v['bulkRateShare'], undefined);
  t.equal(v['bulkFloodShare'], undefined);
  t.equal(v['bulkQuietP50Us'], 100, 'the raw figure stays');
});

function scenario(runs: readonly RunRecord[]): ScenarioResult {
  return { ...noisyNeighbourScenario(), runs };
}

function run(round: number, path: RunRecord['path'], r: NoisyRound): RunRecord {
  return { round, path, values: noisyValues(r), wallMs: 1 };
}

t.test('the checks take the median of the rounds\' ratios and compare with the bar', async (t) => {
  const worse: NoisyRound = { ...ROUND, floods: { ...ROUND.floods, bulk: { alone: 2, shared: 1.8, quiet: { p50Us: 900, p99Us: 9000, rps: 500 } } } };
  // Three rounds: the median one is ROUND (p50 2x), the outlier does not decide.
  const s = scenario([run(1, 'meshlet', ROUND), run(2, 'meshlet', worse), run(3, 'meshlet', ROUND)]);
  const checks = noisyChecks(s, ['meshlet']);
  t.equal(checks.length, 8, 'four checks per flood');
  const get = (kind: string, prefix: string): (typeof checks)[number] | undefined => checks.find((c) => c.kind === kind && c.what.startsWith(prefix));
  t.equal(get('bulk', 'quiet p50')?.value, 2);
  t.equal(get('bulk', 'quiet p50')?.meets, true, `2x meets <= ${NOISY_BAR.p50x}`);
  t.equal(get('bulk', 'quiet rate')?.meets, true, '0.52 meets >= 0.5');
  t.equal(get('small', 'quiet p50')?.meets, false, '4x falls short');
  t.equal(get('small', 'flood beside')?.meets, false, '0.7 falls short of 0.8');
});

t.test('a path without figures is not measured, not a pass', async (t) => {
  const s = scenario([run(1, 'meshlet', ROUND)]);
  const direct = noisyChecks(s, ['direct', 'meshlet']).filter((c) => c.path === 'direct');
  t.equal(direct.length, 8);
  t.same([...new Set(direct.map((c) => c.meets))], [undefined]);
  const lines = noisyBarLines(s, ['direct', 'meshlet']);
  t.ok(lines.includes('| direct | bulk flood (iperf3 -P 8) | quiet p50 flooded / alone <= 2 | — | not measured |'));
  t.ok(lines.includes('| meshlet | small-request flood (wrk -c64) | quiet p50 flooded / alone <= 2 | 4.00x | **falls short** |'));
});

t.test('the report shows the table and the bar', async (t) => {
  const s = scenario([run(1, 'meshlet', ROUND)]);
  const md = renderReport({
    format: 'meshlet-bench/1', mode: 'quick', profile: false, startedAt: '2026-12-07T00:00:00Z', finishedAt: '2026-12-07T00:01:00Z',
    machine: { cores: 2, cpuModel: 'x', memoryGiB: 4, kernel: 'k', node: 'v20', haproxy: 'h', iperf3: 'i', sockperf: 's', wrk: 'w', fdLimit: 1024 },
    loadAverage: { start: 0, end: 0 }, paths: ['meshlet'], parameters: {}, tls: {}, notes: [], scenarios: [s],
  });
  t.match(md, /\| bulk: quiet p50, flooded \/ alone \(bar <= 2\) \(x\) \| 2\.00 \|/);
  t.match(md, /\| meshlet \| bulk flood \(iperf3 -P 8\) \| quiet p50 flooded \/ alone <= 2 \| 2\.00x \| meets \|/);
});

t.test('listed with the lab scenarios, with a runner', async (t) => {
  t.ok(LAB_SCENARIO_IDS.includes(NOISY_NEIGHBOUR_ID));
  t.equal(typeof loadRunnerFor(NOISY_NEIGHBOUR_ID), 'function');
});

t.test('the lab has a flooding pod beside each client, a workload of its own', async (t) => {
  const topo = benchTopology('nn');
  const meshed = topo.pods.find((p) => p.name === FLOOD_PODS.meshed);
  t.equal(meshed?.node, 'node1');
  t.equal(meshed?.serviceAccount, FLOOD_SA);
  t.not(FLOOD_SA, topo.pods.find((p) => p.name === 'mclient')?.serviceAccount);
  t.equal(topo.pods.find((p) => p.name === FLOOD_PODS.plain)?.node, 'node1');
  t.equal(floodPodOf({ clientPod: 'mclient' }), FLOOD_PODS.meshed);
  t.equal(floodPodOf({ clientPod: 'pclient' }), FLOOD_PODS.plain);
  t.ok(topo.services[0]?.ports.some((p) => p.port === PORTS.flood), 'the flood origin is a Service port (the meshed path reaches it)');
});

t.test('--flood-share annotates the meshed flood pod only, and the agents read it as its share limit', async (t) => {
  const plain = benchTopology('bench');
  t.equal(plain.pods.find((p) => p.name === FLOOD_PODS.meshed)?.annotations, undefined, 'no flag: no annotation');
  const shared = benchTopology('bench', { floodShare: 30 });
  t.same(shared.pods.find((p) => p.name === FLOOD_PODS.meshed)?.annotations, { 'meshlet.io/max-agent-share': '30%' });
  t.equal(shared.pods.find((p) => p.name === FLOOD_PODS.plain)?.annotations, undefined, 'the plain flood is no agent\'s');
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-noisy-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  for (const [file, text] of renderLabConfig(planLab(shared))) writeFileSync(join(dir, file), text);
  const snap = await loadStaticSnapshot(dir, 'node1', 'cluster.local');
  t.same(snap.localWorkloads.find((w) => w.name === FLOOD_PODS.meshed)?.limits, { maxAgentShare: 30 }, 'node1\'s agent holds the flood to 30%');
  t.equal(benchOptions({ floodShare: '30' }).floodShare, 30);
  t.equal(benchOptions({}).floodShare, undefined);
  for (const bad of ['0', '101', 'half', '2.5']) t.throws(() => benchOptions({ floodShare: bad }), /--flood-share must be an integer from 1 to 100/, `--flood-share ${bad}`);
});
