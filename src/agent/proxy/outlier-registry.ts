/**
 * Passive health for every Service port whose TrafficPolicy has a `passiveHealth` section: an
 * {@link OutlierDetector} per port, fed by the data path (each try's result, L7 and L4), whose
 * ejections are carried out in the balancers that pick for that port (the L7 request balancers
 * and the L4 connection balancers of this process). Kept across snapshots like the balancers.
 * One timer per registry, unref'd, armed only while some port has a policy, for the intervals
 * (success rates, decay) and the ends of ejections. A Service without `passiveHealth` costs a
 * map lookup per report. Per process: each worker process judges the tries it makes.
 */
import type { PassiveHealthPolicy } from '../../mesh/resilience.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { BalancerRegistry, EndpointHealth, EndpointHealthSource } from '../policy/balancer.js';
import { endpointKey } from '../policy/balancers/endpoint-table.js';
import { OutlierDetector, type EjectionReason, type Ejection } from '../policy/resilience/outlier-detector.js';

/** The timer functions, injected so that tests drive time (defaults: `setTimeout`, unref'd). */
export interface OutlierTimers {
  set(fn: () => void, ms: number): unknown;
  clear(handle: unknown): void;
}

/** Options of {@link OutlierRegistry}. */
export interface OutlierRegistryOptions {
  /** The balancers' clock (ms): ejections are times on it. The data plane's is `performance.now()`. */
  readonly now: () => number;
  readonly timers?: OutlierTimers;
  /** An endpoint was ejected (count `ResilienceMetrics.ejected(service, reason)`). */
  readonly onEject?: (service: string, reason: EjectionReason, endpointKey: string) => void;
}

const realTimers: OutlierTimers = {
  set(fn, ms) {
    const t = setTimeout(fn, ms);
    t.unref();
    return t;
  },
  clear(handle) {
    clearTimeout(handle as NodeJS.Timeout);
  },
};

interface PortDetector {
  readonly detector: OutlierDetector;
  /** `namespace/name` of the Service (the metrics' label). */
  readonly service: string;
  endpoints: ServicePortEntry['endpoints'];
}

/** A timer shorter than this is not armed: due work waits at most this long (bounds the rate of wake-ups). */
const MIN_TIMER_MS = 10;
/**
 * Node fires a timeout above 2^31 - 1 ms after 1 ms instead (TimeoutOverflowWarning): a policy
 * with a huge interval would spin the timer. Longer waits are taken in steps of this.
 */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/** Outlier detection of one process, per Service port. */
export class OutlierRegistry implements EndpointHealthSource {
  private readonly ports = new Map<string, PortDetector>();
  private readonly balancers: BalancerRegistry[] = [];
  private readonly now: () => number;
  private readonly timers: OutlierTimers;
  private readonly onEject: OutlierRegistryOptions['onEject'];
  private index: WorkloadIndex | undefined;
  private timer: unknown;
  private timerDueMs = Infinity;
  private closed = false;

  constructor(opts: OutlierRegistryOptions) {
    this.now = opts.now;
    this.timers = opts.timers ?? realTimers;
    this.onEject = opts.onEject;
    this.tick = this.tick.bind(this);
  }

  /** Service ports under passive health (for tests and the gauge). */
  get size(): number {
    return this.ports.size;
  }

  /**
   * Ejections are carried out in `registry` too (and a balancer it makes later starts with
   * them); its `describe()` shows the endpoints' health. Its clock must be this one.
   */
  attach(registry: BalancerRegistry): void {
    if (this.balancers.includes(registry)) return;
    this.balancers.push(registry);
    registry.watchHealth(this);
    for (const [key, p] of this.ports) for (const s of p.detector.values()) if (s.ejectedUntilMs !== 0) registry.eject(key, s.key, s.ejectedUntilMs);
  }

  /**
   * A snapshot landed: ports with a `passiveHealth` policy get a detector (kept when it stays:
   * counters, ejections and times ejected survive), others lose theirs (their endpoints back in
   * rotation). Cheap when `index` is the one already applied. When `index` was derived from the
   * one applied before (`WorkloadIndex.derive`), only the Service ports that changed are looked
   * at (a changed TrafficPolicy is a changed Service); every Service port otherwise.
   */
  apply(index: WorkloadIndex): void {
    if (index === this.index || this.closed) return;
    const changed = this.index === undefined ? undefined : index.serviceEntriesChangedSince(this.index);
    this.index = index;
    const now = this.now();
    if (changed !== undefined) {
      const kept = new Set<string>();
      for (const entry of changed.added) {
        const policy = index.trafficPolicyOf(entry.service.key)?.passiveHealth;
        if (policy === undefined) continue;
        kept.add(entry.key);
        this.sync(entry, policy, now);
      }
      for (const entry of [...changed.removed, ...changed.added]) if (!kept.has(entry.key)) this.drop(entry.key);
      this.arm();
      return;
    }
    const seen = new Set<string>();
    for (const entry of index.serviceEntries) {
      const policy = index.trafficPolicyOf(entry.service.key)?.passiveHealth;
      if (policy === undefined) continue;
      seen.add(entry.key);
      this.sync(entry, policy, now);
    }
    for (const key of this.ports.keys()) if (!seen.has(key)) this.drop(key);
    this.arm();
  }

  /** A port's detector goes (its policy or the port went): its ejected endpoints back in rotation. */
  private drop(key: string): void {
    const p = this.ports.get(key);
    if (p === undefined) return;
    for (const s of p.detector.values()) if (s.ejectedUntilMs !== 0) this.uneject(key, s.key);
    this.ports.delete(key);
  }

