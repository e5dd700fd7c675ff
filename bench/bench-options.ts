/**
 * The harness's parameters: a mode (`full`, `--quick`, `--smoke`) picks rounds, run lengths and
 * connection counts; a few flags override them. `benchOptions(flags)` validates and freezes,
 * and every problem is listed at once; pure but for reading the online CPUs, which tests pass in.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';
import { cpuPinning, readOnlineCpus, type CpuPinning } from './cpu-pinning.js';
import { NOISY_NEIGHBOUR_ID } from './noisy-neighbour-report.js';
import { RESILIENCE_SCENARIO_ID } from './resilience-policy.js';
import { TRACING_SCENARIO_ID } from './tracing-policy.js';

/** How much to run. */
export type BenchMode = 'full' | 'quick' | 'smoke';

/** Everything a run needs to know. */
export interface BenchOptions {
  readonly mode: BenchMode;
  /** Rounds of A B C: each scenario runs once per path per round. */
  readonly rounds: number;
  /** Length of one load run in whole seconds (iperf3, sockperf and wrk take whole seconds). */
  readonly runSeconds: number;
  /** Fixed send rates of the latency scenario, messages per second. */
  readonly latencyRates: readonly number[];
  /** Idle connections held through the proxies for the memory scenario. */
  readonly idleConnections: number;
  /**
   * Rest before the memory scenario's "idle after load" read (`idle-memory.ts`): 36 s, past
   * the agents' 30 s heap release, except in the smoke mode, where figures mean nothing and a
   * second proves the read works.
   */
  readonly idleSettleMs: number;
  /** Capture both nodes during the latency runs and report each proxy hop's added time (`added-time.ts`). */
  readonly addedTime: boolean;
  /** Run the meshlet path only, with the agents under `node --cpu-prof`. */
  readonly profile: boolean;
  /** HAProxy threads per proxy (`nbthread`). */
  readonly haproxyThreads: number;
  /** Data-path worker processes per agent (`meshlet agent --workers`); defaults to `haproxyThreads`. */
  readonly agentWorkers: number;
  /** Extra Node.js flags for the agents' processes (`--agent-node-flags`), e.g. a V8 heap setting. */
  readonly agentNodeFlags: readonly string[];
  /** Only these scenarios (ids from {@link SCENARIO_IDS}); undefined: all of them. */
  readonly only: readonly string[] | undefined;
  /** Where results go (default `bench/results` in the repository). */
  readonly outDir: string | undefined;
  /** Lab name (`[a-z0-9]{1,8}`). */
  readonly labName: string;
  /** Timed evaluations per cell of the `authz-1000` scenario (`bench/authz.ts --iterations`). */
  readonly authzIterations: number;
  /** `--pin`: the proxies on one CPU set, everything else on another (`cpu-pinning.ts`); undefined: no pinning. */
  readonly pin: CpuPinning | undefined;
  /** CPUs online when the options were read (what `--pin` was checked against). */
  readonly onlineCpus: readonly number[];
  /**
   * `--scaling 1,2`: the run once per count, agents with that many workers and each HAProxy
   * with that many threads, then one table over the counts (`scaling-report.ts`); ascending.
   */
  readonly scaling: readonly number[] | undefined;
  /** `--flood-share`: the meshed flood pod's `meshlet.io/max-agent-share`, percent; undefined: not annotated. */
  readonly floodShare: number | undefined;
}

/** The scenarios that run in the two-node lab (root, namespaces, the load tools), in report order. */
export const LAB_SCENARIO_IDS: readonly string[] = ['bulk-1', 'bulk-8', 'latency-1000', 'latency-10000', 'connect-rate', 'http-rps', NOISY_NEIGHBOUR_ID, 'l7-h1-rps', 'l7-h2-rps', 'l7-latency-1000', RESILIENCE_SCENARIO_ID, TRACING_SCENARIO_ID, 'idle-memory'];

/** The authorization engine with 1,000 policies on a node: `dist/bench/authz.js` in a child process, no lab. */
export const AUTHZ_SCENARIO_ID = 'authz-1000';

/** Every scenario's id, as `--only` takes them. */
export const SCENARIO_IDS: readonly string[] = [...LAB_SCENARIO_IDS, AUTHZ_SCENARIO_ID];

/** Whether the run selects any lab scenario (else it needs no root, no tools and no lab). */
export function runsLab(options: Pick<BenchOptions, 'only'>): boolean {
  return options.only === undefined || options.only.some((id) => LAB_SCENARIO_IDS.includes(id));
}

/**
 * Whether the run selects the `authz-1000` scenario: by default, except in a profile run (that
 * profiles the agents in the lab); `--only authz-1000` always.
 */
export function runsAuthz(options: Pick<BenchOptions, 'only' | 'profile'>): boolean {
  return options.only === undefined ? !options.profile : options.only.includes(AUTHZ_SCENARIO_ID);
}

