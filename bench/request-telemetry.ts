/**
 * Micro-benchmark of the telemetry touched once per connection and once per request:
 * `DataPathMetrics.onClosed` with and without ztunnel's `istio_tcp_*` names,
 * `RequestMetrics.onRequest` (the series table) next to the same four metrics kept with
 * prom-client's own labelled Counter and Histograms, and the per-request access-log line.
 *
 *   npm run build && node dist/bench/request-telemetry.js [calls]
 *
 * One core, after a warm-up; each figure is the best of 5 rounds (ns per call).
 */
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { Counter, Histogram, Registry } from 'prom-client';
import { DataPathMetrics } from '../src/agent/proxy/data-path-metrics.js';
import type { ConnectionRecord } from '../src/agent/proxy/connection-table.js';
import type { RequestRecord } from '../src/agent/http/exchange.js';
import { ISTIO_BYTES_BUCKETS, ISTIO_DURATION_BUCKETS_MS, REQUEST_LABELS, RequestMetrics, requestLabels } from '../src/agent/http/request-metrics.js';
import { RequestLog } from '../src/agent/http/request-log.js';
import { AccessLogSampler } from '../src/agent/proxy/access-log.js';

const CALLS = Number(process.argv[2] ?? 300_000);
/** Distinct peers cycled through, so lookups are not all one hot entry. */
const PEERS = 50;

function connections(): ConnectionRecord[] {
  return Array.from({ length: PEERS }, (_, i) => ({
    id: i, direction: i % 2 === 0 ? 'outbound' : 'inbound', startedAt: 0, source: `10.0.0.${i}:40000`, destination: '10.0.1.1:80',
    mode: 'tunnel', sourceWorkload: `Pod/ns${i % 5}/client-${i}`, destinationWorkload: `Pod/ns${i % 3}/server-${i % 7}`,
    destinationIdentity: `spiffe://cluster.local/ns/ns${i % 3}/sa/server`, service: `ns${i % 3}/svc${i % 7}`,
    securityPolicy: 'mutual_tls', countedFacesDestination: false, ends: [], responseFlag: '-', outcome: 'ok',
  }));
}

function requests(): RequestRecord[] {
  return Array.from({ length: PEERS }, (_, i) => ({
    reporter: i % 2 === 0 ? 'source' : 'destination', method: 'GET', authority: 'svc', path: `/p/${i}`, proto: 'HTTP/1.1',
    requestProtocol: 'http', status: i % 10 === 0 ? 503 : 200, sourceWorkload: `Pod/ns${i % 5}/client-${i}`,
    destinationWorkload: `Pod/ns${i % 3}/server-${i % 7}`, destinationIdentity: `spiffe://cluster.local/ns/ns${i % 3}/sa/server`,
    service: `ns${i % 3}/svc${i % 7}`, securityPolicy: 'mutual_tls', requestBytes: 0, responseBytes: 1024, startedAt: 0, durationMs: 1.5,
  }));
}

function nsPerCall(run: (i: number) => void): number {
  for (let i = 0; i < 50_000; i++) run(i);
  let best = Infinity;
  for (let round = 0; round < 5; round++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < CALLS; i++) run(i);
    best = Math.min(best, Number(process.hrtime.bigint() - t0) / CALLS);
  }
  return best;
}

/** The four request metrics kept the plain prom-client way, for comparison. */
function promClientRequests(registry: Registry): (rec: RequestRecord) => void {
  const labelNames = [...REQUEST_LABELS];
  const total = new Counter({ name: 'b_requests_total', help: 'x', labelNames, registers: [registry] });
  const duration = new Histogram({ name: 'b_duration', help: 'x', labelNames, buckets: [...ISTIO_DURATION_BUCKETS_MS], registers: [registry] });
  const reqBytes = new Histogram({ name: 'b_req', help: 'x', labelNames, buckets: [...ISTIO_BYTES_BUCKETS], registers: [registry] });
  const respBytes = new Histogram({ name: 'b_resp', help: 'x', labelNames, buckets: [...ISTIO_BYTES_BUCKETS], registers: [registry] });
  return (rec) => {
    const labels = requestLabels(rec);
    total.inc(labels);
    duration.observe(labels, rec.durationMs);
    reqBytes.observe(labels, rec.requestBytes);
    respBytes.observe(labels, rec.responseBytes);
  };
}

const conns = connections();
const reqs = requests();
const result: Record<string, number> = {};
for (const istioTcp of [false, true]) {
  const m = new DataPathMetrics(new Registry(), { istioTcp });
  result[`onClosed, istio_tcp_* ${istioTcp ? 'on' : 'off'}`] = nsPerCall((i) => m.onClosed(conns[i % PEERS] as ConnectionRecord, 1000, 2000));
}
const rm = new RequestMetrics(new Registry());
result['onRequest (series table)'] = nsPerCall((i) => rm.onRequest(reqs[i % PEERS] as RequestRecord));
const naive = promClientRequests(new Registry());
result['same four metrics with prom-client labels'] = nsPerCall((i) => naive(reqs[i % PEERS] as RequestRecord));
const devNull = new Writable({ write: (_c, _e, done) => done() });
const log = new RequestLog(pino({ level: 'info' }, devNull), new AccessLogSampler({ kind: 'on' }));
result['access-log line per request (on, pino to a null stream)'] = nsPerCall((i) => log.onRequest(reqs[i % PEERS] as RequestRecord));
const sampled = new RequestLog(pino({ level: 'info' }, devNull), new AccessLogSampler({ kind: 'sample', ratio: 0.01 }));
result['access-log, sample:0.01'] = nsPerCall((i) => sampled.onRequest(reqs[i % PEERS] as RequestRecord));

for (const [name, ns] of Object.entries(result)) console.log(`${name.padEnd(58)} ${ns.toFixed(0).padStart(6)} ns/call`);
console.log(`(node ${process.version}, ${CALLS} calls per round, best of 5, ${PEERS} distinct label sets)`);
