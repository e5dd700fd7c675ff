/**
 * Which TrafficPolicy applies to which Service, and to which route. Two policies targeting one
 * Service (or one route): the oldest wins (creationTimestamp, then `namespace/name`), as the
 * Gateway API's policy attachment says for conflicting policies; every other one is reported
 * for that target, and so is a policy whose target does not exist. Pure.
 */
import { formatSource } from './cluster-conflicts.js';
import type { ObjectProblem } from './objects/report.js';
import { ROUTE_POLICY_SECTIONS } from './resilience.js';
import type { RoutePolicyData, RoutePolicyInfo, TrafficPolicyInfo, TrafficPolicyObject } from './types.js';

/** The policy in force per Service key (`namespace/name`) and per route key, and what was set aside. */
export interface PolicyAttachment {
  readonly byService: ReadonlyMap<string, TrafficPolicyInfo>;
  /** By route key `<kind>/<namespace>/<name>` ({@link routePolicyKey}). */
  readonly byRoute: ReadonlyMap<string, RoutePolicyInfo>;
  readonly problems: readonly ObjectProblem[];
}

/** Oldest first; ties by `namespace/name`. */
export function comparePolicies(a: TrafficPolicyObject, b: TrafficPolicyObject): number {
  if (a.creationTimestamp !== b.creationTimestamp) return a.creationTimestamp - b.creationTimestamp;
  const an = `${a.namespace}/${a.name}`;
  const bn = `${b.namespace}/${b.name}`;
  return an < bn ? -1 : an > bn ? 1 : 0;
}

/**
 * The key a route policy is found by: `<kind>/<namespace>/<name>` (`HTTPRoute/demo/web`), the
 * form of {@link RoutePolicyData.route}. The agent looks a route's policy up with this key.
 */
export function routePolicyKey(kind: 'HTTPRoute' | 'GRPCRoute', namespace: string, name: string): string {
  return `${kind}/${namespace}/${name}`;
}

/** The per-route sections of a compiled policy ({@link ROUTE_POLICY_SECTIONS}), those set only. */
export function routePolicyInfo(info: TrafficPolicyInfo): RoutePolicyInfo {
  const out: Record<string, unknown> = { policy: info.policy };
  for (const key of ROUTE_POLICY_SECTIONS) if (info[key] !== undefined) out[key] = info[key];
  return out as RoutePolicyInfo;
}

/** Route policies as the snapshot carries them: sorted by route key. */
export function routePolicyList(byRoute: ReadonlyMap<string, RoutePolicyInfo>): RoutePolicyData[] {
  return [...byRoute.keys()].sort().map((route) => ({ route, policy: byRoute.get(route) as RoutePolicyInfo }));
}

/**
 * Attaches `policies` to the Services whose keys are in `services` and to the routes whose keys
 * are in `routes`. A policy's targets are Service names, or `<kind>/<name>` for a route.
 * @param services keys (`namespace/name`) of the Services that exist
 * @param routes keys (`<kind>/<namespace>/<name>`) of the routes the data path gets (accepted ones)
 */
export function attachTrafficPolicies(policies: readonly TrafficPolicyObject[], services: ReadonlySet<string>, routes: ReadonlySet<string> = new Set()): PolicyAttachment {
  const byService = new Map<string, TrafficPolicyInfo>();
  const byRoute = new Map<string, RoutePolicyInfo>();
  const winners = new Map<string, TrafficPolicyObject>();
  const problems: ObjectProblem[] = [];
  for (const p of [...policies].sort(comparePolicies)) {
    const who = `TrafficPolicy ${p.namespace}/${p.name} in ${formatSource(p.source)}`;
    for (const target of p.targets) {
      const slash = target.indexOf('/');
      const route = slash !== -1;
      const key = route ? `${target.slice(0, slash)}/${p.namespace}/${target.slice(slash + 1)}` : `${p.namespace}/${target}`;
      const what = route ? key.replace('/', ' ') : `Service ${key}`;
      const first = winners.get(key);
      if (!(route ? routes : services).has(key)) {
        const why = route ? 'which does not exist (or no Service parent accepted it)' : 'which does not exist (or has no cluster IP)';
        problems.push({ kind: 'conflict', text: `${who}: targets ${what}, ${why}; nothing to apply it to` });
      } else if (first !== undefined) {
        problems.push({ kind: 'conflict', text: `${who}: ignored for ${what}: the older TrafficPolicy ${first.namespace}/${first.name} already targets it` });
      } else {
        winners.set(key, p);
        if (route) byRoute.set(key, routePolicyInfo(p.policy));
        else byService.set(key, p.policy);
      }
    }
  }
  return { byService, byRoute, problems };
}
