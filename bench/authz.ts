/**
 * AuthorizationPolicy engine: the cost on one node of 1,000 policies (namespace-wide, selector,
 * mesh-wide and mesh-selector; ALLOW, DENY and a few AUDIT; principal lists of ~10, ipBlocks,
 * some L7 rules) for 100 local workloads: compile time per workload (selectPolicies + compile,
 * what the agent does for each local workload on each snapshot), then evaluate() per connection
 * (opaque and HTTP) and per request, for the typical workload (median number of policies) and
 * the worst one (most policies); then the address matcher next to node:net's BlockList.
 *
 *   npm run build && node dist/bench/authz.js [--iterations 200000] [--json]
 *
 * Deterministic (seeded), bounded (stops by itself in ~10 s at the default iterations); prints
 * markdown tables, or with `--json` one line of {@link AuthzFigures} (what `npm run bench` reads
 * for its `authz-1000` scenario).
 */
import { BlockList } from 'node:net';
import { WorkloadAuthz } from '../src/mesh/authz/engine.js';
import { IpBlocks, IpValue } from '../src/mesh/authz/ip-blocks.js';
import { selectPolicies } from '../src/mesh/authz/select.js';
import type { AuthorizationPolicyData, AuthzAction, AuthzAttributes, AuthzMode, AuthzRule } from '../src/mesh/authz/types.js';
import { EXIT_USAGE } from '../src/mesh/errors.js';
import { authzTables } from './authz-report.js';
import { MAX_AUTHZ_ITERATIONS } from './bench-options.js';
import type { AuthzFigures, AuthzWorkloadFigures } from './bench-types.js';
import { nearestRank } from './tool-parsers.js';

/** `--iterations N`: a whole number from 1 to MAX_AUTHZ_ITERATIONS, else exit 2 with the reason. */
function iterationsFlag(fallback: number): number {
  const at = process.argv.indexOf('--iterations');
  if (at < 0) return fallback;
  const raw = process.argv[at + 1];
  const n = Number(raw);
  if (raw === undefined || !Number.isInteger(n) || n < 1 || n > MAX_AUTHZ_ITERATIONS) {
    process.stderr.write(`authz: --iterations must be an integer from 1 to ${MAX_AUTHZ_ITERATIONS}, got ${JSON.stringify(raw)}\n`);
    process.exit(EXIT_USAGE);
  }
  return n;
}
const ITERATIONS = iterationsFlag(200_000);
const JSON_OUTPUT = process.argv.includes('--json');
/** Warm-up calls before each timed cell (never more than the timed ones, so --iterations bounds the run). */
const WARMUP = Math.min(20_000, ITERATIONS);
const POLICIES = 1000;
const NAMESPACES = 20;
const WORKLOADS = 100;
const APPS = 10;

