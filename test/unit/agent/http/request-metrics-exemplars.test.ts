/**
 * Trace exemplars on `istio_request_duration_milliseconds`: a sampled request's trace and span
 * ids show on its bucket's line in an OpenMetrics scrape (the latest per bucket), never in the
 * Prometheus text format, and an unsampled or untraced request leaves none.
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { RequestMetrics } from '../../../../src/agent/http/request-metrics.js';
import { openMetricsText } from '../../../../src/ops/exposition-format.js';
import { record } from './request-record-fixture.js';

const TRACE = '4bf92f3577b34da6a3ce929d0e0e4736';

function bucketLines(text: string): string[] {
  return text.split('\n').filter((l) => l.startsWith('istio_request_duration_milliseconds_bucket'));
}

t.test('a sampled request is its bucket\'s exemplar (OpenMetrics only)', async (t) => {
  const registry = new Registry();
  const m = new RequestMetrics(registry);
  m.onRequest(record({ durationMs: 12, trace: { traceId: TRACE, spanId: '1111111111111111', sampled: true } }));
  m.onRequest(record({ durationMs: 13, trace: { traceId: TRACE, spanId: '2222222222222222', sampled: true } }));
  m.onRequest(record({ durationMs: 700, trace: { traceId: TRACE, spanId: '3333333333333333', sampled: false } }));
  m.onRequest(record({ durationMs: 3 }));
  const open = bucketLines(await openMetricsText(await registry.getMetricsAsJSON()));
  const withExemplar = open.filter((l) => l.includes(' # {'));
  t.equal(withExemplar.length, 1, 'one bucket has an exemplar');
  t.match(withExemplar[0], /le="25".* # \{trace_id="4bf92f3577b34da6a3ce929d0e0e4736",span_id="2222222222222222"\} 13 \d+(\.\d+)?$/, 'the latest of its bucket, with its value and time');
  const text = bucketLines(await registry.metrics());
  t.equal(text.filter((l) => l.includes('#')).length, 0, 'the text format has none');
  t.ok(text.length > 0, 'the text format has the buckets');
});
