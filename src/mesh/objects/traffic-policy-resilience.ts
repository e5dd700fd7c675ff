/**
 * The resilience sections of a TrafficPolicy `spec` (issue 13), compiled into the
 * {@link ResiliencePolicy} shapes of `resilience.ts` with every default filled in: `timeout`,
 * `retry` (with its budget), `hedging`, `circuitBreaker`, `healthCheck.passive` and
 * `adaptiveConcurrency` here; `faultInjection` and `rateLimit` in `traffic-policy-fault.ts`.
 * Names follow Envoy Gateway's BackendTrafficPolicy; docs/traffic-policy.md lists every field,
 * default and bound. A section written empty (`retry: {}`) compiles to its defaults.
 */
import { optBool, optInt } from '../validate/readers.js';
import type { ProblemSink } from '../validate/problems.js';
import { type FieldPath, type Fields, formatValue } from '../validate/values.js';
import {
  DEFAULT_ADAPTIVE_CONCURRENCY, DEFAULT_CIRCUIT_BREAKER, DEFAULT_PASSIVE_HEALTH, DEFAULT_RETRY_BACKOFF_BASE_MS, DEFAULT_RETRY_BUDGET,
  DEFAULT_RETRY_BUFFER_BYTES, MAX_RETRIES, MAX_RETRY_BUFFER_BYTES, RETRY_TRIGGERS,
  type AdaptiveConcurrencyPolicy, type CircuitBreakerPolicy, type HedgePolicy, type PassiveHealthPolicy, type ResiliencePolicy,
  type RetryBudget, type RetryPolicy, type RetryTrigger, type TimeoutPolicy,
} from '../resilience.js';
import { boundedList, DAY_MS, HOUR_MS, MINUTE_MS, optDuration, optNumber, optPercent, optSection, readStatusCodes, SECOND_MS } from './traffic-policy-readers.js';
import { readFault, readRateLimit } from './traffic-policy-fault.js';

/** The resilience sections of `spec`, as written. */
export const RESILIENCE_SECTIONS = ['timeout', 'retry', 'hedging', 'circuitBreaker', 'healthCheck', 'adaptiveConcurrency', 'faultInjection', 'rateLimit'] as const;

/**
 * Envoy Gateway's retry triggers when `retryOn` is not written (its translator's
 * `connect-failure,refused-stream,unavailable,cancelled,retriable-status-codes` on 503;
 * meshlet's `connect-failure` covers a refused stream: nothing of the request was sent).
 */
export const DEFAULT_RETRY_TRIGGERS: readonly RetryTrigger[] = ['connect-failure', 'unavailable', 'cancelled', 'retriable-status-codes'];
export const DEFAULT_RETRY_STATUS_CODES: readonly number[] = [503];
/** Envoy Gateway's `numRetries` default. */
export const DEFAULT_NUM_RETRIES = 2;
/** The backoff cap when only the base is written: Envoy's 10 x base. */
export const BACKOFF_MAX_FACTOR = 10;
/** Largest count a circuit breaker threshold may be (Envoy's uint32). */
export const MAX_BREAKER_THRESHOLD = 4_294_967_295;
/** Largest consecutive-error count: past this, ejection never happens in practice. */
export const MAX_CONSECUTIVE_ERRORS = 100_000;
/** Largest concurrency limit an adaptive controller may reach. */
export const MAX_CONCURRENCY = 1_000_000;
/** Largest request count a count field takes (minRTTRequests, requestVolume, minimumHosts). */
const MAX_COUNT = 1_000_000_000;
/** Budget percent resolution: the ratio is kept to 1e-6 so every encoding reads back equal. */
const RATIO_STEP = 1e6;

/** Where the policy applies: a Service (every section) or a route (ROUTE_POLICY_SECTIONS). */
export type PolicyScope = 'service' | 'route';

