#!/usr/bin/env node
/**
 * `npm run bench [-- --quick | --smoke] [--profile] [--out DIR] ...`: meshlet side by side with
 * an HAProxy pair and a direct connection, in a two-node lab. Writes
 * `<out>/<date>-<mode>.md`, the same data as `.json`, and a `.png` chart; `--profile` runs the
 * meshlet path alone with the agents under `node --cpu-prof` and adds their profiles; `--pin`
 * puts the proxies and everything else on separate CPUs; `--scaling 1,2` runs once per worker
 * count and writes one table over the counts (`scaling-report.ts`). The
 * `authz-1000` scenario (the authorization engine with 1,000 policies) runs in a child process
 * before the lab. The lab needs root (network namespaces) and the tools
 * `scripts/setup-bench.mjs` installs; `--only authz-1000` needs neither.
 *
 * @module
 */

import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, relative } from 'node:path';
import { Command } from 'commander';
import { pino } from 'pino';
import { REPO_ROOT } from '../src/lab/index.js';
import { EXIT_USAGE, MeshletError } from '../src/mesh/errors.js';
import { benchOptions, runsLab, SCENARIO_IDS, type BenchOptions } from './bench-options.js';
import { runBench } from './bench-runner.js';
import { checkTaskset, describePinning, pinProcess } from './cpu-pinning.js';
import type { BenchResults, ProfileSummary } from './bench-types.js';
import { writeChartPng } from './chart-svg.js';
import { readCpuProfile, summarizeCpuProfile } from './cpu-profile.js';
import { machineFacts } from './machine-facts.js';
import { renderReport } from './report-markdown.js';
import { poolResults } from './pool-results.js';
import { renderScalingReport, type ScalingResults, type ScalingRun } from './scaling-report.js';
import { RESILIENCE_SCENARIO_ID } from './resilience-policy.js';
import { resilienceVerdict, verdictWord } from './resilience-report.js';
import { TRACING_SCENARIO_ID } from './tracing-policy.js';
import { tracingCheck } from './tracing-report.js';
import { authzVerdict, verdicts } from './summary.js';

/** Commands the harness runs, and the Debian package of each (see scripts/setup-bench.mjs). */
const REQUIRED_TOOLS: Readonly<Record<string, string>> = {
  ip: 'iproute2',
  iptables: 'iptables',
  ss: 'iproute2',
  haproxy: 'haproxy',
  iperf3: 'iperf3',
  sockperf: 'sockperf',
  wrk: 'wrk',
  h2load: 'nghttp2-client',
  'rsvg-convert': 'librsvg2-bin',
  chrt: 'util-linux',
};

function checkTools(): void {
  const missing = Object.keys(REQUIRED_TOOLS).filter((cmd) => spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status !== 0);
  if (missing.length > 0) {
    const pkgs = [...new Set(missing.map((m) => REQUIRED_TOOLS[m]))].join(' ');
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `missing host tools: ${missing.join(', ')}; run "node scripts/setup-bench.mjs" as root, or apt-get install -y ${pkgs}`);
  }
}

function profileSummaries(files: readonly { node: string; path: string }[], outDir: string, progress: (l: string) => void): ProfileSummary[] {
  const out: ProfileSummary[] = [];
  for (const f of files) {
    if (!existsSync(f.path)) {
      progress(`no CPU profile from ${f.node} at ${f.path} (did the agent exit cleanly?)`);
      continue;
    }
    out.push(summarizeCpuProfile(readCpuProfile(f.path), f.node, relative(outDir, f.path)));
  }
  return out;
}

async function run(options: BenchOptions): Promise<void> {
  const progress = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
  if (runsLab(options)) {
    checkTools();
    if (process.getuid?.() !== 0) throw new MeshletError('MESHLET_ERR_LAB', 'the bench builds network namespaces and needs root');
  }
  if (options.pin !== undefined) {
    checkTaskset();
    // Before anything is started: every process the harness starts inherits the load CPUs;
    // the proxies are started under taskset on theirs (bench-runner.ts, bench-fixture.ts).
    pinProcess(process.pid, options.pin.load);
    progress(`pinned: ${describePinning(options.pin, options.onlineCpus.length)}`);
  }
  const outDir = options.outDir ?? join(REPO_ROOT, 'bench/results');
  mkdirSync(outDir, { recursive: true });
  // A run without the lab is named apart, so it never overwrites the day's lab report; so is a pinned one.
  const base = `${new Date().toISOString().slice(0, 10)}-${options.mode}${options.profile ? '-profile' : ''}${options.pin === undefined ? '' : '-pinned'}${runsLab(options) ? '' : '-authz'}`;
  if (options.scaling === undefined) await runOnce(options, outDir, base, progress);
  else await runScaling(options, options.scaling, outDir, `${base}-scaling`, progress);
}

