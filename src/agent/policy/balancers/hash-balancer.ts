/**
 * The shared half of consistent hashing (ring hash, Maglev): a request's hash key picks the same
 * endpoint every time while the set of endpoints stays, and when an endpoint leaves only its keys
 * move. An endpoint that may not be picked (excluded, ejected, out of the preferred zone) is
 * passed over by walking the structure forward from the key's place, so the key still lands on a
 * stable second choice. No key: a random (weighted) pick.
 */
import type { EndpointState } from './endpoint-table.js';
import { murmur3 } from './murmur3.js';
import { TrackedBalancer, type PickContext } from './tracked-balancer.js';

export abstract class HashBalancer extends TrackedBalancer {
  /** How many times the structure was built (a snapshot that keeps the endpoints must not rebuild it). */
  builds = 0;

  protected choose(pool: readonly EndpointState[], context: PickContext | undefined): EndpointState {
    const key = context?.hashKey;
    if (key === undefined) return pool[this.sample(pool)] as EndpointState;
    const hash = murmur3(key);
    const epoch = pool === this.table.states ? undefined : this.table.mark(pool);
    return this.lookup(hash, epoch) ?? (pool[hash % pool.length] as EndpointState);
  }

  protected override membershipChanged(): void {
    this.build(this.table.states.slice().sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)));
    this.builds++;
  }

  /**
   * Builds the structure from `states`, sorted by key so that every agent builds the same one
   * whatever order its snapshot lists the endpoints in.
   */
  protected abstract build(states: readonly EndpointState[]): void;

  /** The endpoint for `hash`; with `epoch`, the first one from there whose mark equals it. */
  protected abstract lookup(hash: number, epoch: number | undefined): EndpointState | undefined;
}