/** Reads every resilience section of `spec` (at `path`); absent sections stay absent. */
export function readResilience(r: ProblemSink, spec: Fields, path: FieldPath, scope: PolicyScope): ResiliencePolicy {
  const route = scope === 'route';
  if (route) checkRouteScope(r, spec, path);
  const timeout = readTimeout(r, spec, path, route);
  const retryRead = readRetry(r, spec, path);
  const hedge = readHedge(r, spec, path);
  const faults = readFault(r, spec, path, route);
  const rateLimit = readRateLimit(r, spec, path);
  const perBackend = route ? {} : readBackendSections(r, spec, path);
  const retryBudget = retryRead?.budget ?? (hedge !== undefined ? DEFAULT_RETRY_BUDGET : undefined);
  return {
    ...(timeout === undefined ? {} : { timeout }),
    ...(retryRead === undefined ? {} : { retry: retryRead.retry }),
    ...(retryBudget === undefined ? {} : { retryBudget }),
    ...(hedge === undefined ? {} : { hedge }),
    ...perBackend,
    ...faults,
    ...(rateLimit === undefined ? {} : { rateLimit }),
  };
}

/** What a route target may not set, each named: the per-backend sections and fields. */
const SERVICE_ONLY: readonly (readonly string[])[] = [
  ['loadBalancer'], ['circuitBreaker'], ['healthCheck'], ['adaptiveConcurrency'],
  ['timeout', 'tcp'], ['timeout', 'http', 'connectionIdleTimeout'], ['faultInjection', 'tcp'],
];

/** Reports every field of {@link SERVICE_ONLY} set in `spec` (the readers then leave them unread). */
function checkRouteScope(r: ProblemSink, spec: Fields, path: FieldPath): void {
  for (const keys of SERVICE_ONLY) {
    let v: unknown = spec;
    for (const k of keys) v = v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Fields)[k] : undefined;
    if (v !== undefined && v !== null) r.report([...path, ...keys], 'only applies to a Service target, not to a route (see docs/traffic-policy.md, "Route targets")');
  }
}

/** The sections only a Service target may set: circuit breaking, passive health, adaptive concurrency. */
function readBackendSections(r: ProblemSink, spec: Fields, path: FieldPath): Pick<ResiliencePolicy, 'circuitBreaker' | 'passiveHealth' | 'adaptiveConcurrency'> {
  const circuitBreaker = readCircuitBreaker(r, spec, path);
  const passiveHealth = readPassiveHealth(r, spec, path);
  const adaptiveConcurrency = readAdaptive(r, spec, path);
  return {
    ...(circuitBreaker === undefined ? {} : { circuitBreaker }),
    ...(passiveHealth === undefined ? {} : { passiveHealth }),
    ...(adaptiveConcurrency === undefined ? {} : { adaptiveConcurrency }),
  };
}

/** `timeout: {tcp: {connectTimeout, idleTimeout}, http: {requestTimeout, connectionIdleTimeout}}`. */
function readTimeout(r: ProblemSink, spec: Fields, path: FieldPath, route: boolean): TimeoutPolicy | undefined {
  const t = optSection(r, spec, 'timeout', path, ['tcp', 'http']);
  if (t === undefined) return undefined;
  const at = [...path, 'timeout'];
  // A route target's per-backend fields were reported by checkRouteScope: left unread.
  const tcp = (route ? undefined : optSection(r, t, 'tcp', at, ['connectTimeout', 'idleTimeout'])) ?? {};
  const http = optSection(r, t, 'http', at, ['requestTimeout', 'connectionIdleTimeout']) ?? {};
  const connectMs = optDuration(r, tcp, 'connectTimeout', [...at, 'tcp'], 1, 5 * MINUTE_MS);
  const tcpIdleMs = optDuration(r, tcp, 'idleTimeout', [...at, 'tcp'], SECOND_MS, DAY_MS);
  const requestMs = optDuration(r, http, 'requestTimeout', [...at, 'http'], 1, DAY_MS);
  const httpIdleMs = route ? undefined : optDuration(r, http, 'connectionIdleTimeout', [...at, 'http'], SECOND_MS, DAY_MS);
  return {
    ...(connectMs === undefined ? {} : { connectMs }),
    ...(tcpIdleMs === undefined ? {} : { tcpIdleMs }),
    ...(requestMs === undefined ? {} : { requestMs }),
    ...(httpIdleMs === undefined ? {} : { httpIdleMs }),
  };
}

