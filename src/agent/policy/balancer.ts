/**
 * Endpoint choice for Service traffic, apart from the lookup (`state/workload-index.ts`): one
 * balancer per Service port, kept in a {@link BalancerRegistry} across snapshots, so its state
 * (round-robin cursor, outstanding requests, EWMA latencies, hash rings, ejections) is not lost
 * whenever a snapshot lands. The algorithms live in `balancers/`; a balancer is told about
 * endpoint changes and picks per call: per connection for L4, per request for L7. No I/O.
 */
import type { EndpointInfo } from '../../mesh/types.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import { RoundRobinBalancer } from './balancers/round-robin.js';
import type { Balancer, EndpointLbState, Lease, PickContext } from './balancers/tracked-balancer.js';

/**
 * Makes a balancer for a Service port. The default is round robin (what L4 has always done);
 * the place where a TrafficPolicy's algorithm will be chosen (`createBalancer`).
 */
export type BalancerFactory = (entry: ServicePortEntry) => Balancer;

const roundRobin: BalancerFactory = (entry) => new RoundRobinBalancer(entry.endpoints);

/** The balancers of every Service port, keyed by `namespace/name|port`, alive across snapshots. */
export class BalancerRegistry {
  private readonly balancers = new Map<string, { balancer: Balancer; endpoints: readonly EndpointInfo[] }>();
  private index: WorkloadIndex | undefined;
  private readonly make: BalancerFactory;

  constructor(make: BalancerFactory = roundRobin) {
    this.make = make;
    this.pick = this.pick.bind(this);
  }

  /** How many Service ports have a balancer (for tests and metrics). */
  get size(): number {
    return this.balancers.size;
  }

  /**
   * A snapshot landed: balancers of Service ports whose endpoints changed are told, those of
   * removed Services (or ports) are dropped, new ones are made. Cheap when `index` is the one
   * already applied, so the data path may call it per connection.
   */
  apply(index: WorkloadIndex): void {
    if (index === this.index) return;
    this.index = index;
    const seen = new Set<string>();
    for (const entry of index.serviceEntries) {
      seen.add(entry.key);
      this.sync(entry);
    }
    for (const key of this.balancers.keys()) if (!seen.has(key)) this.balancers.delete(key);
  }

  /**
   * The endpoint for a connection to `entry` (an `EndpointPicker`, bound). The lease is released
   * at once with no outcome: L4 does not report when a connection ends, so a least-request
   * balancer sees no load from it (use {@link lease} to hold it for the connection's life).
   */
  pick(entry: ServicePortEntry): EndpointInfo | undefined {
    const lease = this.sync(entry).pick();
    lease?.release();
    return lease?.endpoint;
  }

  /** A lease on an endpoint of `entry` for one request (or connection); release it when done. */
  lease(entry: ServicePortEntry, context?: PickContext): Lease | undefined {
    return this.sync(entry).pick(context);
  }

  /** The balancer of `entry` (outlier detection ejects through it). */
  balancerOf(entry: ServicePortEntry): Balancer {
    return this.sync(entry);
  }

  /** Every Service port's endpoints with their balancing state (for `proxy-config endpoints`). */
  describe(): Array<{ servicePort: string; algorithm: string; endpoints: EndpointLbState[] }> {
    return [...this.balancers].map(([servicePort, { balancer }]) => ({ servicePort, algorithm: balancer.algorithm, endpoints: balancer.describe() }));
  }

  /**
   * Drops the balancers of these Service ports (all when none is named), so the next pick makes
   * them afresh from the factory: for a changed TrafficPolicy. Their state is lost.
   */
  forget(servicePortKeys?: Iterable<string>): void {
    if (servicePortKeys === undefined) this.balancers.clear();
    else for (const key of servicePortKeys) this.balancers.delete(key);
  }

  private sync(entry: ServicePortEntry): Balancer {
    const held = this.balancers.get(entry.key);
    if (held === undefined) {
      const balancer = this.make(entry);
      this.balancers.set(entry.key, { balancer, endpoints: entry.endpoints });
      return balancer;
    }
    if (held.endpoints !== entry.endpoints) {
      held.endpoints = entry.endpoints;
      held.balancer.update(entry.endpoints);
    }
    return held.balancer;
  }
}
