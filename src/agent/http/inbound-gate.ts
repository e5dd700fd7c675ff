/**
 * The destination side's resilience stage, between authorization and the workload: the local
 * rate limits of the request's workload (a token of every rule that matches, from this process's
 * buckets or, in a worker, from the leases the primary grants), then its adaptive concurrency
 * limit (per workload port and per process). InboundHttp asks {@link InboundGate.enter} for every
 * request and releases the ticket when the request is over. The decision is synchronous unless a
 * worker's lease is empty; then it is a promise, bounded by the lease's wait.
 */
import type { WorkloadIndex } from '../state/workload-index.js';
import type { OverflowThreshold } from '../proxy/resilience-metrics.js';
import { GradientController, type ConcurrencyTicket } from '../policy/resilience/adaptive-concurrency.js';
import { inboundPolicies, inboundRateRule, type InboundAdaptive, type InboundPolicies } from '../policy/resilience/inbound-policies.js';
import { routeRateRule } from '../policy/resilience/route-rate-limit.js';
import { chargesFor, LocalRateLimiter, rateLimitHeaders, type RateLimiter, type RateRefusal, type RateRequest } from '../policy/resilience/rate-limit.js';

/** The counters the gate feeds (`ResilienceMetrics` has them). */
export interface InboundGateMetrics {
  limited(scope: 'inbound', target: string): void;
  overflow(service: string, threshold: OverflowThreshold): void;
}

export interface InboundGateOptions {
  /** Where tokens come from (default: a {@link LocalRateLimiter} of this process). */
  readonly limiter?: RateLimiter;
  readonly metrics?: InboundGateMetrics;
  /** Monotonic ms (default `performance.now`); tests pass a fake clock. */
  readonly now?: () => number;
}

/** A request admitted: release it when it is over (`headAt`: when its response head came). */
export interface Passage {
  release(headAt: number | undefined): void;
}

/** What the gate says about one request. */
export type GateVerdict =
  | { readonly pass: Passage }
  | { readonly refused: 'rate_limited'; readonly headers: Record<string, string> }
  | { readonly refused: 'overflow' };

/** The one passage of requests nothing limits (nothing to release: callers may skip the bookkeeping). */
export const FREE_PASSAGE: Passage = Object.freeze({ release: () => undefined });
const OPEN: GateVerdict = Object.freeze({ pass: FREE_PASSAGE });
const OVERFLOW: GateVerdict = Object.freeze({ refused: 'overflow' as const });

interface Slot {
  readonly adaptive: InboundAdaptive;
  readonly controller: GradientController;
  readonly workload: string;
  readonly port: number;
}

export class InboundGate {
  private limiter: RateLimiter;
  private readonly metrics: InboundGateMetrics | undefined;
  readonly now: () => number;
  /** Controllers by `uid|port`: kept across snapshots while their policy is the same. */
  private readonly controllers = new Map<string, Slot>();
  /** The snapshot of the last request: a different one prunes state (see {@link newIndex}). */
  private seen: WorkloadIndex | undefined;
  /** The controller of each workload port's policies object (objects of the snapshot in force). */
  private slotOf = new WeakMap<InboundPolicies, Slot>();

  constructor(opts: InboundGateOptions = {}) {
    this.limiter = opts.limiter ?? new LocalRateLimiter();
    this.metrics = opts.metrics;
    this.now = opts.now ?? (() => performance.now());
  }

  /**
   * The verdict for one request to local workload `workloadUid` on `port`, from a source with
   * `req.identity` (authenticated, or undefined for plaintext).
   */
  enter(index: WorkloadIndex, workloadUid: string, port: number, req: RateRequest): GateVerdict | Promise<GateVerdict> {
    if (index !== this.seen) this.newIndex(index);
    const policies = inboundPolicies(index, workloadUid, port);
    if (policies.rateRules.length === 0 && policies.adaptive === undefined) return OPEN;
    const charges = policies.rateRules.length === 0 ? undefined : chargesFor(policies.rateRules, workloadUid, req);
    const refusal = charges === undefined || charges.length === 0 ? undefined : this.limiter.take(charges, this.now());
    if (refusal instanceof Promise) return refusal.then((r) => this.verdict(r, policies, workloadUid, port));
    return this.verdict(refusal, policies, workloadUid, port);
  }

  private verdict(refusal: RateRefusal | undefined, policies: InboundPolicies, workloadUid: string, port: number): GateVerdict {
    if (refusal !== undefined) {
      this.metrics?.limited('inbound', policies.workload);
      return { refused: 'rate_limited', headers: rateLimitHeaders(refusal) };
    }
    return policies.adaptive === undefined ? OPEN : this.acquire(workloadUid, port, policies);
  }

  /** Where tokens come from: the source side's route limits take theirs here too. */
  get rateLimiter(): RateLimiter {
    return this.limiter;
  }

  /**
   * Takes tokens from `limiter` from now on: a worker process's leases from the primary. Called
   * once, when the worker builds its data plane, before it accepts anything.
   */
  useLimiter(limiter: RateLimiter): void {
    this.limiter = limiter;
  }

  /** The adaptive limits in force, for `meshlet_adaptive_concurrency_limit` (`ResilienceMetrics.watchLimits`). */
  limits(): { labels: Record<string, string>; value: number }[] {
    return [...this.controllers.values()].map((s) => ({ labels: { workload: s.workload, port: String(s.port) }, value: s.controller.limit }));
  }

  private acquire(uid: string, port: number, policies: InboundPolicies): GateVerdict {
    const adaptive = policies.adaptive as InboundAdaptive;
    const now = this.now();
    // A snapshot's policies object stands for its workload port: the Map (and its key string) is
    // consulted once per snapshot, not per request.
    let slot = this.slotOf.get(policies);
    if (slot === undefined) {
      const key = `${uid}|${port}`;
      slot = this.controllers.get(key);
      if (slot === undefined || slot.adaptive.policy !== adaptive.policy) {
        slot = { adaptive, controller: new GradientController(adaptive.policy, now), workload: policies.workload, port };
        this.controllers.set(key, slot);
      }
      this.slotOf.set(policies, slot);
    }
    const ticket = slot.controller.tryAcquire(now);
    if (ticket === undefined) {
      this.metrics?.overflow(adaptive.service, 'adaptive_concurrency');
      return OVERFLOW;
    }
    return { pass: new Admitted(slot.controller, ticket, this.now) };
  }

  /**
   * A new snapshot (seen at its first request): the controllers of workload ports that no longer
   * have adaptive concurrency, and the rate-limit state of rules it no longer has, go.
   */
  private newIndex(index: WorkloadIndex): void {
    this.seen = index;
    this.slotOf = new WeakMap();
    this.limiter.forget?.((id) => inboundRateRule(index, id) !== undefined || routeRateRule(index, id) !== undefined);
    for (const [key, slot] of this.controllers) {
      const [uid, port] = key.split('|') as [string, string];
      if (inboundPolicies(index, uid, Number(port)).adaptive?.policy !== slot.adaptive.policy) this.controllers.delete(key);
    }
  }
}

/** One admitted request's hold on its controller; released once. */
class Admitted implements Passage {
  private done = false;

  constructor(
    private readonly controller: GradientController,
    private readonly ticket: ConcurrencyTicket,
    private readonly now: () => number,
  ) {}

  release(headAt: number | undefined): void {
    if (this.done) return;
    this.done = true;
    this.controller.release(this.ticket, headAt, this.now());
  }
}