/** mulberry32: a small seeded PRNG, so every run measures the same policies. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
const rnd = prng(12);
const pick = <T>(list: readonly T[]): T => list[Math.floor(rnd() * list.length)] as T;
const ns = (i: number): string => `ns${i}`;
const principal = (): string => `cluster.local/ns/${ns(Math.floor(rnd() * NAMESPACES))}/sa/sa${Math.floor(rnd() * 50)}`;

function rule(l7: boolean): AuthzRule {
  const principals = Array.from({ length: 10 }, principal);
  const from = rnd() < 0.3 ? [{ source: { principals } }, { source: { ipBlocks: [`10.${Math.floor(rnd() * 255)}.0.0/16`, '192.168.0.0/24'] } }] : [{ source: { principals } }];
  if (!l7) return { from, to: [{ operation: { ports: [pick(['80', '8080', '9090'])] } }] };
  return { from, to: [{ operation: { methods: ['GET', 'HEAD'], paths: ['/api/*', `/v${Math.floor(rnd() * 3)}/{*}/items`] } }], when: [{ key: 'request.headers[x-tenant]', values: ['t1', 't2*'] }] };
}

function makePolicies(): AuthorizationPolicyData[] {
  const out: AuthorizationPolicyData[] = [];
  for (let i = 0; i < POLICIES; i++) {
    const r = rnd();
    const root = r < 0.05 || (r >= 0.95 && r < 0.97);
    const namespace = root ? 'meshlet-system' : ns(Math.floor(rnd() * NAMESPACES));
    const action: AuthzAction = r < 0.05 ? 'DENY' : rnd() < 0.2 ? 'DENY' : rnd() < 0.05 ? 'AUDIT' : 'ALLOW';
    const selector = r < 0.05 ? undefined : r < 0.97 && rnd() < 0.4 ? undefined : { app: `app${Math.floor(rnd() * APPS)}` };
    const rules = r < 0.05 ? [{ from: [{ source: { ipBlocks: ['203.0.113.0/24', 'fd00:bad::/32'] } }] }] : Array.from({ length: 1 + Math.floor(rnd() * 3) }, () => rule(rnd() < 0.2));
    const name = `p${i}`;
    out.push({ key: `${namespace}/${name}`, namespace, name, apiVersion: 'security.istio.io/v1', action, rules, creationTimestamp: i, ...(selector === undefined ? {} : { selector }) });
  }
  return out;
}

function nsPerCall(fn: () => unknown): number {
  for (let i = 0; i < WARMUP; i++) fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) fn();
  return Number(process.hrtime.bigint() - start) / ITERATIONS;
}

const policies = makePolicies();
const workloads = Array.from({ length: WORKLOADS }, (_, i) => ({ uid: `Pod/${ns(i % NAMESPACES)}/w${i}`, namespace: ns(i % NAMESPACES), labels: { app: `app${i % APPS}` } }));

// Compile: every local workload, as the agent does on a snapshot (the first pays for the shared policies).
const compileMs: number[] = [];
const compiled: WorkloadAuthz[] = [];
for (const w of workloads) {
  const start = process.hrtime.bigint();
  compiled.push(WorkloadAuthz.compile(selectPolicies(policies, w, [])));
  compileMs.push(Number(process.hrtime.bigint() - start) / 1e6);
}
const bySize = compiled.map((a, i) => ({ a, i, n: a.policies.length })).sort((x, y) => x.n - y.n);
const typical = bySize[Math.floor(bySize.length / 2)] as { a: WorkloadAuthz; i: number; n: number };
const worst = bySize[bySize.length - 1] as { a: WorkloadAuthz; i: number; n: number };

/** A source no rule names (every rule is tried), as a connection that ends up denied or allowed by default. */
const connection: AuthzAttributes = { sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/stranger', sourceIp: '10.7.1.2', destinationIp: '10.0.0.9', destinationPort: 8080 };
const req: AuthzAttributes = { ...connection, request: { method: 'GET', path: '/api/items?page=2', host: 'svc.ns1.svc.cluster.local:8080', headers: { 'x-tenant': 't1', accept: '*/*' } } };

function figuresOf(w: { a: WorkloadAuthz; i: number; n: number }): AuthzWorkloadFigures {
  const time = (mode: AuthzMode, at: AuthzAttributes): number => nsPerCall(() => w.a.evaluate(at, mode));
  return {
    policies: w.n,
    rules: w.a.policies.reduce((sum, p) => sum + p.policy.rules.length, 0),
    compileMs: compileMs[w.i] ?? 0,
    connectionOpaqueNs: time('connection-opaque', connection),
    connectionHttpNs: time('connection-http', connection),
    requestNs: time('request', req),
  };
}

/** The engine's address matcher next to node:net BlockList: 20 IPv4 CIDRs, an address outside them. */
function ipBlockFigures(): AuthzFigures['ipBlocks'] {
  const cidrs = Array.from({ length: 20 }, (_, i) => `10.${i}.0.0/${16 + (i % 8)}`);
  const blocks = new IpBlocks(cidrs);
  const list = new BlockList();
  for (const c of cidrs) list.addSubnet(c.split('/')[0] as string, Number(c.split('/')[1]), 'ipv4');
  const ip = new IpValue();
  const address = '172.16.5.4';
  const ipBlocksNs = nsPerCall(() => ip.set(address) !== 0 && blocks.has(ip));
  const blockListNs = nsPerCall(() => list.check(address, 'ipv4'));
  return { cidrs: cidrs.length, ipBlocksNs, blockListNs };
}

const sorted = [...compileMs].sort((a, b) => a - b);
const figures: AuthzFigures = {
  format: 'meshlet-bench-authz/1',
  policies: POLICIES,
  workloads: WORKLOADS,
  iterations: ITERATIONS,
  compileMs: {
    first: compileMs[0] ?? 0,
    median: nearestRank(sorted, 50),
    p99: nearestRank(sorted, 99),
    max: sorted[sorted.length - 1] ?? 0,
    total: compileMs.reduce((a, b) => a + b, 0),
  },
  typical: figuresOf(typical),
  worst: figuresOf(worst),
  noPolicyNs: nsPerCall(() => WorkloadAuthz.NONE.evaluate(connection, 'connection-opaque')),
  ipBlocks: ipBlockFigures(),
};
process.stdout.write(JSON_OUTPUT ? `${JSON.stringify(figures)}\n` : `${authzTables(figures).join('\n')}\n`);
