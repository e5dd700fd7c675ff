/**
 * TrafficPolicy status the Gateway API way (GEP-713, `PolicyAncestorStatus`): one entry in
 * `status.ancestors` per target (the Service or route the policy names), written by meshlet's
 * controller, with one `Accepted` condition whose reason says why: `Accepted` (in force),
 * `Conflicted` (an older policy already targets it), `TargetNotFound` (no such Service, or no
 * route the data path gets) or `Invalid` (the policy fails validation; the message names file,
 * object and field). Pure: the Kubernetes writer shows what this returns.
 *
 * The decision for valid policies mirrors `attachTrafficPolicies` (oldest wins per target):
 * test/unit/mesh/traffic-policy-status.test.ts checks that both agree.
 */
import type { ClusterState } from './cluster-types.js';
import { GATEWAY_GROUP } from './objects/route-common.js';
import { MAX_CONDITION_MESSAGE, MESHLET_CONTROLLER_NAME } from './route-status.js';
import { comparePolicies, routePolicyKey } from './traffic-policies.js';
import type { TrafficPolicyInfo, TrafficPolicyObject } from './types.js';

/** GEP-713's reasons for the `Accepted` condition of a policy. */
export const POLICY_REASONS = ['Accepted', 'Invalid', 'Conflicted', 'TargetNotFound'] as const;
export type PolicyReason = (typeof POLICY_REASONS)[number];

/** The Gateway API's cap on `status.ancestors` (PolicyStatus, maxItems 16). */
export const MAX_POLICY_ANCESTORS = 16;

/** A `metav1.Condition` less its times, which the writer adds. */
export interface PolicyCondition {
  readonly type: 'Accepted';
  readonly status: 'True' | 'False';
  readonly reason: PolicyReason;
  readonly message: string;
}

/** A target as Gateway API's `ParentReference`: a Service (group "") or a route. */
export interface PolicyAncestorRef {
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
}

/** The status of a policy for one of its targets. */
export interface PolicyAncestorStatus {
  readonly ancestorRef: PolicyAncestorRef;
  readonly controllerName: string;
  readonly conditions: readonly PolicyCondition[];
}

/** A TrafficPolicy's status: what meshlet writes in `status.ancestors`. */
export interface TrafficPolicyStatus {
  readonly namespace: string;
  readonly name: string;
  readonly ancestors: readonly PolicyAncestorStatus[];
  /** `metadata.generation` when known (an invalid policy's raw object): `observedGeneration`. */
  readonly generation?: number;
  /**
   * The compiled policy, for valid ones: a change of it is a new spec whose generation the
   * writer reads back (TrafficPolicyObject does not carry `metadata.generation`).
   */
  readonly policy?: TrafficPolicyInfo;
}

const accepted = (ok: boolean, reason: PolicyReason, message: string): PolicyCondition => ({ type: 'Accepted', status: ok ? 'True' : 'False', reason, message });

/** A parsed target (`web`, or `HTTPRoute/web`) as an ancestorRef in `namespace`. */
export function targetAncestorRef(namespace: string, target: string): PolicyAncestorRef {
  const slash = target.indexOf('/');
  if (slash === -1) return { group: '', kind: 'Service', namespace, name: target };
  return { group: GATEWAY_GROUP, kind: target.slice(0, slash), namespace, name: target.slice(slash + 1) };
}

const describe = (ref: PolicyAncestorRef): string => `${ref.kind} ${ref.namespace}/${ref.name}`;

/**
 * The status of every valid policy, sorted by `namespace/name`.
 * @param services keys (`namespace/name`) of the Services that exist with a cluster IP
 * @param routes keys (`<kind>/<namespace>/<name>`) of the routes the data path gets
 */
