/**
 * daemonset/grafana-dashboard.json: valid JSON, schemaVersion 39 with the `${DS_PROMETHEUS}`
 * datasource, and every metric its PromQL names exists in the agent's or the controller's
 * registry, so renaming a metric without the dashboard fails here.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AgentMetrics } from '../../../src/agent/admin/metrics.js';
import { ControllerMetrics } from '../../../src/controller/metrics.js';
import { REPO } from './install-files.js';

interface Target { readonly expr?: unknown; readonly datasource?: { readonly uid?: unknown } }
interface Panel { readonly type: string; readonly title?: string; readonly datasource?: { readonly uid?: unknown }; readonly targets?: Target[] }
interface Dashboard {
  readonly schemaVersion: unknown;
  readonly panels: Panel[];
  readonly templating: { readonly list: { readonly name: string; readonly type: string; readonly definition?: string }[] };
}

/** PromQL functions, aggregations and keywords the dashboard may use. */
const PROMQL_WORDS = new Set([
  'sum', 'min', 'max', 'avg', 'count', 'rate', 'irate', 'increase', 'histogram_quantile', 'vector',
  'and', 'or', 'unless', 'on', 'ignoring', 'group_left', 'group_right', 'label_values',
]);

/** Metric names in a PromQL expression: label matchers, groupings, ranges, strings and numbers removed. */
function metricNames(expr: string): string[] {
  const stripped = expr
    .replace(/"(?:[^"\\]|\\.)*"/g, ' ')
    // Grafana's label_values(metric, label): the second argument is a label.
    .replace(/label_values\(\s*([^,()]+?)\s*,\s*[A-Za-z_]\w*\s*\)/g, ' $1 ')
    .replace(/\{[^}]*\}/g, ' ')
    .replace(/\[[^\]]*\]/g, ' ')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, ' ')
    .replace(/\b\d+(\.\d+)?\b/g, ' ');
  const words = stripped.match(/[A-Za-z_:][A-Za-z0-9_:]*/g) ?? [];
  return words.filter((w) => !PROMQL_WORDS.has(w));
}

/** Every series name a registry exposes: histograms also as `_bucket`, `_sum`, `_count`. */
async function seriesNames(registry: { getMetricsAsJSON(): Promise<{ name: string; type: unknown }[]> }): Promise<string[]> {
  const metrics = await registry.getMetricsAsJSON();
  return metrics.flatMap((m) => (String(m.type) === 'histogram' ? [m.name, `${m.name}_bucket`, `${m.name}_sum`, `${m.name}_count`] : [m.name]));
}

const dashboard = JSON.parse(readFileSync(join(REPO, 'daemonset', 'grafana-dashboard.json'), 'utf8')) as Dashboard;
const queries = dashboard.panels.filter((p) => p.type !== 'row');

t.test('schema version 39, the DS_PROMETHEUS datasource everywhere', async (t) => {
  t.equal(dashboard.schemaVersion, 39);
  t.match(dashboard.templating.list.filter((v) => v.name === 'DS_PROMETHEUS'), [{ type: 'datasource' }], 'the datasource variable');
  t.not(queries.length, 0, 'panels with queries to check');
  for (const p of queries) {
    t.equal(p.datasource?.uid, '${DS_PROMETHEUS}', `${p.title ?? ''}: panel datasource`);
    for (const target of p.targets ?? []) t.equal(target.datasource?.uid, '${DS_PROMETHEUS}', `${p.title ?? ''}: target datasource`);
  }
});

t.test('the rows the issue asks for', async (t) => {
  const rows = dashboard.panels.filter((p) => p.type === 'row').map((p) => p.title);
  t.same(rows, ['Node traffic', 'Security', 'Agents', 'Controller']);
});

t.test('every metric in every expression exists in the agent or the controller registry', async (t) => {
  const agent = new AgentMetrics();
  const controller = new ControllerMetrics();
  const known = new Set([...(await seriesNames(agent.registry)), ...(await seriesNames(controller.registry))]);
  t.ok(known.has('meshlet_controller_push_latency_seconds_bucket'), 'the controller registry was read');
  t.ok(known.has('meshlet_tcp_sent_bytes_total'), 'the agent registry was read');
  const exprs = [
    ...queries.flatMap((p) => (p.targets ?? []).map((x) => ({ where: p.title ?? '', expr: x.expr }))),
    ...dashboard.templating.list.filter((v) => v.definition !== undefined).map((v) => ({ where: `variable ${v.name}`, expr: v.definition })),
  ];
  let checked = 0;
  for (const { where, expr } of exprs) {
    if (typeof expr !== 'string' || expr.trim() === '') {
      t.fail(`${where}: a target without an expression`);
      continue;
    }
    const names = metricNames(expr);
    t.ok(names.length > 0, `${where}: names a metric`);
    for (const name of names) {
      checked += 1;
      t.ok(known.has(name), `${where}: ${name} exists`);
    }
  }
  t.ok(checked >= 20, `${checked} metric references checked`);
});

t.test('the extractor finds names and only names', async (t) => {
  t.same(metricNames('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"$y"}[$__rate_interval])))'), ['a_bucket']);
  t.same(metricNames('process_cpu_seconds_total and on (job, instance) b'), ['process_cpu_seconds_total', 'b']);
  t.same(metricNames('count(c == 0) or vector(0)'), ['c']);
  t.same(metricNames('label_values(d{job="x"}, instance)'), ['d']);
});
