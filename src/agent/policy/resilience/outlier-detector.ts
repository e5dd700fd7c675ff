/**
 * Outlier detection of one Service port (Envoy's outlier detector, passive health): each try's
 * result is reported per endpoint; consecutive 5xx, consecutive gateway errors and, once per
 * interval, a success rate below the others' eject an endpoint for `base x times ejected`
 * (capped), never more than `maxEjectionPercent` of the endpoints at once (but always one).
 * "Times ejected" decays by one each interval the endpoint spends in rotation, as Envoy's
 * ejection backoff does. Pure: the caller passes the clock (ms) and carries out the changes
 * (the balancers skip an ejected endpoint).
 */
import type { PassiveHealthPolicy } from '../../../mesh/resilience.js';
import type { EjectionReason } from './reasons.js';

export type { EjectionReason };

/** One endpoint's outlier state; lives as long as the endpoint stays in the Service port. */
export interface EndpointOutlierState {
  readonly key: string;
  consecutive5xx: number;
  consecutiveGatewayErrors: number;
  /** Tries and successful ones reported in the current interval (success-rate ejection). */
  requests: number;
  successes: number;
  /** The success rate (percent) of the last interval in which the endpoint had enough tries. */
  lastSuccessRate: number | undefined;
  /** Ejected until then (the caller's clock); 0 when in rotation. */
  ejectedUntilMs: number;
  /** The current (or last) ejection's length and reason. */
  ejectionMs: number;
  reason: EjectionReason | undefined;
  /** Envoy's ejection backoff: the multiplier of the next ejection's time, less one; decays. */
  timesEjected: number;
  /** Ejections since the endpoint appeared (never decays). */
  ejectionsTotal: number;
}

/** An ejection the caller must carry out (the balancers skip `key` until `untilMs`). */
export interface Ejection {
  readonly key: string;
  readonly reason: EjectionReason;
  readonly untilMs: number;
}

/** The changes of one interval or expiry check. */
export interface OutlierChanges {
  readonly ejected: Ejection[];
  /** Keys back in rotation. */
  readonly returned: string[];
}

/** Statuses that count as gateway errors (Envoy's `consecutive_gateway_failure`). */
function isGatewayStatus(status: number): boolean {
  return status === 502 || status === 503 || status === 504;
}

/** At most this many endpoints of `total` may be ejected at once: the policy's share, but always one. */
export function maxEjected(total: number, maxEjectionPercent: number): number {
  return Math.max(1, Math.floor((total * maxEjectionPercent) / 100));
}

/** The outlier state of one Service port's endpoints. */
export class OutlierDetector {
  policy: PassiveHealthPolicy;
  private readonly states = new Map<string, EndpointOutlierState>();
  private ejectedNow = 0;
  /** When the next interval is due (the caller's clock). */
  nextIntervalMs: number;

  constructor(policy: PassiveHealthPolicy, keys: Iterable<string>, nowMs: number) {
    this.policy = policy;
    this.nextIntervalMs = nowMs + policy.intervalMs;
    this.setEndpoints(keys);
  }

  /** Endpoints ejected now. */
  get ejected(): number {
    return this.ejectedNow;
  }

  get size(): number {
    return this.states.size;
  }

  /** The endpoints changed: states of those that stay are kept; those gone are forgotten. */
  setEndpoints(keys: Iterable<string>): void {
    const seen = new Set<string>();
    for (const key of keys) {
      seen.add(key);
      if (!this.states.has(key)) this.states.set(key, newState(key));
    }
    for (const [key, s] of this.states) {
      if (seen.has(key)) continue;
      if (s.ejectedUntilMs !== 0) this.ejectedNow--;
      this.states.delete(key);
    }
  }

  get(key: string): EndpointOutlierState | undefined {
    return this.states.get(key);
  }

  values(): IterableIterator<EndpointOutlierState> {
    return this.states.values();
  }

  /**
   * One try's result: `status` the response status (0 when there was none), `gateway` when the
   * try failed as a gateway error without a status (connect failure, reset, timeout). As in
   * Envoy without split local-origin errors, such a failure counts as a 5xx too. Answers the
   * ejection it causes, if any. An ejected endpoint's results (panic mode) are still counted.
   */
  report(key: string, status: number, gateway: boolean, nowMs: number): Ejection | undefined {
    const s = this.states.get(key);
    if (s === undefined) return undefined;
    const is5xx = gateway || status >= 500;
    const isGateway = gateway || isGatewayStatus(status);
    s.requests++;
    if (!is5xx) s.successes++;
    s.consecutive5xx = is5xx ? s.consecutive5xx + 1 : 0;
    s.consecutiveGatewayErrors = isGateway ? s.consecutiveGatewayErrors + 1 : 0;
    if (s.ejectedUntilMs !== 0) return undefined;
    const p = this.policy;
    // Envoy checks the gateway counter first: a run of 503s is reported as gateway errors.
    if (p.consecutiveGatewayErrors > 0 && s.consecutiveGatewayErrors >= p.consecutiveGatewayErrors) return this.eject(s, 'consecutive_gateway_errors', nowMs);
    if (p.consecutive5xx > 0 && s.consecutive5xx >= p.consecutive5xx) return this.eject(s, 'consecutive_5xx', nowMs);
    return undefined;
  }

