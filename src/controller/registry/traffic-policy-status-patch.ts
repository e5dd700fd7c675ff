/**
 * The `status` meshlet writes on a TrafficPolicy: `status.ancestors` (GEP-713) with meshlet's
 * entries (controllerName `meshlet.io/controller`, one per target) replaced and any other
 * controller's entries kept, as policy attachment asks of each implementation. A condition's
 * `lastTransitionTime` moves only when its status changes. Pure.
 */
import { MESHLET_CONTROLLER_NAME } from '../../mesh/route-status.js';
import { MAX_POLICY_ANCESTORS, type PolicyAncestorRef, type TrafficPolicyStatus } from '../../mesh/traffic-policy-status.js';
import { isFields, type Fields } from '../../mesh/validate/values.js';
import { canonicalJson } from '../canonical-json.js';

type Json = Record<string, unknown>;

const refJson = (r: PolicyAncestorRef): Json => ({ group: r.group, kind: r.kind, namespace: r.namespace, name: r.name });

const sameRef = (a: unknown, b: Json): boolean => isFields(a) && ['group', 'kind', 'namespace', 'name'].every((k) => (a[k] ?? (k === 'group' ? '' : undefined)) === b[k]);

/** The condition of `type` in a previous entry of meshlet's for `ref`, if any. */
function previous(entries: readonly Fields[], ref: Json, type: string): Fields | undefined {
  const entry = entries.find((e) => sameRef(e['ancestorRef'], ref));
  const conditions = entry === undefined || !Array.isArray(entry['conditions']) ? [] : (entry['conditions'] as unknown[]);
  return conditions.find((c): c is Fields => isFields(c) && c['type'] === type);
}

/**
 * The policy's new `status`, or undefined when meshlet's entries would not change (no write).
 * @param current the policy's `status` as read from the API server
 * @param generation `observedGeneration`: the status's own when known, else the object's as read
 * @param now RFC 3339 time for conditions whose status changed
 */
export function trafficPolicyStatusBody(current: unknown, ours: TrafficPolicyStatus, generation: number | undefined, now: string): { ancestors: Json[] } | undefined {
  const entries = isFields(current) && Array.isArray(current['ancestors']) ? current['ancestors'].filter(isFields) : [];
  const mine = entries.filter((e) => e['controllerName'] === MESHLET_CONTROLLER_NAME);
  const others = entries.filter((e) => e['controllerName'] !== MESHLET_CONTROLLER_NAME);
  const next: Json[] = ours.ancestors.slice(0, Math.max(0, MAX_POLICY_ANCESTORS - others.length)).map((a) => {
    const ancestorRef = refJson(a.ancestorRef);
    const conditions = a.conditions.map((c) => {
      const before = previous(mine, ancestorRef, c.type);
      const since = before !== undefined && before['status'] === c.status && typeof before['lastTransitionTime'] === 'string' ? before['lastTransitionTime'] : now;
      return { type: c.type, status: c.status, reason: c.reason, message: c.message, lastTransitionTime: since, ...(generation === undefined ? {} : { observedGeneration: generation }) };
    });
    return { ancestorRef, controllerName: a.controllerName, conditions };
  });
  // Key order differs between what the API server returns and what is built here.
  if (canonicalJson(next) === canonicalJson(mine)) return undefined;
  return { ancestors: [...others, ...next] };
}
