/**
 * The bounded series table behind the Istio metrics: inputs that give the same labels share a
 * series, the input-key cache stays bounded when many inputs map to few series (a server that
 * answers every gRPC status under the sun), the series cap holds, and the exposition is
 * prom-client's (what the workers' merge reads).
 */
import t from 'tap';
import { Registry } from 'prom-client';
import { SeriesTable } from '../../../src/agent/proxy/series-table.js';

function table(maxSeries: number, overflow: () => void = () => undefined): { registry: Registry; table: SeriesTable } {
  const registry = new Registry();
  const tbl = new SeriesTable(registry, {
    labelNames: ['code'],
    metrics: [
      { type: 'counter', name: 't_total', help: 'h' },
      { type: 'histogram', name: 't_ms', help: 'h', buckets: [1, 10] },
    ],
    maxSeries,
    onOverflow: overflow,
  });
  return { registry, table: tbl };
}

t.test('many inputs, one label set: one series, a bounded key cache', async (t) => {
  const { registry, table: tbl } = table(5);
  for (let i = 0; i < 1000; i++) {
    const parts = ['grpc', 1000 + i];
    const s = tbl.get(parts) ?? tbl.add(parts, { code: '2' });
    s?.inc(0);
  }
  t.equal(tbl.size, 1);
  t.ok(tbl.keys <= 10, `${tbl.keys} keys remembered for a cap of 5 series`);
  t.match(await registry.metrics(), /t_total\{code="2"\} 1000/);
});

t.test('past the cap: refused and counted; existing series keep counting', async (t) => {
  let dropped = 0;
  const { registry, table: tbl } = table(3, () => dropped++);
  for (let i = 0; i < 10; i++) (tbl.get([i]) ?? tbl.add([i], { code: String(i) }))?.observe(0, i);
  t.equal(tbl.size, 3);
  t.equal(dropped, 7);
  tbl.get([0])?.observe(0, 50);
  const text = await registry.metrics();
  t.match(text, /t_ms_bucket\{code="0",le="1"\} 1\nt_ms_bucket\{code="0",le="10"\} 1\nt_ms_bucket\{code="0",le="\+Inf"\} 2\nt_ms_sum\{code="0"\} 50\nt_ms_count\{code="0"\} 2/);
  t.notMatch(text, /code="3"/);
});

t.test('the JSON shape prom-client aggregates: le labels and metric names per value', async (t) => {
  const { registry, table: tbl } = table(3);
  tbl.add(['a'], { code: '200' })?.observe(0, 5);
  const json = await registry.getMetricsAsJSON();
  const hist = json.find((m) => m.name === 't_ms');
  t.same(hist?.values, [
    { labels: { code: '200', le: 1 }, value: 0, metricName: 't_ms_bucket' },
    { labels: { code: '200', le: 10 }, value: 1, metricName: 't_ms_bucket' },
    { labels: { code: '200', le: '+Inf' }, value: 1, metricName: 't_ms_bucket' },
    { labels: { code: '200' }, value: 5, metricName: 't_ms_sum' },
    { labels: { code: '200' }, value: 1, metricName: 't_ms_count' },
  ]);
  t.equal(hist?.aggregator, 'sum');
  registry.resetMetrics();
  t.equal(tbl.size, 0, 'resetMetrics empties the table');
});

t.test('a NaN or negative value counts as 0: the sum stays a number', async (t) => {
  const { registry, table: tbl } = table(3);
  const s = tbl.add(['a'], { code: '200' });
  s?.observe(0, Number.NaN);
  s?.observe(0, -5);
  s?.observe(0, 4);
  const text = await registry.metrics();
  t.match(text, /t_ms_sum\{code="200"\} 4\n/);
  t.match(text, /t_ms_bucket\{code="200",le="1"\} 2\n/);
});
