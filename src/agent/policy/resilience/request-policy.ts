/**
 * The resilience that applies to one request at the source agent, from the three places that
 * may say something, most specific first: the matched route rule's own Gateway API fields
 * (`timeouts`, `retry`), a TrafficPolicy that targets the route, then the TrafficPolicy of the
 * backend Service. Pure; a request with nothing configured gets {@link NO_RESILIENCE} (shared,
 * no allocation), and the data path takes its zero-cost path.
 */
import {
  DEFAULT_RETRY_BACKOFF_BASE_MS,
  DEFAULT_RETRY_BUDGET,
  DEFAULT_RETRY_BUFFER_BYTES,
  type FaultPolicy,
  type HedgePolicy,
  type RetryBudget,
  type RetryPolicy,
} from '../../../mesh/resilience.js';
import type { RouteRetry, RouteTimeouts } from '../../../mesh/routes.js';
import type { RoutePolicyInfo, TrafficPolicyInfo } from '../../../mesh/types.js';

/** What one request is given. */
export interface RequestResilience {
  /** The whole request, every try and backoff included, to the response head; 0: none. */
  readonly requestMs: number;
  /** Each try to the response head; 0: none. */
  readonly perTryMs: number;
  /** Retries beyond connect failures; undefined: only {@link CONNECT_ONLY_RETRY}. */
  readonly retry: RetryPolicy;
  readonly budget: RetryBudget;
  readonly hedge: HedgePolicy | undefined;
  readonly fault: FaultPolicy | undefined;
  /** True when the request body must be kept for a replay (a retry past the first byte, or a hedge). */
  readonly replay: boolean;
}

/**
 * With no retry configured a try that failed before any byte was sent (a refused connect, a
 * refused stream) still goes to another endpoint, up to three endpoints, as it always has: it
 * cannot have been seen by anyone. Its retries draw from the default budget.
 */
export const CONNECT_ONLY_RETRY: RetryPolicy = Object.freeze({
  retries: 2,
  triggers: Object.freeze(['connect-failure'] as const),
  statusCodes: Object.freeze([]),
  perTryTimeoutMs: 0,
  backoffBaseMs: 0,
  backoffMaxMs: 0,
  nonIdempotent: false,
  bufferBytes: 0,
});

export const NO_RESILIENCE: RequestResilience = Object.freeze({
  requestMs: 0,
  perTryMs: 0,
  retry: CONNECT_ONLY_RETRY,
  budget: DEFAULT_RETRY_BUDGET,
  hedge: undefined,
  fault: undefined,
  replay: false,
});

/** What the route rule says of itself (Gateway API fields). */
export interface RuleResilience {
  readonly timeouts?: RouteTimeouts;
  readonly retry?: RouteRetry;
}

/** The retry a Gateway API `retry` asks for, on top of the Service's policy (or meshlet's defaults). */
function fromRouteRetry(r: RouteRetry, base: RetryPolicy | undefined): RetryPolicy {
  const backoff = r.backoffMs ?? base?.backoffBaseMs ?? DEFAULT_RETRY_BACKOFF_BASE_MS;
  const triggers = base?.triggers ?? (['connect-failure', 'reset'] as const);
  return {
    retries: r.attempts ?? base?.retries ?? 2,
    triggers: r.codes.length > 0 && !triggers.includes('retriable-status-codes') ? [...triggers, 'retriable-status-codes'] : triggers,
    statusCodes: r.codes.length > 0 ? r.codes : base?.statusCodes ?? [],
    perTryTimeoutMs: base?.perTryTimeoutMs ?? 0,
    backoffBaseMs: backoff,
    backoffMaxMs: Math.max(backoff, base?.backoffMaxMs ?? backoff * 10),
    nonIdempotent: base?.nonIdempotent ?? false,
    bufferBytes: base?.bufferBytes ?? DEFAULT_RETRY_BUFFER_BYTES,
  };
}

/**
 * The request's resilience.
 * @param service the backend Service's TrafficPolicy
 * @param route a TrafficPolicy that targets the matched route
 * @param rule the matched rule's own fields
 */
export function requestResilience(service: TrafficPolicyInfo | undefined, route: RoutePolicyInfo | undefined, rule: RuleResilience | undefined): RequestResilience {
  const timeouts = rule?.timeouts;
  const noRule = timeouts?.requestMs === undefined && timeouts?.backendRequestMs === undefined && rule?.retry === undefined;
  if (service === undefined && route === undefined && noRule) return NO_RESILIENCE;
  const policyRetry = route?.retry ?? service?.retry;
  const retry = rule?.retry !== undefined ? fromRouteRetry(rule.retry, policyRetry) : policyRetry ?? CONNECT_ONLY_RETRY;
  const requestMs = positive(timeouts?.requestMs) ?? positive(route?.timeout?.requestMs) ?? positive(service?.timeout?.requestMs) ?? 0;
  const perTryMs = positive(timeouts?.backendRequestMs) ?? positive(retry.perTryTimeoutMs) ?? 0;
  const hedge = route?.hedge ?? service?.hedge;
  const budget = route?.retryBudget ?? service?.retryBudget ?? DEFAULT_RETRY_BUDGET;
  const fault = route?.fault ?? service?.fault;
  const replay = (retry !== CONNECT_ONLY_RETRY && retry.retries > 0 && retry.bufferBytes > 0) || hedge !== undefined;
  if (requestMs === 0 && perTryMs === 0 && retry === CONNECT_ONLY_RETRY && hedge === undefined && fault === undefined && budget === DEFAULT_RETRY_BUDGET) return NO_RESILIENCE;
  return { requestMs, perTryMs, retry, budget, hedge, fault, replay };
}

function positive(v: number | undefined): number | undefined {
  return v !== undefined && v > 0 ? v : undefined;
}

/** Stands for an absent input in {@link requestResilienceOf}'s cache keys. */
const ABSENT: object = Object.freeze({});
const NO_RULE_TIMEOUTS: RouteTimeouts = Object.freeze({});

type Memo<V> = WeakMap<object, V>;
const memo: Memo<Memo<Memo<Memo<RequestResilience>>>> = new WeakMap();

function level<V>(m: Memo<V>, key: object, make: () => V): V {
  let v = m.get(key);
  if (v === undefined) m.set(key, (v = make()));
  return v;
}

/**
 * {@link requestResilience}, computed once per combination of its inputs: they are snapshot
 * objects, the same for every request of a route rule until the next snapshot, so a request
 * pays four WeakMap lookups instead of building its policy (and a merged retry) afresh. The
 * cache holds nothing alive: a new snapshot's objects are new keys, the old ones are collected.
 */
export function requestResilienceOf(service: TrafficPolicyInfo | undefined, route: RoutePolicyInfo | undefined, timeouts: RouteTimeouts | undefined, retry: RouteRetry | undefined): RequestResilience {
  if (service === undefined && route === undefined && retry === undefined && (timeouts === undefined || (timeouts.requestMs === undefined && timeouts.backendRequestMs === undefined))) return NO_RESILIENCE;
  const byRoute = level(memo, service ?? ABSENT, () => new WeakMap());
  const byRetry = level(byRoute, route ?? ABSENT, () => new WeakMap());
  const byTimeouts = level(byRetry, retry ?? ABSENT, () => new WeakMap());
  const t = timeouts ?? NO_RULE_TIMEOUTS;
  return level(byTimeouts, t, () => requestResilience(service, route, { timeouts: t, ...(retry === undefined ? {} : { retry }) }));
}
