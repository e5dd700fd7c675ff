/**
 * Local rate limits at the destination (a TrafficPolicy's `rateLimit` on a Service, enforced per
 * destination workload): which rules a request is charged to, which bucket of each, and the
 * single-process limiter over a bounded bucket store. A request is refused when any rule that
 * matches it has no token; then it takes no token from the others. Pure (the time is passed in).
 *
 * Buckets are named `<policy>#<rule>|<workload uid>` and, for a `perSource` rule,
 * `|s:<SPIFFE id>` (plaintext sources have no identity and share `|s:`). Per-source buckets live
 * in an LRU of {@link MAX_SOURCE_BUCKETS}; the shared ones apart, bounded by the snapshot, so
 * that many identities evicting buckets can never refill a shared bucket.
 */
import type { RateLimitRule } from '../../../mesh/resilience.js';
import { headersMatch } from './http-fault.js';
import type { InboundRateRule } from './inbound-policies.js';
import { refillMs, TokenBucket } from './token-bucket.js';

/**
 * Per-source buckets kept at most (per process): past it the least recently used goes, and that
 * source starts again with a full bucket. 10,000 covers every identity of a large cluster calling
 * one workload; a bucket is ~200 bytes, so the bound is ~2 MB.
 */
export const MAX_SOURCE_BUCKETS = 10_000;

/** What a rule looks at. */
export interface RateRequest {
  /** The authenticated SPIFFE id of the source; undefined for plaintext. */
  readonly identity: string | undefined;
  readonly headers: Readonly<Record<string, string | readonly string[] | undefined>>;
}

/** One token to take: a rule and the bucket it is taken from. */
export interface RateCharge {
  readonly rule: InboundRateRule;
  readonly workload: string;
  /** The source identity when the rule is `perSource` ('' for a plaintext source); else undefined. */
  readonly source: string | undefined;
  readonly key: string;
}

/** Why a request was refused: the rule with no token, and when it has one again. */
export interface RateRefusal {
  readonly rule: RateLimitRule;
  readonly resetMs: number;
}

/** Takes one token per charge, all or none: undefined when admitted. */
export interface RateLimiter {
  take(charges: readonly RateCharge[], now: number): RateRefusal | undefined | Promise<RateRefusal | undefined>;
  /** A new snapshot: state of rules it no longer has may go (`ruleId` of a bucket name: `known` says whether it is still in force). */
  forget?(known: (ruleId: string) => boolean): void;
}

/** The rule id of a bucket name (see the module comment). */
export function ruleIdOf(key: string): string {
  const bar = key.indexOf('|');
  return bar < 0 ? key : key.slice(0, bar);
}

/** Whether `rule` applies to `req`. */
export function ruleMatches(rule: RateLimitRule, req: RateRequest): boolean {
  if (rule.sources.length > 0 && (req.identity === undefined || !rule.sources.includes(req.identity))) return false;
  return headersMatch(rule.headers, req.headers);
}

/** The bucket name of a rule for a workload and a source (see the module comment). */
export function bucketKey(ruleId: string, workload: string, source: string | undefined): string {
  return source === undefined ? `${ruleId}|${workload}` : `${ruleId}|${workload}|s:${source}`;
}

/** The charges of one request to local workload `workload`: one per matching rule. */
export function chargesFor(rules: readonly InboundRateRule[], workload: string, req: RateRequest): readonly RateCharge[] {
  const fixed = fixedCharges(rules, workload);
  if (fixed !== undefined) return fixed;
  const out: RateCharge[] = [];
  for (const r of rules) {
    if (!ruleMatches(r.rule, req)) continue;
    const source = r.rule.perSource ? (req.identity ?? '') : undefined;
    out.push({ rule: r, workload, source, key: bucketKey(r.id, workload, source) });
  }
  return out;
}

/** Rule lists whose charges depend on nothing of the request, by workload (snapshot objects: collected with it). */
const FIXED = new WeakMap<readonly InboundRateRule[], Map<string, readonly RateCharge[]> | null>();

/**
 * The charges of `rules` for `workload` when no rule reads the request (no source or header
 * condition, not per source): the same every request, so made once rather than per request.
 * Undefined when a rule reads the request.
 */
