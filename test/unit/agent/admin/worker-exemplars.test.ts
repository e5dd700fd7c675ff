/**
 * With data-path workers the primary sums the workers' registries at scrape; the trace exemplars
 * of `istio_request_duration_milliseconds` survive that sum: each bucket keeps the latest
 * exemplar of any worker, and the counts stay the sums.
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { AgentMetrics, carryExemplars, type MetricsJson } from '../../../../src/agent/admin/metrics.js';
import { RequestMetrics } from '../../../../src/agent/http/request-metrics.js';
import { openMetricsText } from '../../../../src/ops/exposition-format.js';
import { record } from '../http/request-record-fixture.js';

const TRACE_1 = '11111111111111111111111111111111';
const TRACE_2 = '22222222222222222222222222222222';

/** A worker's registry as the primary receives it: JSON over the IPC channel. */
async function overIpc(registry: Registry): Promise<MetricsJson> {
  return JSON.parse(JSON.stringify(await registry.getMetricsAsJSON())) as MetricsJson;
}

const bucket = (text: string, le: string): string | undefined =>
  text.split('\n').find((l) => l.startsWith('istio_request_duration_milliseconds_bucket') && l.includes(`le="${le}"`));

t.test('each bucket keeps the latest exemplar of any worker; counts are summed', async (t) => {
  const one = new Registry();
  const two = new Registry();
  const m1 = new RequestMetrics(one);
  const m2 = new RequestMetrics(two);
  // Worker 2's request in the 25 ms bucket is later than worker 1's.
  m1.onRequest(record({ durationMs: 12, trace: { traceId: TRACE_1, spanId: 'aaaaaaaaaaaaaaaa', sampled: true } }));
  await new Promise((r) => setTimeout(r, 20));
  m2.onRequest(record({ durationMs: 14, trace: { traceId: TRACE_2, spanId: 'bbbbbbbbbbbbbbbb', sampled: true } }));
  // Only worker 1 has a request in the 1000 ms bucket: its exemplar is kept.
  m1.onRequest(record({ durationMs: 900, trace: { traceId: TRACE_1, spanId: 'cccccccccccccccc', sampled: true } }));

  const primary = new AgentMetrics({ dataPath: false });
  primary.mergeWorkers(async () => [await overIpc(one), await overIpc(two)]);
  const open = await openMetricsText(await primary.registry.getMetricsAsJSON());
  t.match(bucket(open, '25'), / 2 # \{trace_id="22222222222222222222222222222222",span_id="bbbbbbbbbbbbbbbb"\} 14 /, 'the 25 ms bucket: both requests counted, the later exemplar');
  t.match(bucket(open, '1000'), / 3 # \{trace_id="11111111111111111111111111111111",span_id="cccccccccccccccc"\} 900 /, 'the 1000 ms bucket: worker 1\'s only exemplar');
  t.notMatch(bucket(open, '10'), /#/, 'a bucket no sampled request fell in has none');
  const text = await primary.registry.metrics();
  t.notMatch(text, / # \{trace_id/, 'the Prometheus text format has none');
});

t.test('carryExemplars leaves a merge without exemplars as it is', async (t) => {
  const one = new Registry();
  new RequestMetrics(one).onRequest(record({ durationMs: 5 }));
  const sources = [await overIpc(one)];
  const merged = JSON.parse(JSON.stringify(sources[0])) as MetricsJson;
  t.equal(carryExemplars(merged, sources), merged, 'the same array');
});
