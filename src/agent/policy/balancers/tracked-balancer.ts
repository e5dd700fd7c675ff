/**
 * The per-request balancer interface and the base every algorithm shares. A pick returns a
 * {@link Lease}: the request is outstanding from the pick until the caller releases the lease
 * with its outcome and latency (what tower's `Handle` does when dropped), so least-request and
 * peak EWMA see the load they cause. L4 picks per connection through the same interface.
 * Pure: the clock (`now`) and the randomness (`random`) are injected.
 */
import type { BalancerAlgorithm } from '../../../mesh/load-balancer.js';
import type { EndpointInfo } from '../../../mesh/types.js';
import { EndpointTable, type EndpointState, type EndpointTableOptions } from './endpoint-table.js';

export type { BalancerAlgorithm };

/** What one pick knows about its request. */
export interface PickContext {
  /**
   * The consistent-hash key (a header value, a cookie, the source IP: the caller chooses it from
   * policy). Ignored by balancers that do not hash; a hashing balancer picks at random without it.
   */
  readonly hashKey?: string | undefined;
  /** {@link endpointKey}s of endpoints already tried for this request (they refused): never picked. */
  readonly exclude?: ReadonlySet<string> | undefined;
}

/** How a request ended. `cancelled`: no answer to learn from (the client went away, or an L4 pick). */
export type RequestOutcome = 'success' | 'failure' | 'cancelled';

export interface RequestResult {
  readonly outcome: RequestOutcome;
  /** Time to the response (headers); default: the balancer's clock since the pick. */
  readonly latencyMs?: number | undefined;
}

/** The chosen endpoint of one request; release it exactly once (later calls do nothing). */
export interface Lease {
  readonly endpoint: EndpointInfo;
  /** The endpoint's {@link endpointKey}: add it to `exclude` to retry elsewhere. */
  readonly key: string;
  release(result?: RequestResult): void;
}

/** An endpoint's balancing state as SREs see it (`proxy-config endpoints`). */
export interface EndpointLbState {
  readonly key: string;
  readonly address: string;
  readonly workload: string;
  readonly weight: number;
  readonly zone?: string;
  readonly outstanding: number;
  /** Set while ejected (the balancer's clock, ms). */
  readonly ejectedUntilMs?: number;
  /** Peak EWMA's current latency estimate (decayed to now), ms. */
  readonly ewmaMs?: number;
}

/** Picks endpoints of one Service port, per request (L7) or per connection (L4). */
export interface Balancer {
  readonly algorithm: BalancerAlgorithm;
  /** A lease on the endpoint for the next request; undefined when every endpoint is excluded or there is none. */
  pick(context?: PickContext): Lease | undefined;
  /** The Service port's endpoints changed (a snapshot landed): state of endpoints that stay is kept. */
  update(endpoints: readonly EndpointInfo[]): void;
  /** Outlier detection's hook: skip this endpoint until `untilMs` (unless every endpoint is ejected). */
  eject(key: string, untilMs: number): void;
  uneject(key: string): void;
  describe(): EndpointLbState[];
}

/** The clock and the dice, injected so that balancers stay pure and tests deterministic. */
export interface BalancerEnv {
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** Options every balancer takes. */
export interface BalancerOptions extends EndpointTableOptions {
  readonly env: BalancerEnv;
}

class EndpointLease implements Lease {
  readonly endpoint: EndpointInfo;
  readonly key: string;
  private state: EndpointState | undefined;
  private readonly owner: TrackedBalancer;
  private readonly startMs: number;

  constructor(owner: TrackedBalancer, state: EndpointState, startMs: number) {
    this.owner = owner;
    this.state = state;
    this.endpoint = state.endpoint;
    this.key = state.key;
    this.startMs = startMs;
  }

  release(result?: RequestResult): void {
    const s = this.state;
    if (s === undefined) return;
    this.state = undefined;
    s.outstanding--;
    if (result === undefined || result.outcome === 'cancelled') return;
    const now = this.owner.env.now();
    this.owner.observe(s, result.outcome, result.latencyMs ?? now - this.startMs, now);
  }
}

/** The shared half of every balancer: the table, leases, ejection; subclasses only choose. */
export abstract class TrackedBalancer implements Balancer {
  abstract readonly algorithm: BalancerAlgorithm;
  readonly env: BalancerEnv;
  protected readonly table: EndpointTable;

