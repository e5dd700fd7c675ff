/**
 * The exporter's bounds: batches by size and time reach an OTLP/HTTP receiver; a collector that
 * is down (a closed port) or never answers costs a bounded queue, drops counted by reason, never
 * an unbounded one; a refused export (HTTP 500) is dropped, not retried.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import t from 'tap';
import { SpanExporter, exportUrl } from '../../../../src/agent/trace/span-exporter.js';
import { counters, span } from './exporter-fixture.js';
import { otlpReceiver } from '../../../helpers/otlp-receiver.js';
import { waitFor } from '../../../helpers/wait-for.js';

t.test('export URL: /v1/traces unless the collector names a path', async (t) => {
  t.equal(exportUrl('http://collector:4318').href, 'http://collector:4318/v1/traces');
  t.equal(exportUrl('http://collector:4318/').href, 'http://collector:4318/v1/traces');
  t.equal(exportUrl('https://collector/otlp/v1/traces').href, 'https://collector/otlp/v1/traces');
});

t.test('batches by size and by time reach the receiver', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const { c, sink } = counters();
  const ex = new SpanExporter(rx.url, { limits: { maxBatchSpans: 4, batchDelayMs: 50 }, counters: sink });
  t.teardown(() => ex.close());
  for (let i = 0; i < 4; i++) ex.add(span());
  await rx.waitForSpans(4);
  t.equal(rx.requests, 1, 'a full batch leaves at once, as one request');
  ex.add(span());
  await rx.waitForSpans(5);
  t.equal(rx.requests, 2, 'a partial batch leaves after the delay');
  await waitFor('the count', () => c.exported === 5);
  t.same(c.dropped, { queue_full: 0, export_failed: 0 });
});

t.test('a collector that is down: spans are dropped and counted, the queue stays bounded', async (t) => {
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const port = (probe.address() as AddressInfo).port;
  await new Promise<void>((r) => probe.close(() => r()));
  const { c, sink } = counters();
  const ex = new SpanExporter(`http://127.0.0.1:${port}`, { limits: { maxQueueSpans: 10, maxBatchSpans: 5, batchDelayMs: 10 }, counters: sink });
  t.teardown(() => ex.close());
  for (let i = 0; i < 100; i++) ex.add(span());
  t.ok(ex.queued <= 10, `queue bounded: ${ex.queued}`);
  t.ok(c.dropped.queue_full >= 85, `queue_full drops counted: ${c.dropped.queue_full}`);
  await waitFor('failed exports counted', () => c.dropped.export_failed + c.dropped.queue_full === 100 && ex.queued === 0);
  t.ok(c.dropped.export_failed > 0, `export_failed: ${c.dropped.export_failed}`);
  t.equal(c.exported, 0);
});

t.test('a collector that never answers: the export times out, one in flight, the rest dropped', async (t) => {
  const sockets = new Set<net.Socket>();
  const silent = net.createServer((s) => {
    sockets.add(s);
    s.on('data', () => undefined);
  });
  silent.listen(0, '127.0.0.1');
  await once(silent, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    silent.close();
  });
  const { c, sink } = counters();
  const ex = new SpanExporter(`http://127.0.0.1:${(silent.address() as AddressInfo).port}`, { limits: { maxQueueSpans: 8, maxBatchSpans: 4, batchDelayMs: 10, exportTimeoutMs: 300 }, counters: sink });
  t.teardown(() => ex.close());
  for (let i = 0; i < 4; i++) ex.add(span());
  await waitFor('the export in flight', () => sockets.size === 1 && ex.queued === 0);
  for (let i = 0; i < 20; i++) ex.add(span());
  t.equal(ex.queued, 8, 'spans wait only up to the queue bound while the export hangs');
  t.equal(c.dropped.queue_full, 12);
  await waitFor('the timed-out batch dropped', () => c.dropped.export_failed >= 4);
  t.equal(c.exported, 0);
});

t.test('a refused export (HTTP 500) is dropped, not retried', async (t) => {
  const rx = await otlpReceiver(() => 500);
  t.teardown(() => rx.close());
  const { c, sink } = counters();
  const ex = new SpanExporter(rx.url, { limits: { maxBatchSpans: 2, batchDelayMs: 10 }, counters: sink });
  t.teardown(() => ex.close());
  ex.add(span());
  ex.add(span());
  await waitFor('the drop', () => c.dropped.export_failed === 2);
  t.equal(rx.requests, 1, 'one request, no retry');
  t.equal(c.exported, 0);
});

t.test('close sends the last batch', async (t) => {
  const rx = await otlpReceiver();
  t.teardown(() => rx.close());
  const ex = new SpanExporter(rx.url, { limits: { batchDelayMs: 60_000 } });
  ex.add(span());
  await ex.close();
  t.equal(rx.spans.length, 1);
  await ex.close();
});