/** Connections of the HTTP/1.1 scenario, as the issue asks. */
export const HTTP_CONNECTIONS = 64;
/** Concurrent connect-exchange-close loops of the connection-rate scenario. */
export const CONNECT_CONCURRENCY = 16;
/** Message size of the latency scenario: 1 KiB, as the issue asks. */
export const LATENCY_MESSAGE_BYTES = 1024;
/** Body of the HTTP origin's answer: 1 KiB, the same size as a latency message. */
export const HTTP_BODY_BYTES = 1024;
/** Request rate of the L7 fixed-rate latency scenario: 1,000/s, like the L4 latency scenario's lower rate. */
export const L7_FIXED_RATE = 1_000;
/**
 * Connections of the fixed-rate scenario: 10 at 100/s each. h2load paces each connection on
 * its own timer and an HTTP/1.1 connection has one request out at a time, so more connections
 * hide less of a stall; 10 keeps the load generator's own CPU small on 2 cores.
 */
export const L7_FIXED_CONNECTIONS = 10;

/**
 * Per mode. `full` takes about ten minutes on 2 cores; `quick` under two; `smoke` (CI) under
 * a minute, where the numbers mean nothing and only the plumbing is checked.
 */
const MODES: Readonly<Record<BenchMode, Pick<BenchOptions, 'rounds' | 'runSeconds' | 'latencyRates' | 'idleConnections' | 'idleSettleMs' | 'authzIterations'>>> = {
  full: { rounds: 5, runSeconds: 5, latencyRates: [1_000, 10_000], idleConnections: 10_000, idleSettleMs: 36_000, authzIterations: 200_000 },
  quick: { rounds: 2, runSeconds: 1, latencyRates: [1_000, 10_000], idleConnections: 2_000, idleSettleMs: 36_000, authzIterations: 50_000 },
  // One latency rate: 10,000/s runs the same code, and a slow shared CI machine cannot keep it.
  smoke: { rounds: 1, runSeconds: 1, latencyRates: [1_000], idleConnections: 200, idleSettleMs: 1_000, authzIterations: 2_000 },
};

/** Upper bound of `--authz-iterations`: about a minute per cell at the worst workload's cost. */
export const MAX_AUTHZ_ITERATIONS = 10_000_000;

/** Flags as commander hands them over (strings, booleans, or absent). */
export type BenchFlags = Readonly<Record<string, unknown>>;

