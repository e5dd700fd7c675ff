/**
 * Istio's request metrics: names, types, the 25 label names and values, Envoy's default buckets,
 * the gRPC status label, response flags, bounded cardinality (paths never become series) and the
 * series cap, read back from the exposition text.
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { ISTIO_BYTES_BUCKETS, ISTIO_DURATION_BUCKETS_MS, REQUEST_LABELS, RequestMetrics, grpcStatusLabel, requestLabels, responseCodeLabel } from '../../../../src/agent/http/request-metrics.js';
import type { WorkloadInfo } from '../../../../src/mesh/types.js';
import { record } from './request-record-fixture.js';

function workload(uid: string, labels: Record<string, string>): WorkloadInfo {
  const [, namespace = '', name = ''] = uid.split('/');
  return {
    uid, kind: 'Pod', name, namespace, addresses: [], node: 'n1', nodeAddress: '10.1.0.1', serviceAccount: 'sa',
    identity: `spiffe://cluster.local/ns/${namespace}/sa/sa`, labels, tlsMode: 'STRICT', namedPorts: [],
  };
}

/** Every sample line of a metric (name with suffix), as [labels text, value]. */
function samples(text: string, name: string): Array<[string, number]> {
  const out: Array<[string, number]> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    const at = line.lastIndexOf(' ');
    out.push([line.slice(name.length, at), Number(line.slice(at + 1))]);
  }
  return out;
}

function labelsOf(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/(\w+)="([^"]*)"/g)) out[m[1] as string] = m[2] as string;
  return out;
}

