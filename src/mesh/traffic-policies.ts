/**
 * Which TrafficPolicy applies to which Service. Two policies targeting one Service: the oldest
 * wins (creationTimestamp, then `namespace/name`), as the Gateway API's policy attachment says
 * for conflicting policies; every other one is reported for that Service, and so is a policy
 * whose target does not exist. Pure.
 */
import { formatSource } from './cluster-conflicts.js';
import type { ObjectProblem } from './objects/report.js';
import type { TrafficPolicyInfo, TrafficPolicyObject } from './types.js';

/** The policy in force per Service key (`namespace/name`), and what was set aside. */
export interface PolicyAttachment {
  readonly byService: ReadonlyMap<string, TrafficPolicyInfo>;
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
 * Attaches `policies` to the Services whose keys are in `services`.
 * @param services keys (`namespace/name`) of the Services that exist
 */
export function attachTrafficPolicies(policies: readonly TrafficPolicyObject[], services: ReadonlySet<string>): PolicyAttachment {
  const byService = new Map<string, TrafficPolicyInfo>();
  const winners = new Map<string, TrafficPolicyObject>();
  const problems: ObjectProblem[] = [];
  for (const p of [...policies].sort(comparePolicies)) {
    const who = `TrafficPolicy ${p.namespace}/${p.name} in ${formatSource(p.source)}`;
    for (const target of p.targets) {
      const key = `${p.namespace}/${target}`;
      const first = winners.get(key);
      if (!services.has(key)) {
        problems.push({ kind: 'conflict', text: `${who}: targets Service ${key}, which does not exist (or has no cluster IP); nothing to apply it to` });
      } else if (first !== undefined) {
        problems.push({ kind: 'conflict', text: `${who}: ignored for Service ${key}: the older TrafficPolicy ${first.namespace}/${first.name} already targets it` });
      } else {
        winners.set(key, p);
        byService.set(key, p.policy);
      }
    }
  }
  return { byService, problems };
}