export function trafficPolicyStatuses(policies: readonly TrafficPolicyObject[], services: ReadonlySet<string>, routes: ReadonlySet<string>): TrafficPolicyStatus[] {
  const winners = new Map<string, TrafficPolicyObject>();
  const out: TrafficPolicyStatus[] = [];
  for (const p of [...policies].sort(comparePolicies)) {
    const ancestors = p.targets.slice(0, MAX_POLICY_ANCESTORS).map((target): PolicyAncestorStatus => {
      const ref = targetAncestorRef(p.namespace, target);
      const route = ref.kind !== 'Service';
      const key = route ? routePolicyKey(ref.kind as 'HTTPRoute' | 'GRPCRoute', p.namespace, ref.name) : `${p.namespace}/${ref.name}`;
      const first = winners.get(key);
      let condition: PolicyCondition;
      if (!(route ? routes : services).has(key)) {
        const why = route ? 'does not exist, or no Service parent accepted it' : 'does not exist or has no cluster IP';
        condition = accepted(false, 'TargetNotFound', `${describe(ref)} ${why}: nothing to apply the policy to`);
      } else if (first !== undefined) {
        condition = accepted(false, 'Conflicted', `the older TrafficPolicy ${first.namespace}/${first.name} already targets ${describe(ref)}: this one is ignored for it`);
      } else {
        winners.set(key, p);
        condition = accepted(true, 'Accepted', `in force for ${describe(ref)}`);
      }
      return { ancestorRef: ref, controllerName: MESHLET_CONTROLLER_NAME, conditions: [condition] };
    });
    out.push({ namespace: p.namespace, name: p.name, ancestors, policy: p.policy });
  }
  return out.sort((a, b) => compareKeys(`${a.namespace}/${a.name}`, `${b.namespace}/${b.name}`));
}

const compareKeys = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** {@link trafficPolicyStatuses} against a built state: its Services and the routes it carries. */
export function trafficPolicyStatusesOf(state: Pick<ClusterState, 'services' | 'routes'>, policies: readonly TrafficPolicyObject[]): TrafficPolicyStatus[] {
  const services = new Set(state.services.map((s) => s.key));
  const routes = new Set(state.routes.map((r) => routePolicyKey(r.kind, r.namespace, r.name)));
  return trafficPolicyStatuses(policies, services, routes);
}

/** Longest ancestorRef field meshlet echoes back (a Kubernetes name is at most 253). */
const MAX_REF_FIELD = 253;
/** Longest kind echoed back (the Gateway API's `Kind` is at most 63 characters). */
const MAX_KIND = 63;
const isRefField = (v: unknown, min: number, max = MAX_REF_FIELD): v is string => typeof v === 'string' && v.length >= min && v.length <= max;

/** One raw targetRef as an ancestorRef, or undefined when it names nothing readable. */
function rawAncestorRef(ref: unknown, namespace: string): PolicyAncestorRef | undefined {
  if (ref === null || typeof ref !== 'object' || Array.isArray(ref)) return undefined;
  const r = ref as { group?: unknown; kind?: unknown; name?: unknown };
  const group = r.group === undefined || r.group === null || r.group === 'core' ? '' : r.group;
  const kind = r.kind === undefined ? 'Service' : r.kind;
  if (!isRefField(r.name, 1) || !isRefField(kind, 1, MAX_KIND) || !isRefField(group, 0)) return undefined;
  return { group, kind, namespace, name: r.name };
}

/**
 * The status of a TrafficPolicy that failed validation (it is in no state): for each target
 * its raw `spec.targetRefs` name (at most {@link MAX_POLICY_ANCESTORS}, duplicates once),
 * `Accepted: False`, reason `Invalid`, the problems as the message (each names file, object and
 * field). Undefined when no targetRef names anything (nothing to hang a status on; the
 * controller's log still says why). Pure: reads the raw object leniently, since it is invalid.
 */
export function invalidTrafficPolicyStatus(raw: unknown, problems: readonly string[]): TrafficPolicyStatus | undefined {
  const o = raw as { metadata?: { name?: unknown; namespace?: unknown; generation?: unknown }; spec?: { targetRefs?: unknown } } | null;
  const name = o?.metadata?.name;
  const namespace = o?.metadata?.namespace;
  if (typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const refs = Array.isArray(o?.spec?.targetRefs) ? (o?.spec?.targetRefs as unknown[]) : [];
  let message = `meshlet cannot use this policy: ${problems.join('; ')}`;
  if (message.length > MAX_CONDITION_MESSAGE) message = `${message.slice(0, MAX_CONDITION_MESSAGE - 3)}...`;
  const ancestors: PolicyAncestorStatus[] = [];
  const seen = new Set<string>();
  for (const ref of refs.slice(0, 64)) {
    const ancestorRef = rawAncestorRef(ref, namespace);
    if (ancestorRef === undefined) continue;
    const key = `${ancestorRef.group}/${ancestorRef.kind}/${ancestorRef.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    ancestors.push({ ancestorRef, controllerName: MESHLET_CONTROLLER_NAME, conditions: [accepted(false, 'Invalid', message)] });
    if (ancestors.length === MAX_POLICY_ANCESTORS) break;
  }
  if (ancestors.length === 0) return undefined;
  const generation = o?.metadata?.generation;
  return { namespace, name, ancestors, ...(Number.isSafeInteger(generation) && (generation as number) > 0 ? { generation: generation as number } : {}) };
}
