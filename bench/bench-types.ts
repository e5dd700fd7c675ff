/**
 * The data a benchmark run produces: which paths were measured, each scenario's metrics and
 * every run's raw figures. The same object is written as JSON next to the markdown report, so
 * a later run (or another tool) can recompute any table from the raw runs.
 *
 * @module
 */

/**
 * The ways a client reaches a server in the bench lab: `meshlet` is the agents at L4 (Service
 * ports declared `appProtocol: tcp`), `meshlet-l7` the agents at L7 (ports declared `http` /
 * `http2`), `haproxy` the TCP-mode pair, `haproxy-http` the HTTP-mode pair.
 */
export type PathName = 'direct' | 'meshlet' | 'haproxy' | 'meshlet-l7' | 'haproxy-http';

/** Every path, in the order a round runs them (A B C A B C ...). */
export const ALL_PATHS: readonly PathName[] = ['direct', 'meshlet', 'haproxy', 'meshlet-l7', 'haproxy-http'];

/** The paths of the L4 scenarios (a scenario without its own `paths` runs on these). */
export const L4_PATHS: readonly PathName[] = ['direct', 'meshlet', 'haproxy'];

/** The paths of the L7 scenarios, side by side: no proxy, meshlet L4, meshlet L7, HAProxy in HTTP mode. */
export const L7_PATHS: readonly PathName[] = ['direct', 'meshlet', 'meshlet-l7', 'haproxy-http'];

/** The paths whose proxies are meshlet agents. */
export const AGENT_PATHS: readonly PathName[] = ['meshlet', 'meshlet-l7'];

/** How a path is named in tables. */
export const PATH_LABELS: Readonly<Record<PathName, string>> = {
  direct: 'direct',
  meshlet: 'meshlet',
  haproxy: 'HAProxy pair',
  'meshlet-l7': 'meshlet L7',
  'haproxy-http': 'HAProxy HTTP pair',
};

/** Which path a scenario's ratio columns and checks of the bar compare with which. */
export interface Comparison {
  readonly subject: PathName;
  readonly peer: PathName;
}

/** The L4 scenarios' comparison: meshlet against the TCP pair. */
export const L4_COMPARISON: Comparison = { subject: 'meshlet', peer: 'haproxy' };

/** One figure a scenario reports (a row of its table). */
export interface MetricSpec {
  readonly key: string;
  readonly label: string;
  readonly unit: string;
  /** Which way is better: decides nothing in the tables, only the chart's and the verdict's wording. */
  readonly better: 'higher' | 'lower';
  /** Decimals shown. */
  readonly digits: number;
  /** A property of the proxies (CPU, RSS): the direct path has none. */
  readonly proxyOnly?: boolean;
  /** Measured on these paths only (the agents' own runtime figures); absent: every path. */
  readonly onlyPaths?: readonly PathName[];
}

/** Whether metric `m` has a value on `path` (not a proxy figure on the direct path, not outside its `onlyPaths`). */
export function metricOnPath(m: MetricSpec, path: PathName): boolean {
  if (m.proxyOnly === true && path === 'direct') return false;
  return m.onlyPaths === undefined || m.onlyPaths.includes(path);
}

/** One measurement: one scenario on one path in one round. */
export interface RunRecord {
  readonly round: number;
  readonly path: PathName;
  /** Metric key -> value; a metric the run could not produce is absent. */
  readonly values: Readonly<Record<string, number>>;
  /** Why the run failed or is doubtful (tool error, errors counted by the load generator). */
  readonly error?: string;
  readonly wallMs: number;
}

/** A scenario with its raw runs. */
export interface ScenarioResult {
  readonly id: string;
  readonly title: string;
  /** One sentence: what the figures mean and how they were taken. */
  readonly measures: string;
  readonly metrics: readonly MetricSpec[];
  readonly runs: readonly RunRecord[];
  /** Paths this scenario does not apply to, with the reason (the direct path has no proxy). */
  readonly notApplicable: Readonly<Partial<Record<PathName, string>>>;
  /** The paths it runs on, in table order; absent (results before the L7 scenarios): the run's {@link L4_PATHS}. */
  readonly paths?: readonly PathName[];
  /** What its ratios compare; absent: {@link L4_COMPARISON}. */
  readonly compare?: Comparison;
  /** Column names that differ from {@link PATH_LABELS} in this scenario's table. */
  readonly labels?: Readonly<Partial<Record<PathName, string>>>;
}

