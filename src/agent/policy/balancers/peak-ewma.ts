/**
 * Peak EWMA (Linkerd's default, after Finagle and tower's `peak_ewma` + `p2c`): each endpoint
 * keeps a latency estimate that jumps to any sample above it at once (peak-sensitive) and
 * otherwise moves toward samples, and toward zero while idle, with time constant `decayMs`. The
 * cost of an endpoint is `estimate * (outstanding + 1)`, divided by its weight; P2C picks the
 * cheaper of two. A new endpoint starts at `defaultRttMs`. A failed request never lowers the
 * estimate (a fast refusal must not make a broken endpoint look fast); cancelled ones teach nothing.
 */
import type { EndpointInfo } from '../../../mesh/types.js';
import type { EndpointState } from './endpoint-table.js';
import { TrackedBalancer, type BalancerOptions } from './tracked-balancer.js';

/** Linkerd's defaults: `EWMA_DEFAULT_RTT` 30 ms, `EWMA_DECAY` 10 s. */
export const DEFAULT_EWMA_RTT_MS = 30;
export const DEFAULT_EWMA_DECAY_MS = 10_000;

export interface PeakEwmaOptions extends BalancerOptions {
  readonly defaultRttMs?: number | undefined;
  readonly decayMs?: number | undefined;
}

export class PeakEwmaBalancer extends TrackedBalancer {
  readonly algorithm = 'peak-ewma' as const;
  private readonly defaultRttMs: number;
  private readonly decayMs: number;
  private nowMs = 0;
  private readonly cost: (s: EndpointState) => number;

  constructor(endpoints: readonly EndpointInfo[], opts: PeakEwmaOptions) {
    super(opts);
    this.defaultRttMs = opts.defaultRttMs ?? DEFAULT_EWMA_RTT_MS;
    this.decayMs = opts.decayMs ?? DEFAULT_EWMA_DECAY_MS;
    this.cost = (s) => (this.estimate(s, this.nowMs) * (s.outstanding + 1)) / s.weight;
    this.update(endpoints);
  }

  protected choose(pool: readonly EndpointState[], _context: unknown, nowMs: number): EndpointState {
    this.nowMs = nowMs;
    return this.powerOfChoices(pool, 2, this.cost);
  }

  override observe(s: EndpointState, outcome: 'success' | 'failure', latencyMs: number, nowMs: number): void {
    const sample = Math.max(0, latencyMs);
    s.rttMs = outcome === 'failure' ? Math.max(sample, s.rttMs) : this.blend(s.rttMs, sample, nowMs - s.rttAtMs);
    s.rttAtMs = nowMs;
  }

  protected override newState(key: string, endpoint: EndpointInfo): EndpointState {
    const s = super.newState(key, endpoint);
    s.rttMs = this.defaultRttMs;
    s.rttAtMs = this.env.now();
    return s;
  }

  protected override describeExtra(s: EndpointState, nowMs: number): { ewmaMs: number } {
    return { ewmaMs: this.estimate(s, nowMs) };
  }

  /**
   * The estimate decayed toward zero since the last answer (tower's `load()` does the same), so an
   * endpoint avoided for being slow is tried again after a while instead of never.
   */
  private estimate(s: EndpointState, nowMs: number): number {
    return this.blend(s.rttMs, 0, nowMs - s.rttAtMs);
  }

  /** A sample above the estimate replaces it; otherwise an EWMA weighted by the time elapsed. */
  private blend(estimate: number, sample: number, elapsedMs: number): number {
    if (sample > estimate) return sample;
    const decay = Math.exp(-Math.max(0, elapsedMs) / this.decayMs);
    return estimate * decay + sample * (1 - decay);
  }
}
