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

/** Outlier detection's view of one endpoint, shown beside its balancing state. */
export interface EndpointHealth {
  /** Ejection backoff: the next ejection lasts base x (this + 1), capped; decays in rotation. */
  readonly timesEjected: number;
  /** Ejections since the endpoint appeared. */
  readonly ejectionsTotal: number;
  readonly consecutive5xx: number;
  readonly consecutiveGatewayErrors: number;
  /** Success rate (percent) of the last interval in which it had enough requests to be judged. */
  readonly successRate?: number;
  /** While ejected: until when (the balancers' clock), for how long in all, and why. */
  readonly ejectedUntilMs?: number;
  readonly ejectionMs?: number;
  readonly ejectionReason?: string;
}

/**
 * Where a registry learns about ejections that outlive a balancer (outlier detection): a
 * balancer made afresh (a new Service port, or one forgotten for a changed TrafficPolicy) is
 * told the ejections in force, and `describe()` shows each endpoint's health.
 */
export interface EndpointHealthSource {
  /** The ejections in force of a Service port: endpoint key and until when (the balancers' clock). */
  ejectionsOf(servicePortKey: string): Iterable<readonly [endpointKey: string, untilMs: number]>;
  /** One endpoint's health; undefined when no passive health check watches it. */
  healthOf(servicePortKey: string, endpointKey: string): EndpointHealth | undefined;
}

/** An endpoint's balancing state with its health, as `describe()` answers it. */
export type EndpointView = EndpointLbState & { readonly health?: EndpointHealth };

/** The balancers of every Service port, keyed by `namespace/name|port`, alive across snapshots. */
export class BalancerRegistry {
  private readonly balancers = new Map<string, { balancer: Balancer; endpoints: readonly EndpointInfo[] }>();
  private index: WorkloadIndex | undefined;
  private readonly make: BalancerFactory;
  private health: EndpointHealthSource | undefined;
  /** A balancer was made, updated or dropped outside {@link apply} since the last one: the next walks every Service port. */
  private touched = false;

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
   * already applied, so the data path may call it per connection. When `index` was derived from
   * the one applied before (`WorkloadIndex.derive`) only the Service ports that changed are
   * looked at (the cost of the change); every Service port otherwise, or after a balancer was
   * made, brought to other endpoints or dropped outside `apply` (`forget`, a pick with another
   * snapshot's entry): then the registry may differ from the last index in more than the change.
   */
  apply(index: WorkloadIndex): void {
    if (index === this.index) return;
    const changed = this.index === undefined || this.touched ? undefined : index.serviceEntriesChangedSince(this.index);
    this.index = index;
    this.touched = false;
    if (changed !== undefined) {
      const kept = new Set(changed.added.map((e) => e.key));
      for (const e of changed.removed) if (!kept.has(e.key)) this.balancers.delete(e.key);
      for (const e of changed.added) this.sync(e, false);
      return;
    }
    const seen = new Set<string>();
    for (const entry of index.serviceEntries) {
      seen.add(entry.key);
      this.sync(entry, false);
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

  /** The balancer of `entry`, made or brought up to `entry`'s endpoints first. */
  balancerOf(entry: ServicePortEntry): Balancer {
    return this.sync(entry);
  }

  /**
   * Every Service port's endpoints with their balancing state (for `proxy-config endpoints`),
   * and their health when a {@link EndpointHealthSource} watches them.
   */
  describe(): Array<{ servicePort: string; algorithm: string; endpoints: EndpointView[] }> {
    const health = this.health;
    return [...this.balancers].map(([servicePort, { balancer }]) => {
      const endpoints: EndpointView[] = balancer.describe();
      if (health === undefined) return { servicePort, algorithm: balancer.algorithm, endpoints };
      return {
        servicePort,
        algorithm: balancer.algorithm,
        endpoints: endpoints.map((e) => {
          const h = health.healthOf(servicePort, e.key);
          return h === undefined ? e : { ...e, health: h };
        }),
      };
    });
  }

  /**
   * Outlier detection attaches here: balancers made from now on start with its ejections in
   * force. One source per registry (a second replaces the first).
   */
  watchHealth(source: EndpointHealthSource | undefined): void {
    this.health = source;
  }

  /**
   * Ejects an endpoint of a Service port until `untilMs` (the balancers' clock), if that port
   * has a balancer now; one made later learns it from the {@link EndpointHealthSource}. Never
   * makes or updates a balancer, so a caller holding an older snapshot's entry cannot turn a
   * balancer's endpoints back.
   */
  eject(servicePortKey: string, endpointKey: string, untilMs: number): void {
    this.balancers.get(servicePortKey)?.balancer.eject(endpointKey, untilMs);
  }

  /** Puts an endpoint back in rotation (its ejection ended, or its policy went away). */
  uneject(servicePortKey: string, endpointKey: string): void {
    this.balancers.get(servicePortKey)?.balancer.uneject(endpointKey);
  }

  /**
   * Drops the balancers of these Service ports (all when none is named), so the next pick makes
   * them afresh from the factory: for a changed TrafficPolicy. Their state is lost.
   */
  forget(servicePortKeys?: Iterable<string>): void {
    this.touched = true;
    if (servicePortKeys === undefined) this.balancers.clear();
    else for (const key of servicePortKeys) this.balancers.delete(key);
  }

  /** `outside`: called for a pick, not by {@link apply} (a change there marks the registry {@link touched}). */
  private sync(entry: ServicePortEntry, outside = true): Balancer {
    const held = this.balancers.get(entry.key);
    if (held === undefined) {
      const balancer = this.make(entry);
      this.balancers.set(entry.key, { balancer, endpoints: entry.endpoints });
      if (this.health !== undefined) for (const [key, untilMs] of this.health.ejectionsOf(entry.key)) balancer.eject(key, untilMs);
      if (outside) this.touched = true;
      return balancer;
    }
    if (held.endpoints !== entry.endpoints) {
      held.endpoints = entry.endpoints;
      held.balancer.update(entry.endpoints);
      if (outside) this.touched = true;
    }
    return held.balancer;
  }
}
