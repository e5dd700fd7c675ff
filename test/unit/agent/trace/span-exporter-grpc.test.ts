/**
 * The exporter over OTLP/gRPC: batches reach a receiver serving the official
 * `TraceService/Export` and decode with the official definitions; a refusing status, a
 * collector that is down and one that never answers are drops counted as `export_failed`, the
 * queue staying bounded. The gRPC target of a collector URL.
 */
import * as grpc from '@grpc/grpc-js';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { SpanExporter } from '../../../../src/agent/trace/span-exporter.js';
import { grpcTarget } from '../../../../src/agent/trace/otlp-grpc.js';
import { counters, span } from './exporter-fixture.js';
import { otlpGrpcReceiver } from '../../../helpers/otlp-grpc-receiver.js';
import { waitFor } from '../../../helpers/wait-for.js';

t.test('the gRPC target of a collector URL', async (t) => {
  t.equal(grpcTarget(new URL('http://otel-collector.observability:4317')), 'otel-collector.observability:4317');
  t.equal(grpcTarget(new URL('http://collector')), 'collector:80', 'no port: the scheme\'s');
  t.equal(grpcTarget(new URL('https://collector')), 'collector:443');
  t.equal(grpcTarget(new URL('http://[fd00::1]:4317')), '[fd00::1]:4317', 'an IPv6 address keeps its brackets');
});

t.test('batches reach an OTLP/gRPC receiver and decode with the official definitions', async (t) => {
  const rx = await otlpGrpcReceiver();
  t.teardown(() => rx.close());
  const { c, sink } = counters();
  const ex = new SpanExporter(rx.url, { protocol: 'grpc', limits: { maxBatchSpans: 4, batchDelayMs: 50 }, counters: sink, version: '9.8.7' });
  t.teardown(() => ex.close());
  for (let i = 0; i < 4; i++) ex.add(span());
  const spans = await rx.waitForSpans(4);
  t.equal(rx.requests, 1, 'a full batch is one call');
  t.equal(spans[0]?.traceId, '4bf92f3577b34da6a3ce929d0e0e4736', 'the trace id decodes');
  t.equal(spans[0]?.resource['service.name'], 'r', 'the resource decodes');
  t.match(rx.userAgent, /^meshlet\/9\.8\.7 /, 'the user agent names meshlet and its version');
  ex.add(span());
  await rx.waitForSpans(5);
  t.equal(rx.requests, 2, 'a partial batch leaves after the delay');
  await waitFor('the count', () => c.exported === 5);
  t.same(c.dropped, { queue_full: 0, export_failed: 0 });
});

t.test('a refusing status (UNAVAILABLE) is a drop, not a retry', async (t) => {
  const rx = await otlpGrpcReceiver(() => grpc.status.UNAVAILABLE);
  t.teardown(() => rx.close());
  const { c, sink } = counters();
  const ex = new SpanExporter(rx.url, { protocol: 'grpc', limits: { maxBatchSpans: 3, batchDelayMs: 10 }, counters: sink });
  t.teardown(() => ex.close());
  for (let i = 0; i < 3; i++) ex.add(span());
  await waitFor('the refused batch counted', () => c.dropped.export_failed === 3);
  t.equal(rx.requests, 1, 'one call: no retry');
  t.equal(c.exported, 0);
});

t.test('a collector that is down: drops counted, the queue bounded', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { c, sink } = counters();
  const ex = new SpanExporter(`http://127.0.0.1:${port}`, { protocol: 'grpc', limits: { maxQueueSpans: 10, maxBatchSpans: 5, batchDelayMs: 10, exportTimeoutMs: 2000 }, counters: sink });
  t.teardown(() => ex.close());
  for (let i = 0; i < 100; i++) ex.add(span());
  t.ok(ex.queued <= 10, `queue bounded: ${ex.queued}`);
  await waitFor('every span dropped and counted', () => c.dropped.export_failed + c.dropped.queue_full === 100 && ex.queued === 0);
  t.ok(c.dropped.export_failed > 0, `export_failed: ${c.dropped.export_failed}`);
  t.equal(c.exported, 0);
});

t.test('a collector that never answers: the call\'s deadline ends it', async (t) => {
  const rx = await otlpGrpcReceiver(() => 'silent');
  t.teardown(() => rx.close());
  const { c, sink } = counters();
  const ex = new SpanExporter(rx.url, { protocol: 'grpc', limits: { maxQueueSpans: 8, maxBatchSpans: 4, batchDelayMs: 10, exportTimeoutMs: 300 }, counters: sink });
  t.teardown(() => ex.close());
  for (let i = 0; i < 4; i++) ex.add(span());
  await waitFor('the unanswered batch counted', () => c.dropped.export_failed === 4);
  t.equal(rx.requests, 1, 'one call made');
  t.equal(c.exported, 0);
});

t.test('close: the last batch goes out, then the channel closes', async (t) => {
  const rx = await otlpGrpcReceiver();
  t.teardown(() => rx.close());
  const ex = new SpanExporter(rx.url, { protocol: 'grpc', limits: { batchDelayMs: 60_000 } });
  ex.add(span());
  await ex.close();
  t.equal(rx.spans.length, 1, 'the queued span was sent on close');
  ex.add(span());
  t.equal(ex.queued, 0, 'a closed exporter queues nothing');
});