/** One run of the harness, its results written as `<base>.json`, `.md` and `.png` in `outDir`. */
async function runOnce(options: BenchOptions, outDir: string, base: string, progress: (l: string) => void): Promise<{ results: BenchResults; json: string }> {
  const profileDir = options.profile ? join(outDir, `${base}-cpuprofile`) : undefined;
  // One root logger for the lab and the CA; warnings only, so progress lines stay readable.
  const logger = pino({ level: 'warn', base: { component: 'bench' } }, pino.destination(2));
  const machine = machineFacts();
  const begin = Date.now();
  const { results: raw, profileFiles } = await runBench({ options, machine, logger, progress, ...(profileDir === undefined ? {} : { profileDir }) });
  const cpuProfiles = profileSummaries(profileFiles, outDir, progress);
  const results: BenchResults = cpuProfiles.length > 0 ? { ...raw, cpuProfiles } : raw;
  const md = join(outDir, `${base}.md`);
  const json = join(outDir, `${base}.json`);
  const png = join(outDir, `${base}.png`);
  writeFileSync(json, `${JSON.stringify(results, null, 2)}\n`);
  const vs = await writeReport(results, md, png, progress);
  progress(`done in ${Math.round((Date.now() - begin) / 1000)} s`);
  process.stdout.write(`results: ${md}\n         ${json}\n${existsSync(png) ? `         ${png}\n` : ''}`);
  if (vs > 0) process.stdout.write(`meshlet meets ${verdicts(results).filter((v) => v.meets === true).length} of ${vs} checks of the bar against HAProxy\n`);
  const target = authzVerdict(results.authz);
  if (target !== undefined) process.stdout.write(`authz-1000: ${target.meets === undefined ? 'not measured' : target.meets ? 'meets' : 'falls short of'} the target (${target.what}): ${target.detail}\n`);
  const resilience = results.scenarios.find((s) => s.id === RESILIENCE_SCENARIO_ID);
  if (resilience !== undefined) {
    const v = resilienceVerdict(resilience);
    process.stdout.write(`${RESILIENCE_SCENARIO_ID}: ${verdictWord(v)} (target: ${v.what}): ${v.detail}\n`);
  }
  reportTracing(results);
  return { results, json };
}

/**
 * The `l7-tracing` scenario's spans check on stdout. A failed check (spans with tracing off,
 * none with it on, exports that are not OTLP) means its figures did not measure tracing: the
 * run exits 1 once everything is written.
 */
function reportTracing(results: BenchResults): void {
  const tracing = results.scenarios.find((s) => s.id === TRACING_SCENARIO_ID);
  if (tracing === undefined) return;
  const c = tracingCheck(tracing);
  process.stdout.write(`${TRACING_SCENARIO_ID}: spans check ${c.ok === undefined ? 'not measured' : c.ok ? 'passed' : 'FAILED'}: ${c.detail}\n`);
  if (c.ok === false) process.exitCode = 1;
}

/**
 * `--scaling`: the ordinary run once per worker count (`<base>-w<N>.*`, each with its own lab),
 * agents with N workers and each HAProxy with N threads, then one report over them (`<base>.md`,
 * and `<base>.json` holding every run's results).
 */
