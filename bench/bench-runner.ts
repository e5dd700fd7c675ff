/**
 * A whole run: the authorization scenario first (a child process, no lab, on a quiet machine),
 * then the bench lab up with real agents (optionally under `node --cpu-prof`), the fixture
 * prepared, every load scenario on every path in rounds (A B C A B C), the memory scenario once
 * per proxied path, and the lab always torn down (withLab). No lab when no lab scenario is
 * selected (`--only authz-1000`).
 *
 * @module
 */

import { mkdirSync, readdirSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { defaultAgentCommand, withLab, type AgentContext, type Lab } from '../src/lab/index.js';
import type { AgentCommand } from '../src/lab/index.js';
import { runAuthzScenario } from './authz-scenario.js';
import { CONNECT_CONCURRENCY, HTTP_BODY_BYTES, HTTP_CONNECTIONS, L7_FIXED_CONNECTIONS, L7_FIXED_RATE, LATENCY_MESSAGE_BYTES, runsAuthz, runsLab, type BenchOptions } from './bench-options.js';
import { prepareFixture, type BenchFixture } from './bench-fixture.js';
import { describePinning, pinnedCommand, pinningMismatches, type PinExpectation } from './cpu-pinning.js';
import { benchTopology } from './bench-topology.js';
import { ALL_PATHS, type AuthzScenarioResult, type BenchResults, type MachineFacts, type PathName, type RunRecord, type ScenarioResult } from './bench-types.js';
import { comparisonOf, scenarioPaths } from './summary.js';
import { runIdleMemory, startRssByPath } from './idle-memory.js';
import { loadRunnerFor, type LoadOutcome } from './load-runs.js';
import { processTree, ProcessMeter } from './proc-stats.js';
import { PINNING_PARAMETER } from './report-markdown.js';
import { scenarioSpecs, type ScenarioSpec } from './scenarios.js';

/** Agents drain briefly on SIGTERM: the lab's stop grace is 5 s, and a profile is written only on a clean exit. */
const AGENT_DRAIN_SECONDS = '1';

/** What {@link runBench} needs besides the options. */
export interface RunBenchInput {
  readonly options: BenchOptions;
  readonly machine: MachineFacts;
  readonly logger: Logger;
  /** Directory for `<node>.cpuprofile` files (profile runs only). */
  readonly profileDir?: string;
  /** One line of progress (stderr). */
  readonly progress: (line: string) => void;
}

/** Runs with the agents' profile files, when profiled. */
export interface RunBenchOutput {
  readonly results: Omit<BenchResults, 'cpuProfiles'>;
  readonly profileFiles: readonly { readonly node: string; readonly path: string }[];
}

/**
 * The agents' command: `meshlet agent` with the run's workers and Node.js flags, under
 * `taskset -c <proxy CPUs>` with `--pin` (the workers it forks inherit the set).
 */
export function agentCommand(options: Pick<BenchOptions, 'agentNodeFlags' | 'agentWorkers' | 'pin'>, profileDir: string | undefined): (node: string, ctx: AgentContext) => AgentCommand {
  return (node, ctx) => {
    const base = defaultAgentCommand(node, ctx);
    // Workers inherit the node flags; Node's default file name (with the pid) keeps each
    // process's profile apart, a directory per node tells whose they are.
    const prof = profileDir === undefined ? [] : ['--cpu-prof', `--cpu-prof-dir=${join(profileDir, node)}`];
    const args = [...prof, ...options.agentNodeFlags, ...base.args, '--drain-seconds', AGENT_DRAIN_SECONDS, '--workers', String(options.agentWorkers)];
    return pinnedCommand(options.pin?.proxies, base.command, args);
  };
}

function summaryOf(o: LoadOutcome): string {
  const v = Object.entries(o.values).slice(0, 3).map(([k, x]) => `${k} ${x.toFixed(2)}`).join(', ');
  return o.error === undefined ? v : `${v} [${o.error}]`;
}

async function measure(fixture: BenchFixture, path: PathName, run: (pids: readonly number[]) => Promise<LoadOutcome>): Promise<LoadOutcome> {
  const pids = fixture.proxyPids[path];
  try {
    const meter = new ProcessMeter(pids);
    const out = await run(pids);
    // A proxied run whose proxies used no CPU at all did not go through them.
    if (pids.length > 0 && meter.cpuSince() === 0) return { ...out, error: `${out.error ?? ''} the proxies used no CPU: did the traffic bypass them?`.trim() };
    return out;
  } catch (err) {
    return { values: {}, error: (err as Error).message.slice(0, 500) };
  }
}

async function loadRounds(input: RunBenchInput, fixture: BenchFixture, specs: readonly ScenarioSpec[], paths: readonly PathName[], signal: AbortSignal): Promise<Map<string, RunRecord[]>> {
  const { options, progress } = input;
  const runs = new Map<string, RunRecord[]>(specs.map((s) => [s.id, []]));
  for (let round = 1; round <= options.rounds; round += 1) {
    for (const spec of specs) {
      // The smoke mode checks the plumbing: no SCHED_IDLE client that a busy machine starves.
      const runner = loadRunnerFor(spec.id, { idleScheduling: options.mode !== 'smoke', warmUp: options.mode !== 'smoke', addedTime: options.addedTime });
      if (runner === undefined) continue;
      // A profile run measures the meshlet path each scenario compares (L4 or L7), nothing else.
      const specPaths = options.profile ? [comparisonOf(spec).subject].filter((p) => paths.includes(p)) : scenarioPaths(spec, paths);
      for (const path of specPaths) {
        if (signal.aborted) return runs;
        const started = Date.now();
        const out = await measure(fixture, path, (pids) => runner(fixture.lab, fixture.targets[path], pids, options.runSeconds));
        runs.get(spec.id)?.push({ round, path, values: out.values, ...(out.error === undefined ? {} : { error: out.error }), wallMs: Date.now() - started });
        progress(`round ${round}/${options.rounds} ${spec.id} ${path}: ${summaryOf(out)}`);
      }
    }
  }
  return runs;
}

async function idleRuns(input: RunBenchInput, fixture: BenchFixture, paths: readonly PathName[], startRss: Record<string, number[]>): Promise<RunRecord[]> {
  const out: RunRecord[] = [];
  // The memory scenario is an L4 one: meshlet (at rest the same agents as meshlet L7) and the TCP pair.
  for (const path of scenarioPaths({}, paths).filter((p) => fixture.targets[p].proxied)) {
    // Two descriptors per connection in each HAProxy (client and server side) against one in an agent.
    const count = path === 'haproxy' ? Math.min(input.options.idleConnections, fixture.haproxyMaxConnections - 100) : input.options.idleConnections;
    const started = Date.now();
    const res = await measure(fixture, path, () => runIdleMemory(fixture, fixture.targets[path], count, startRss[path] ?? [], input.options.idleSettleMs));
    out.push({ round: 1, path, values: res.values, ...(res.error === undefined ? {} : { error: res.error }), wallMs: Date.now() - started });
    input.progress(`idle-memory ${path}: ${summaryOf(res)}`);
  }
  return out;
}

async function stopAgentsForProfiles(lab: Lab, dir: string): Promise<RunBenchOutput['profileFiles']> {
  for (const node of ['node1', 'node2']) await lab.stopAgent(node);
  // One profile per process: the agent and each of its workers (`CPU.<date>.<time>.<pid>.<tid>.<n>.cpuprofile`).
  const out: { node: string; path: string }[] = [];
  for (const node of ['node1', 'node2']) {
    let files: string[] = [];
    try {
      files = readdirSync(join(dir, node)).filter((f) => f.endsWith('.cpuprofile')).sort();
    } catch {
      continue; // no profile written (the agent did not exit cleanly)
    }
    for (const f of files) out.push({ node: files.length === 1 ? node : `${node} pid ${f.split('.')[3] ?? '?'}`, path: join(dir, node, f) });
  }
  return out;
}

async function authzRun(input: RunBenchInput): Promise<AuthzScenarioResult> {
  input.progress(`authz-1000: dist/bench/authz.js --iterations ${input.options.authzIterations}`);
  const a = await runAuthzScenario({ iterations: input.options.authzIterations });
  const w = a.figures?.worst;
  input.progress(`authz-1000: ${w === undefined ? `failed: ${a.error ?? '?'}` : `worst workload ${w.policies} policies, ${Math.round(w.connectionOpaqueNs)} ns per connection`} (${a.wallMs} ms)`);
  return a;
}

/** What every run's results start with, taken at its end: mode, times, machine, load, the authz scenario. */
type RunHeader = Pick<BenchResults, 'format' | 'mode' | 'profile' | 'startedAt' | 'finishedAt' | 'machine' | 'loadAverage' | 'authz'>;

function runHeader(input: RunBenchInput, start: { readonly at: string; readonly load: number }, authz: AuthzScenarioResult | undefined): RunHeader {
  const { options } = input;
  const header = { format: 'meshlet-bench/1', mode: options.mode, profile: options.profile, startedAt: start.at, finishedAt: new Date().toISOString(), machine: input.machine } as const;
  return { ...header, loadAverage: { start: start.load, end: loadavg()[0] ?? 0 }, ...(authz === undefined ? {} : { authz }) };
}

/** The results of a run without a lab (only `authz-1000`): no paths, no lab scenarios. */
function noLabResults(input: RunBenchInput, header: RunHeader): RunBenchOutput['results'] {
  const { options } = input;
  return {
    ...header,
    paths: [],
    parameters: { 'authz iterations': options.authzIterations },
    tls: {},
    notes: ['no lab scenario selected: no lab was built.'],
    scenarios: [],
  };
}

/**
 * With `--pin`, whether the pinning took: every process of every proxy (agents with their
 * workers, the HAProxy processes) on the proxy CPUs, the harness and the servers on the load
 * CPUs. Each process that is not becomes a note in the report.
 */
function pinningNotes(options: BenchOptions, fixture: BenchFixture): string[] {
  const pin = options.pin;
  if (pin === undefined) return [];
  const proxies = [...new Set(Object.values(fixture.proxyPids).flat())];
  const expected: PinExpectation[] = [
    ...proxies.flatMap((pid) => processTree(pid).map((p) => ({ what: p === pid ? 'proxy' : `proxy ${pid}'s child`, pid: p, cpus: pin.proxies }))),
    ...fixture.serverPids.map((pid) => ({ what: 'server', pid, cpus: pin.load })),
    { what: 'the harness', pid: process.pid, cpus: pin.load },
  ];
  const bad = pinningMismatches(expected);
  return bad.length === 0 ? [] : [`the CPU pinning did not take for ${bad.length} process(es): ${bad.join('; ')}`];
}

/** Runs the benchmark and returns its raw results (and profile files, when profiled). */
export async function runBench(input: RunBenchInput): Promise<RunBenchOutput> {
  const { options } = input;
  const start = { at: new Date().toISOString(), load: loadavg()[0] ?? 0 };
  const authz = runsAuthz(options) ? await authzRun(input) : undefined;
  if (!runsLab(options)) return { profileFiles: [], results: noLabResults(input, runHeader(input, start, authz)) };
  const only = options.only;
  const specs = scenarioSpecs(options).filter((s) => only === undefined || only.includes(s.id));
  // Only the paths the chosen scenarios use (no HAProxy pair started for L7 scenarios alone).
  const used = new Set(specs.flatMap((s) => (options.profile ? [comparisonOf(s).subject] : scenarioPaths(s, ALL_PATHS))));
  const paths: readonly PathName[] = ALL_PATHS.filter((p) => used.has(p));
  if (input.profileDir !== undefined) mkdirSync(input.profileDir, { recursive: true });
  const topology = benchTopology(options.labName, { floodShare: options.floodShare });
  return withLab(topology, { agents: true, agentCommand: agentCommand(options, input.profileDir), readyTimeoutMs: 30_000, logger: input.logger }, async (lab, signal) => {
    input.progress(`lab ${lab.name} up; preparing servers, certificates and the HAProxy pair`);
    const fixture = await prepareFixture(lab, { paths, haproxyThreads: options.haproxyThreads, fdLimit: input.machine.fdLimit, logger: input.logger, ...(options.pin === undefined ? {} : { proxyCpus: options.pin.proxies }) });
    const pinNotes = pinningNotes(options, fixture);
    const startRss = startRssByPath(fixture);
    const runs = await loadRounds(input, fixture, specs, paths, signal);
    if (specs.some((s) => s.id === 'idle-memory')) runs.set('idle-memory', await idleRuns(input, fixture, paths, startRss));
    const profileFiles = input.profileDir === undefined ? [] : await stopAgentsForProfiles(lab, input.profileDir);
    const scenarios: ScenarioResult[] = specs.map((s) => ({ ...s, runs: runs.get(s.id) ?? [] }));
    return {
      profileFiles,
      results: {
        ...runHeader(input, start, authz),
        paths,
        parameters: {
          rounds: options.rounds,
          'seconds per run': options.runSeconds,
          'latency message bytes': LATENCY_MESSAGE_BYTES,
          'HTTP connections': HTTP_CONNECTIONS,
          'HTTP body bytes': HTTP_BODY_BYTES,
          ...(specs.some((s) => s.id.startsWith('l7-')) ? { 'L7 fixed rate': `${L7_FIXED_RATE}/s over ${L7_FIXED_CONNECTIONS} connections` } : {}),
          'connect-rate loops': CONNECT_CONCURRENCY,
          'idle connections': options.idleConnections,
          'HAProxy threads': options.haproxyThreads,
          'agent workers': options.agentWorkers,
          [PINNING_PARAMETER]: describePinning(options.pin, options.onlineCpus.length),
          ...(options.agentNodeFlags.length > 0 ? { 'agent Node.js flags': options.agentNodeFlags.join(' ') } : {}),
          ...(options.floodShare === undefined ? {} : { 'flood pod meshlet.io/max-agent-share': `${options.floodShare}%` }),
          'HAProxy maxconn': fixture.haproxyMaxConnections,
          ...(authz === undefined ? {} : { 'authz iterations': options.authzIterations }),
        },
        tls: fixture.tls,
        notes: [...fixture.notes, ...pinNotes, ...(signal.aborted ? ['interrupted: some runs are missing'] : [])],
        scenarios,
      },
    };
  });
}
