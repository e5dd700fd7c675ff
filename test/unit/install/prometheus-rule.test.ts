/**
 * daemonset/monitoring/prometheusrule.yaml: valid against the PrometheusRule CRD's schema
 * (test/fixtures/prometheus-operator/prometheusrule-schema.yaml, from prometheus-operator),
 * every expression parses and names only exported metrics, every alert has a severity, a
 * summary, a description and a runbook_url whose section exists in docs/runbooks.md, and every
 * alert section of the runbooks belongs to an alert.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { schemaProblems, type Schema } from './crd-schema-check.js';
import { REPO, yamlDocuments } from './install-files.js';
import { checkPromql, exportedSeries } from './promql-check.js';

interface Rule {
  readonly alert?: string;
  readonly record?: string;
  readonly expr: unknown;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
interface PrometheusRule {
  readonly apiVersion: string;
  readonly kind: string;
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly spec: { readonly groups: { readonly name: string; readonly rules: Rule[] }[] };
}

const FILE = join(REPO, 'daemonset', 'monitoring', 'prometheusrule.yaml');
const docs = yamlDocuments(readFileSync(FILE, 'utf8'), FILE);
const rule = docs[0] as PrometheusRule;
const schema = (parse(readFileSync(join(REPO, 'test', 'fixtures', 'prometheus-operator', 'prometheusrule-schema.yaml'), 'utf8')) as { openAPIV3Schema: Schema }).openAPIV3Schema;
const rules = rule.spec.groups.flatMap((g) => g.rules.map((r) => ({ group: g.name, ...r })));
const RUNBOOKS = readFileSync(join(REPO, 'docs', 'runbooks.md'), 'utf8');

/** GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces to -. */
function anchorOf(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}
const anchors = new Set([...RUNBOOKS.matchAll(/^#{1,6}\s+(.+)$/gm)].map((m) => anchorOf(m[1] ?? '')));

t.test('one PrometheusRule that satisfies the CRD schema', async (t) => {
  t.equal(docs.length, 1, 'one object');
  t.equal(rule.apiVersion, 'monitoring.coreos.com/v1');
  t.equal(rule.kind, 'PrometheusRule');
  t.equal(rule.metadata.namespace, 'meshlet-system');
  t.same(schemaProblems(rule, schema), [], 'no schema problem');
  const groups = rule.spec.groups.map((g) => g.name);
  t.equal(new Set(groups).size, groups.length, 'group names are unique (the list is a map keyed by name)');
  t.ok(rules.length >= 10, `${rules.length} rules`);
});

t.test('the schema check refuses what the API server would', async (t) => {
  const broken = structuredClone(rule) as unknown as { spec: { groups: Record<string, unknown>[] } };
  const first = broken.spec.groups[0] as { rules: Record<string, unknown>[] };
  const alert = first.rules[0] as Record<string, unknown>;
  alert['for'] = '5 minutes';
  alert['severity'] = 'critical';
  delete alert['expr'];
  (alert['labels'] as Record<string, unknown>)['severity'] = 2;
  const problems = schemaProblems(broken, schema);
  t.match(problems, [/rules\/0\/for: must match/, /rules\/0\/expr: required/, /rules\/0\/labels\/severity: must be of type string/, /rules\/0\/severity: unknown field/].sort(), 'each mistake reported');
  t.equal(problems.length, 4, problems.join('\n'));
});

t.test('every rule is an alert with a severity, a summary, a description and a runbook', async (t) => {
  const seen = new Set<string>();
  for (const r of rules) {
    const name = r.alert ?? `(record ${r.record ?? '?'})`;
    t.type(r.alert, 'string', `${name}: an alert (no recording rules here)`);
    t.match(r.alert, /^Meshlet[A-Z][A-Za-z]+$/, `${name}: named Meshlet...`);
    t.match(r.labels?.['severity'], /^(critical|warning)$/, `${name}: severity`);
    const key = `${name}/${r.labels?.['severity'] ?? ''}`;
    t.notOk(seen.has(key), `${key}: one rule per alert and severity`);
    seen.add(key);
    t.match(r.annotations?.['summary'], /\S/, `${name}: summary`);
    t.match(r.annotations?.['description'], /\S{10}/, `${name}: description`);
    t.equal(r.annotations?.['runbook_url'], `docs/runbooks.md#${(r.alert ?? '').toLowerCase()}`, `${name}: runbook_url names its section`);
  }
});

t.test('every runbook_url anchor is a section of docs/runbooks.md', async (t) => {
  t.ok(anchors.size > 0, 'docs/runbooks.md has headings');
  for (const r of rules) {
    const anchor = /#(.+)$/.exec(r.annotations?.['runbook_url'] ?? '')?.[1];
    t.not(anchor, undefined, `${r.alert ?? ''}: runbook_url has an anchor`);
    t.equal(anchors.has(anchor ?? ''), true, `${r.alert ?? ''}: #${anchor ?? '(none)'} exists`);
  }
  t.equal(anchorOf('MeshletAgentDown'), 'meshletagentdown');
  t.equal(anchorOf('How to read: a `meshlet status` line'), 'how-to-read-a-meshlet-status-line');
});

t.test('every alert section of docs/runbooks.md belongs to an alert of the rule', async (t) => {
  const sections = [...RUNBOOKS.matchAll(/^## (Meshlet\w+)\s*$/gm)].map((m) => m[1]);
  const alerts = [...new Set(rules.map((r) => r.alert))].sort();
  t.same([...sections].sort(), alerts, 'one section per alert, no stale section');
});

t.test('every expression parses and names only metrics the agent or the controller exports', async (t) => {
  const known = await exportedSeries();
  let checked = 0;
  for (const r of rules) {
    if (typeof r.expr !== 'string') {
      t.fail(`${r.alert ?? ''}: expr is not a string`);
      continue;
    }
    const result = checkPromql(r.expr);
    t.same(result.problems, [], `${r.alert ?? ''} (${r.labels?.['severity'] ?? ''}): parses`);
    t.not(result.metrics.length, 0, `${r.alert ?? ''}: names a metric`);
    for (const name of result.metrics) {
      checked += 1;
      t.ok(known.has(name), `${r.alert ?? ''}: ${name} is exported`);
    }
  }
  t.ok(checked >= 20, `${checked} metric references checked`);
});
