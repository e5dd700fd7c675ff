/**
 * Authorization decisions as metrics: `meshlet_authorization_decisions_total{level, decision,
 * policy}`. Counted once per connection (at close) or request (at its end), and only when a
 * policy decided or an AUDIT rule matched: traffic to a workload no policy selects costs nothing.
 * `policy` is `namespace/name` (bounded by the policies an operator writes), or `-` for a denial
 * because no ALLOW rule matched.
 */
import { Counter, type Registry } from '../../ops/prom.js';
import type { AuthzVerdict } from '../../mesh/authz/types.js';

/** Where the decision was taken: a whole connection, or one HTTP request. */
export type AuthzLevel = 'connection' | 'request';

/** The counter, in a data-path registry. */
export class AuthzMetrics {
  private readonly decisions: Counter<'level' | 'decision' | 'policy'>;

  constructor(registry: Registry) {
    this.decisions = new Counter({
      name: 'meshlet_authorization_decisions_total',
      help: 'AuthorizationPolicy decisions, by level (connection, request), decision (allow, deny, audit) and the deciding policy (- when no ALLOW rule matched)',
      labelNames: ['level', 'decision', 'policy'],
      registers: [registry],
    });
  }

  /** Counts `v` (nothing when no policy decided and nothing was audited). */
  count(level: AuthzLevel, v: AuthzVerdict | undefined): void {
    if (v === undefined) return;
    if (!v.allowed) this.decisions.inc({ level, decision: 'deny', policy: v.decidedBy?.policy ?? '-' });
    else if (v.decidedBy !== undefined) this.decisions.inc({ level, decision: 'allow', policy: v.decidedBy.policy });
    for (const a of v.audits) this.decisions.inc({ level, decision: 'audit', policy: a.policy });
  }
}
