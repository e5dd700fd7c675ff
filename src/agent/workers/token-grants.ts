/**
 * The primary's side of the workers' rate limits: it owns every bucket and grants tokens to the
 * workers in small leases (`rate-lease.ts`), so a limit holds whatever the number of workers.
 * A worker's ask names a rule by id, a workload and (for a per-source rule) a source; the rule
 * and its rate come from the primary's own snapshot, never from the ask, and an ask for a rule
 * or a workload the snapshot does not have gets `unknown`. Pure but for the clock.
 */
import { inboundRateRule } from '../policy/resilience/inbound-policies.js';
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
    this.store.prune((key) => inboundRateRule(index, ruleIdOf(key)) !== undefined);
  }

  /** Answers one ask (already checked for shape by `parseWorkerMessage`). */
  grant(ask: LeaseAsk): LeaseGrant {
    const index = this.index;
    const found = index === undefined ? undefined : inboundRateRule(index, ask.rule);
    const local = index?.byUid.get(ask.workload);
    if (found === undefined || local === undefined || !index?.localIdentities.has(local.identity)) return { id: ask.id, granted: 0, unknown: true };
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
