/**
 * `/endpoints` rows (`meshlet proxy-config endpoints`): every Service port's endpoints with the
 * per-request balancer's state and, under a TrafficPolicy's passive health, outlier detection's
 * view (consecutive 5xx and gateway errors, last success rate, times ejected, the ejection in
 * force), as one process holds it (each worker process balances and judges its own requests,
 * so each has its own counts). Pure.
 */
import type { EndpointView } from '../policy/balancer.js';

/** An `/endpoints` row: one endpoint of one Service port in one process. */
export type EndpointRow = Record<string, string | number>;

/** What the rows are made from (`BalancerRegistry.describe()`). */
export interface LbStateSource {
  describe(): ReadonlyArray<{ readonly servicePort: string; readonly algorithm: string; readonly endpoints: readonly EndpointView[] }>;
}

/**
 * One row per endpoint of every Service port with a balancer. `now` is the balancers' clock
 * (`performance.now()` in the data plane): an ejection says its seconds left, not a clock value,
 * and when it ends on the wall clock (`wallNow`, ms since the epoch). `zoneOf` gives an
 * endpoint's zone (by address) when its balancer does not keep one (only locality-aware
 * balancers do). Health fields are empty (`''`) for a Service without passive health.
 */
export function endpointRows(source: LbStateSource, worker: number, now: number, zoneOf: (address: string) => string | undefined = () => undefined, wallNow = Date.now()): EndpointRow[] {
  const rows: EndpointRow[] = [];
  for (const { servicePort, algorithm, endpoints } of source.describe()) {
    for (const e of endpoints) {
      rows.push({
        worker,
        servicePort,
        algorithm,
        endpoint: e.key,
        address: e.address,
        workload: e.workload,
        zone: e.zone ?? zoneOf(e.address) ?? '',
        weight: e.weight,
        outstanding: e.outstanding,
        ewmaMs: e.ewmaMs === undefined ? '' : Math.round(e.ewmaMs * 1000) / 1000,
        ejectedSeconds: e.ejectedUntilMs === undefined || e.ejectedUntilMs <= now ? 0 : Math.ceil((e.ejectedUntilMs - now) / 100) / 10,
        ...healthFields(e, now, wallNow),
      });
    }
  }
  return rows.sort((a, b) => String(a['servicePort']).localeCompare(String(b['servicePort'])) || String(a['endpoint']).localeCompare(String(b['endpoint'])));
}

/** Outlier detection's fields of a row (empty strings when no passive health watches the endpoint). */
function healthFields(e: EndpointView, now: number, wallNow: number): EndpointRow {
  const h = e.health;
  if (h === undefined) {
    return { consecutive5xx: '', consecutiveGatewayErrors: '', successRate: '', timesEjected: '', ejectionsTotal: '', ejectionSeconds: '', ejectedUntil: '', ejectionReason: '' };
  }
  const ejected = h.ejectedUntilMs !== undefined && h.ejectedUntilMs > now;
  return {
    consecutive5xx: h.consecutive5xx,
    consecutiveGatewayErrors: h.consecutiveGatewayErrors,
    successRate: h.successRate === undefined ? '' : Math.round(h.successRate * 100) / 100,
    timesEjected: h.timesEjected,
    ejectionsTotal: h.ejectionsTotal,
    // The whole ejection's length, beside `ejectedSeconds` (what is left of it).
    ejectionSeconds: ejected && h.ejectionMs !== undefined ? h.ejectionMs / 1000 : 0,
    ejectedUntil: ejected ? new Date(wallNow + ((h.ejectedUntilMs as number) - now)).toISOString() : '',
    ejectionReason: ejected ? (h.ejectionReason ?? '') : '',
  };
}