async function runScaling(options: BenchOptions, counts: readonly number[], outDir: string, base: string, progress: (l: string) => void): Promise<void> {
  const startedAt = new Date().toISOString();
  const runs: ScalingRun[] = [];
  for (const n of counts) {
    progress(`scaling: ${n} agent worker(s), ${n} HAProxy thread(s)`);
    const { results, json } = await runOnce({ ...options, agentWorkers: n, haproxyThreads: n, scaling: undefined }, outDir, `${base}-w${n}`, progress);
    runs.push({ workers: n, file: basename(json), results });
  }
  const scaling: ScalingResults = {
    format: 'meshlet-bench-scaling/1',
    mode: options.mode,
    startedAt,
    finishedAt: new Date().toISOString(),
    pinning: describePinning(options.pin, options.onlineCpus.length),
    proxyCpus: options.pin?.proxies.length ?? options.onlineCpus.length,
    runs,
  };
  writeFileSync(join(outDir, `${base}.json`), `${JSON.stringify(scaling, null, 2)}\n`);
  writeFileSync(join(outDir, `${base}.md`), renderScalingReport(scaling));
  process.stdout.write(`scaling: ${join(outDir, `${base}.md`)}\n         ${join(outDir, `${base}.json`)}\n`);
}

/** Writes the markdown report and the chart; returns how many checks of the bar there are. */
async function writeReport(results: BenchResults, md: string, png: string, progress: (l: string) => void): Promise<number> {
  // A run without lab scenarios (only authz-1000) has nothing to chart, nor have l7-resilience and l7-tracing
  // (its own table compares two configurations on one path; the chart compares paths).
  let chart: string | undefined = results.scenarios.every((s) => s.id === RESILIENCE_SCENARIO_ID || s.id === TRACING_SCENARIO_ID) ? undefined : basename(png);
  if (chart !== undefined) {
    try {
      await writeChartPng(results, join(tmpdir(), `meshlet-${basename(png, '.png')}-${process.pid}.svg`), png);
    } catch (err) {
      progress((err as Error).message);
      chart = undefined;
    }
  }
  writeFileSync(md, renderReport(results, chart));
  return verdicts(results).length;
}

