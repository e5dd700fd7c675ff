/**
 * The inverse of the resilience readers: compiled sections back into the `spec` fields of a
 * TrafficPolicy, which `readResilience` reads into the same data (the property test in
 * `test/unit/mesh/traffic-policy-wire.test.ts` checks it). The snapshot wire carries policies
 * in this form, so the agent checks a peer's policy with the validator that checked the file.
 */
import { formatGatewayDuration } from './route-spec.js';
import { RATE_LIMIT_UNITS } from './traffic-policy-fault.js';
import type {
  AdaptiveConcurrencyPolicy, FaultPolicy, HeaderCondition, PassiveHealthPolicy, RateLimitPolicy, ResiliencePolicy, RetryBudget, RetryPolicy,
  TcpFaultPolicy, TimeoutPolicy,
} from '../resilience.js';

type Json = Record<string, unknown>;

const duration = formatGatewayDuration;

/** The resilience sections of `p` as `spec` fields (absent sections absent). */
export function resilienceToSpec(p: ResiliencePolicy): Json {
  const out: Json = {};
  if (p.timeout !== undefined) out['timeout'] = timeoutSpec(p.timeout);
  if (p.retry !== undefined) out['retry'] = retrySpec(p.retry, p.retryBudget);
  if (p.hedge !== undefined) out['hedging'] = { percentile: p.hedge.percentile, minDelay: duration(p.hedge.minDelayMs), maxHedges: p.hedge.maxHedges };
  if (p.circuitBreaker !== undefined) {
    const c = p.circuitBreaker;
    out['circuitBreaker'] = { maxConnections: c.maxConnections, maxPendingRequests: c.maxPendingRequests, maxParallelRequests: c.maxRequests, maxParallelRetries: c.maxRetries };
  }
  if (p.passiveHealth !== undefined) out['healthCheck'] = { passive: passiveSpec(p.passiveHealth) };
  if (p.adaptiveConcurrency !== undefined) out['adaptiveConcurrency'] = adaptiveSpec(p.adaptiveConcurrency);
  if (p.fault !== undefined || p.tcpFault !== undefined) out['faultInjection'] = faultSpec(p.fault, p.tcpFault);
  if (p.rateLimit !== undefined) out['rateLimit'] = rateLimitSpec(p.rateLimit);
  return out;
}

function timeoutSpec(t: TimeoutPolicy): Json {
  const tcp: Json = {};
  const http: Json = {};
  if (t.connectMs !== undefined) tcp['connectTimeout'] = duration(t.connectMs);
  if (t.tcpIdleMs !== undefined) tcp['idleTimeout'] = duration(t.tcpIdleMs);
  if (t.requestMs !== undefined) http['requestTimeout'] = duration(t.requestMs);
  if (t.httpIdleMs !== undefined) http['connectionIdleTimeout'] = duration(t.httpIdleMs);
  return { ...(Object.keys(tcp).length === 0 ? {} : { tcp }), ...(Object.keys(http).length === 0 ? {} : { http }) };
}

function retrySpec(r: RetryPolicy, budget: RetryBudget | undefined): Json {
  const retryOn: Json = { triggers: [...r.triggers] };
  if (r.statusCodes.length > 0) retryOn['httpStatusCodes'] = [...r.statusCodes];
  const perRetry: Json = { backOff: { baseInterval: duration(r.backoffBaseMs), maxInterval: duration(r.backoffMaxMs) } };
  if (r.perTryTimeoutMs > 0) perRetry['timeout'] = duration(r.perTryTimeoutMs);
  const out: Json = { numRetries: r.retries, retryOn, perRetry, retryNonIdempotent: r.nonIdempotent, bufferBytes: r.bufferBytes };
  if (budget !== undefined) out['budget'] = { percent: budget.ratio * 100, minRetriesPerSecond: budget.minPerSecond, ttl: duration(budget.ttlMs) };
  return out;
}

function passiveSpec(h: PassiveHealthPolicy): Json {
  const out: Json = {
    consecutive5XxErrors: h.consecutive5xx,
    consecutiveGatewayErrors: h.consecutiveGatewayErrors,
    interval: duration(h.intervalMs),
    baseEjectionTime: duration(h.baseEjectionMs),
    maxEjectionTime: duration(h.maxEjectionMs),
    maxEjectionPercent: h.maxEjectionPercent,
  };
  const sr = h.successRate;
  if (sr !== undefined) out['successRate'] = { minimumHosts: sr.minimumHosts, requestVolume: sr.requestVolume, stdevFactor: Math.round(sr.stdevFactor * 1000) };
  return out;
}

function adaptiveSpec(a: AdaptiveConcurrencyPolicy): Json {
  return {
    sampleInterval: duration(a.sampleIntervalMs),
    percentile: a.percentile,
    minRTTInterval: duration(a.minRttIntervalMs),
    minRTTRequests: a.minRttRequests,
    bufferPercent: a.bufferPercent,
    minConcurrency: a.minConcurrency,
    maxConcurrency: a.maxConcurrency,
  };
}

const headers = (hs: readonly HeaderCondition[]): Json[] => hs.map((h) => (h.value === undefined ? { name: h.name } : { name: h.name, value: h.value }));
const delaySpec = (d: { readonly ms: number; readonly percent: number }): Json => ({ fixedDelay: duration(d.ms), percentage: d.percent });

function faultSpec(f: FaultPolicy | undefined, tcp: TcpFaultPolicy | undefined): Json {
  const out: Json = {};
  if (f?.delay !== undefined) out['delay'] = delaySpec(f.delay);
  if (f?.abort !== undefined) {
    const a = f.abort;
    out['abort'] = { httpStatus: a.httpStatus, ...(a.grpcStatus === undefined ? {} : { grpcStatus: a.grpcStatus }), percentage: a.percent };
  }
  if (f !== undefined && f.headers.length > 0) out['headers'] = headers(f.headers);
  if (tcp !== undefined) out['tcp'] = { ...(tcp.delay === undefined ? {} : { delay: delaySpec(tcp.delay) }), resetPercentage: tcp.resetPercent };
  return out;
}

function rateLimitSpec(p: RateLimitPolicy): Json {
  const unitOf = (ms: number): string => Object.entries(RATE_LIMIT_UNITS).find(([, v]) => v === ms)?.[0] ?? `${ms}ms`;
  const rules = p.rules.map((rule) => {
    const out: Json = { limit: { requests: rule.requests, unit: unitOf(rule.periodMs) }, perSource: rule.perSource };
    const selector: Json = {};
    if (rule.headers.length > 0) selector['headers'] = headers(rule.headers);
    if (rule.sources.length > 0) selector['sourcePrincipals'] = [...rule.sources];
    if (Object.keys(selector).length > 0) out['clientSelectors'] = [selector];
    return out;
  });
  return { type: 'Local', local: { rules } };
}