  constructor(opts: BalancerOptions) {
    this.env = opts.env;
    this.table = new EndpointTable(opts, (key, endpoint) => this.newState(key, endpoint));
  }

  pick(context?: PickContext): Lease | undefined {
    const now = this.env.now();
    const pool = this.table.candidates(context?.exclude, now);
    if (pool.length === 0) return undefined;
    const s = pool.length === 1 ? (pool[0] as EndpointState) : this.choose(pool, context, now);
    s.outstanding++;
    return new EndpointLease(this, s, now);
  }

  update(endpoints: readonly EndpointInfo[]): void {
    if (this.table.update(endpoints)) this.membershipChanged();
  }

  eject(key: string, untilMs: number): void {
    this.table.eject(key, untilMs);
  }

  uneject(key: string): void {
    this.table.uneject(key);
  }

  describe(): EndpointLbState[] {
    const now = this.env.now();
    return this.table.states.map((s) => ({
      key: s.key,
      address: s.endpoint.address,
      workload: s.endpoint.workload,
      weight: s.weight,
      ...(s.zone === undefined ? {} : { zone: s.zone }),
      outstanding: s.outstanding,
      ...(this.table.isEjected(s, now) ? { ejectedUntilMs: s.ejectedUntilMs } : {}),
      ...this.describeExtra(s, now),
    }));
  }

  /** A finished request's latency (peak EWMA learns from it; others ignore it). */
  observe(_s: EndpointState, _outcome: 'success' | 'failure', _latencyMs: number, _nowMs: number): void {}

  /** Chooses among `pool` (two or more endpoints, every one allowed). */
  protected abstract choose(pool: readonly EndpointState[], context: PickContext | undefined, nowMs: number): EndpointState;

  /** The set of endpoints, a weight or a zone changed (hash balancers rebuild here). */
  protected membershipChanged(): void {}

  protected describeExtra(_s: EndpointState, _nowMs: number): { ewmaMs?: number } {
    return {};
  }

  protected newState(key: string, endpoint: EndpointInfo): EndpointState {
    return { key, endpoint, weight: 1, zone: undefined, outstanding: 0, ejectedUntilMs: 0, rttMs: 0, rttAtMs: 0, mark: 0 };
  }

  /** A uniformly random member of `pool`, or weighted by endpoint weight when weights differ. */
  protected sample(pool: readonly EndpointState[]): number {
    const r = this.env.random();
    if (this.table.uniformWeights) return Math.floor(r * pool.length);
    let total = 0;
    for (const s of pool) total += s.weight;
    let at = r * total;
    for (let i = 0; i < pool.length; i++) {
      at -= (pool[i] as EndpointState).weight;
      if (at < 0) return i;
    }
    return pool.length - 1;
  }

  /**
   * Power of `choices` choices: `choices` samples (the first two distinct), the one with the
   * lowest `cost` wins; ties go to the first sampled, so with no load the picks follow the
   * weights exactly.
   */
  protected powerOfChoices(pool: readonly EndpointState[], choices: number, cost: (s: EndpointState) => number): EndpointState {
    const first = this.sample(pool);
    let best = pool[first] as EndpointState;
    let bestCost = cost(best);
    for (let c = 1; c < choices; c++) {
      let other: EndpointState;
      if (c === 1 && this.table.uniformWeights) {
        // Uniform: the second draw is among the others, so the two always differ.
        const j = Math.floor(this.env.random() * (pool.length - 1));
        other = pool[j >= first ? j + 1 : j] as EndpointState;
      } else {
        other = pool[this.sample(pool)] as EndpointState;
        // Weighted: a second draw equal to the first is drawn again a few times (bounded: weights may be skewed).
        for (let tries = 0; c === 1 && other === best && tries < MAX_RESAMPLES; tries++) other = pool[this.sample(pool)] as EndpointState;
      }
      const otherCost = cost(other);
      if (otherCost < bestCost) {
        best = other;
        bestCost = otherCost;
      }
    }
    return best;
  }
}

/**
 * How often P2C draws its second candidate again when it equals the first: with weights 1:100
 * the light endpoint would otherwise rarely be compared at all; 8 draws bound the cost.
 */
const MAX_RESAMPLES = 8;
