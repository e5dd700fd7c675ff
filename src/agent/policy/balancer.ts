/**
 * Endpoint choice for Service traffic, apart from the lookup (`state/workload-index.ts`): one
 * balancer per Service port, kept in a {@link BalancerRegistry} across snapshots, so its state
 * (today a round-robin cursor; later EWMA latencies, outstanding requests, ejections) is not
 * lost whenever a snapshot lands. A balancer is told about endpoint changes and picks per call:
 * per connection for L4, per request for L7. No I/O.
 */
import type { EndpointInfo } from '../../mesh/types.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';

/** Picks endpoints of one Service port. */
export interface Balancer {
  /** The endpoint for the next connection or request; undefined when there is none. */
  pick(): EndpointInfo | undefined;
  /** The Service port's endpoints changed (a snapshot landed): keep what state still applies. */
  update(endpoints: readonly EndpointInfo[]): void;
}

/** An endpoint's identity across snapshots (a new snapshot brings new objects). */
export function endpointKey(e: EndpointInfo): string {
  return `${e.workload}|${e.address}|${JSON.stringify(e.targetPorts)}`;
}

/** Round robin; the cursor survives a snapshot and follows the next endpoint when others come or go. */
export class RoundRobinBalancer implements Balancer {
  private endpoints: readonly EndpointInfo[] = [];
  private keys: readonly string[] = [];
  private cursor = 0;

  constructor(endpoints: readonly EndpointInfo[]) {
    this.update(endpoints);
  }

  pick(): EndpointInfo | undefined {
    const n = this.endpoints.length;
    if (n === 0) return undefined;
    const endpoint = this.endpoints[this.cursor % n];
    this.cursor = (this.cursor + 1) % n;
    return endpoint;
  }

  update(endpoints: readonly EndpointInfo[]): void {
    const next = this.keys.length === 0 ? undefined : this.keys[this.cursor % this.keys.length];
    this.endpoints = endpoints;
    this.keys = endpoints.map(endpointKey);
    const at = next === undefined ? -1 : this.keys.indexOf(next);
    // The endpoint that was next stays next; if it left, the position is kept (modulo the new size).
    this.cursor = at >= 0 ? at : endpoints.length === 0 ? 0 : this.cursor % endpoints.length;
  }
}

/** Makes a balancer for a Service port (round robin today; the place for a per-Service choice). */
export type BalancerFactory = (entry: ServicePortEntry) => Balancer;

/** The balancers of every Service port, keyed by `namespace/name|port`, alive across snapshots. */
export class BalancerRegistry {
  private readonly balancers = new Map<string, { balancer: Balancer; endpoints: readonly EndpointInfo[] }>();
  private index: WorkloadIndex | undefined;
  private readonly make: BalancerFactory;

  constructor(make: BalancerFactory = (entry) => new RoundRobinBalancer(entry.endpoints)) {
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

  /** The endpoint for a connection to `entry` (an {@link EndpointPicker}, bound). */
  pick(entry: ServicePortEntry): EndpointInfo | undefined {
    return this.sync(entry).pick();
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