function fixedCharges(rules: readonly InboundRateRule[], workload: string): readonly RateCharge[] | undefined {
  let byWorkload = FIXED.get(rules);
  if (byWorkload === undefined) {
    const fixed = rules.every((r) => !r.rule.perSource && r.rule.sources.length === 0 && r.rule.headers.length === 0);
    FIXED.set(rules, (byWorkload = fixed ? new Map() : null));
  }
  if (byWorkload === null) return undefined;
  let charges = byWorkload.get(workload);
  if (charges === undefined) {
    charges = Object.freeze(rules.map((r) => Object.freeze({ rule: r, workload, source: undefined, key: bucketKey(r.id, workload, undefined) })));
    byWorkload.set(workload, charges);
  }
  return charges;
}

/** Buckets by name: shared ones in a plain map, per-source ones in a bounded LRU. */
export class BucketStore {
  private readonly shared = new Map<string, TokenBucket>();
  private readonly perSource = new Map<string, TokenBucket>();
  private readonly maxSource: number;

  constructor(maxSourceBuckets = MAX_SOURCE_BUCKETS) {
    this.maxSource = maxSourceBuckets;
  }

  /** The bucket named `key` for `rule` (a new, full one when absent or when the rule's rate changed). */
  bucket(key: string, rule: RateLimitRule, perSource: boolean, now: number): TokenBucket {
    const map = perSource ? this.perSource : this.shared;
    let b = map.get(key);
    if (b !== undefined && b.hasRate(rule)) {
      if (perSource) {
        // Most recently used last: Map keeps insertion order.
        map.delete(key);
        map.set(key, b);
      }
      return b;
    }
    b = new TokenBucket(rule, now);
    map.delete(key);
    map.set(key, b);
    if (perSource && map.size > this.maxSource) {
      const oldest = map.keys().next().value;
      if (oldest !== undefined) map.delete(oldest);
    }
    return b;
  }

  /** Drops shared buckets whose rule is gone (`keep` says which keys are still named). */
  prune(keep: (key: string) => boolean): void {
    for (const k of this.shared.keys()) if (!keep(k)) this.shared.delete(k);
    for (const k of this.perSource.keys()) if (!keep(k)) this.perSource.delete(k);
  }

  /** Buckets held: shared, per source. */
  get size(): { readonly shared: number; readonly perSource: number } {
    return { shared: this.shared.size, perSource: this.perSource.size };
  }
}

/** The limiter of a single-process agent: every bucket here, decided at once. */
export class LocalRateLimiter implements RateLimiter {
  readonly store: BucketStore;

  constructor(store = new BucketStore()) {
    this.store = store;
  }

  take(charges: readonly RateCharge[], now: number): RateRefusal | undefined {
    return takeAll(this.store, charges, now);
  }

  forget(known: (ruleId: string) => boolean): void {
    this.store.prune((key) => known(ruleIdOf(key)));
  }
}

/** Takes one token from the bucket of every charge, or none when one has no token. */
export function takeAll(store: BucketStore, charges: readonly RateCharge[], now: number): RateRefusal | undefined {
  if (charges.length === 0) return undefined;
  if (charges.length === 1) {
    // The usual case (one rule), without the array of buckets.
    const c = charges[0] as RateCharge;
    const b = store.bucket(c.key, c.rule.rule, c.source !== undefined, now);
    if (b.tokens(now) < 1) return { rule: c.rule.rule, resetMs: b.msUntilToken(now) };
    b.tryTake(now);
    return undefined;
  }
  const buckets = charges.map((c) => store.bucket(c.key, c.rule.rule, c.source !== undefined, now));
  for (let i = 0; i < buckets.length; i++) {
    const b = buckets[i] as TokenBucket;
    if (b.tokens(now) < 1) return { rule: (charges[i] as RateCharge).rule.rule, resetMs: b.msUntilToken(now) };
  }
  for (const b of buckets) b.tryTake(now);
  return undefined;
}

/**
 * The headers of a 429 (draft-ietf-httpapi-ratelimit-headers, the `RateLimit-Limit`/
 * `-Remaining`/`-Reset` fields of its drafts up to -06, in seconds) and `Retry-After` (RFC 9110):
 * the limit is the refusing rule's `requests`, nothing remains, and the reset is the time to the
 * next token rounded up to a whole second (at least 1: a client told 0 would retry at once).
 */
export function rateLimitHeaders(refusal: RateRefusal): Record<string, string> {
  const ms = refusal.resetMs > 0 ? refusal.resetMs : refillMs(refusal.rule);
  const seconds = String(Math.max(1, Math.ceil(ms / 1000)));
  return {
    'ratelimit-limit': String(refusal.rule.requests),
    'ratelimit-remaining': '0',
    'ratelimit-reset': seconds,
    'retry-after': seconds,
  };
}
