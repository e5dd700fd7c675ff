/**
 * daemonset/monitoring/kustomization.yaml lists the dashboards and the alerts, and the default
 * daemonset/kustomization.yaml does not pull daemonset/monitoring in (the Prometheus Operator's
 * CRDs may be absent from a cluster).
 */
import t from 'tap';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { REPO } from './install-files.js';

interface Kustomization { readonly kind: string; readonly resources: string[] }
const read = (file: string): Kustomization => parse(readFileSync(join(REPO, file), 'utf8')) as Kustomization;

t.test('the monitoring kustomization lists the dashboards and the PrometheusRule', async (t) => {
  const k = read('daemonset/monitoring/kustomization.yaml');
  t.equal(k.kind, 'Kustomization');
  t.ok(k.resources.includes('grafana-dashboards.yaml'), 'the dashboards');
  t.ok(k.resources.includes('prometheusrule.yaml'), 'the alerts');
  for (const r of k.resources) t.ok(existsSync(join(REPO, 'daemonset', 'monitoring', r)), `${r} exists`);
});

t.test('the default install leaves monitoring out', async (t) => {
  const k = read('daemonset/kustomization.yaml');
  t.not(k.resources.length, 0, 'the default kustomization has resources');
  t.same(k.resources.filter((r) => r.startsWith('monitoring')), [], 'no monitoring/ resource');
});