/** `retry`: the retry policy and its budget (always one: Linkerd's when `budget` is not written). */
function readRetry(r: ProblemSink, spec: Fields, path: FieldPath): { retry: RetryPolicy; budget: RetryBudget } | undefined {
  const m = optSection(r, spec, 'retry', path, ['numRetries', 'retryOn', 'perRetry', 'retryNonIdempotent', 'bufferBytes', 'budget']);
  if (m === undefined) return undefined;
  const at = [...path, 'retry'];
  const retries = optInt(r, m, 'numRetries', at, 0, MAX_RETRIES) ?? DEFAULT_NUM_RETRIES;
  const { triggers, statusCodes } = readRetryOn(r, m, at);
  const per = optSection(r, m, 'perRetry', at, ['timeout', 'backOff']) ?? {};
  const perTryTimeoutMs = optDuration(r, per, 'timeout', [...at, 'perRetry'], 0, HOUR_MS) ?? 0;
  const backOff = optSection(r, per, 'backOff', [...at, 'perRetry'], ['baseInterval', 'maxInterval']) ?? {};
  const bat = [...at, 'perRetry', 'backOff'];
  const backoffBaseMs = optDuration(r, backOff, 'baseInterval', bat, 1, HOUR_MS) ?? DEFAULT_RETRY_BACKOFF_BASE_MS;
  const maxWritten = optDuration(r, backOff, 'maxInterval', bat, 1, HOUR_MS);
  if (maxWritten !== undefined && maxWritten < backoffBaseMs) r.report([...bat, 'maxInterval'], `must not be shorter than baseInterval (${backoffBaseMs} ms), got ${formatValue(backOff['maxInterval'])}`);
  const backoffMaxMs = Math.max(maxWritten ?? Math.min(backoffBaseMs * BACKOFF_MAX_FACTOR, HOUR_MS), backoffBaseMs);
  const nonIdempotent = optBool(r, m, 'retryNonIdempotent', at) ?? false;
  const bufferBytes = optInt(r, m, 'bufferBytes', at, 0, MAX_RETRY_BUFFER_BYTES) ?? DEFAULT_RETRY_BUFFER_BYTES;
  const retry: RetryPolicy = { retries, triggers, statusCodes, perTryTimeoutMs, backoffBaseMs, backoffMaxMs, nonIdempotent, bufferBytes };
  return { retry, budget: readBudget(r, m, at) };
}

/** `retryOn: {triggers, httpStatusCodes}`; codes need the `retriable-status-codes` trigger. */
function readRetryOn(r: ProblemSink, m: Fields, at: FieldPath): { triggers: RetryTrigger[]; statusCodes: number[] } {
  const on = optSection(r, m, 'retryOn', at, ['triggers', 'httpStatusCodes']);
  if (on === undefined) return { triggers: [...DEFAULT_RETRY_TRIGGERS], statusCodes: [...DEFAULT_RETRY_STATUS_CODES] };
  const oat = [...at, 'retryOn'];
  const written = on['triggers'] !== undefined && on['triggers'] !== null;
  const triggers: RetryTrigger[] = [];
  const list = boundedList(r, on, 'triggers', oat, RETRY_TRIGGERS.length * 2);
  list.forEach((v, i) => {
    const tat = [...oat, 'triggers', i];
    if (typeof v !== 'string' || !(RETRY_TRIGGERS as readonly string[]).includes(v)) r.report(tat, `must be one of ${RETRY_TRIGGERS.join(', ')}, got ${formatValue(v)}`);
    else if (triggers.includes(v as RetryTrigger)) r.report(tat, `duplicate trigger ${formatValue(v)}`);
    else triggers.push(v as RetryTrigger);
  });
  if (written && list.length === 0) r.report([...oat, 'triggers'], 'must name at least one trigger (or leave triggers out for the defaults)');
  const codes = readStatusCodes(r, on, oat);
  const effective = written ? triggers : [...DEFAULT_RETRY_TRIGGERS];
  const byCode = effective.includes('retriable-status-codes');
  if (codes.length > 0 && !byCode) r.report([...oat, 'httpStatusCodes'], 'has no effect unless triggers includes retriable-status-codes');
  return { triggers: effective, statusCodes: byCode ? (codes.length > 0 ? codes : [...DEFAULT_RETRY_STATUS_CODES]) : [] };
}