  /** Lifts ejections whose time has passed; answers the keys back in rotation. */
  expire(nowMs: number): string[] {
    const back: string[] = [];
    if (this.ejectedNow === 0) return back;
    for (const s of this.states.values()) {
      if (s.ejectedUntilMs === 0 || s.ejectedUntilMs > nowMs) continue;
      s.ejectedUntilMs = 0;
      // Envoy resets the counters when a host returns: it starts with a clean slate.
      s.consecutive5xx = 0;
      s.consecutiveGatewayErrors = 0;
      this.ejectedNow--;
      back.push(s.key);
    }
    return back;
  }

  /**
   * The interval: expired ejections lifted, "times ejected" of endpoints in rotation decayed,
   * success rates judged (then the interval's counts start afresh). Call when
   * {@link nextIntervalMs} is due; the next one is scheduled from `nowMs`.
   */
  interval(nowMs: number): OutlierChanges {
    const returned = this.expire(nowMs);
    const back = new Set(returned);
    for (const s of this.states.values()) {
      // Envoy: an endpoint that was not ejected since the last interval earns one back.
      if (s.ejectedUntilMs === 0 && !back.has(s.key) && s.timesEjected > 0) s.timesEjected--;
    }
    const ejected = this.successRateEjections(nowMs);
    for (const s of this.states.values()) {
      s.requests = 0;
      s.successes = 0;
    }
    this.nextIntervalMs = nowMs + this.policy.intervalMs;
    return { ejected, returned };
  }

  /** The earliest time something is due: the next interval or the end of an ejection. */
  nextDueMs(): number {
    let due = this.nextIntervalMs;
    if (this.ejectedNow === 0) return due;
    for (const s of this.states.values()) if (s.ejectedUntilMs !== 0 && s.ejectedUntilMs < due) due = s.ejectedUntilMs;
    return due;
  }

  /**
   * Envoy's success-rate ejection: endpoints with at least `requestVolume` tries this interval
   * are judged when there are at least `minimumHosts` of them; those below mean - stdevFactor x
   * stdev of their success rates are ejected (within the ejection limit).
   */
  private successRateEjections(nowMs: number): Ejection[] {
    const sr = this.policy.successRate;
    const out: Ejection[] = [];
    if (sr === undefined) return out;
    const judged: EndpointOutlierState[] = [];
    for (const s of this.states.values()) {
      if (s.requests < sr.requestVolume || s.requests === 0) continue;
      s.lastSuccessRate = (100 * s.successes) / s.requests;
      judged.push(s);
    }
    if (judged.length === 0 || judged.length < sr.minimumHosts) return out;
    let sum = 0;
    for (const s of judged) sum += s.lastSuccessRate as number;
    const mean = sum / judged.length;
    let sq = 0;
    for (const s of judged) sq += ((s.lastSuccessRate as number) - mean) ** 2;
    const threshold = mean - sr.stdevFactor * Math.sqrt(sq / judged.length);
    // The worst first, so that the ejection limit keeps the worst out.
    judged.sort((a, b) => (a.lastSuccessRate as number) - (b.lastSuccessRate as number));
    for (const s of judged) {
      if ((s.lastSuccessRate as number) >= threshold || s.ejectedUntilMs !== 0) continue;
      const e = this.eject(s, 'success_rate', nowMs);
      if (e !== undefined) out.push(e);
    }
    return out;
  }

  /** Ejects `s` unless the limit is reached; the ejection lasts base x times ejected, capped. */
  private eject(s: EndpointOutlierState, reason: EjectionReason, nowMs: number): Ejection | undefined {
    const p = this.policy;
    if (this.ejectedNow >= maxEjected(this.states.size, p.maxEjectionPercent)) return undefined;
    // Envoy stops raising the backoff once base x backoff reaches the cap.
    if (p.baseEjectionMs * s.timesEjected < p.maxEjectionMs) s.timesEjected++;
    const ms = Math.min(p.baseEjectionMs * Math.max(1, s.timesEjected), Math.max(p.baseEjectionMs, p.maxEjectionMs));
    s.ejectionsTotal++;
    s.ejectionMs = ms;
    s.reason = reason;
    // An ejection always holds a non-zero time (0 means "in rotation").
    s.ejectedUntilMs = Math.max(nowMs + ms, Number.MIN_VALUE);
    s.consecutive5xx = 0;
    s.consecutiveGatewayErrors = 0;
    this.ejectedNow++;
    return { key: s.key, reason, untilMs: s.ejectedUntilMs };
  }
}

function newState(key: string): EndpointOutlierState {
  return {
    key, consecutive5xx: 0, consecutiveGatewayErrors: 0, requests: 0, successes: 0, lastSuccessRate: undefined,
    ejectedUntilMs: 0, ejectionMs: 0, reason: undefined, timesEjected: 0, ejectionsTotal: 0,
  };
}
