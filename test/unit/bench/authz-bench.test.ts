/**
 * The `authz-1000` scenario of `npm run bench`: its options (selectable, run by default, no
 * lab when alone, iterations per mode), reading the child's JSON (untrusted: every figure is
 * checked), the target, the report's section, and the child process bounded (a failure is
 * recorded, not thrown).
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAuthzFigures, MAX_AUTHZ_OUTPUT_BYTES } from '../../../bench/authz-report.js';
import { runAuthzScenario } from '../../../bench/authz-scenario.js';
import { AUTHZ_SCENARIO_ID, benchOptions, LAB_SCENARIO_IDS, MAX_AUTHZ_ITERATIONS, runsAuthz, runsLab, SCENARIO_IDS } from '../../../bench/bench-options.js';
import type { AuthzFigures, AuthzScenarioResult, BenchResults } from '../../../bench/bench-types.js';
import { renderReport } from '../../../bench/report-markdown.js';
import { scenarioSpecs } from '../../../bench/scenarios.js';
import { authzVerdict, AUTHZ_CONNECTION_TARGET_NS } from '../../../bench/summary.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

const FIGURES: AuthzFigures = {
  format: 'meshlet-bench-authz/1',
  policies: 1000,
  workloads: 100,
  iterations: 2000,
  compileMs: { first: 6.43, median: 0.04, p99: 6.92, max: 10.61, total: 57.1 },
  typical: { policies: 79, rules: 97, compileMs: 0.04, connectionOpaqueNs: 6801, connectionHttpNs: 7225, requestNs: 7208 },
  worst: { policies: 87, rules: 115, compileMs: 0.05, connectionOpaqueNs: 7959, connectionHttpNs: 8826, requestNs: 9225 },
  noPolicyNs: 61,
  ipBlocks: { cidrs: 20, ipBlocksNs: 115, blockListNs: 2527 },
};

t.test('options: authz-1000 is a scenario id, run by default, alone without a lab', async (t) => {
  t.same(SCENARIO_IDS, [...LAB_SCENARIO_IDS, AUTHZ_SCENARIO_ID]);
  t.same(LAB_SCENARIO_IDS, scenarioSpecs({ latencyRates: [1_000, 10_000], idleConnections: 1 }).map((s) => s.id), 'every lab scenario id, and only those');
  const alone = benchOptions({ only: 'authz-1000' });
  t.same(alone.only, ['authz-1000']);
  t.equal(runsLab(alone), false, 'authz-1000 alone builds no lab');
  t.equal(runsAuthz(alone), true);
  t.equal(runsLab(benchOptions({})), true, 'a default run builds the lab');
  t.equal(runsAuthz(benchOptions({})), true, 'a default run measures authorization');
  t.equal(runsAuthz(benchOptions({ only: 'bulk-1' })), false);
  t.equal(runsLab(benchOptions({ only: 'bulk-1,authz-1000' })), true);
  t.equal(runsAuthz(benchOptions({ profile: true })), false, 'a profile run profiles the agents only');
  t.equal(runsAuthz(benchOptions({ profile: true, only: 'authz-1000' })), true, 'unless asked for by name');
});

t.test('options: authz iterations per mode, an override, and hostile values', async (t) => {
  t.equal(benchOptions({}).authzIterations, 200_000);
  t.equal(benchOptions({ quick: true }).authzIterations, 50_000);
  t.equal(benchOptions({ smoke: true }).authzIterations, 2_000, 'smoke: fewer iterations, the plumbing only');
  t.equal(benchOptions({ smoke: true, authzIterations: '500' }).authzIterations, 500);
  t.equal(benchOptions({ authzIterations: String(MAX_AUTHZ_ITERATIONS) }).authzIterations, MAX_AUTHZ_ITERATIONS);
  for (const bad of ['0', '-1', '1.5', 'x', '', String(MAX_AUTHZ_ITERATIONS + 1), '1e308']) {
    try {
      benchOptions({ authzIterations: bad });
      t.fail(`--authz-iterations ${JSON.stringify(bad)} was accepted`);
    } catch (err) {
      t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), `${JSON.stringify(bad)}: a configuration error`);
      t.match(String((err as Error).message), /--authz-iterations must be an integer from 1 to 10000000/);
    }
  }
});

t.test('the child\'s JSON: figures read, every bad one named', async (t) => {
  t.same(parseAuthzFigures(`warming up\n${JSON.stringify(FIGURES)}\n`), FIGURES, 'the last line is the JSON');
  t.throws(() => parseAuthzFigures(''), { code: 'MESHLET_ERR_HOST_TOOL' });
  t.throws(() => parseAuthzFigures('| table |'), /did not print JSON/);
  t.throws(() => parseAuthzFigures('[1,2]'), /format is not/);
  t.throws(() => parseAuthzFigures('null'), /figures is not an object/);
  t.throws(() => parseAuthzFigures(JSON.stringify({ ...FIGURES, format: 'other/1' })), /format is not "meshlet-bench-authz\/1"/);
  t.throws(() => parseAuthzFigures(JSON.stringify({ ...FIGURES, worst: { ...FIGURES.worst, connectionOpaqueNs: -1 } })), /worst\.connectionOpaqueNs is not a number >= 0: -1/);
  t.throws(() => parseAuthzFigures(JSON.stringify({ ...FIGURES, typical: { ...FIGURES.typical, requestNs: '7' } })), /typical\.requestNs is not a number >= 0: "7"/);
  t.throws(() => parseAuthzFigures(JSON.stringify({ ...FIGURES, compileMs: undefined })), /compileMs is not an object/);
  t.throws(() => parseAuthzFigures(JSON.stringify({ ...FIGURES, ipBlocks: { cidrs: 20 } })), /ipBlocks\.ipBlocksNs is not a number >= 0: absent/);
  t.throws(() => parseAuthzFigures(`${JSON.stringify(FIGURES)}${' '.repeat(MAX_AUTHZ_OUTPUT_BYTES)}`), /more than 65536/, 'oversized output is refused before parsing');
  try {
    parseAuthzFigures(JSON.stringify({ ...FIGURES, noPolicyNs: null, worst: {} }));
    t.fail('bad figures were accepted');
  } catch (err) {
    t.equal(isMeshletError(err) ? err.details.length : 0, 7, 'every bad figure is listed at once');
  }
});

t.test('the target: a per-connection check under 50 µs for the worst workload', async (t) => {
  const result = (worst: Partial<AuthzFigures['worst']>): AuthzScenarioResult => ({ id: AUTHZ_SCENARIO_ID, figures: { ...FIGURES, worst: { ...FIGURES.worst, ...worst } }, wallMs: 1 });
  t.equal(authzVerdict(undefined), undefined, 'no verdict when the scenario did not run');
  const met = authzVerdict(result({}));
  t.equal(met?.meets, true);
  t.equal(met?.area, 'authz');
  t.match(met?.detail ?? '', /^8\.83 µs worst \(87 policies, 115 rules\)$/, 'the slower of the two connection modes');
  t.equal(authzVerdict(result({ connectionHttpNs: AUTHZ_CONNECTION_TARGET_NS }))?.meets, false, '50 µs is not under 50 µs');
  t.equal(authzVerdict(result({ connectionOpaqueNs: 60_000 }))?.meets, false);
  t.equal(authzVerdict(result({ requestNs: 60_000 }))?.meets, true, 'a per-request check is not the per-connection target');
  t.equal(authzVerdict({ id: AUTHZ_SCENARIO_ID, error: 'boom', wallMs: 1 })?.meets, undefined, 'a failed run is not measured');
});

function labless(authz?: AuthzScenarioResult): BenchResults {
  return {
    format: 'meshlet-bench/1',
    mode: 'smoke',
    profile: false,
    startedAt: '2026-12-06T20:00:00.000Z',
    finishedAt: '2026-12-06T20:00:10.000Z',
    machine: { cores: 2, cpuModel: 'cpu', memoryGiB: 8, kernel: 'Linux 6', node: 'v20', haproxy: 'HAProxy 2.6', iperf3: '3.12', sockperf: '3.7', wrk: '4.1', fdLimit: 20000 },
    loadAverage: { start: 0.5, end: 1 },
    paths: [],
    parameters: { 'authz iterations': 2000 },
    tls: {},
    notes: [],
    scenarios: [],
    ...(authz === undefined ? {} : { authz }),
  };
}

t.test('report: the authorization section with its figures and target, no lab setup without a lab', async (t) => {
  const md = renderReport(labless({ id: AUTHZ_SCENARIO_ID, figures: FIGURES, wallMs: 900 }));
  t.match(md, /^## Authorization: 1,000 AuthorizationPolicies on a node$/m);
  t.match(md, /Target: meets; 8\.83 µs worst \(87 policies, 115 rules\)\./);
  t.match(md, /\| worst \(most policies\) \| 87 \| 115 \| 0\.05 \| 7,959 \| 8,826 \| 9,225 \|/);
  t.match(md, /\| typical \(median\) \| 79 \| 97 \| 0\.04 \| 6,801 \| 7,225 \| 7,208 \|/);
  t.match(md, /\| no policy \| 0 \| 0 \| - \| 61 \| - \| - \|/);
  t.match(md, /median 0\.04 ms, p99 6\.92 ms/);
  t.match(md, /\| ns per check \| 115 \| 2,527 \|/);
  t.match(md, /Paths: none \(no lab scenario ran\)/);
  t.notMatch(md, /- Lab: two nodes/, 'no lab described when none was built');
  t.notMatch(md, /## The bar/, 'the bar against HAProxy needs the lab');
  t.notMatch(md, /undefined|NaN/);

  const failed = renderReport(labless({ id: AUTHZ_SCENARIO_ID, error: 'killed after 180000 ms (timeout or too much output)', wallMs: 180_000 }));
  t.match(failed, /Target: not measured; not measured\./);
  t.match(failed, /Failed after 180\.0 s: killed after 180000 ms/);
  t.notMatch(failed, /\| workload \|/, 'no table without figures');
  t.notMatch(renderReport(labless()), /## Authorization/, 'no section when the scenario did not run');
});

t.test('the child process: figures from the real script, failures recorded, bounded', async (t) => {
  const real = await runAuthzScenario({ iterations: 50 });
  t.equal(real.error, undefined, `the compiled script runs: ${real.error ?? ''}`);
  t.equal(real.figures?.iterations, 50, 'the iterations are handed to it');
  t.equal(real.figures?.policies, 1000);
  t.equal(real.id, 'authz-1000');
  for (const bad of [0, MAX_AUTHZ_ITERATIONS + 1]) {
    const refused = await runAuthzScenario({ iterations: bad });
    t.match(refused.error ?? '', /--iterations must be an integer from 1 to 10000000/, `the script itself refuses --iterations ${bad}`);
  }

  const dir = mkdtempSync(join(tmpdir(), 'meshlet-authz-bench-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const script = (name: string, body: string): string => {
    const file = join(dir, name);
    writeFileSync(file, body);
    return file;
  };
  const garbage = await runAuthzScenario({ iterations: 1, script: script('garbage.mjs', 'console.log("| not json |")') });
  t.match(garbage.error ?? '', /did not print JSON/);
  t.equal(garbage.figures, undefined);
  const exits = await runAuthzScenario({ iterations: 1, script: script('exit.mjs', 'console.error("no engine"); process.exit(3)') });
  t.match(exits.error ?? '', /no engine/, 'stderr is kept in the error');
  const hangs = await runAuthzScenario({ iterations: 1, timeoutMs: 300, script: script('hang.mjs', 'setInterval(() => {}, 1000)') });
  t.match(hangs.error ?? '', /killed after 300 ms/);
  t.ok(hangs.wallMs < 10_000, 'killed near its timeout');
  const floods = await runAuthzScenario({ iterations: 1, script: script('flood.mjs', 'process.stdout.write("x".repeat(1 << 20))') });
  t.not(floods.error, undefined, 'more output than the cap is a failure');
  t.equal(floods.figures, undefined);
});
