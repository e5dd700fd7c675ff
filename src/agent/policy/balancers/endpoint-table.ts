/**
 * The endpoints of one Service port as a balancer sees them: per-endpoint state (outstanding
 * requests, latency estimate, ejection, weight, zone) kept by {@link endpointKey} across
 * snapshots, and the choice of candidates for one pick: never an excluded endpoint (already
 * tried), healthy ones in the source's zone first, then healthy ones anywhere, then, when every
 * one left is ejected, all of them (panic mode, like Envoy's panic threshold at 100%).
 * Pure: the clock is a number passed in.
 */
import type { EndpointInfo } from '../../../mesh/types.js';

/** An endpoint's identity across snapshots (a new snapshot brings new objects). */
export function endpointKey(e: EndpointInfo): string {
  return `${e.workload}|${e.address}|${JSON.stringify(e.targetPorts)}`;
}

/**
 * Where the source is and how to find an endpoint's zone. Zones are not in the model yet (the
 * Node label `topology.kubernetes.io/zone` would have to reach `EndpointInfo` through the
 * snapshot), so the caller passes a lookup.
 */
export interface Locality {
  /** The source's zone; endpoints in it are preferred. */
  readonly zone: string;
  readonly zoneOf: (endpoint: EndpointInfo) => string | undefined;
}

/** Options shared by every balancer that a snapshot's endpoints are read with. */
export interface EndpointTableOptions {
  /** An endpoint's weight (default 1). Not positive or not finite counts as 1. */
  readonly weightOf?: ((endpoint: EndpointInfo) => number) | undefined;
  readonly locality?: Locality | undefined;
}

/** One endpoint's balancing state; the object lives as long as the endpoint stays. */
export interface EndpointState {
  readonly key: string;
  endpoint: EndpointInfo;
  weight: number;
  zone: string | undefined;
  /** Leases handed out and not yet released. */
  outstanding: number;
  /** Ejected until this time (the balancer's clock, ms); 0 when not ejected. */
  ejectedUntilMs: number;
  /** Peak-EWMA latency estimate (ms) and when it was last updated; unused by other balancers. */
  rttMs: number;
  rttAtMs: number;
  /** Scratch for a pick: equal to the table's current epoch when the endpoint is a candidate. */
  mark: number;
}

function weightOf(opts: EndpointTableOptions, e: EndpointInfo): number {
  const w = opts.weightOf === undefined ? 1 : opts.weightOf(e);
  return Number.isFinite(w) && w > 0 ? w : 1;
}

/** The endpoint states of one Service port, in the snapshot's order. */
export class EndpointTable {
  /** Every endpoint, in the snapshot's order. */
  states: EndpointState[] = [];
  /** True when every weight is the same (balancers then sample uniformly). */
  uniformWeights = true;
  totalWeight = 0;
  private byKey = new Map<string, EndpointState>();
  /** Endpoints in the source's zone (only when some, not all, are). */
  private local: EndpointState[] | undefined;
  private ejected = 0;
  private epoch = 0;
  private readonly opts: EndpointTableOptions;
  private readonly scratch: EndpointState[] = [];
  private readonly makeState: (key: string, e: EndpointInfo) => EndpointState;

  constructor(opts: EndpointTableOptions, makeState: (key: string, e: EndpointInfo) => EndpointState) {
    this.opts = opts;
    this.makeState = makeState;
  }