/** `--render FILE.json`: the report and chart again from a results file, without running anything. */
async function render(file: string): Promise<void> {
  const parsed = JSON.parse(readFileSync(file, 'utf8')) as BenchResults | ScalingResults;
  if (parsed.format === 'meshlet-bench-scaling/1') {
    const md = join(dirname(file), `${basename(file, '.json')}.md`);
    writeFileSync(md, renderScalingReport(parsed));
    process.stdout.write(`rendered ${md}\n`);
    return;
  }
  const stored = parsed;
  if (stored.format !== 'meshlet-bench/1') throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${file} is not a meshlet bench results file`);
  // Raw profiles still beside the results are summarised again (the summary may have improved).
  const profiles = (stored.cpuProfiles ?? []).map((p) => ({ node: p.node, path: join(dirname(file), p.file) }));
  const fresh = profileSummaries(profiles.filter((p) => existsSync(p.path)), dirname(file), () => undefined);
  const results: BenchResults = fresh.length > 0 ? { ...stored, cpuProfiles: fresh } : stored;
  if (fresh.length > 0) writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  const base = join(dirname(file), basename(file, '.json'));
  await writeReport(results, `${base}.md`, `${base}.png`, (l) => void process.stderr.write(`bench: ${l}\n`));
  process.stdout.write(`rendered ${base}.md${existsSync(`${base}.png`) ? ` and ${base}.png` : ''}\n`);
}

/** `--pool A.json,B.json,...`: one report over the rounds of several earlier runs, written beside the first. */
async function pool(list: string): Promise<void> {
  const names = list.split(',').map((n) => n.trim()).filter((n) => n !== '');
  const files = names.map((name) => ({ name: basename(name), results: JSON.parse(readFileSync(name, 'utf8')) as BenchResults }));
  const pooled = poolResults(files);
  const base = join(dirname(names[0] as string), `${basename(names[0] as string, '.json')}-pooled`);
  writeFileSync(`${base}.json`, `${JSON.stringify(pooled, null, 2)}\n`);
  await writeReport(pooled, `${base}.md`, `${base}.png`, (l) => void process.stderr.write(`bench: ${l}\n`));
  process.stdout.write(`pooled ${files.length} runs: ${base}.md\n`);
  const resilience = pooled.scenarios.find((s) => s.id === RESILIENCE_SCENARIO_ID);
  if (resilience !== undefined) {
    const v = resilienceVerdict(resilience);
    process.stdout.write(`${RESILIENCE_SCENARIO_ID}: ${verdictWord(v)} (target: ${v.what}): ${v.detail}\n`);
  }
  reportTracing(pooled);
}

async function main(argv: readonly string[]): Promise<void> {
  const program = new Command('bench')
    .description('meshlet side by side with an HAProxy pair and a direct connection, in a two-node lab')
    .option('--quick', 'fewer rounds, shorter runs (under 2 minutes)')
    .option('--smoke', 'one tiny round of everything (CI: checks the plumbing, not the speed)')
    .option('--profile', 'meshlet path only, agents under node --cpu-prof; profiles written next to the results')
    .option('--out <dir>', 'results directory (default bench/results)')
    .option('--rounds <n>', 'rounds (default: full 5, quick 2, smoke 1)')
    .option('--seconds <n>', 'seconds per load run (default: full 5, quick 2, smoke 1)')
    .option('--idle-connections <n>', 'idle connections of the memory scenario (default: full 10000; through meshlet at most 500, under its per-peer stream cap)')
    .option('--haproxy-threads <n>', 'nbthread of each HAProxy of the pair (default 1, like one agent event loop)')
    .option('--workers <n>', "data-path workers per agent (meshlet agent --workers; default: the same as --haproxy-threads)")
    .option('--added-time', 'capture both nodes with tcpdump during the latency runs and report the time each proxy hop adds to each message (always on with --smoke)')
    .option('--agent-node-flags <flags>', 'Node.js flags for the agents, e.g. "--max-semi-space-size=16" (to measure a setting)')
    .option('--pin', 'proxies (both agents with their workers, both HAProxy processes) on one CPU set, load generators, servers and the harness on the others (taskset; default: proxies on the upper half of the online CPUs, on 2 CPUs proxies on CPU 1, the rest on CPU 0)')
    .option('--pin-proxies <cpus>', 'with --pin: the proxies\' CPU list, e.g. "1" or "2-3" (implies --pin; the load gets the other online CPUs unless --pin-load says)')
    .option('--pin-load <cpus>', 'with --pin: the CPU list of everything else, e.g. "0" (implies --pin; must not overlap --pin-proxies)')
    .option('--scaling <counts>', 'one run per worker count, e.g. "1,2": agents with N workers, each HAProxy with N threads, and one table over the counts (default scenarios: bulk-8, http-rps, latency-10000)')
    .option('--flood-share <percent>', 'annotate the meshed noisy neighbour (the flood pod) with meshlet.io/max-agent-share: <percent> (1..100), to measure the share limit')
    .option('--only <ids>', `only these scenarios, comma-separated (${SCENARIO_IDS.join(', ')})`)
    .option('--name <lab>', 'lab name (default bench)')
    .option('--authz-iterations <n>', 'evaluations per cell of authz-1000 (default: full 200000, quick 50000, smoke 2000)')
    .option('--render <results.json>', 'only re-render the report and chart of an earlier run')
    .option('--pool <files>', 'one report over the rounds of earlier runs (comma-separated results .json of the same mode and paths), written beside the first')
    .addHelpText('after', `\nExit status: 0 once the results are written; 64 for bad options; 1 when the run failed, or when the ${TRACING_SCENARIO_ID} scenario's spans check failed (spans with tracing off, none with it on, exports that are not OTLP: its figures did not measure tracing).`)
    .showHelpAfterError();
  program.parse([...argv]);
  const failed = (err: Error): never => {
    process.stderr.write(`bench: ${err.message}\n`);
    process.exit(1);
  };
  const poolFiles = program.opts()['pool'];
  if (typeof poolFiles === 'string') {
    await pool(poolFiles).catch(failed);
    return;
  }
  const renderFile = program.opts()['render'];
  if (typeof renderFile === 'string') {
    await render(renderFile).catch(failed);
    return;
  }
  let options: BenchOptions;
  try {
    const { render: _render, pool: _pool, ...flags } = program.opts();
    options = benchOptions(flags);
  } catch (err) {
    process.stderr.write(`bench: ${(err as Error).message}\n`);
    process.exit(EXIT_USAGE);
  }
  try {
    await run(options);
  } catch (err) {
    process.stderr.write(`bench: failed: ${(err as Error).message}\n`);
    process.exit(1);
  }
}

await main(process.argv);
