/**
 * TrafficPolicy resilience sections on the snapshot wire. A policy's sections travel in their
 * `spec` form (`objects/traffic-policy-spec.ts`) and are read back by the very readers that
 * checked the file (`objects/traffic-policy-resilience.ts`), so a hostile or broken controller's
 * policy is refused naming the field (`cluster.services[2].trafficPolicy.resilience.retry.numRetries`)
 * and nothing out of bounds reaches the data path. Route policies travel beside the routes.
 */
import { checkFields } from '../validate/readers.js';
import type { ProblemSink } from '../validate/problems.js';
import { type FieldPath, formatPath, formatValue, isFields } from '../validate/values.js';
import { readResilience, RESILIENCE_SECTIONS, type PolicyScope } from '../objects/traffic-policy-resilience.js';
import { resilienceToSpec } from '../objects/traffic-policy-spec.js';
import type { ResiliencePolicy } from '../resilience.js';
import type { RouteData } from '../routes.js';
import type { RoutePolicyData, RoutePolicyInfo } from '../types.js';
import { fieldPath, listField, stringField, type WireObject, type WireProblems } from './checks.js';

/** Longest policy name (`namespace/name`: a DNS-1123 label, "/", a DNS-1123 subdomain). */
export const MAX_POLICY_NAME = 317;
/** A policy name check for {@link stringField}. */
export const policyName = (v: string): string | undefined => (v.length <= MAX_POLICY_NAME && /^[^/]+\/[^/]+$/.test(v) ? undefined : 'is not namespace/name');
const ROUTE_KEY = /^(HTTPRoute|GRPCRoute)\/[^/]+\/[^/]+$/;

/** The resilience sections of a policy as they travel (absent when it has none). */
export function resilienceToWire(p: ResiliencePolicy): { resilience?: Record<string, unknown> } {
  const spec = resilienceToSpec(p);
  return Object.keys(spec).length === 0 ? {} : { resilience: spec };
}

/** A sink that names each field under `base` on the wire's problem list. */
function sinkAt(p: WireProblems, base: string): ProblemSink {
  return { report: (path: FieldPath, message: string) => p.add(path.length === 0 ? base : `${base}.${formatPath(path)}`, message) };
}

/** Reads `value` (the `resilience` field of a policy at `path`); absent: no sections. */
export function decodeResilience(p: WireProblems, value: unknown, path: string, scope: PolicyScope): ResiliencePolicy {
  if (value === undefined) return {};
  const at = fieldPath(path, 'resilience');
  if (!isFields(value)) {
    p.add(at, `must be an object, got ${formatValue(value)}`);
    return {};
  }
  const sink = sinkAt(p, at);
  checkFields(sink, value, [], RESILIENCE_SECTIONS, true);
  return readResilience(sink, value, [], scope);
}

/** `cluster.routePolicies`: each names a route of the view, once, in route-key order. */
export function decodeRoutePolicies(p: WireProblems, view: WireObject, routes: readonly RouteData[]): RoutePolicyData[] {
  // Older controllers send none.
  if (view['routePolicies'] === undefined) return [];
  const keys = new Set(routes.map((r) => `${r.kind}/${r.namespace}/${r.name}`));
  const out: RoutePolicyData[] = [];
  listField(p, view, 'routePolicies', 'cluster').forEach((value, i) => {
    const path = `cluster.routePolicies[${i}]`;
    if (!isFields(value)) {
      p.add(path, `must be an object {route, policy}, got ${formatValue(value)}`);
      return;
    }
    const route = stringField(p, value, 'route', path, (v) => (!ROUTE_KEY.test(v) ? 'is not <kind>/<namespace>/<name> of an HTTPRoute or GRPCRoute' : !keys.has(v) ? 'is not a route of the cluster view' : undefined));
    const last = out[out.length - 1];
    if (route !== '' && last !== undefined && last.route >= route) p.add(fieldPath(path, 'route'), `${JSON.stringify(route)} is out of order or appears twice (sorted by route key)`);
    const o = isFields(value['policy']) ? value['policy'] : undefined;
    if (o === undefined) p.add(fieldPath(path, 'policy'), `must be an object, got ${formatValue(value['policy'])}`);
    const ppath = fieldPath(path, 'policy');
    const policy: RoutePolicyInfo = { policy: stringField(p, o ?? {}, 'policy', ppath, policyName), ...decodeResilience(p, o?.['resilience'], ppath, 'route') };
    if (route !== '') out.push({ route, policy });
  });
  return out;
}

/** `routePolicies` as they travel. */
export function routePoliciesToWire(list: readonly RoutePolicyData[]): Record<string, unknown>[] {
  return list.map((rp) => ({ route: rp.route, policy: { policy: rp.policy.policy, ...resilienceToWire(rp.policy) } }));
}
