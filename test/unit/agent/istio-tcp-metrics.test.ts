/**
 * ztunnel's `istio_tcp_*` names beside meshlet's `meshlet_tcp_*`: labels, opened counted at the
 * first scrape that sees a live connection (or at close, never twice), bytes at close, the
 * switch that turns them off; and Istio's request metrics of worker processes summed into the
 * primary's scrape (histograms bucket by bucket).
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { AgentMetrics, type MetricsJson } from '../../../src/agent/admin/metrics.js';
import { DataPathMetrics, ISTIO_TCP_LABELS } from '../../../src/agent/proxy/data-path-metrics.js';
import type { ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import { RequestMetrics } from '../../../src/agent/http/request-metrics.js';
import { record } from './http/request-record-fixture.js';

function connection(over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    id: 1,
    direction: 'outbound',
    startedAt: 0,
    source: '10.0.0.1:40000',
    destination: '10.0.0.2:9080',
    mode: 'tunnel',
    sourceWorkload: 'Pod/default/productpage-v1-abc',
    destinationWorkload: 'Pod/default/reviews-v1-xyz',
    destinationIdentity: 'spiffe://cluster.local/ns/default/sa/reviews',
    service: 'default/reviews',
    securityPolicy: 'mutual_tls',
    countedFacesDestination: false,
    ends: [],
    responseFlag: '-',
    ...over,
  };
}

function samples(text: string, name: string): Array<[Record<string, string>, number]> {
  const out: Array<[Record<string, string>, number]> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`)) continue;
    const at = line.lastIndexOf(' ');
    const labels: Record<string, string> = {};
    for (const m of line.slice(0, at).matchAll(/(\w+)="([^"]*)"/g)) labels[m[1] as string] = m[2] as string;
    out.push([labels, Number(line.slice(at + 1))]);
  }
  return out;
}

function rig(opts: { istioTcp?: boolean } = {}): { registry: Registry; metrics: DataPathMetrics; live: ConnectionRecord[] } {
  const registry = new Registry();
  const metrics = new DataPathMetrics(registry, opts);
  const live: ConnectionRecord[] = [];
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => live, tunnelSessions: () => 0 });
  return { registry, metrics, live };
}

t.test('istio_tcp_* with ztunnel\'s labels, beside meshlet_tcp_*', async (t) => {
  const { registry, metrics } = rig();
  metrics.onClosed(connection(), 1000, 5000);
  const fromPeer = connection({ direction: 'inbound', sourceIdentity: 'spiffe://cluster.local/ns/default/sa/productpage' });
  delete fromPeer.sourceWorkload; // through a tunnel: the peer's identity is known, not its workload
  metrics.onClosed(fromPeer, 10, 20);
  const text = await registry.metrics();
  t.equal(samples(text, 'meshlet_tcp_connections_closed_total').length, 2, 'meshlet\'s names are kept');
  const closed = samples(text, 'istio_tcp_connections_closed_total');
  t.equal(closed.length, 2);
  const [labels, value] = closed[0] as [Record<string, string>, number];
  t.equal(value, 1);
  t.same(Object.keys(labels), [...ISTIO_TCP_LABELS], 'ztunnel\'s label names in its order');
  t.match(labels, {
    reporter: 'source', source_workload: 'productpage-v1-abc', source_workload_namespace: 'default', source_principal: 'unknown',
    destination_service: 'reviews.default.svc.cluster.local', destination_service_name: 'reviews', destination_service_namespace: 'default',
    destination_workload: 'reviews-v1-xyz', destination_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
    request_protocol: 'tcp', response_flags: '-', connection_security_policy: 'mutual_tls',
  });
  t.same(samples(text, 'istio_tcp_sent_bytes_total').map(([l, v]) => [l['reporter'], v]), [['source', 1000], ['destination', 10]]);
  t.same(samples(text, 'istio_tcp_received_bytes_total').map(([l, v]) => [l['reporter'], v]), [['source', 5000], ['destination', 20]]);
  const inbound = closed[1] as [Record<string, string>, number];
  t.same([inbound[0]['source_workload'], inbound[0]['source_principal']], ['unknown', 'spiffe://cluster.local/ns/default/sa/productpage']);
});

t.test('an inbound connection without a Service: the one Service delivered to at its destination', async (t) => {
  const { registry, metrics } = rig();
  metrics.watch({
    openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => [], tunnelSessions: () => 0,
    index: () => ({ byUid: new Map(), serviceEntries: [{ service: { key: 'default/reviews' }, port: { port: 80 }, endpoints: [{ address: '10.0.0.2', targetPorts: { 80: 9080 } }] }] }),
  });
  const inbound = connection({ direction: 'inbound', destination: '10.0.0.2:9080' });
  delete inbound.service;
  metrics.onClosed(inbound, 1, 1);
  const elsewhere = connection({ direction: 'inbound', destination: '10.0.0.3:9080' });
  delete elsewhere.service;
  metrics.onClosed(elsewhere, 1, 1);
  const text = await registry.metrics();
  t.same(samples(text, 'istio_tcp_connections_closed_total').map(([l]) => l['destination_service']), ['reviews.default.svc.cluster.local', 'unknown']);
  t.same(samples(text, 'meshlet_tcp_connections_closed_total').map(([l]) => l['destination_service']), ['unknown'], 'meshlet\'s own labels unchanged');
});

t.test('opened: counted once, at the first scrape that sees it live or at close', async (t) => {
  const { registry, metrics, live } = rig();
  const long = connection({ id: 1 });
  live.push(long);
  const opened = async (): Promise<number> => samples(await registry.metrics(), 'istio_tcp_connections_opened_total').reduce((a, [, v]) => a + v, 0);
  t.equal(await opened(), 1, 'the live connection is counted at the scrape');
  t.equal(await opened(), 1, 'not again at the next scrape');
  live.length = 0;
  metrics.onClosed(long, 1, 1);
  t.equal(await opened(), 1, 'not again at close');
  metrics.onClosed(connection({ id: 2 }), 1, 1);
  t.equal(await opened(), 2, 'a connection no scrape saw is counted at close');
  const failed = connection({ id: 3, responseFlag: 'UF', outcome: 'connect_failed' });
  metrics.onClosed(failed, 0, 0);
  const text = await registry.metrics();
  t.same(samples(text, 'istio_tcp_connections_closed_total').map(([l, v]) => [l['response_flags'], v]), [['-', 2], ['UF', 1]]);
});

t.test('istioTcp: false leaves the istio_tcp_* names out and still counts meshlet\'s', async (t) => {
  const { registry, metrics } = rig({ istioTcp: false });
  metrics.onClosed(connection(), 1, 1);
  const text = await registry.metrics();
  t.notMatch(text, /istio_tcp_/);
  t.equal(samples(text, 'meshlet_tcp_connections_closed_total').length, 1);
  t.match(text, /# TYPE istio_requests_total counter/, 'request metrics do not depend on the switch');
});

t.test('workers: request counters and histograms summed into the primary\'s scrape, once', async (t) => {
  // Two workers' registries, sent as the IPC channel does (structured clone, `serialization: 'advanced'`).
  const workers: Registry[] = [];
  for (let w = 0; w < 2; w++) {
    const registry = new Registry();
    const m = new RequestMetrics(registry);
    for (let i = 0; i < 3 + w; i++) m.onRequest(record({ durationMs: 3 + 40 * w, responseBytes: 100 }));
    m.onRequest(record({ status: 503, failure: 'connect_refused', durationMs: 1 }));
    workers.push(registry);
  }
  const primary = new AgentMetrics({ dataPath: false });
  primary.mergeWorkers(async () => Promise.all(workers.map(async (r) => structuredClone(await r.getMetricsAsJSON()) as MetricsJson)));
  const text = await primary.text();
  t.equal(text.split('\n').filter((l) => l === '# TYPE istio_requests_total counter').length, 1, 'one family');
  const byCode = samples(text, 'istio_requests_total').map(([l, v]) => [l['response_code'], v]);
  t.same(byCode, [['200', 7], ['503', 2]], 'one series per label set, summed (3 + 4 OK, 1 + 1 failed)');
  const ok = (l: Record<string, string>): boolean => l['response_code'] === '200';
  const buckets = samples(text, 'istio_request_duration_milliseconds_bucket').filter(([l]) => ok(l)).map(([l, v]) => [l['le'], v]);
  t.equal(buckets.length, 20, '19 bounds and +Inf, once each');
  t.same(buckets.slice(0, 7), [['0.5', 0], ['1', 0], ['5', 3], ['10', 3], ['25', 3], ['50', 7], ['100', 7]], 'bucket by bucket: worker 0 at 3 ms, worker 1 at 43 ms');
  t.same(buckets[19], ['+Inf', 7]);
  t.same(samples(text, 'istio_request_duration_milliseconds_sum').filter(([l]) => ok(l)).map(([, v]) => v), [3 * 3 + 4 * 43]);
  t.same(samples(text, 'istio_request_duration_milliseconds_count').filter(([l]) => ok(l)).map(([, v]) => v), [7]);
  t.same(samples(text, 'istio_response_bytes_sum').filter(([l]) => ok(l)).map(([, v]) => v), [700]);
});
