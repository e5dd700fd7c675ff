/**
 * Round robin: the cursor survives a snapshot and follows the endpoint that was next when others
 * come or go. Weights are not applied (Envoy's round robin is weighted; use least-request for
 * weights). Excluded and ejected endpoints are stepped over.
 */
import type { EndpointInfo } from '../../../mesh/types.js';
import type { EndpointState } from './endpoint-table.js';
import { TrackedBalancer, type BalancerOptions } from './tracked-balancer.js';

/** Round robin needs no dice, and no clock unless ejections should expire by themselves. */
const FIXED_ENV = { now: (): number => 0, random: (): number => 0 };

export class RoundRobinBalancer extends TrackedBalancer {
  readonly algorithm = 'round-robin' as const;
  private cursor = 0;
  private keys: readonly string[] = [];

  /** Without `opts.env` the clock stands still: an ejection then lasts until `uneject`. */
  constructor(endpoints: readonly EndpointInfo[], opts: Partial<BalancerOptions> = {}) {
    super({ ...opts, env: opts.env ?? FIXED_ENV });
    this.update(endpoints);
  }

  override update(endpoints: readonly EndpointInfo[]): void {
    const next = this.keys.length === 0 ? undefined : this.keys[this.cursor % this.keys.length];
    super.update(endpoints);
    this.keys = this.table.states.map((s) => s.key);
    const at = next === undefined ? -1 : this.keys.indexOf(next);
    // The endpoint that was next stays next; if it left, the position is kept (modulo the new size).
    const n = this.keys.length;
    this.cursor = at >= 0 ? at : n === 0 ? 0 : this.cursor % n;
  }

  protected choose(pool: readonly EndpointState[]): EndpointState {
    const states = this.table.states;
    const n = states.length;
    if (pool === states) {
      const s = states[this.cursor % n] as EndpointState;
      this.cursor = (this.cursor + 1) % n;
      return s;
    }
    // Step over endpoints that are not candidates: at most one lap.
    const epoch = this.table.mark(pool);
    for (let i = 0; i < n; i++) {
      const s = states[(this.cursor + i) % n] as EndpointState;
      if (s.mark === epoch) {
        this.cursor = (this.cursor + i + 1) % n;
        return s;
      }
    }
    return pool[0] as EndpointState;
  }
}