t.test('names, types and the full Istio label set with Istio\'s values', async (t) => {
  const registry = new Registry();
  const lookup = new Map([
    ['Pod/default/productpage-v1-abc', workload('Pod/default/productpage-v1-abc', { app: 'productpage', version: 'v1' })],
    ['Pod/default/reviews-v1-xyz', workload('Pod/default/reviews-v1-xyz', { app: 'reviews', version: 'v1', 'service.istio.io/canonical-name': 'reviews-canon' })],
  ]);
  const m = new RequestMetrics(registry, { workload: (uid) => lookup.get(uid) });
  m.onRequest(record());
  const text = await registry.metrics();
  t.match(text, /# TYPE istio_requests_total counter/);
  t.match(text, /# TYPE istio_request_duration_milliseconds histogram/);
  t.match(text, /# TYPE istio_request_bytes histogram/);
  t.match(text, /# TYPE istio_response_bytes histogram/);
  const reqs = samples(text, 'istio_requests_total');
  t.equal(reqs.length, 1, 'one series');
  const [labelText, value] = reqs[0] as [string, number];
  t.equal(value, 1);
  const labels = labelsOf(labelText);
  t.same(Object.keys(labels).sort(), [...REQUEST_LABELS].sort(), 'exactly Istio\'s 25 label names');
  t.same(labels, {
    reporter: 'source',
    source_workload: 'productpage-v1-abc',
    source_workload_namespace: 'default',
    source_principal: 'spiffe://cluster.local/ns/default/sa/productpage',
    source_app: 'productpage',
    source_version: 'v1',
    source_canonical_service: 'productpage',
    source_canonical_revision: 'v1',
    source_cluster: 'unknown',
    destination_workload: 'reviews-v1-xyz',
    destination_workload_namespace: 'default',
    destination_principal: 'spiffe://cluster.local/ns/default/sa/reviews',
    destination_app: 'reviews',
    destination_version: 'v1',
    destination_service: 'reviews.default.svc.cluster.local',
    destination_service_name: 'reviews',
    destination_service_namespace: 'default',
    destination_canonical_service: 'reviews-canon',
    destination_canonical_revision: 'v1',
    destination_cluster: 'unknown',
    request_protocol: 'http',
    response_code: '200',
    grpc_response_status: '',
    response_flags: '-',
    connection_security_policy: 'mutual_tls',
  });
});

t.test('histograms: Envoy\'s default buckets, cumulative counts, sum and count', async (t) => {
  t.same([...ISTIO_DURATION_BUCKETS_MS], [0.5, 1, 5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 30000, 60000, 300000, 600000, 1800000, 3600000]);
  t.same([...ISTIO_BYTES_BUCKETS], [...ISTIO_DURATION_BUCKETS_MS], 'Istio\'s stats filter sets no buckets of its own for sizes');
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  m.onRequest(record({ durationMs: 3, requestBytes: 0, responseBytes: 2000 }));
  m.onRequest(record({ durationMs: 30, requestBytes: 100, responseBytes: 5_000_000 }));
  m.onRequest(record({ durationMs: 7_200_000, requestBytes: 1, responseBytes: 1 }));
  const text = await registry.metrics();
  const buckets = samples(text, 'istio_request_duration_milliseconds_bucket').map(([l, v]) => [labelsOf(l)['le'], v]);
  t.same(buckets, [
    ['0.5', 0], ['1', 0], ['5', 1], ['10', 1], ['25', 1], ['50', 2], ['100', 2], ['250', 2], ['500', 2], ['1000', 2], ['2500', 2], ['5000', 2],
    ['10000', 2], ['30000', 2], ['60000', 2], ['300000', 2], ['600000', 2], ['1800000', 2], ['3600000', 2], ['+Inf', 3],
  ]);
  t.same(samples(text, 'istio_request_duration_milliseconds_sum').map(([, v]) => v), [7_200_033]);
  t.same(samples(text, 'istio_request_duration_milliseconds_count').map(([, v]) => v), [3]);
  const resp = new Map(samples(text, 'istio_response_bytes_bucket').map(([l, v]) => [labelsOf(l)['le'], v]));
  t.equal(resp.get('1'), 1, 'the 1-byte answer');
  t.equal(resp.get('2500'), 2, '2000 bytes falls at or under 2500');
  t.equal(resp.get('3600000'), 2, '5 MB is past the last finite bucket');
  t.equal(resp.get('+Inf'), 3);
  t.same(samples(text, 'istio_request_bytes_sum').map(([, v]) => v), [101]);
  t.same(samples(text, 'istio_response_bytes_count').map(([, v]) => v), [3]);
});

t.test('gRPC: request_protocol grpc and the grpc-status label; clamped codes', async (t) => {
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  m.onRequest(record({ requestProtocol: 'grpc', proto: 'HTTP/2', status: 200, grpcStatus: 0 }));
  m.onRequest(record({ requestProtocol: 'grpc', proto: 'HTTP/2', status: 200, grpcStatus: 14 }));
  m.onRequest(record({ requestProtocol: 'grpc', proto: 'HTTP/2', status: 200, grpcStatus: 14 }));
  m.onRequest(record({ requestProtocol: 'grpc', proto: 'HTTP/2', status: 200, grpcStatus: 987654 }));
  const text = await registry.metrics();
  const byStatus = new Map(samples(text, 'istio_requests_total').map(([l, v]) => [`${labelsOf(l)['request_protocol']}:${labelsOf(l)['grpc_response_status']}`, v]));
  t.same([...byStatus.entries()].sort(), [['grpc:0', 1], ['grpc:14', 2], ['grpc:2', 1]], 'an undefined status is UNKNOWN (2)');
  t.equal(grpcStatusLabel({ requestProtocol: 'http', grpcStatus: 5 }), '', 'no gRPC status on HTTP requests');
  t.equal(grpcStatusLabel({ requestProtocol: 'grpc' }), '', 'none yet (a reset before trailers): empty, as Istio');
  t.equal(responseCodeLabel(0), '0');
  t.equal(responseCodeLabel(503), '503');
  t.equal(responseCodeLabel(1234), '0');
  t.equal(responseCodeLabel(Number.NaN), '0');
});

t.test('response flags from the failure; security policy none for plaintext; unknown peers', async (t) => {
  const labels = requestLabels(record({
    reporter: 'destination', status: 503, failure: 'connect_refused', securityPolicy: 'plaintext',
    sourceWorkload: undefined, sourceIdentity: undefined, service: undefined,
  }));
  t.equal(labels.response_flags, 'UF');
  t.equal(labels.response_code, '503');
  t.equal(labels.connection_security_policy, 'none');
  t.equal(labels.reporter, 'destination');
  t.same(
    [labels.source_workload, labels.source_workload_namespace, labels.source_principal, labels.source_app, labels.source_canonical_service, labels.source_canonical_revision],
    ['unknown', 'unknown', 'unknown', 'unknown', 'unknown', 'unknown'],
  );
  t.same([labels.destination_service, labels.destination_service_name, labels.destination_service_namespace], ['unknown', 'unknown', 'unknown']);
  t.equal(requestLabels(record({ failure: 'policy_denied', status: 403 })).response_flags, 'UAEX');
  t.equal(requestLabels(record({ failure: 'downstream_reset', status: 0 })).response_flags, 'DC');
  // A known uid without an index entry: the name stands in for the canonical service, revision latest.
  const bare = requestLabels(record());
  t.same([bare.destination_canonical_service, bare.destination_canonical_revision, bare.destination_app], ['reviews-v1-xyz', 'latest', 'unknown']);
});

t.test('cardinality: 1,000 distinct paths, authorities, methods and upstreams make no new series', async (t) => {
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  for (let i = 0; i < 1000; i++) {
    m.onRequest(record({ path: `/item/${i}?q=${i}`, authority: `host-${i}:80`, upstream: `10.0.${i % 250}.1:${1000 + i}`, method: i % 2 === 0 ? 'GET' : 'POST', route: `r${i}` }));
  }
  t.equal(m.series, 1);
  const text = await registry.metrics();
  t.same(samples(text, 'istio_requests_total').map(([, v]) => v), [1000]);
  t.notMatch(text, /item\//, 'no path in any label');
  t.notMatch(text, /host-\d/, 'no authority in any label');
  t.notMatch(text, /10\.0\.\d+\.1/, 'no address in any label');
});

t.test('two records that give the same labels share one series', async (t) => {
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  m.onRequest(record({ destinationIdentity: undefined, destinationWorkload: undefined }));
  m.onRequest(record({ destinationIdentity: 'unknown', destinationWorkload: undefined }));
  t.equal(m.series, 1);
  const text = await registry.metrics();
  t.same(samples(text, 'istio_requests_total').map(([, v]) => v), [2], 'one line, counted twice');
});

t.test('the series cap: past it, new series are dropped and counted; the process holds', async (t) => {
  const registry = new Registry();
  let dropped = 0;
  const m = new RequestMetrics(registry, { maxSeries: 10, onOverflow: () => dropped++ });
  for (let code = 200; code < 300; code++) m.onRequest(record({ status: code }));
  t.equal(m.series, 10);
  t.equal(dropped, 90);
  m.onRequest(record({ status: 200 }));
  t.equal(dropped, 90, 'an existing series still counts when the table is full');
  const text = await registry.metrics();
  t.equal(samples(text, 'istio_requests_total').length, 10);
});

t.test('idle series are evicted at a scrape; touched ones stay', async (t) => {
  const registry = new Registry();
  let now = 1_000_000;
  const m = new RequestMetrics(registry, { idleMs: 60_000, now: () => now });
  m.onRequest(record({ status: 200 }));
  m.onRequest(record({ status: 500 }));
  await registry.metrics();
  now += 30_000;
  m.onRequest(record({ status: 200 }));
  await registry.metrics();
  now += 40_000;
  const text = await registry.metrics();
  t.same(samples(text, 'istio_requests_total').map(([l, v]) => [labelsOf(l)['response_code'], v]), [['200', 2]], 'the 500 series, idle 70 s, is gone');
  m.onRequest(record({ status: 500 }));
  t.equal(m.series, 2, 'an evicted series comes back when traffic does');
});

t.test('a new snapshot: labels are computed again, so a relabelled pod shows its new version', async (t) => {
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  const uid = 'Pod/default/reviews-v1-xyz';
  let inForce = { byUid: new Map([[uid, workload(uid, { app: 'reviews', version: 'v1' })]]), serviceEntries: [] };
  m.watch(() => inForce);
  m.onRequest(record());
  m.onRequest(record());
  inForce = { byUid: new Map([[uid, workload(uid, { app: 'reviews', version: 'v2' })]]), serviceEntries: [] };
  m.onRequest(record());
  const text = await registry.metrics();
  const byVersion = samples(text, 'istio_requests_total').map(([l, v]) => [labelsOf(l)['destination_version'], v]);
  t.same(byVersion, [['v1', 2], ['v2', 1]]);
});

t.test('destination side without a Service: the one Service delivered to at the target; none when ambiguous', async (t) => {
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  const ep = (address: string, target: number) => ({ address, targetPorts: { 80: target } });
  const entry = (key: string, endpoints: Array<ReturnType<typeof ep>>) => ({ service: { key }, port: { port: 80 }, endpoints });
  m.watch(() => ({ byUid: new Map(), serviceEntries: [entry('default/reviews', [ep('10.0.0.7', 9080)]), entry('default/a', [ep('10.0.0.8', 8080)]), entry('default/b', [ep('10.0.0.8', 8080)])] }));
  m.onRequest(record({ reporter: 'destination', service: undefined, upstream: '10.0.0.7:9080' }));
  m.onRequest(record({ reporter: 'destination', service: undefined, upstream: '10.0.0.8:8080' }));
  m.onRequest(record({ reporter: 'source', service: undefined, upstream: '10.0.0.7:9080' }));
  const text = await registry.metrics();
  const got = samples(text, 'istio_requests_total').map(([l]) => [labelsOf(l)['reporter'], labelsOf(l)['destination_service']]);
  t.same(got, [['destination', 'reviews.default.svc.cluster.local'], ['destination', 'unknown'], ['source', 'unknown']], 'one Service: named; two at one target: unknown; the source side names its own or none');
});