  /**
   * New endpoints: states of endpoints that stay are kept. Returns true when the set of keys,
   * a weight or a zone changed (what a hash ring is built from), false for a mere reorder.
   */
  update(endpoints: readonly EndpointInfo[]): boolean {
    const next = new Map<string, EndpointState>();
    const states: EndpointState[] = [];
    let changed = false;
    for (const e of endpoints) {
      const key = endpointKey(e);
      if (next.has(key)) continue;
      let s = this.byKey.get(key);
      const weight = weightOf(this.opts, e);
      const zone = this.opts.locality?.zoneOf(e);
      if (s === undefined) {
        s = this.makeState(key, e);
        changed = true;
      } else if (s.weight !== weight || s.zone !== zone) changed = true;
      s.endpoint = e;
      s.weight = weight;
      s.zone = zone;
      next.set(key, s);
      states.push(s);
    }
    if (states.length !== this.states.length) changed = true;
    this.byKey = next;
    this.states = states;
    this.totalWeight = states.reduce((sum, s) => sum + s.weight, 0);
    this.uniformWeights = states.every((s) => s.weight === states[0]?.weight);
    this.ejected = states.filter((s) => s.ejectedUntilMs !== 0).length;
    const zone = this.opts.locality?.zone;
    const local = zone === undefined ? [] : states.filter((s) => s.zone === zone);
    this.local = local.length > 0 && local.length < states.length ? local : undefined;
    return changed;
  }

  get(key: string): EndpointState | undefined {
    return this.byKey.get(key);
  }

  /** Ejects an endpoint until `untilMs`; false when it is not in the table. */
  eject(key: string, untilMs: number): boolean {
    const s = this.byKey.get(key);
    if (s === undefined) return false;
    if (s.ejectedUntilMs === 0) this.ejected++;
    // 0 means "not ejected": an ejection always holds a non-zero time.
    s.ejectedUntilMs = untilMs === 0 ? Number.MIN_VALUE : untilMs;
    return true;
  }

  uneject(key: string): boolean {
    const s = this.byKey.get(key);
    if (s === undefined || s.ejectedUntilMs === 0) return false;
    s.ejectedUntilMs = 0;
    this.ejected--;
    return true;
  }

  /** True when `s` is ejected at `nowMs` (expired ejections are lifted on the way). */
  isEjected(s: EndpointState, nowMs: number): boolean {
    if (s.ejectedUntilMs === 0) return false;
    if (s.ejectedUntilMs > nowMs) return true;
    s.ejectedUntilMs = 0;
    this.ejected--;
    return false;
  }

  /**
   * The endpoints one pick may choose from, best tier first: (1) not excluded, not ejected, in
   * the source's zone; (2) not excluded, not ejected; (3) not excluded (every one ejected: panic).
   * Empty only when every endpoint is excluded or there is none. The array is `states` itself
   * when nothing narrows the choice (the fast path), otherwise a scratch array valid until the
   * next call.
   */
  candidates(exclude: ReadonlySet<string> | undefined, nowMs: number): readonly EndpointState[] {
    const excluding = exclude !== undefined && exclude.size > 0;
    if (!excluding && this.ejected === 0) return this.local ?? this.states;
    const out = this.scratch;
    out.length = 0;
    const zone = this.opts.locality?.zone;
    let localHealthy = 0;
    let healthy = 0;
    let allowed = 0;
    // One pass; tiers are ranked in place: 2 = local and healthy, 1 = healthy, 0 = allowed.
    for (const s of this.states) {
      if (excluding && exclude.has(s.key)) continue;
      allowed++;
      if (this.isEjected(s, nowMs)) continue;
      healthy++;
      if (zone !== undefined && s.zone === zone) localHealthy++;
    }
    const tier = localHealthy > 0 && localHealthy < healthy ? 2 : healthy > 0 && healthy < allowed ? 1 : 0;
    for (const s of this.states) {
      if (excluding && exclude.has(s.key)) continue;
      if (tier >= 1 && s.ejectedUntilMs !== 0) continue;
      if (tier === 2 && s.zone !== zone) continue;
      out.push(s);
    }
    return out;
  }

  /** Marks `pool` as this pick's candidates (for balancers that walk their own structure). */
  mark(pool: readonly EndpointState[]): number {
    const epoch = ++this.epoch;
    for (const s of pool) s.mark = epoch;
    return epoch;
  }
}