/** What a TLS handshake negotiated. */
export interface TlsFacts {
  readonly protocol: string;
  readonly cipher: string;
  readonly group: string;
}

/** The machine and tools of a run. */
export interface MachineFacts {
  readonly cores: number;
  readonly cpuModel: string;
  readonly memoryGiB: number;
  readonly kernel: string;
  readonly node: string;
  readonly haproxy: string;
  readonly iperf3: string;
  readonly sockperf: string;
  readonly wrk: string;
  /** Absent in results from before the L7 scenarios. */
  readonly h2load?: string;
  readonly fdLimit: number;
}

/** The top of one agent's CPU profile (`--profile`). */
export interface ProfileSummary {
  readonly node: string;
  /** The `.cpuprofile` file, relative to the report. */
  readonly file: string;
  /** Time sampled, idle included. */
  readonly totalMs: number;
  /** Time not idle; category and function shares are of this. */
  readonly busyMs: number;
  readonly categories: readonly { readonly name: string; readonly ms: number; readonly share: number }[];
  readonly topFunctions: readonly {
    readonly name: string;
    readonly location: string;
    readonly selfMs: number;
    readonly share: number;
    /** The nearest meshlet function on the stack above it, when one accounts for most of its time. */
    readonly via?: string;
  }[];
}

/** Everything a run produced. */
export interface BenchResults {
  readonly format: 'meshlet-bench/1';
  readonly mode: string;
  readonly profile: boolean;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly machine: MachineFacts;
  /**
   * The machine's 1-minute load average when the run started and ended: anything beyond the
   * bench's own work is other work competing for the cores, and noise in the figures.
   */
  readonly loadAverage: { readonly start: number; readonly end: number };
  readonly paths: readonly PathName[];
  readonly parameters: Readonly<Record<string, number | string | boolean>>;
  readonly tls: Readonly<Partial<Record<'meshlet' | 'haproxy' | 'haproxy-http', TlsFacts>>>;
  readonly notes: readonly string[];
  readonly scenarios: readonly ScenarioResult[];
  readonly cpuProfiles?: readonly ProfileSummary[];
  /** The authorization engine's scenario (`authz-1000`), when it ran. */
  readonly authz?: AuthzScenarioResult;
}

/** One workload of the authorization benchmark: its policies and ns per `evaluate()` call in each mode. */
export interface AuthzWorkloadFigures {
  readonly policies: number;
  readonly rules: number;
  /** selectPolicies + compile for this workload, ms. */
  readonly compileMs: number;
  readonly connectionOpaqueNs: number;
  readonly connectionHttpNs: number;
  readonly requestNs: number;
}

/** What `node dist/bench/authz.js --json` prints: 1,000 policies on a node with 100 local workloads. */
export interface AuthzFigures {
  readonly format: 'meshlet-bench-authz/1';
  readonly policies: number;
  readonly workloads: number;
  /** Timed evaluations per cell (after a warm-up). */
  readonly iterations: number;
  /** Compile per workload over the 100 workloads, ms (the first pays for the policies they share). */
  readonly compileMs: { readonly first: number; readonly median: number; readonly p99: number; readonly max: number; readonly total: number };
  /** The workload with the median number of policies. */
  readonly typical: AuthzWorkloadFigures;
  /** The workload with the most policies. */
  readonly worst: AuthzWorkloadFigures;
  /** A workload no policy selects, per connection. */
  readonly noPolicyNs: number;
  /** The engine's address matcher next to node:net's BlockList, 20 IPv4 CIDRs, an address outside them. */
  readonly ipBlocks: { readonly cidrs: number; readonly ipBlocksNs: number; readonly blockListNs: number };
}

/** The `authz-1000` scenario of a run: its figures, or why there are none. Needs no lab. */
export interface AuthzScenarioResult {
  readonly id: string;
  readonly figures?: AuthzFigures;
  readonly error?: string;
  readonly wallMs: number;
}
