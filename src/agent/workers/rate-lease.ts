/**
 * A worker's rate limiter: the primary owns every bucket (`token-grants.ts`), so a limit holds
 * whatever the number of workers; a worker holds a small lease of tokens per bucket, asks for the
 * next one when it runs low (before it is empty), and a request that finds its lease empty waits
 * for the primary's answer at most {@link LEASE_WAIT_MS}, then is refused.
 *
 * Accuracy: every admitted request spent a token taken from the primary's bucket; a lease is
 * spent within {@link LEASE_TTL_MS} of its grant or dropped, so a burst can pass the bucket's by
 * at most one lease (about {@link LEASE_MS} of the rule's rate) per worker, and tokens a worker
 * no longer needs are lost to the others by as much. Bounded: one ask in flight per lease, {@link MAX_WAITERS} requests
 * waiting per lease, {@link MAX_LEASES} leases (LRU, like the primary's per-source buckets).
 */
import type { RateCharge, RateLimiter, RateRefusal } from '../policy/resilience/rate-limit.js';
import { MAX_SOURCE_BUCKETS, ruleIdOf } from '../policy/resilience/rate-limit.js';
import { refillMs } from '../policy/resilience/token-bucket.js';

/** A lease is this long at the rule's rate: small against the burst, long against an IPC round trip (~0.1 ms). */
export const LEASE_MS = 50;
/** Tokens in one lease at most, whatever the rate (a fast rule still spreads over the workers). */
export const MAX_LEASE = 64;
/** How long a request with no token waits for the primary's answer: a few ms, as a local bucket would refuse at once. */
export const LEASE_WAIT_MS = 5;
/** A lease not spent by then is dropped: tokens taken long ago must not add to a later burst. */
export const LEASE_TTL_MS = 1000;
/** Requests waiting on one empty lease at most; more are refused at once. */
export const MAX_WAITERS = 256;
/** Leases kept at most (per-source rules make one per identity). */
export const MAX_LEASES = MAX_SOURCE_BUCKETS + 1024;
/** Asks remembered for a late answer at most (a primary that stopped answering must not grow the map). */
const MAX_ASKS = 4096;
/** After an answer of none, the lease waits this long (at most) before asking again: tokens build up in the primary meanwhile, none is lost. */
const QUIET_MAX_MS = 10;

/** What a worker asks the primary: `want` tokens of the bucket of `charge`. */
export interface LeaseAsk {
  readonly id: number;
  readonly rule: string;
  readonly workload: string;
  readonly source?: string;
  readonly want: number;
}

/** The primary's answer: `granted` tokens (0: none now); `unknown`: it has no such rule (a newer snapshot dropped it). */
export interface LeaseGrant {
  readonly id: number;
  readonly granted: number;
  readonly unknown?: boolean;
}

interface Lease {
  tokens: number;
  /** The tokens are dropped after this (see {@link LEASE_TTL_MS}). */
  expiresAt: number;
  /** The ask in flight, resolved by its answer or after {@link LEASE_WAIT_MS}. */
  asking: Promise<void> | undefined;
  waiters: number;
  /** No ask before this (the primary had none: let tokens build up there). */
  quietUntil: number;
  /** The primary no longer knows the rule: admitted until this. */
  openUntil: number;
}

/** The size of a lease for a rule: {@link LEASE_MS} worth of tokens, 1 to {@link MAX_LEASE}. */
export function leaseSize(rule: { readonly requests: number; readonly periodMs: number }): number {
  return Math.max(1, Math.min(MAX_LEASE, Math.floor(LEASE_MS / refillMs(rule))));
}

export class LeasedRateLimiter implements RateLimiter {
  private readonly send: (ask: LeaseAsk) => void;
  private readonly now: () => number;
  private readonly leases = new Map<string, Lease>();
  private readonly asks = new Map<number, { lease: Lease; quietMs: number; done: () => void; timer: NodeJS.Timeout }>();
  private nextId = 1;

  /** @param send delivers an ask to the primary (over IPC); its answer comes back through {@link onGrant}. */
  constructor(send: (ask: LeaseAsk) => void, now: () => number = () => performance.now()) {
    this.send = send;
    this.now = now;
  }

