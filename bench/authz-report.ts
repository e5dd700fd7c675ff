/**
 * The `authz-1000` scenario's pure parts: reading what `dist/bench/authz.js --json` printed
 * (a child's output is untrusted: every figure is checked), its table, and its section of the
 * report with the target. `bench/authz.ts` prints the same table on its own.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';
import type { AuthzFigures, AuthzScenarioResult, AuthzWorkloadFigures } from './bench-types.js';
import { authzVerdict, AUTHZ_CONNECTION_TARGET_NS } from './summary.js';

/** The most output read from the child (its JSON is about 1 KiB). */
export const MAX_AUTHZ_OUTPUT_BYTES = 64 * 1024;

const WORKLOAD_KEYS: readonly (keyof AuthzWorkloadFigures)[] = ['policies', 'rules', 'compileMs', 'connectionOpaqueNs', 'connectionHttpNs', 'requestNs'];
const COMPILE_KEYS: readonly (keyof AuthzFigures['compileMs'])[] = ['first', 'median', 'p99', 'max', 'total'];
const IP_KEYS: readonly (keyof AuthzFigures['ipBlocks'])[] = ['cidrs', 'ipBlocksNs', 'blockListNs'];

function record(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/** Lists `where.key` for every key that is not a finite number >= 0. */
function badNumbers(v: unknown, where: string, keys: readonly string[], problems: string[]): void {
  const obj = record(v);
  if (obj === undefined) {
    problems.push(`${where} is not an object`);
    return;
  }
  for (const k of keys) {
    const x = obj[k];
    if (typeof x !== 'number' || !Number.isFinite(x) || x < 0) problems.push(`${where}.${k} is not a number >= 0: ${JSON.stringify(x) ?? 'absent'}`);
  }
}

/**
 * Reads the child's stdout: the last non-empty line is the JSON object. Throws
 * `MESHLET_ERR_HOST_TOOL` naming every missing or bad figure.
 */
export function parseAuthzFigures(stdout: string): AuthzFigures {
  if (stdout.length > MAX_AUTHZ_OUTPUT_BYTES) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `bench/authz.js printed ${stdout.length} bytes, more than ${MAX_AUTHZ_OUTPUT_BYTES}`);
  const line = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `bench/authz.js did not print JSON: ${JSON.stringify(line.slice(0, 200))}`);
  }
  const obj = record(parsed);
  const problems: string[] = [];
  if (obj?.['format'] !== 'meshlet-bench-authz/1') problems.push(`format is not "meshlet-bench-authz/1": ${JSON.stringify(obj?.['format']) ?? 'absent'}`);
  badNumbers(obj, 'figures', ['policies', 'workloads', 'iterations', 'noPolicyNs'], problems);
  badNumbers(obj?.['compileMs'], 'compileMs', COMPILE_KEYS, problems);
  badNumbers(obj?.['typical'], 'typical', WORKLOAD_KEYS, problems);
  badNumbers(obj?.['worst'], 'worst', WORKLOAD_KEYS, problems);
  badNumbers(obj?.['ipBlocks'], 'ipBlocks', IP_KEYS, problems);
  if (problems.length > 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `bench/authz.js printed bad figures: ${problems.join('; ')}`, { details: problems });
  return parsed as AuthzFigures;
}

const ms = (n: number): string => n.toFixed(2);
const ns = (n: number): string => Math.round(n).toLocaleString('en-US');

/** The figures as markdown lines: compile per workload, the evaluate table, the address matcher. */
export function authzTables(f: AuthzFigures): string[] {
  const c = f.compileMs;
  const row = (label: string, w: AuthzWorkloadFigures): string =>
    `| ${label} | ${w.policies} | ${w.rules} | ${ms(w.compileMs)} | ${ns(w.connectionOpaqueNs)} | ${ns(w.connectionHttpNs)} | ${ns(w.requestNs)} |`;
  return [
    `${f.policies} policies, ${f.workloads} local workloads; ${f.iterations} evaluations per cell (ns per call).`,
    '',
    `Compile per workload (selectPolicies + compile): first ${ms(c.first)} ms, median ${ms(c.median)} ms, p99 ${ms(c.p99)} ms, max ${ms(c.max)} ms, all ${c.total.toFixed(1)} ms.`,
    '',
    '| workload | policies | rules | compile ms | connection-opaque ns | connection-http ns | request ns |',
    '|---|---:|---:|---:|---:|---:|---:|',
    row('typical (median)', f.typical),
    row('worst (most policies)', f.worst),
    `| no policy | 0 | 0 | - | ${ns(f.noPolicyNs)} | - | - |`,
    '',
    `| ${f.ipBlocks.cidrs} IPv4 CIDRs, address outside | IpBlocks (parse + check) | node:net BlockList.check |`,
    '|---|---:|---:|',
    `| ns per check | ${ns(f.ipBlocks.ipBlocksNs)} | ${ns(f.ipBlocks.blockListNs)} |`,
  ];
}

/** The report's section of the scenario: what it measures, the target, the tables or the failure. */
export function authzSection(a: AuthzScenarioResult): string[] {
  const out = [
    '## Authorization: 1,000 AuthorizationPolicies on a node',
    '',
    `\`${a.id}\`: \`dist/bench/authz.js\` in a child process, no lab: 1,000 seeded policies (namespace-wide, selector, mesh-wide; ALLOW, DENY, AUDIT; principal lists, ipBlocks, some L7 rules) for 100 local workloads. Compile is what the agent does per local workload on each snapshot; evaluate is one check per connection (opaque and HTTP ports) or per request, from a source no rule names, so every rule is tried. Target: a per-connection check under ${ns(AUTHZ_CONNECTION_TARGET_NS / 1000)} µs for the worst workload.`,
    '',
  ];
  const v = authzVerdict(a);
  if (v !== undefined) out.push(`Target: ${v.meets === undefined ? 'not measured' : v.meets ? 'meets' : '**falls short**'}; ${v.detail}.`, '');
  if (a.figures !== undefined) out.push(...authzTables(a.figures), '');
  if (a.error !== undefined) out.push(`Failed after ${formatSeconds(a.wallMs)}: ${a.error}`, '');
  return out;
}

function formatSeconds(wallMs: number): string {
  return `${(wallMs / 1000).toFixed(1)} s`;
}
