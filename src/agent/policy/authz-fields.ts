/** How an authorization verdict shows in the access logs (connections and requests alike). Pure. */
import type { AuthzVerdict } from '../../mesh/authz/types.js';

/**
 * The access-log fields of an authorization verdict: the policy and rule that decided (allowed
 * or denied), its action, and the AUDIT rules that matched (`namespace/name#rule`); nothing
 * when no policy selects the workload.
 */
export function authzLogFields(v: AuthzVerdict | undefined): Record<string, unknown> {
  if (v === undefined) return {};
  const out: Record<string, unknown> = {};
  if (v.decidedBy !== undefined) {
    out['authz_policy'] = v.decidedBy.policy;
    out['authz_rule'] = v.decidedBy.rule;
    out['authz_action'] = v.decidedBy.action;
  }
  if (!v.allowed) out['authz_reason'] = v.reason;
  if (v.audits.length > 0) out['authz_audit'] = v.audits.map((a) => `${a.policy}#${a.rule}`);
  return out;
}
