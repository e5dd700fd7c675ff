/**
 * Local rate limits of a route (a TrafficPolicy that targets an HTTPRoute or GRPCRoute), at the
 * source agent: one bucket per rule per route per node (per source identity for a `perSource`
 * rule), through the same limiter as the destination side's, so that with worker processes the
 * primary owns the buckets and the limit holds whatever the worker count. Rule ids name the
 * route and the policy (`route:<kind>/<namespace>/<name>#<policy>#<index>`), and the primary
 * reads the rule from its own snapshot by that id, never from the worker's ask. Pure.
 */
import type { RouteInfo } from '../../../mesh/routes.js';
import type { RoutePolicyInfo } from '../../../mesh/types.js';
import type { WorkloadIndex } from '../../state/workload-index.js';
import type { InboundRateRule } from './inbound-policies.js';
import { chargesFor, type RateCharge, type RateRequest } from './rate-limit.js';

export const ROUTE_RULE_PREFIX = 'route:';

/** `<kind>/<namespace>/<name>`: the route's key, as `RoutePolicyData.route`. */
export function routeKeyOf(route: Pick<RouteInfo, 'kind' | 'namespace' | 'name'>): string {
  return `${route.kind}/${route.namespace}/${route.name}`;
}

const rulesByPolicy = new WeakMap<RoutePolicyInfo, Map<string, InboundRateRule[]>>();

/** The rate rules of a route's policy, with their ids (the same array for the same policy object). */
export function routeRateRules(routeKey: string, policy: RoutePolicyInfo): readonly InboundRateRule[] {
  const rules = policy.rateLimit?.rules;
  if (rules === undefined || rules.length === 0) return [];
  let byRoute = rulesByPolicy.get(policy);
  if (byRoute === undefined) rulesByPolicy.set(policy, (byRoute = new Map()));
  let out = byRoute.get(routeKey);
  if (out === undefined) {
    out = rules.map((rule, index) => ({ id: `${ROUTE_RULE_PREFIX}${routeKey}#${policy.policy}#${index}`, policy: policy.policy, index, rule }));
    byRoute.set(routeKey, out);
  }
  return out;
}

/** The charges of one request on `route` (bucket "workload" part: the route's key). */
export function routeCharges(routeKey: string, policy: RoutePolicyInfo, req: RateRequest): readonly RateCharge[] {
  const rules = routeRateRules(routeKey, policy);
  return rules.length === 0 ? [] : chargesFor(rules, routeKey, req);
}

/** The route rule an id names in `index`'s snapshot, or undefined (a route or policy gone, a forged id). */
export function routeRateRule(index: WorkloadIndex, id: string): InboundRateRule | undefined {
  if (!id.startsWith(ROUTE_RULE_PREFIX)) return undefined;
  const parts = id.slice(ROUTE_RULE_PREFIX.length).split('#');
  if (parts.length !== 3) return undefined;
  const [routeKey, policyName, indexText] = parts as [string, string, string];
  const [kind, namespace, name, ...rest] = routeKey.split('/');
  if ((kind !== 'HTTPRoute' && kind !== 'GRPCRoute') || namespace === undefined || name === undefined || rest.length > 0) return undefined;
  const policy = index.routePolicyOf({ kind, namespace, name });
  if (policy === undefined || policy.policy !== policyName || !/^\d{1,3}$/.test(indexText)) return undefined;
  return routeRateRules(routeKey, policy)[Number(indexText)];
}