  take(charges: readonly RateCharge[], now: number): RateRefusal | undefined | Promise<RateRefusal | undefined> {
    if (charges.length === 0) return undefined;
    const leases = charges.map((c) => this.lease(c.key));
    for (const l of leases) if (l.tokens > 0 && now > l.expiresAt) l.tokens = 0;
    const first = this.tryTake(charges, leases, now);
    if (first === undefined) return undefined;
    const pending: Promise<void>[] = [];
    for (let i = 0; i < charges.length; i++) {
      const lease = leases[i] as Lease;
      if (lease.tokens >= 1 || lease.openUntil > now) continue;
      if (lease.waiters >= MAX_WAITERS || lease.quietUntil > now) return first;
      const asking = this.ask(charges[i] as RateCharge, lease, now);
      if (asking === undefined) return first;
      pending.push(asking);
    }
    for (const l of leases) l.waiters++;
    return Promise.all(pending).then(() => {
      for (const l of leases) l.waiters--;
      return this.tryTake(charges, leases, this.now());
    });
  }

  /** The primary's answer to an ask. */
  onGrant(grant: LeaseGrant): void {
    const a = this.asks.get(grant.id);
    if (a === undefined) return;
    this.asks.delete(grant.id);
    clearTimeout(a.timer);
    const now = this.now();
    if (grant.unknown === true) a.lease.openUntil = now + 1000;
    else if (grant.granted > 0) {
      a.lease.tokens += grant.granted;
      a.lease.expiresAt = now + LEASE_TTL_MS;
    }
    else a.lease.quietUntil = now + a.quietMs;
    a.lease.asking = undefined;
    a.done();
  }

  /** Drops the leases of rules a new snapshot no longer has (their tokens are of no use). */
  forget(known: (ruleId: string) => boolean): void {
    for (const key of this.leases.keys()) if (!known(ruleIdOf(key))) this.leases.delete(key);
  }

  /** Leases held (for tests and the bound). */
  get size(): number {
    return this.leases.size;
  }

  /** Takes a token of every lease, or none: the refusal when one is empty (and prefetches low ones). */
  private tryTake(charges: readonly RateCharge[], leases: readonly Lease[], now: number): RateRefusal | undefined {
    for (let i = 0; i < leases.length; i++) {
      const l = leases[i] as Lease;
      if (l.tokens > 0 && now > l.expiresAt) l.tokens = 0;
      if (l.tokens < 1 && l.openUntil <= now) {
        const rule = (charges[i] as RateCharge).rule.rule;
        return { rule, resetMs: refillMs(rule) };
      }
    }
    for (let i = 0; i < leases.length; i++) {
      const l = leases[i] as Lease;
      if (l.tokens >= 1) l.tokens--;
      const c = charges[i] as RateCharge;
      // Ask ahead: the next lease arrives before this one runs out.
      if (l.asking === undefined && l.openUntil <= now && l.tokens * 2 < leaseSize(c.rule.rule)) this.ask(c, l, now);
    }
    return undefined;
  }

  private ask(c: RateCharge, lease: Lease, now: number): Promise<void> | undefined {
    if (lease.asking !== undefined) return lease.asking;
    if (lease.quietUntil > now) return undefined;
    const id = this.nextId++;
    lease.asking = new Promise<void>((resolve) => {
      // No answer in time: the waiters are refused; a late answer still adds its tokens.
      const timer = setTimeout(() => {
        lease.asking = undefined;
        resolve();
      }, LEASE_WAIT_MS);
      this.asks.set(id, { lease, quietMs: Math.min(QUIET_MAX_MS, refillMs(c.rule.rule)), done: resolve, timer });
      if (this.asks.size > MAX_ASKS) {
        const [oldest, stale] = this.asks.entries().next().value as [number, { timer: NodeJS.Timeout; lease: Lease; done: () => void }];
        this.asks.delete(oldest);
        clearTimeout(stale.timer);
        if (stale.lease.asking !== undefined && stale.lease !== lease) stale.lease.asking = undefined;
        stale.done();
      }
    });
    const want = leaseSize(c.rule.rule);
    this.send(c.source === undefined ? { id, rule: c.rule.id, workload: c.workload, want } : { id, rule: c.rule.id, workload: c.workload, source: c.source, want });
    return lease.asking;
  }

  private lease(key: string): Lease {
    let l = this.leases.get(key);
    if (l !== undefined) {
      this.leases.delete(key);
      this.leases.set(key, l);
      return l;
    }
    l = { tokens: 0, expiresAt: 0, asking: undefined, waiters: 0, quietUntil: 0, openUntil: 0 };
    this.leases.set(key, l);
    if (this.leases.size > MAX_LEASES) {
      const oldest = this.leases.keys().next().value;
      if (oldest !== undefined) this.leases.delete(oldest);
    }
    return l;
  }
}