/** `retry.budget: {percent, minRetriesPerSecond, ttl}` (Linkerd's retry budget). */
function readBudget(r: ProblemSink, m: Fields, at: FieldPath): RetryBudget {
  const b = optSection(r, m, 'budget', at, ['percent', 'minRetriesPerSecond', 'ttl']);
  if (b === undefined) return DEFAULT_RETRY_BUDGET;
  const bat = [...at, 'budget'];
  const percent = optPercent(r, b, 'percent', bat);
  const minPerSecond = optInt(r, b, 'minRetriesPerSecond', bat, 0, 100_000) ?? DEFAULT_RETRY_BUDGET.minPerSecond;
  const ttlMs = optDuration(r, b, 'ttl', bat, SECOND_MS, MINUTE_MS) ?? DEFAULT_RETRY_BUDGET.ttlMs;
  const ratio = percent === undefined ? DEFAULT_RETRY_BUDGET.ratio : Math.round(percent * (RATIO_STEP / 100)) / RATIO_STEP;
  return { ratio, minPerSecond, ttlMs };
}

/** `hedging: {percentile, minDelay, maxHedges}`. */
function readHedge(r: ProblemSink, spec: Fields, path: FieldPath): HedgePolicy | undefined {
  const m = optSection(r, spec, 'hedging', path, ['percentile', 'minDelay', 'maxHedges']);
  if (m === undefined) return undefined;
  const at = [...path, 'hedging'];
  return {
    percentile: optNumber(r, m, 'percentile', at, 0, 100, true) ?? 95,
    minDelayMs: optDuration(r, m, 'minDelay', at, 0, MINUTE_MS) ?? 5,
    maxHedges: optInt(r, m, 'maxHedges', at, 1, 2) ?? 1,
  };
}

/** `circuitBreaker` (Envoy Gateway's names; Envoy's defaults). */
function readCircuitBreaker(r: ProblemSink, spec: Fields, path: FieldPath): CircuitBreakerPolicy | undefined {
  const m = optSection(r, spec, 'circuitBreaker', path, ['maxConnections', 'maxPendingRequests', 'maxParallelRequests', 'maxParallelRetries']);
  if (m === undefined) return undefined;
  const at = [...path, 'circuitBreaker'];
  const read = (key: string, fallback: number): number => optInt(r, m, key, at, 1, MAX_BREAKER_THRESHOLD) ?? fallback;
  return {
    maxConnections: read('maxConnections', DEFAULT_CIRCUIT_BREAKER.maxConnections),
    maxPendingRequests: read('maxPendingRequests', DEFAULT_CIRCUIT_BREAKER.maxPendingRequests),
    maxRequests: read('maxParallelRequests', DEFAULT_CIRCUIT_BREAKER.maxRequests),
    maxRetries: read('maxParallelRetries', DEFAULT_CIRCUIT_BREAKER.maxRetries),
  };
}