function positiveInt(flags: BenchFlags, name: string, max: number, problems: string[]): number | undefined {
  const raw = flags[name];
  if (raw === undefined) return undefined;
  const n = typeof raw === 'number' ? raw : Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) {
    problems.push(`--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} must be an integer from 1 to ${max}, got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return n;
}

/** `--agent-node-flags "--a --b=1"`: whitespace-separated, each a `--flag`. */
function nodeFlags(raw: unknown, problems: string[]): string[] {
  if (raw === undefined) return [];
  const list = typeof raw === 'string' ? raw.split(/\s+/).filter((f) => f !== '') : [];
  const bad = list.filter((f) => !/^--[a-z0-9-]+(=[A-Za-z0-9_.,:/-]+)?$/.test(f));
  if (typeof raw !== 'string' || list.length === 0 || bad.length > 0) {
    problems.push(`--agent-node-flags must be Node.js flags like "--max-semi-space-size=16", got ${JSON.stringify(raw)}`);
  }
  return list;
}

/** `--only bulk-1,http-rps`: known scenario ids, comma-separated. */
function scenarioList(raw: unknown, problems: string[]): string[] | undefined {
  if (raw === undefined) return undefined;
  const list = typeof raw === 'string' ? raw.split(',').map((x) => x.trim()).filter((x) => x !== '') : [];
  const unknown = list.filter((x) => !SCENARIO_IDS.includes(x));
  if (list.length === 0 || unknown.length > 0) {
    problems.push(`--only takes scenario ids from ${SCENARIO_IDS.join(', ')}, got ${JSON.stringify(raw)}`);
  }
  return list;
}

/**
 * The scenarios of a `--scaling` run without `--only`: bulk with eight streams (what workers
 * can spread), HTTP/1.1 at 64 connections (the same), and latency at 10,000/s (one connection:
 * what workers cannot help). Cheap: three scenarios per count.
 */
export const SCALING_DEFAULT_SCENARIOS: readonly string[] = ['bulk-8', 'http-rps', 'latency-10000'];

/** Most worker counts one `--scaling` run takes: each is a whole run with its own lab. */
export const MAX_SCALING_COUNTS = 8;

/** `--scaling 1,2,4`: distinct worker counts from 1 to 64, ascending. */
function scalingCounts(raw: unknown, problems: string[]): number[] | undefined {
  if (raw === undefined) return undefined;
  const parts = typeof raw === 'string' ? raw.split(',').map((x) => x.trim()) : [];
  const counts = parts.map(Number);
  const ok = counts.length > 0 && counts.every((n) => Number.isInteger(n) && n >= 1 && n <= 64) && parts.every((p) => /^\d+$/.test(p));
  const ascending = counts.every((n, i) => i === 0 || n > (counts[i - 1] as number));
  if (!ok || !ascending || counts.length > MAX_SCALING_COUNTS) {
    problems.push(`--scaling takes up to ${MAX_SCALING_COUNTS} ascending worker counts from 1 to 64, comma-separated like "1,2", got ${JSON.stringify(raw)}`);
    return undefined;
  }
  return counts;
}

/** What `--scaling` cannot be combined with: each count sets the workers and threads, and only the lab has workers. */
function scalingConflicts(flags: BenchFlags, only: readonly string[] | undefined, problems: string[]): void {
  if (flags['workers'] !== undefined || flags['haproxyThreads'] !== undefined) problems.push('--scaling sets the workers and HAProxy threads of each run: drop --workers and --haproxy-threads');
  if (flags['profile'] === true) problems.push('--scaling and --profile exclude each other');
  if (only?.includes(AUTHZ_SCENARIO_ID) === true) problems.push(`--scaling runs lab scenarios only: ${AUTHZ_SCENARIO_ID} has no workers`);
}

/**
 * Validates the flags and returns frozen options. Throws `MESHLET_ERR_CONFIG_INVALID` listing
 * every bad flag (in `details` too).
 */
export function benchOptions(flags: BenchFlags, onlineCpus: () => readonly number[] = readOnlineCpus): BenchOptions {
  const problems: string[] = [];
  if (flags['quick'] === true && flags['smoke'] === true) problems.push('--quick and --smoke exclude each other');
  const mode: BenchMode = flags['smoke'] === true ? 'smoke' : flags['quick'] === true ? 'quick' : 'full';
  const base = MODES[mode];
  // Bounds keep a typo from running for hours or exhausting the fd limit.
  const rounds = positiveInt(flags, 'rounds', 50, problems) ?? base.rounds;
  const runSeconds = positiveInt(flags, 'seconds', 60, problems) ?? base.runSeconds;
  const idleConnections = positiveInt(flags, 'idleConnections', 15_000, problems) ?? base.idleConnections;
  const authzIterations = positiveInt(flags, 'authzIterations', MAX_AUTHZ_ITERATIONS, problems) ?? base.authzIterations;
  const haproxyThreads = positiveInt(flags, 'haproxyThreads', 64, problems) ?? 1;
  // The same thread budget on both proxied paths unless told otherwise.
  const agentWorkers = positiveInt(flags, 'workers', 64, problems) ?? haproxyThreads;
  const agentNodeFlags = nodeFlags(flags['agentNodeFlags'], problems);
  const scaling = scalingCounts(flags['scaling'], problems);
  const only = scenarioList(flags['only'], problems) ?? (flags['scaling'] === undefined ? undefined : [...SCALING_DEFAULT_SCENARIOS]);
  if (flags['scaling'] !== undefined) scalingConflicts(flags, only, problems);
  const online = [...onlineCpus()];
  const pin = cpuPinning({ pin: flags['pin'], pinProxies: flags['pinProxies'], pinLoad: flags['pinLoad'] }, online, problems);
  const floodShare = positiveInt(flags, 'floodShare', 100, problems);
  const labName = flags['name'] ?? 'bench';
  if (typeof labName !== 'string' || !/^[a-z0-9]{1,8}$/.test(labName)) {
    problems.push(`--name must match [a-z0-9]{1,8}, got ${JSON.stringify(labName)}`);
  }
  const outDir = flags['out'];
  if (outDir !== undefined && (typeof outDir !== 'string' || outDir === '')) problems.push(`--out must be a directory, got ${JSON.stringify(outDir)}`);
  if (problems.length > 0) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `bad bench options: ${problems.join('; ')}`, { details: problems });
  }
  return Object.freeze({
    mode,
    rounds,
    runSeconds,
    latencyRates: Object.freeze([...base.latencyRates]),
    idleConnections,
    idleSettleMs: base.idleSettleMs,
    profile: flags['profile'] === true,
    // The smoke mode (CI) checks the capture's plumbing too.
    addedTime: flags['addedTime'] === true || mode === 'smoke',
    haproxyThreads,
    agentWorkers,
    agentNodeFlags: Object.freeze(agentNodeFlags),
    only: only === undefined ? undefined : Object.freeze(only),
    outDir: outDir as string | undefined,
    labName: labName as string,
    authzIterations,
    pin,
    onlineCpus: Object.freeze(online),
    scaling: scaling === undefined ? undefined : Object.freeze(scaling),
    floodShare,
  });
}
