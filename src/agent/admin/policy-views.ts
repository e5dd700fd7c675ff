/**
 * The admin API's authorization views: `/policies` (what is in force for each local workload)
 * and `/policy/explain` (what the policies say about one query, on this agent's snapshot).
 * Both are computed from the snapshot in force with the same pure functions the data path
 * uses (`authz/select.ts`, `authz/engine.ts`), so they say what the agent enforces.
 */
import { WorkloadAuthz, ruleHasL7 } from '../../mesh/authz/engine.js';
import { explainQuery, queryFromParams, type ExplainResult } from '../../mesh/authz/explain-query.js';
import { selectPolicies } from '../../mesh/authz/select.js';
import type { NodeSnapshot } from '../../mesh/types.js';

/** One policy in force for one local workload. */
export interface PolicyRow {
  readonly workload: string;
  /** `namespace/name`. */
  readonly policy: string;
  readonly apiVersion: string;
  readonly action: string;
  /** How it selects the workload: `selector`, `namespace`, `mesh`, `mesh-selector`, `targetRef`. */
  readonly selectedBy: string;
  readonly rules: number;
  /** Whether a rule has L7 fields (methods, paths, hosts, `request.*` conditions). */
  readonly l7: boolean;
  /** The workload ports it applies to: `all`, or the targeted Services' target ports (`8080,9090`). */
  readonly ports: string;
}

/** `/policies`. */
export interface PoliciesView {
  readonly version: string;
  /** Every local workload's policies, in evaluation order (DENY, ALLOW, AUDIT). */
  readonly policies: readonly PolicyRow[];
  /** Local workloads no policy selects: every connection to them is allowed. */
  readonly withoutPolicy: readonly string[];
  /** The mesh's policy status lines (a policy that selects nothing, ...), when the snapshot carries them. */
  readonly status: readonly string[];
}

/** `/policies`: the policies in force for each local workload of `snapshot`. */
export function policiesView(snapshot: NodeSnapshot): PoliciesView {
  const all = snapshot.authorizationPolicies ?? [];
  const policies: PolicyRow[] = [];
  const withoutPolicy: string[] = [];
  for (const w of snapshot.localWorkloads) {
    const authz = all.length === 0 ? WorkloadAuthz.NONE : WorkloadAuthz.compile(selectPolicies(all, w, snapshot.services));
    if (authz.empty) withoutPolicy.push(w.uid);
    for (const s of authz.policies) {
      policies.push({
        workload: w.uid,
        policy: s.policy.key,
        apiVersion: s.policy.apiVersion,
        action: s.policy.action,
        selectedBy: s.selectedBy,
        rules: s.policy.rules.length,
        l7: s.policy.rules.some(ruleHasL7),
        ports: s.ports === undefined ? 'all' : [...s.ports].sort((a, b) => a - b).join(','),
      });
    }
  }
  return { version: snapshot.version, policies, withoutPolicy, status: [] };
}

/**
 * `/policy/explain?source=..&destination=..[&port=..&method=..&path=..&host=..&header=name:value&sni=..&mode=..]`:
 * the query evaluated on `snapshot` (any destination of the mesh, not only local ones; only a
 * local destination's verdict is this agent's to enforce). Bad parameters throw
 * `MESHLET_ERR_CONFIG_INVALID` (400).
 */
export function policyExplainView(snapshot: NodeSnapshot, params: URLSearchParams): ExplainResult & { readonly version: string } {
  const result = explainQuery(queryFromParams(params), {
    trustDomain: snapshot.trustDomain,
    node: snapshot.node,
    workloads: snapshot.workloads,
    services: snapshot.services,
    authorizationPolicies: snapshot.authorizationPolicies ?? [],
  });
  return { version: snapshot.version, ...result };
}
