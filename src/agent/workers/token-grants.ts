/**
 * The primary's side of the workers' rate limits: it owns every bucket and grants tokens to the
 * workers in small leases (`rate-lease.ts`), so a limit holds whatever the number of workers.
 * A worker's ask names a rule by id, a workload and (for a per-source rule) a source; the rule
 * and its rate come from the primary's own snapshot, never from the ask, and an ask for a rule
 * or a workload the snapshot does not have gets `unknown`. Pure but for the clock.
 */
import { inboundRateRule } from '../policy/resilience/inbound-policies.js';
import { routeRateRule } from '../policy/resilience/route-rate-limit.js';
import { BucketStore, bucketKey, ruleIdOf } from '../policy/resilience/rate-limit.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import type { LeaseAsk, LeaseGrant } from './rate-lease.js';
import { MAX_LEASE } from './rate-lease.js';

export class TokenGrants {
  private readonly store: BucketStore;
  private readonly now: () => number;
  private index: WorkloadIndex | undefined;

  constructor(now: () => number = () => performance.now(), store = new BucketStore()) {
    this.now = now;
    this.store = store;
  }

  /** The snapshot in force; buckets of rules it no longer has are dropped. */
  setIndex(index: WorkloadIndex): void {
    this.index = index;
    this.store.prune((key) => inboundRateRule(index, ruleIdOf(key)) !== undefined || routeRateRule(index, ruleIdOf(key)) !== undefined);
  }

  /** Answers one ask (already checked for shape by `parseWorkerMessage`). */
  grant(ask: LeaseAsk): LeaseGrant {
    const index = this.index;
    const route = index === undefined ? undefined : routeRateRule(index, ask.rule);
    const found = route ?? (index === undefined ? undefined : inboundRateRule(index, ask.rule));
    // A destination rule's bucket is a local workload's; a route rule's is the route's (its key is in the rule id).
    const local = route === undefined ? index?.byUid.get(ask.workload) : undefined;
    const known = route !== undefined ? ask.rule.startsWith(`route:${ask.workload}#`) : local !== undefined && index?.localIdentities.has(local.identity) === true;
    if (found === undefined || !known) return { id: ask.id, granted: 0, unknown: true };
    const perSource = found.rule.perSource;
    // A per-source rule needs the source ('' for plaintext); a shared one ignores any.
    if (perSource && ask.source === undefined) return { id: ask.id, granted: 0, unknown: true };
    const now = this.now();
    const bucket = this.store.bucket(bucketKey(found.id, ask.workload, perSource ? ask.source : undefined), found.rule, perSource, now);
    return { id: ask.id, granted: bucket.takeUpTo(Math.min(ask.want, MAX_LEASE), now) };
  }

  /** Buckets held (for tests and the bound). */
  get size(): { readonly shared: number; readonly perSource: number } {
    return this.store.size;
  }
}
