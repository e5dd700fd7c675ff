/**
 * The Grafana dashboards of daemonset/monitoring/: the JSON sources under dashboards/, the
 * ConfigMaps generated from them (grafana-dashboards.yaml, labelled for Grafana's sidecar), the
 * data source and template variables, and every PromQL expression: it parses with Prometheus'
 * grammar and names only metrics the agent or the controller exports.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO, yamlDocuments } from './install-files.js';
import { checkPromql, exportedSeries, substituteGrafana } from './promql-check.js';

interface Target { readonly expr?: unknown; readonly datasource?: { readonly uid?: unknown } }
interface Panel { readonly id: number; readonly type: string; readonly title?: string; readonly datasource?: { readonly uid?: unknown }; readonly targets?: Target[] }
interface Variable { readonly name: string; readonly type: string; readonly query?: unknown; readonly definition?: string; readonly datasource?: { readonly uid?: unknown } }
interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly schemaVersion: unknown;
  readonly panels: Panel[];
  readonly templating: { readonly list: Variable[] };
}
interface ConfigMap {
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly labels?: Record<string, string>; readonly annotations?: Record<string, string> };
  readonly data: Record<string, string>;
}

const MONITORING = join(REPO, 'daemonset', 'monitoring');
const SOURCES = join(MONITORING, 'dashboards');
const files = readdirSync(SOURCES).filter((f) => f.endsWith('.json')).sort();
const dashboards = new Map(files.map((f) => [f, JSON.parse(readFileSync(join(SOURCES, f), 'utf8')) as Dashboard]));
const dashboard = (file: string): Dashboard => {
  const d = dashboards.get(file);
  if (d === undefined) throw new Error(`no dashboard ${file}`);
  return d;
};
const GENERATED = join(MONITORING, 'grafana-dashboards.yaml');
const configMaps = yamlDocuments(readFileSync(GENERATED, 'utf8'), GENERATED) as ConfigMap[];
const DATASOURCE = '${datasource}';

t.test('the three views the issue asks for', async (t) => {
  t.same(files, ['mesh-overview.json', 'node-agent.json', 'workload.json']);
  t.same([...dashboards.values()].map((d) => d.uid), ['meshlet-mesh-overview', 'meshlet-node-agent', 'meshlet-workload']);
  for (const [file, d] of dashboards) t.equal(d.schemaVersion, 39, `${file}: schema version`);
});

t.test('the rows of each view', async (t) => {
  const rows = (file: string): (string | undefined)[] => dashboard(file).panels.filter((p) => p.type === 'row').map((p) => p.title);
  t.same(rows('mesh-overview.json'), ['Mesh at a glance', 'HTTP and gRPC services', 'TCP', 'Security and resilience']);
  t.same(rows('workload.json'), ['Inbound: served by $workload', 'Outbound: calls from $workload', 'Identity']);
  t.same(rows('node-agent.json'), ['Agents', 'Node traffic', 'Security', 'Agent processes', 'Controller']);
});

t.test('one ConfigMap per dashboard, for the Grafana sidecar, with the JSON unchanged', async (t) => {
  t.equal(configMaps.length, files.length, 'as many ConfigMaps as dashboards');
  for (const [file, d] of dashboards) {
    const cm = configMaps.find((c) => c.metadata.name === `${d.uid}-dashboard`);
    if (cm === undefined) {
      t.fail(`${file}: no ConfigMap ${d.uid}-dashboard`);
      continue;
    }
    t.equal(cm.kind, 'ConfigMap');
    t.equal(cm.metadata.namespace, 'meshlet-system', `${file}: namespace`);
    t.equal(cm.metadata.labels?.['grafana_dashboard'], '1', `${file}: the sidecar's label`);
    t.equal(cm.metadata.annotations?.['grafana_folder'], 'meshlet', `${file}: the folder annotation`);
    t.same(Object.keys(cm.data), [`${d.uid}.json`], `${file}: one data key`);
    t.same(JSON.parse(cm.data[`${d.uid}.json`] ?? 'null'), d, `${file}: the ConfigMap holds the JSON source`);
  }
});

t.test('scripts/gen-dashboards.mjs --check: the YAML is what the generator writes, and a drifted source fails', async (t) => {
  const ok = spawnSync(process.execPath, ['scripts/gen-dashboards.mjs', '--check'], { cwd: REPO, encoding: 'utf8' });
  t.equal(ok.status, 0, `in sync: ${ok.stderr}`);
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-dashboards-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  cpSync(SOURCES, dir, { recursive: true });
  const changed = { ...dashboard('workload.json'), title: 'renamed' };
  writeFileSync(join(dir, 'workload.json'), JSON.stringify(changed));
  const drift = spawnSync(process.execPath, ['scripts/gen-dashboards.mjs', '--check', '--dashboards', dir], { cwd: REPO, encoding: 'utf8' });
  t.equal(drift.status, 1, 'a changed source is reported');
  t.match(drift.stderr, /grafana-dashboards\.yaml is out of date/);
  const bad = spawnSync(process.execPath, ['scripts/gen-dashboards.mjs', '--out'], { cwd: REPO, encoding: 'utf8' });
  t.equal(bad.status, 64, 'a flag without its value is a usage error');
  t.match(bad.stderr, /--out needs a path/);
});

t.test('a Prometheus data source variable, used by every panel and query', async (t) => {
  for (const [file, d] of dashboards) {
    t.match(d.templating.list.filter((v) => v.name === 'datasource'), [{ type: 'datasource', query: 'prometheus' }], `${file}: the datasource variable`);
    const queries = d.panels.filter((p) => p.type !== 'row');
    t.not(queries.length, 0, `${file}: panels`);
    for (const p of queries) {
      t.equal(p.datasource?.uid, DATASOURCE, `${file} ${p.title ?? ''}: panel datasource`);
      t.not((p.targets ?? []).length, 0, `${file} ${p.title ?? ''}: has a query`);
      for (const target of p.targets ?? []) t.equal(target.datasource?.uid, DATASOURCE, `${file} ${p.title ?? ''}: target datasource`);
    }
    for (const v of d.templating.list.filter((x) => x.type === 'query')) t.equal(v.datasource?.uid, DATASOURCE, `${file} variable ${v.name}: datasource`);
    const ids = d.panels.map((p) => p.id);
    t.equal(new Set(ids).size, ids.length, `${file}: panel ids are unique`);
  }
});

t.test('namespace, workload, node and agent variables from label_values()', async (t) => {
  const queryVars = (file: string): string[] => dashboard(file).templating.list.filter((v) => v.type === 'query').map((v) => v.name);
  t.same(queryVars('mesh-overview.json'), ['namespace']);
  t.same(queryVars('workload.json'), ['namespace', 'workload']);
  t.same(queryVars('node-agent.json'), ['node', 'instance']);
  for (const [file, d] of dashboards) {
    for (const v of d.templating.list.filter((x) => x.type === 'query')) {
      t.match(v.definition, /^label_values\(/, `${file} variable ${v.name}: label_values()`);
      t.same(v.query, { query: v.definition, refId: v.name }, `${file} variable ${v.name}: query and definition agree`);
    }
  }
  const workloadVar = dashboard('workload.json').templating.list.find((v) => v.name === 'workload');
  t.match(workloadVar?.definition, /\$namespace/, 'the workload list follows the namespace chosen');
  const instanceVar = dashboard('node-agent.json').templating.list.find((v) => v.name === 'instance');
  t.match(instanceVar?.definition, /\$node/, 'the agent list follows the node chosen');
});

t.test('every expression parses and names only metrics the agent or the controller exports', async (t) => {
  const known = await exportedSeries();
  t.ok(known.has('istio_request_duration_milliseconds_bucket'), 'the agent registry was read');
  t.ok(known.has('meshlet_controller_leader'), 'the controller registry was read');
  let checked = 0;
  const used = new Set<string>();
  for (const [file, d] of dashboards) {
    const variables = d.templating.list.map((v) => v.name);
    const exprs = [
      ...d.panels.flatMap((p) => (p.targets ?? []).map((x) => ({ where: `${file} ${p.title ?? ''}`, expr: x.expr }))),
      ...d.templating.list.filter((v) => v.type === 'query').map((v) => ({ where: `${file} variable ${v.name}`, expr: v.definition })),
    ];
    for (const { where, expr } of exprs) {
      if (typeof expr !== 'string') {
        t.fail(`${where}: a target without an expression`);
        continue;
      }
      const result = checkPromql(substituteGrafana(expr, variables));
      t.same(result.problems, [], `${where}: parses`);
      t.not(result.metrics.length, 0, `${where}: names a metric`);
      for (const name of result.metrics) {
        checked += 1;
        used.add(name);
        t.ok(known.has(name), `${where}: ${name} is exported`);
      }
    }
  }
  t.ok(checked >= 100, `${checked} metric references checked`);
  for (const name of ['istio_requests_total', 'istio_request_duration_milliseconds_bucket', 'istio_tcp_sent_bytes_total', 'istio_tcp_received_bytes_total', 'istio_tcp_connections_opened_total']) {
    t.ok(used.has(name), `Istio's ${name} is used`);
  }
});
