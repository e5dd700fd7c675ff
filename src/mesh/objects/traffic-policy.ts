/**
 * `meshlet.io/v1alpha1 TrafficPolicy`: per-request traffic settings for the Services it targets,
 * modelled on Envoy Gateway's BackendTrafficPolicy (`targetRefs`, `loadBalancer`). The
 * resilience sections (issue 13: `timeout`, `retry`, `hedging`, `circuitBreaker`, `healthCheck`,
 * `adaptiveConcurrency`, `faultInjection`, `rateLimit`) are read by
 * `traffic-policy-resilience.ts`, each into its own optional field of {@link TrafficPolicyInfo}.
 * A policy targets Services, or HTTPRoutes/GRPCRoutes (then only the per-request sections of
 * `ROUTE_POLICY_SECTIONS`); docs/traffic-policy.md describes every field.
 *
 * ```yaml
 * spec:
 *   targetRefs: [{group: "", kind: Service, name: web}]
 *   loadBalancer:
 *     type: ConsistentHash          # RoundRobin | LeastRequest (default) | PeakEWMA | ConsistentHash
 *     consistentHash: {type: Header, header: {name: x-user}, algorithm: Maglev, tableSize: 65537}
 *     zoneAware: {preferLocal: true}
 * ```
 */
import type { Reporter } from './report.js';
import { isDns1035Label, isDnsSubdomain, parseGatewayDuration, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { checkFields, checkName, optBool, optEnum, optInt, optList, optMap, optString, reqString, requireField } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import { balancerSpecProblems, DEFAULT_ALGORITHM, type BalancerSpec, type HashKeySource } from '../load-balancer.js';
import { MESHLET_OBJECT_FIELDS } from './fields.js';
import { readCreationTimestamp, readMeta, SUBDOMAIN_NAME } from './meta.js';
import type { SourceRef, TrafficPolicyInfo, TrafficPolicyObject } from '../types.js';
import { GATEWAY_GROUP } from './route-common.js';
import { readResilience, RESILIENCE_SECTIONS } from './traffic-policy-resilience.js';

/** `spec.loadBalancer.type` values and the algorithm each names. */
export const LOAD_BALANCER_TYPES = ['RoundRobin', 'LeastRequest', 'PeakEWMA', 'ConsistentHash'] as const;
/** Where a ConsistentHash key comes from. */
export const CONSISTENT_HASH_TYPES = ['SourceIP', 'Header', 'Cookie'] as const;
/** The consistent-hash algorithms: Maglev (Envoy Gateway's) or a ring. */
export const CONSISTENT_HASH_ALGORITHMS = ['Maglev', 'RingHash'] as const;
/** Services (or routes) one policy may target: more is a mistake, not a policy. */
export const MAX_TARGET_REFS = 16;
/** Route kinds a policy may target (group `gateway.networking.k8s.io`). */
export const POLICY_ROUTE_KINDS = ['HTTPRoute', 'GRPCRoute'] as const;

const SPEC_FIELDS = ['targetRefs', 'loadBalancer', ...RESILIENCE_SECTIONS];
const LB_FIELDS = ['type', 'leastRequest', 'peakEWMA', 'consistentHash', 'zoneAware'];

/** Where each BalancerSpec field is written in a TrafficPolicy, for problems. */
const SPEC_PATHS: Readonly<Record<string, FieldPath>> = {
  algorithm: ['spec', 'loadBalancer', 'type'],
  choiceCount: ['spec', 'loadBalancer', 'leastRequest', 'choiceCount'],
  ewmaDefaultRttMs: ['spec', 'loadBalancer', 'peakEWMA', 'defaultRTT'],
  ewmaDecayMs: ['spec', 'loadBalancer', 'peakEWMA', 'decay'],
  maglevTableSize: ['spec', 'loadBalancer', 'consistentHash', 'tableSize'],
  ringPointsPerEndpoint: ['spec', 'loadBalancer', 'consistentHash', 'pointsPerEndpoint'],
};

/** Validates a `meshlet.io/v1alpha1 TrafficPolicy` document and converts it. */
export function trafficPolicyFrom(r: Reporter, obj: Fields, source: SourceRef): TrafficPolicyObject {
  const meta = readMeta(r, obj, 'TrafficPolicy', true, SUBDOMAIN_NAME);
  const creationTimestamp = readCreationTimestamp(r, obj);
  // `status` is tolerated: the controller may report the policy's state there one day.
  checkFields(r, obj, [], [...MESHLET_OBJECT_FIELDS, 'status']);
  requireField(r, obj, 'spec', []);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkFields(r, spec, ['spec'], SPEC_FIELDS, true);
  const targets = readTargetRefs(r, spec);
  const scope = targets.some((t) => t.includes('/')) ? 'route' : 'service';
  const lb = scope === 'route' ? undefined : optMap(r, spec, 'loadBalancer', ['spec']);
  const compiled = readLoadBalancer(r, lb ?? {});
  const resilience = readResilience(r, spec, ['spec'], scope);
  const policy: TrafficPolicyInfo = { policy: `${meta.namespace}/${meta.name}`, ...compiled, ...resilience };
  return { kind: 'TrafficPolicy', ...meta, source, creationTimestamp, targets, policy };
}

/**
 * `spec.targetRefs`: Services of the policy's namespace (group "", kind Service) as their names,
 * or routes (group gateway.networking.k8s.io, kind HTTPRoute or GRPCRoute) as `<kind>/<name>`;
 * at least one, and not both kinds of target in one policy (their sections differ).
 */
function readTargetRefs(r: Reporter, spec: Fields): string[] {
  const list = optList(r, spec, 'targetRefs', ['spec']);
  if (list.length === 0) r.report(['spec', 'targetRefs'], 'required: at least one Service ({group: "", kind: Service, name}) or route');
  if (list.length > MAX_TARGET_REFS) r.report(['spec', 'targetRefs'], `at most ${MAX_TARGET_REFS} entries, got ${list.length}`);
  const out: string[] = [];
  list.slice(0, MAX_TARGET_REFS).forEach((ref, i) => {
    const at: FieldPath = ['spec', 'targetRefs', i];
    if (!isFields(ref)) {
      r.report(at, `must be a mapping {group: "", kind: Service, name}, got ${formatValue(ref)}`);
      return;
    }
    const target = readTargetRef(r, ref, at);
    if (target === undefined) return;
    if (out.includes(target)) r.report([...at, 'name'], `duplicate target ${formatValue(target.slice(target.indexOf('/') + 1))}`);
    else out.push(target);
  });
  const routes = out.filter((t) => t.includes('/')).length;
  if (routes > 0 && routes < out.length) r.report(['spec', 'targetRefs'], 'targets Services and routes at once: a policy targets either Services or routes (write two policies)');
  return out;
}

/** One targetRef: a Service name, or `<kind>/<name>` for a route. */
function readTargetRef(r: Reporter, ref: Fields, at: FieldPath): string | undefined {
  checkFields(r, ref, at, ['group', 'kind', 'name'], true);
  const raw = ref['group'];
  const group = raw === undefined || raw === null || raw === 'core' ? '' : raw;
  const kind = reqString(r, ref, 'kind', at);
  const name = reqString(r, ref, 'name', at);
  if (group === GATEWAY_GROUP) {
    if (kind !== undefined && !(POLICY_ROUTE_KINDS as readonly string[]).includes(kind)) r.report([...at, 'kind'], `must be HTTPRoute or GRPCRoute in group ${GATEWAY_GROUP}, got ${formatValue(kind)}`);
    if (name === undefined || kind === undefined || !checkName(r, name, [...at, 'name'], isDnsSubdomain, `a route name, ${SUBDOMAIN_TEXT}`)) return undefined;
    return (POLICY_ROUTE_KINDS as readonly string[]).includes(kind) ? `${kind}/${name}` : undefined;
  }
  if (group !== '') r.report([...at, 'group'], `must be "" (the core group of Service) or ${GATEWAY_GROUP} (a route), got ${formatValue(raw)}`);
  if (kind !== undefined && kind !== 'Service') r.report([...at, 'kind'], `must be Service, got ${formatValue(kind)}`);
  if (name === undefined || !checkName(r, name, [...at, 'name'], isDns1035Label, 'a Service name (DNS-1035 label)')) return undefined;
  return group === '' && kind === 'Service' ? name : undefined;
}

type Compiled = Omit<TrafficPolicyInfo, 'policy'>;

/** `spec.loadBalancer` compiled into a BalancerSpec, hash keys and the locality switch. */
function readLoadBalancer(r: Reporter, lb: Fields): Compiled {
  const base: FieldPath = ['spec', 'loadBalancer'];
  checkFields(r, lb, base, LB_FIELDS, true);
  const type = optEnum(r, lb, 'type', base, LOAD_BALANCER_TYPES) ?? 'LeastRequest';
  const section = (key: string, owner: (typeof LOAD_BALANCER_TYPES)[number]): Fields | undefined => {
    const m = optMap(r, lb, key, base);
    if (m !== undefined && type !== owner) r.report([...base, key], `only applies when type is ${owner}, not ${type}`);
    return m;
  };
  const lr = section('leastRequest', 'LeastRequest');
  const ewma = section('peakEWMA', 'PeakEWMA');
  const ch = section('consistentHash', 'ConsistentHash');
  let balancer: BalancerSpec = { algorithm: DEFAULT_ALGORITHM };
  let hashKeys: HashKeySource[] = [];
  if (type === 'RoundRobin') balancer = { algorithm: 'round-robin' };
  if (type === 'LeastRequest') {
    if (lr !== undefined) checkFields(r, lr, [...base, 'leastRequest'], ['choiceCount'], true);
    balancer = { algorithm: 'least-request', choiceCount: lr === undefined ? undefined : optInt(r, lr, 'choiceCount', [...base, 'leastRequest'], 0, Number.MAX_SAFE_INTEGER) };
  }
  if (type === 'PeakEWMA') balancer = { algorithm: 'peak-ewma', ...readEwma(r, ewma, [...base, 'peakEWMA']) };
  if (type === 'ConsistentHash') {
    if (ch === undefined) r.report([...base, 'consistentHash'], 'required when type is ConsistentHash');
    const read = readConsistentHash(r, ch ?? {}, [...base, 'consistentHash']);
    balancer = read.balancer;
    hashKeys = read.hashKeys;
  }
  for (const problem of balancerSpecProblems(balancer)) {
    const field = problem.slice(0, problem.indexOf(':'));
    r.report(SPEC_PATHS[field] ?? base, problem.slice(problem.indexOf(':') + 2));
  }
  const zone = optMap(r, lb, 'zoneAware', base);
  if (zone !== undefined) checkFields(r, zone, [...base, 'zoneAware'], ['preferLocal'], true);
  const preferLocalZone = zone === undefined ? false : optBool(r, zone, 'preferLocal', [...base, 'zoneAware']) ?? false;
  return { balancer: dropUndefined(balancer), hashKeys, preferLocalZone };
}

function readEwma(r: Reporter, ewma: Fields | undefined, at: FieldPath): Pick<BalancerSpec, 'ewmaDefaultRttMs' | 'ewmaDecayMs'> {
  if (ewma === undefined) return {};
  checkFields(r, ewma, at, ['defaultRTT', 'decay'], true);
  const duration = (key: string): number | undefined => {
    const v = optString(r, ewma, key, at);
    if (v === undefined) return undefined;
    const ms = parseGatewayDuration(v);
    if (ms === undefined) r.report([...at, key], `must be a duration such as "10ms", "10s" or "1m", got ${formatValue(v)}`);
    return ms;
  };
  return { ewmaDefaultRttMs: duration('defaultRTT'), ewmaDecayMs: duration('decay') };
}

function readConsistentHash(r: Reporter, ch: Fields, at: FieldPath): { balancer: BalancerSpec; hashKeys: HashKeySource[] } {
  checkFields(r, ch, at, ['type', 'header', 'cookie', 'algorithm', 'tableSize', 'pointsPerEndpoint'], true);
  requireField(r, ch, 'type', at);
  const type = optEnum(r, ch, 'type', at, CONSISTENT_HASH_TYPES);
  const algorithm = optEnum(r, ch, 'algorithm', at, CONSISTENT_HASH_ALGORITHMS) ?? 'Maglev';
  const named = (key: 'header' | 'cookie'): string | undefined => {
    const m = optMap(r, ch, key, at);
    const owner = key === 'header' ? 'Header' : 'Cookie';
    if (m !== undefined && type !== owner) r.report([...at, key], `only applies when type is ${owner}`);
    if (type !== owner) return undefined;
    if (m === undefined) {
      r.report([...at, key], `required when type is ${owner} ({name: ...})`);
      return undefined;
    }
    checkFields(r, m, [...at, key], ['name'], true);
    const name = reqString(r, m, 'name', [...at, key]);
    if (name !== undefined && !/^[A-Za-z0-9!#$%&'*+\-.^_`|~]{1,256}$/.test(name)) {
      r.report([...at, key, 'name'], `must be a ${key} name (1 to 256 token characters), got ${formatValue(name)}`);
      return undefined;
    }
    return key === 'header' ? name?.toLowerCase() : name;
  };
  const header = named('header');
  const cookie = named('cookie');
  const hashKeys: HashKeySource[] =
    type === 'SourceIP' ? [{ kind: 'source-ip' }] : header !== undefined ? [{ kind: 'header', name: header }] : cookie !== undefined ? [{ kind: 'cookie', name: cookie }] : [];
  const tableSize = optInt(r, ch, 'tableSize', at, 1, Number.MAX_SAFE_INTEGER);
  const points = optInt(r, ch, 'pointsPerEndpoint', at, 1, Number.MAX_SAFE_INTEGER);
  if (tableSize !== undefined && algorithm !== 'Maglev') r.report([...at, 'tableSize'], 'only applies when algorithm is Maglev');
  if (points !== undefined && algorithm !== 'RingHash') r.report([...at, 'pointsPerEndpoint'], 'only applies when algorithm is RingHash');
  const balancer: BalancerSpec = algorithm === 'Maglev' ? { algorithm: 'maglev', maglevTableSize: tableSize } : { algorithm: 'ring-hash', ringPointsPerEndpoint: points };
  return { balancer, hashKeys };
}

/** The spec without its unset fields (equal policies compare and serialise equal). */
function dropUndefined(spec: BalancerSpec): BalancerSpec {
  return Object.fromEntries(Object.entries(spec).filter(([, v]) => v !== undefined)) as unknown as BalancerSpec;
}