/** `healthCheck.passive` (outlier ejection); `healthCheck.active` is not implemented. */
function readPassiveHealth(r: ProblemSink, spec: Fields, path: FieldPath): PassiveHealthPolicy | undefined {
  const hc = optSection(r, spec, 'healthCheck', path, ['passive', 'active']);
  if (hc === undefined) return undefined;
  const hat = [...path, 'healthCheck'];
  if (hc['active'] !== undefined && hc['active'] !== null) r.report([...hat, 'active'], 'active health checks are not implemented by meshlet (passive ones are); remove it');
  const m = optSection(r, hc, 'passive', hat, ['consecutive5XxErrors', 'consecutiveGatewayErrors', 'interval', 'baseEjectionTime', 'maxEjectionTime', 'maxEjectionPercent', 'successRate']);
  if (m === undefined) {
    r.report([...hat, 'passive'], 'required: the passive health check ({} for its defaults)');
    return undefined;
  }
  const at = [...hat, 'passive'];
  const d = DEFAULT_PASSIVE_HEALTH;
  const baseEjectionMs = optDuration(r, m, 'baseEjectionTime', at, 1, HOUR_MS) ?? d.baseEjectionMs;
  const maxWritten = optDuration(r, m, 'maxEjectionTime', at, 1, DAY_MS);
  if (maxWritten !== undefined && maxWritten < baseEjectionMs) r.report([...at, 'maxEjectionTime'], `must not be shorter than baseEjectionTime (${baseEjectionMs} ms), got ${formatValue(m['maxEjectionTime'])}`);
  const out: PassiveHealthPolicy = {
    consecutive5xx: optInt(r, m, 'consecutive5XxErrors', at, 0, MAX_CONSECUTIVE_ERRORS) ?? d.consecutive5xx,
    consecutiveGatewayErrors: optInt(r, m, 'consecutiveGatewayErrors', at, 0, MAX_CONSECUTIVE_ERRORS) ?? d.consecutiveGatewayErrors,
    intervalMs: optDuration(r, m, 'interval', at, 10, HOUR_MS) ?? d.intervalMs,
    baseEjectionMs,
    maxEjectionMs: Math.max(maxWritten ?? d.maxEjectionMs, baseEjectionMs),
    maxEjectionPercent: optInt(r, m, 'maxEjectionPercent', at, 0, 100) ?? d.maxEjectionPercent,
  };
  const sr = optSection(r, m, 'successRate', at, ['minimumHosts', 'requestVolume', 'stdevFactor']);
  if (sr === undefined) return out;
  const sat = [...at, 'successRate'];
  const successRate = {
    minimumHosts: optInt(r, sr, 'minimumHosts', sat, 1, MAX_COUNT) ?? 5,
    requestVolume: optInt(r, sr, 'requestVolume', sat, 1, MAX_COUNT) ?? 100,
    // Envoy's integer: 1900 is a factor of 1.9.
    stdevFactor: (optInt(r, sr, 'stdevFactor', sat, 1, 100_000) ?? 1900) / 1000,
  };
  return { ...out, successRate };
}

/** `adaptiveConcurrency` (Envoy's gradient controller). */
function readAdaptive(r: ProblemSink, spec: Fields, path: FieldPath): AdaptiveConcurrencyPolicy | undefined {
  const m = optSection(r, spec, 'adaptiveConcurrency', path, ['sampleInterval', 'percentile', 'minRTTInterval', 'minRTTRequests', 'bufferPercent', 'minConcurrency', 'maxConcurrency']);
  if (m === undefined) return undefined;
  const at = [...path, 'adaptiveConcurrency'];
  const d = DEFAULT_ADAPTIVE_CONCURRENCY;
  const minConcurrency = optInt(r, m, 'minConcurrency', at, 1, MAX_CONCURRENCY) ?? d.minConcurrency;
  const maxConcurrency = optInt(r, m, 'maxConcurrency', at, 1, MAX_CONCURRENCY) ?? d.maxConcurrency;
  if (maxConcurrency < minConcurrency) r.report([...at, 'maxConcurrency'], `must not be below minConcurrency (${minConcurrency}), got ${maxConcurrency}`);
  return {
    sampleIntervalMs: optDuration(r, m, 'sampleInterval', at, 1, MINUTE_MS) ?? d.sampleIntervalMs,
    percentile: optNumber(r, m, 'percentile', at, 0, 100, true) ?? d.percentile,
    minRttIntervalMs: optDuration(r, m, 'minRTTInterval', at, SECOND_MS, DAY_MS) ?? d.minRttIntervalMs,
    minRttRequests: optInt(r, m, 'minRTTRequests', at, 1, MAX_COUNT) ?? d.minRttRequests,
    bufferPercent: optPercent(r, m, 'bufferPercent', at) ?? d.bufferPercent,
    minConcurrency,
    maxConcurrency: Math.max(maxConcurrency, minConcurrency),
  };
}
