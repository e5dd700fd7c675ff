/**
 * The source agent's per-Service-port resilience state, kept across snapshots like the
 * balancers: the retry budget, the circuit breaker's counters (requests in flight, requests
 * waiting for a stream, retries in flight) and the recent latencies hedging reads. Per agent
 * process (each worker has its own, as each Envoy has its own thresholds). No I/O.
 */
import { DEFAULT_CIRCUIT_BREAKER, type CircuitBreakerPolicy, type RetryBudget } from '../../../mesh/resilience.js';
import type { OverflowThreshold } from './reasons.js';
import { LatencyWindow } from './latency-window.js';
import { RetryBudgetState } from './retry-budget.js';

/** One Service port's counters and windows. */
export class ServicePortState {
  requests = 0;
  pending = 0;
  retries = 0;
  readonly latencies = new LatencyWindow();
  private budgetState: RetryBudgetState | undefined;

  /** The budget in use (undefined before the first request under a policy). */
  get currentBudget(): RetryBudgetState | undefined {
    return this.budgetState;
  }

  /** The budget's state for `budget` (made afresh when the policy's budget changed). */
  budget(budget: RetryBudget): RetryBudgetState {
    const b = this.budgetState;
    if (b !== undefined && sameBudget(b.budget, budget)) return b;
    return (this.budgetState = new RetryBudgetState(budget));
  }
}

function sameBudget(a: RetryBudget, b: RetryBudget): boolean {
  return a === b || (a.ratio === b.ratio && a.minPerSecond === b.minPerSecond && a.ttlMs === b.ttlMs);
}

/**
 * Thresholds apply only where a TrafficPolicy has a `circuitBreaker` section (Envoy's defaults,
 * {@link DEFAULT_CIRCUIT_BREAKER}, fill in what it leaves out): with none, nothing is refused
 * for load, as with no policy at all.
 *
 * The threshold a new request would cross, if any (`max_requests`); a request under every
 * threshold is counted by the caller (`requests++`) and uncounted when it ends.
 */
export function admitRequest(s: ServicePortState, breaker: CircuitBreakerPolicy | undefined): OverflowThreshold | undefined {
  return breaker !== undefined && s.requests >= breaker.maxRequests ? 'max_requests' : undefined;
}

/** Whether one more retry may be in flight (no breaker: the retry budget alone bounds retries). */
export function admitRetry(s: ServicePortState, breaker: CircuitBreakerPolicy | undefined): boolean {
  return breaker === undefined || s.retries < breaker.maxRetries;
}

/** Whether one more try may wait for a stream or connection. */
export function admitPending(s: ServicePortState, breaker: CircuitBreakerPolicy | undefined): boolean {
  return breaker === undefined || s.pending < breaker.maxPendingRequests;
}

/** Every Service port's state by `namespace/name|port`; ports gone from the snapshot are dropped by {@link retain}. */
export class ServiceStates {
  private readonly states = new Map<string, ServicePortState>();

  get(key: string): ServicePortState {
    let s = this.states.get(key);
    if (s === undefined) this.states.set(key, (s = new ServicePortState()));
    return s;
  }

  /** Drops the state of ports `keep` refuses (gone from the snapshot) that have nothing in flight. */
  retain(keep: (key: string) => boolean): void {
    for (const [key, s] of this.states) if (!keep(key) && s.requests === 0 && s.pending === 0 && s.retries === 0) this.states.delete(key);
  }

  get size(): number {
    return this.states.size;
  }

  /** Every Service port's live counters, for the admin API (`/resilience`). */
  describe(nowMs: number): ServicePortView[] {
    return [...this.states].map(([servicePort, s]) => {
      const b = s.currentBudget;
      const p50 = s.latencies.percentile(50);
      const p99 = s.latencies.percentile(99);
      return {
        servicePort,
        requests: s.requests,
        pending: s.pending,
        retries: s.retries,
        ...(b === undefined ? {} : { retryBudget: { ...b.budget, available: Math.floor(b.balance(nowMs)) } }),
        ...(p50 === undefined ? {} : { latencyP50Ms: round(p50) }),
        ...(p99 === undefined ? {} : { latencyP99Ms: round(p99) }),
      };
    });
  }
}

/** One Service port's live resilience state at this agent process. */
export interface ServicePortView {
  /** `namespace/name|port`. */
  readonly servicePort: string;
  /** Requests in flight (what `maxParallelRequests` bounds). */
  readonly requests: number;
  /** Tries waiting for a tunnel stream (`maxPendingRequests`). */
  readonly pending: number;
  /** Retries and hedges in flight (`maxParallelRetries`). */
  readonly retries: number;
  /** The retry budget and the retries it would allow now. */
  readonly retryBudget?: RetryBudget & { readonly available: number };
  /** Recent successful tries' latencies (what hedging waits for), once 20 are known. */
  readonly latencyP50Ms?: number;
  readonly latencyP99Ms?: number;
}

const round = (ms: number): number => Math.round(ms * 100) / 100;
