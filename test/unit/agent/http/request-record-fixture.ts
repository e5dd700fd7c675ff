/** A finished request as the telemetry tests feed it: a productpage -> reviews call over mTLS. */
import type { RequestRecord } from '../../../../src/agent/http/exchange.js';

/** Fields to override; `undefined` removes an optional field. */
export type RecordOverrides = { [K in keyof RequestRecord]?: RequestRecord[K] | undefined };

export function record(over: RecordOverrides = {}): RequestRecord {
  const rec: Record<string, unknown> = {
    reporter: 'source',
    method: 'GET',
    authority: 'reviews.default.svc.cluster.local:9080',
    path: '/reviews/1',
    proto: 'HTTP/1.1',
    requestProtocol: 'http',
    status: 200,
    sourceWorkload: 'Pod/default/productpage-v1-abc',
    sourceIdentity: 'spiffe://cluster.local/ns/default/sa/productpage',
    destinationWorkload: 'Pod/default/reviews-v1-xyz',
    destinationIdentity: 'spiffe://cluster.local/ns/default/sa/reviews',
    service: 'default/reviews',
    route: 'default/reviews-route',
    upstream: '10.0.0.7:9080',
    securityPolicy: 'mutual_tls',
    requestBytes: 0,
    responseBytes: 300,
    startedAt: 0,
    durationMs: 12,
    ...over,
  };
  for (const [k, v] of Object.entries(rec)) if (v === undefined) delete rec[k];
  return rec as unknown as RequestRecord;
}