  /**
   * One try's result at `entry`'s endpoint `endpointKey` (see `endpointKey`): `status` its
   * response status, 0 when it had none; `gateway` when it failed without one (connect failure,
   * reset, timeout). An L4 connection reports its connect: 0 and `gateway` on failure, 200 once
   * connected. Does nothing for a port without passive health.
   */
  report(entry: ServicePortEntry, endpoint: string, status: number, gateway: boolean): void {
    const p = this.ports.get(entry.key);
    if (p === undefined) return;
    const ejection = p.detector.report(endpoint, status, gateway, this.now());
    if (ejection === undefined) return;
    this.ejected(entry.key, p.service, ejection);
    this.arm();
  }

  /** {@link report} by endpoint object rather than key. */
  reportEndpoint(entry: ServicePortEntry, endpoint: ServicePortEntry['endpoints'][number], status: number, gateway: boolean): void {
    if (this.ports.has(entry.key)) this.report(entry, endpointKey(endpoint), status, gateway);
  }

  /** Runs what is due (intervals, ends of ejections) and arms the timer for what comes next. */
  tick(): void {
    this.timer = undefined;
    this.timerDueMs = Infinity;
    if (this.closed) return;
    const now = this.now();
    for (const [key, p] of this.ports) {
      const d = p.detector;
      if (d.nextIntervalMs <= now) {
        const { ejected, returned } = d.interval(now);
        for (const k of returned) this.uneject(key, k);
        for (const e of ejected) this.ejected(key, p.service, e);
      } else {
        for (const k of d.expire(now)) this.uneject(key, k);
      }
    }
    this.arm();
  }

  /** Stops the timer; reports and snapshots are ignored from now on. Idempotent. */
  close(): void {
    this.closed = true;
    this.disarm();
  }

  ejectionsOf(servicePortKey: string): Array<readonly [string, number]> {
    const out: Array<readonly [string, number]> = [];
    const p = this.ports.get(servicePortKey);
    if (p === undefined || p.detector.ejected === 0) return out;
    for (const s of p.detector.values()) if (s.ejectedUntilMs !== 0) out.push([s.key, s.ejectedUntilMs]);
    return out;
  }

  healthOf(servicePortKey: string, endpoint: string): EndpointHealth | undefined {
    const s = this.ports.get(servicePortKey)?.detector.get(endpoint);
    if (s === undefined) return undefined;
    const ejected = s.ejectedUntilMs !== 0 && s.ejectedUntilMs > this.now();
    return {
      timesEjected: s.timesEjected,
      ejectionsTotal: s.ejectionsTotal,
      consecutive5xx: s.consecutive5xx,
      consecutiveGatewayErrors: s.consecutiveGatewayErrors,
      ...(s.lastSuccessRate === undefined ? {} : { successRate: s.lastSuccessRate }),
      ...(ejected ? { ejectedUntilMs: s.ejectedUntilMs, ejectionMs: s.ejectionMs, ...(s.reason === undefined ? {} : { ejectionReason: s.reason }) } : {}),
    };
  }

  /** Every Service port's endpoints as outlier detection sees them (the admin API's raw view). */
  describe(): Array<{ servicePort: string; ejected: number; endpoints: Array<{ key: string } & EndpointHealth> }> {
    return [...this.ports].map(([servicePort, p]) => ({
      servicePort,
      ejected: p.detector.ejected,
      endpoints: [...p.detector.values()].map((s) => ({ key: s.key, ...(this.healthOf(servicePort, s.key) as EndpointHealth) })),
    }));
  }

  /** Endpoints ejected now per Service (for `ResilienceMetrics.watchEjected`). */
  ejectedByService(): Array<{ labels: Record<string, string>; value: number }> {
    const by = new Map<string, number>();
    for (const p of this.ports.values()) by.set(p.service, (by.get(p.service) ?? 0) + p.detector.ejected);
    return [...by].map(([service, value]) => ({ labels: { service }, value }));
  }

  private sync(entry: ServicePortEntry, policy: PassiveHealthPolicy, now: number): void {
    const held = this.ports.get(entry.key);
    if (held === undefined) {
      this.ports.set(entry.key, { detector: new OutlierDetector(policy, entry.endpoints.map(endpointKey), now), service: entry.service.key, endpoints: entry.endpoints });
      return;
    }
    if (held.detector.policy !== policy) {
      if (held.detector.policy.intervalMs !== policy.intervalMs) held.detector.nextIntervalMs = now + policy.intervalMs;
      held.detector.policy = policy;
    }
    if (held.endpoints !== entry.endpoints) {
      held.endpoints = entry.endpoints;
      held.detector.setEndpoints(entry.endpoints.map(endpointKey));
    }
  }

  private ejected(servicePortKey: string, service: string, e: Ejection): void {
    for (const b of this.balancers) b.eject(servicePortKey, e.key, e.untilMs);
    this.onEject?.(service, e.reason, e.key);
  }

  private uneject(servicePortKey: string, key: string): void {
    for (const b of this.balancers) b.uneject(servicePortKey, key);
  }

  /** Arms the one timer for the earliest due time, or stops it when no port has a policy. */
  private arm(): void {
    if (this.closed || this.ports.size === 0) {
      this.disarm();
      return;
    }
    let due = Infinity;
    for (const p of this.ports.values()) due = Math.min(due, p.detector.nextDueMs());
    if (due >= this.timerDueMs && this.timer !== undefined) return;
    this.disarm();
    this.timerDueMs = due;
    this.timer = this.timers.set(this.tick, Math.min(MAX_TIMER_MS, Math.max(MIN_TIMER_MS, due - this.now())));
  }

  private disarm(): void {
    if (this.timer !== undefined) this.timers.clear(this.timer);
    this.timer = undefined;
    this.timerDueMs = Infinity;
  }
}
