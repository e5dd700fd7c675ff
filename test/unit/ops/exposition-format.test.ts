/**
 * The metrics ports' formats: `Accept` negotiation (Prometheus' own header, text-only clients,
 * quality values), the OpenMetrics text made from a registry's JSON (counter families without
 * `_total`, samples with it, `# EOF`), and the served registry left as it was (a plain scrape
 * after an OpenMetrics one keeps its names). Then the shared server: `/stats/prometheus` answers
 * what `/metrics` does, in either format.
 */
import t from 'tap';
import { pino } from 'pino';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { expositionFormat, openMetricsText } from '../../../src/ops/exposition-format.js';
import { PrometheusServer } from '../../../src/ops/prometheus-server.js';

/** What Prometheus 2.x/3.x sends by default. */
const PROMETHEUS_ACCEPT = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

t.test('Accept negotiation', async (t) => {
  const cases: Array<[string | undefined, string]> = [
    [undefined, 'text'],
    ['', 'text'],
    ['*/*', 'text'],
    ['text/plain;version=0.0.4', 'text'],
    [PROMETHEUS_ACCEPT, 'openmetrics'],
    ['application/openmetrics-text', 'openmetrics'],
    ['Application/OpenMetrics-Text; version=1.0.0', 'openmetrics'],
    ['application/openmetrics-text;q=0.2, text/plain', 'text'],
    ['text/plain;q=0.5, application/openmetrics-text;q=0.9', 'openmetrics'],
    ['application/openmetrics-text;q=0', 'text'],
    ['application/openmetrics-text;q=nonsense', 'text'],
    ['application/json', 'text'],
  ];
  for (const [accept, want] of cases) t.equal(expositionFormat(accept), want, `Accept: ${accept}`);
});

function registry(): Registry {
  const r = new Registry();
  new Counter({ name: 'demo_requests_total', help: 'requests', labelNames: ['code'], registers: [r] }).inc({ code: '200' }, 3);
  new Histogram({ name: 'demo_duration_ms', help: 'duration', buckets: [1, 5], registers: [r] }).observe(2);
  new Gauge({ name: 'demo_live', help: 'live', registers: [r] }).set(4);
  return r;
}

t.test('OpenMetrics from a registry\'s JSON', async (t) => {
  const r = registry();
  const text = await openMetricsText(await r.getMetricsAsJSON());
  const lines = text.split('\n');
  t.ok(lines.includes('# TYPE demo_requests counter'), 'a counter family is named without _total');
  t.ok(lines.includes('demo_requests_total{code="200"} 3'), 'its samples with it');
  t.notMatch(text, /_total_total/);
  t.ok(lines.includes('demo_duration_ms_bucket{le="5"} 1'), 'histogram buckets');
  t.ok(lines.includes('demo_duration_ms_count 1'));
  t.ok(lines.includes('demo_live 4'), 'gauges as they are');
  t.equal(text.endsWith('\n# EOF\n'), true, 'ends with # EOF');
  const plain = await r.metrics();
  t.ok(plain.split('\n').includes('# TYPE demo_requests_total counter'), 'the served registry keeps its counter names for the next text scrape');
  t.notMatch(plain, /# EOF/);
});

t.test('the server: /stats/prometheus is /metrics, in the format asked for', async (t) => {
  const server = new PrometheusServer(registry(), pino({ level: 'silent' }));
  t.teardown(() => server.close());
  const { port } = await server.start(0, '127.0.0.1');
  const base = `http://127.0.0.1:${port}`;
  const families = (text: string): string[] => text.split('\n').filter((l) => l.startsWith('# TYPE ')).sort();
  const metrics = await fetch(`${base}/metrics`);
  const stats = await fetch(`${base}/stats/prometheus`);
  t.equal(stats.status, 200);
  t.equal(stats.headers.get('content-type'), metrics.headers.get('content-type'));
  t.match(stats.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const metricsFamilies = families(await metrics.text());
  t.equal(metricsFamilies.filter((f) => f.startsWith('# TYPE demo_')).length, 3, 'the registry\'s families (and the port\'s refusal counter)');
  t.same(families(await stats.text()), metricsFamilies, 'the same families');
  const om = await fetch(`${base}/stats/prometheus`, { headers: { accept: PROMETHEUS_ACCEPT } });
  t.equal(om.headers.get('content-type'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
  t.equal(om.headers.get('vary'), 'accept');
  const omText = await om.text();
  t.ok(omText.endsWith('# EOF\n'), 'OpenMetrics');
  t.match(omText, /^demo_requests_total\{code="200"\} 3$/m);
  const after = await (await fetch(`${base}/metrics`)).text();
  t.match(after, /^# TYPE demo_requests_total counter$/m, 'a text scrape after an OpenMetrics one is unchanged');
  t.equal((await fetch(`${base}/stats`)).status, 404, 'other paths are not found');
  t.equal((await fetch(`${base}/stats/prometheus`, { method: 'POST' })).status, 405);
});
