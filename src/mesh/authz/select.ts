/**
 * Which AuthorizationPolicies apply to a workload, and in which order they are evaluated: pure,
 * shared by the agent (one compiled set per local workload per snapshot), the admin API and
 * `meshlet policy explain`, so all three select the same policies.
 *
 * Istio's selection: a policy with no selector selects every workload of its namespace (of the
 * mesh, in the root namespace); with `selector.matchLabels`, the workloads of its namespace (of
 * every namespace, in the root namespace) whose labels include them; with `targetRefs` to
 * Services, the workloads behind those Services, on the Services' target ports only.
 */
import type { ServiceInfo, WorkloadInfo } from '../types.js';
import type { AuthorizationPolicyData, AuthzAction, AuthzSelectedBy } from './types.js';

/**
 * The root namespace when the caller names none: a policy there applies mesh-wide. The one
 * literal of it: `cluster-state.ts` re-exports it as `ROOT_NAMESPACE` (this module imports
 * nothing of the cluster model, so the agent can use it without pulling that in).
 */
export const DEFAULT_ROOT_NAMESPACE = 'meshlet-system';

/** One policy that selects a workload, and how. */
export interface SelectedPolicy {
  readonly policy: AuthorizationPolicyData;
  readonly selectedBy: AuthzSelectedBy;
  /** targetRef policies: the target ports of its Services on this workload; absent: every port. */
  readonly ports?: ReadonlySet<number>;
}

const ACTION_RANK: Readonly<Record<AuthzAction, number>> = { DENY: 0, ALLOW: 1, AUDIT: 2 };

/** Evaluation order: DENY, ALLOW, AUDIT; each by creation time, then key, then apiVersion. */
export function comparePolicies(a: AuthorizationPolicyData, b: AuthorizationPolicyData): number {
  return (
    ACTION_RANK[a.action] - ACTION_RANK[b.action] ||
    a.creationTimestamp - b.creationTimestamp ||
    (a.key < b.key ? -1 : a.key > b.key ? 1 : 0) ||
    (a.apiVersion < b.apiVersion ? -1 : a.apiVersion > b.apiVersion ? 1 : 0)
  );
}

/** True when `labels` include every entry of `selector`. */
function labelsMatch(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  for (const [k, v] of Object.entries(selector)) if (!Object.hasOwn(labels, k) || labels[k] !== v) return false;
  return true;
}

function hasSelector(p: AuthorizationPolicyData): p is AuthorizationPolicyData & { selector: Readonly<Record<string, string>> } {
  return p.selector !== undefined && Object.keys(p.selector).length > 0;
}

/**
 * The target ports on `workload` of the Services `p` targets (in `p`'s namespace); undefined
 * when the workload is behind none of them.
 */
function targetPorts(p: AuthorizationPolicyData, uid: string, services: ReadonlyMap<string, ServiceInfo>): Set<number> | undefined {
  let ports: Set<number> | undefined;
  for (const name of p.targetServices ?? []) {
    const service = services.get(`${p.namespace}/${name}`);
    if (service === undefined) continue;
    for (const e of service.endpoints) {
      if (e.workload !== uid) continue;
      ports ??= new Set();
      for (const port of Object.values(e.targetPorts)) ports.add(port);
    }
  }
  return ports;
}

/** How `p` selects the workload, or undefined when it does not. */
function selection(
  p: AuthorizationPolicyData,
  workload: Pick<WorkloadInfo, 'uid' | 'namespace' | 'labels'>,
  services: () => ReadonlyMap<string, ServiceInfo>,
  rootNamespace: string,
): SelectedPolicy | undefined {
  if (p.targetServices !== undefined && p.targetServices.length > 0) {
    // Istio refuses a selector beside targetRefs; if both come, both must hold.
    if (hasSelector(p) && !labelsMatch(p.selector, workload.labels)) return undefined;
    const ports = targetPorts(p, workload.uid, services());
    return ports === undefined ? undefined : { policy: p, selectedBy: 'targetRef', ports };
  }
  const root = p.namespace === rootNamespace;
  if (!root && p.namespace !== workload.namespace) return undefined;
  if (!hasSelector(p)) return { policy: p, selectedBy: root ? 'mesh' : 'namespace' };
  if (!labelsMatch(p.selector, workload.labels)) return undefined;
  return { policy: p, selectedBy: root ? 'mesh-selector' : 'selector' };
}

/** The policies that select `workload`, ordered DENY, ALLOW, AUDIT, each by creationTimestamp then key then apiVersion. */
export function selectPolicies(
  policies: readonly AuthorizationPolicyData[],
  workload: Pick<WorkloadInfo, 'uid' | 'namespace' | 'labels'>,
  services: readonly ServiceInfo[],
  rootNamespace: string = DEFAULT_ROOT_NAMESPACE,
): SelectedPolicy[] {
  let byKey: Map<string, ServiceInfo> | undefined;
  const serviceMap = (): ReadonlyMap<string, ServiceInfo> => (byKey ??= new Map(services.map((s) => [s.key, s])));
  const out: SelectedPolicy[] = [];
  for (const p of policies) {
    const s = selection(p, workload, serviceMap, rootNamespace);
    if (s !== undefined) out.push(s);
  }
  return out.sort((a, b) => comparePolicies(a.policy, b.policy));
}
