/**
 * The PromQL checker the dashboard and alert tests rely on: it finds metric names through the
 * syntax tree, and reports what Prometheus would refuse, so a passing dashboard test means
 * something.
 */
import t from 'tap';
import { checkPromql, exportedSeries, substituteGrafana } from './promql-check.js';

t.test('metric names come from vector selectors, not from labels, functions or strings', async (t) => {
  t.same(checkPromql('histogram_quantile(0.99, sum by (le) (rate(a_bucket{x=~"rate"}[5m])))'), { problems: [], metrics: ['a_bucket'] });
  t.same(checkPromql('process_cpu_seconds_total and on (job, instance) b').metrics, ['process_cpu_seconds_total', 'b']);
  t.same(checkPromql('count(c == 0) or vector(0)').metrics, ['c']);
  t.same(checkPromql('label_values(d{job="x"}, instance)'), { problems: [], metrics: ['d'] });
  t.same(checkPromql('(e unless on (version) f) and on () (max(g) == 1)').metrics, ['e', 'f', 'g']);
});

t.test('what Prometheus would refuse is a problem', async (t) => {
  t.match(checkPromql('sum(rate(a[5m])').problems, [/syntax error/], 'an unclosed parenthesis');
  t.match(checkPromql('sum by (x (a)').problems, [/syntax error/], 'a broken grouping');
  t.match(checkPromql('rat(a[5m])').problems, [/syntax error/], 'an unknown function');
  t.match(checkPromql('rate(a)').problems, [/rate\(\) needs a range vector/], 'rate of an instant vector');
  t.same(checkPromql('rate(a[5m] offset 1h)').problems, [], 'an offset range is a range');
  t.match(checkPromql('a[$__rate_interval]').problems, [/template variable/], 'a variable left over');
  t.match(checkPromql('{__name__="a"}').problems, [/__name__/], 'a name the check cannot see');
  t.match(checkPromql('label_values(instance)').problems, [/label_values\(\) needs/], 'label_values without a selector');
});

t.test('Grafana variables are substituted, unknown ones are left to fail', async (t) => {
  t.equal(substituteGrafana('rate(a{ns=~"$namespace"}[$__rate_interval])', ['namespace']), 'rate(a{ns=~".*"}[5m])');
  t.equal(substituteGrafana('a{w=~"${workload}"}', ['workload']), 'a{w=~".*"}');
  t.equal(substituteGrafana('a{w=~"$workloads"}', ['workload']), 'a{w=~"$workloads"}', 'a longer name is another variable');
});

t.test('the exported series include histogram series and up', async (t) => {
  const known = await exportedSeries();
  t.ok(known.has('up'), 'up');
  t.ok(known.has('meshlet_controller_push_latency_seconds_count'), 'a controller histogram count');
  t.ok(known.has('istio_tcp_connections_closed_total'), 'an agent counter');
  t.notOk(known.has('istio_request_duration_milliseconds'), 'a histogram has no series under its family name');
});
