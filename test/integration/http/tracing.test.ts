/**
 * Distributed tracing through two agents (source -> mTLS tunnel -> destination -> workload),
 * with an OTLP/HTTP receiver that decodes the exports with the official opentelemetry-proto
 * definitions: a request makes a CLIENT span at the source agent and a SERVER span, its child, at
 * the destination agent, with the HTTP semantic-convention and meshlet attributes and the
 * workloads' resources; an incoming `traceparent` is continued; B3 single and multi are read and
 * written; sampling at 0% exports no new root but honours a sampled parent; a collector that is
 * down costs the requests nothing and its drops are counted. With `protocol: grpc` the same spans
 * reach an OTLP/gRPC receiver serving the official TraceService.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { parseTraceparent } from '../../../src/agent/trace/trace-context.js';
import { requestLine } from '../../../src/agent/http/request-log.js';
import { otlpReceiver, type ReceivedSpan } from '../../helpers/otlp-receiver.js';
import { otlpGrpcReceiver } from '../../helpers/otlp-grpc-receiver.js';
import { waitFor } from '../../helpers/wait-for.js';
import { CLIENT_ID, SERVER_ID, tracingRig } from './tracing-rig.js';

const APP_TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';
const APP_SPAN = '00f067aa0ba902b7';

function pair(spans: readonly ReceivedSpan[], traceId: string): { client: ReceivedSpan | undefined; server: ReceivedSpan | undefined } {
  const mine = spans.filter((s) => s.traceId === traceId);
  return { client: mine.find((s) => s.kind === 3), server: mine.find((s) => s.kind === 2) };
}

t.test('a request through two agents: a client span and its child server span', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const rig = await tracingRig(t);
  rig.telemetry(rx.url, 100);
  const res = await rig.get('/items/7?q=1');
  t.equal(res.status, 200);
  await rx.waitForSpans(2);
  t.equal(rx.spans.length, 2);
  const got = parseTraceparent(String(rig.seen[0]?.headers['traceparent']));
  t.not(got, undefined, 'the workload got a traceparent');
  const { client, server } = pair(rx.spans, got?.traceId ?? '');
  t.not(client, undefined, 'a CLIENT span');
  t.not(server, undefined, 'a SERVER span');
  t.equal(client?.parentSpanId, '', 'a new root: the client span has no parent');
  t.equal(server?.parentSpanId, client?.spanId, 'the server span is the client span\'s child');
  t.equal(got?.spanId, server?.spanId, 'the workload\'s parent is the server span');
  t.equal(got?.sampled, true);
  t.same(
    { method: client?.attributes['http.request.method'], path: client?.attributes['url.path'], status: client?.attributes['http.response.status_code'], host: client?.attributes['server.address'], version: client?.attributes['network.protocol.version'] },
    { method: 'GET', path: '/items/7', status: 200, host: 'web.demo', version: '1.1' },
  );
  t.same(
    {
      src: client?.attributes['meshlet.source.workload'], srcNs: client?.attributes['meshlet.source.namespace'], srcPrincipal: client?.attributes['meshlet.source.principal'],
      service: client?.attributes['meshlet.service'], retries: client?.attributes['meshlet.retries'], flags: client?.attributes['meshlet.response_flags'],
    },
    { src: 'client', srcNs: 'demo', srcPrincipal: CLIENT_ID, service: 'demo/web', retries: 0, flags: '-' },
  );
  t.same(
    { dst: server?.attributes['meshlet.destination.workload'], dstPrincipal: server?.attributes['meshlet.destination.principal'], srcPrincipal: server?.attributes['meshlet.source.principal'], status: server?.attributes['http.response.status_code'] },
    { dst: 'server', dstPrincipal: SERVER_ID, srcPrincipal: CLIENT_ID, status: 200 },
  );
  t.same(client?.resource, { 'service.name': 'client', 'k8s.namespace.name': 'demo', 'k8s.pod.name': 'client', 'k8s.node.name': 'nodea', 'service.version': 'v1' });
  t.same(server?.resource, { 'service.name': 'server', 'k8s.namespace.name': 'demo', 'k8s.pod.name': 'server', 'k8s.node.name': 'nodeb', 'service.version': 'v2' });
  t.same({ c: client?.status.code, s: server?.status.code }, { c: 0, s: 0 }, 'status UNSET on success');
  const line = requestLine(rig.records.find((r) => r.reporter === 'source') ?? rig.records[0]!);
  t.same({ trace: line['trace_id'], span: line['span_id'] }, { trace: got?.traceId, span: client?.spanId }, 'the access log names the trace and span');
});

t.test('protocol grpc: both spans reach an OTLP/gRPC collector, parent and child', async (t) => {
  const rx = await otlpGrpcReceiver();
  t.teardown(() => rx.close());
  const rig = await tracingRig(t);
  // The same URL first as OTLP/HTTP: those exports fail at the gRPC server. Naming the protocol
  // then makes new exporters (one per collector and protocol), whose exports arrive.
  rig.telemetry(rx.url, 100);
  t.equal((await rig.get('/as-http')).status, 200, 'a request while the exports fail');
  rig.telemetry(rx.url, 100, 'grpc');
  const res = await rig.get('/grpc-export');
  t.equal(res.status, 200);
  await rx.waitForSpans(2);
  const got = parseTraceparent(String(rig.seen.at(-1)?.headers['traceparent']));
  const { client, server } = pair(rx.spans, got?.traceId ?? '');
  t.equal(client?.resource['k8s.node.name'], 'nodea', 'the CLIENT span, from the source agent');
  t.equal(server?.resource['k8s.node.name'], 'nodeb', 'the SERVER span, from the destination agent');
  t.equal(server?.parentSpanId, client?.spanId, 'the server span is the client span\'s child');
  t.equal(server?.attributes['url.path'], '/grpc-export');
  t.same([...new Set(rx.spans.map((s) => s.attributes['url.path']))], ['/grpc-export'], 'nothing of the OTLP/HTTP exports arrived');
});

t.test('an incoming traceparent is continued; a 5xx marks both spans as errors', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const rig = await tracingRig(t);
  rig.telemetry(rx.url, 100);
  t.equal((await rig.get('/fail', { traceparent: `00-${APP_TRACE}-${APP_SPAN}-01`, tracestate: 'app=1' })).status, 503);
  await rx.waitForSpans(2);
  const { client, server } = pair(rx.spans, APP_TRACE);
  t.equal(client?.parentSpanId, APP_SPAN, 'the client span\'s parent is the application\'s span');
  t.equal(server?.parentSpanId, client?.spanId);
  t.equal(client?.traceState, 'app=1', 'tracestate is passed on');
  t.equal(rig.seen[0]?.headers['tracestate'], 'app=1');
  t.equal(parseTraceparent(String(rig.seen[0]?.headers['traceparent']))?.traceId, APP_TRACE, 'the workload gets the same trace');
  t.same({ c: client?.status.code, s: server?.status.code }, { c: 2, s: 2 }, 'status ERROR');
  t.equal(server?.attributes['error.type'], '503');
});

t.test('B3 single and multi are read and written (with W3C)', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const rig = await tracingRig(t);
  rig.telemetry(rx.url, 0);
  await rig.get('/single', { b3: `${APP_TRACE}-${APP_SPAN}-1` });
  const single = rig.seen.find((s) => s.path === '/single')?.headers;
  const b3 = String(single?.['b3']).split('-');
  t.equal(b3[0], APP_TRACE, 'b3 goes on with the same trace');
  t.equal(b3[2], '1');
  t.equal(parseTraceparent(String(single?.['traceparent']))?.spanId, b3[1], 'traceparent and b3 name the same span');

  const multiTrace = 'a3ce929d0e0e4736';
  await rig.get('/multi', { 'x-b3-traceid': multiTrace, 'x-b3-spanid': APP_SPAN, 'x-b3-sampled': '1' });
  const multi = rig.seen.find((s) => s.path === '/multi')?.headers;
  t.equal(multi?.['x-b3-traceid'], `0000000000000000${multiTrace}`, 'a 64-bit B3 trace id, padded to 128 bits');
  t.equal(multi?.['x-b3-sampled'], '1');
  t.equal(multi?.['b3'], undefined, 'only the formats it came with');
  await rx.waitForSpans(4);
  const s = pair(rx.spans, APP_TRACE);
  t.equal(s.client?.parentSpanId, APP_SPAN, 'the b3 parent is continued at 0% (a sampled parent is honoured)');
  t.equal(multi?.['x-b3-parentspanid'], pair(rx.spans, `0000000000000000${multiTrace}`).client?.spanId, 'the workload\'s B3 parent span is the client span (the server span\'s parent)');
});

t.test('sampling 0%: a new root exports nothing, a sampled parent still does', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const rig = await tracingRig(t);
  rig.telemetry(rx.url, 0);
  t.equal((await rig.get('/unsampled')).status, 200);
  const root = parseTraceparent(String(rig.seen[0]?.headers['traceparent']));
  t.equal(root?.sampled, false, 'the new root is propagated unsampled');
  await rig.get('/sampled', { traceparent: `00-${APP_TRACE}-${APP_SPAN}-01` });
  await Promise.all([rig.source.flush(), rig.destination.flush()]);
  await rx.waitForSpans(2);
  t.same([...new Set(rx.spans.map((s) => s.traceId))], [APP_TRACE], 'only the sampled parent\'s trace');
  t.equal(rig.source.queued + rig.destination.queued, 0, 'nothing left waiting');
  t.equal(rig.records.filter((r) => r.trace?.traceId === root?.traceId).length, 2, 'the unsampled request still carried ids (for the access log)');
});

t.test('a collector that is down costs the requests nothing: they succeed, drops are counted', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const rig = await tracingRig(t, { batchDelayMs: 5, maxBatchSpans: 4, maxQueueSpans: 8 });
  rig.telemetry(`http://127.0.0.1:${port}`, 100);
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await rig.get(`/r/${i}`)).status);
  t.same([...new Set(statuses)], [200], 'every request succeeded');
  await waitFor('every span dropped and counted', () => rig.counts.dropped.export_failed + rig.counts.dropped.queue_full === 60 && rig.source.queued + rig.destination.queued === 0);
  t.ok(rig.counts.dropped.export_failed > 0, `export_failed ${rig.counts.dropped.export_failed}`);
  t.equal(rig.counts.exported, 0);
});

t.test('a collector that never answers costs the requests nothing: they succeed, the queue stays bounded', async (t) => {
  const held = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    held.add(s);
    s.on('data', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => {
    for (const s of held) s.destroy();
    silent.close();
  });
  const rig = await tracingRig(t, { batchDelayMs: 5, maxBatchSpans: 4, maxQueueSpans: 8, exportTimeoutMs: 60_000 });
  rig.telemetry(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, 100);
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await rig.get(`/r/${i}`)).status);
  t.same([...new Set(statuses)], [200], 'every request succeeded while the exports hang');
  t.ok(rig.source.queued <= 8, `source queue bounded: ${rig.source.queued}`);
  t.ok(rig.destination.queued <= 8, `destination queue bounded: ${rig.destination.queued}`);
  t.ok(rig.counts.dropped.queue_full >= 60 - 2 * (8 + 4), `spans beyond the bound dropped and counted: ${rig.counts.dropped.queue_full}`);
  t.equal(rig.counts.exported, 0);
});

t.test('an oversized tracestate is not passed on; the trace still is', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const rig = await tracingRig(t);
  rig.telemetry(rx.url, 100);
  const huge = Array.from({ length: 40 }, (_, i) => `v${i}=${'x'.repeat(250)}`).join(',');
  t.equal((await rig.get('/big-state', { traceparent: `00-${APP_TRACE}-${APP_SPAN}-01`, tracestate: huge })).status, 200);
  t.equal(rig.seen[0]?.headers['tracestate'], undefined, 'over 32 members of 256 characters: dropped');
  t.equal(parseTraceparent(String(rig.seen[0]?.headers['traceparent']))?.traceId, APP_TRACE);
});
