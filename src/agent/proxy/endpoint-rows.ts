/**
 * `/endpoints` rows (`meshlet proxy-config endpoints`): every Service port's endpoints with the
 * per-request balancer's state, as one process holds it (each worker process balances its own
 * requests, so each has its own outstanding counts and EWMA estimates). Pure.
 */
import type { EndpointLbState } from '../policy/balancers/tracked-balancer.js';

/** An `/endpoints` row: one endpoint of one Service port in one process. */
export type EndpointRow = Record<string, string | number>;

/** What the rows are made from (`BalancerRegistry.describe()`). */
export interface LbStateSource {
  describe(): ReadonlyArray<{ readonly servicePort: string; readonly algorithm: string; readonly endpoints: readonly EndpointLbState[] }>;
}

/**
 * One row per endpoint of every Service port with a balancer. `now` is the balancers' clock
 * (`performance.now()` in the data plane): an ejection says its seconds left, not a clock value.
 * `zoneOf` gives an endpoint's zone (by address) when its balancer does not keep one (only
 * locality-aware balancers do).
 */
export function endpointRows(source: LbStateSource, worker: number, now: number, zoneOf: (address: string) => string | undefined = () => undefined): EndpointRow[] {
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
      });
    }
  }
  return rows.sort((a, b) => String(a['servicePort']).localeCompare(String(b['servicePort'])) || String(a['endpoint']).localeCompare(String(b['endpoint'])));
}
