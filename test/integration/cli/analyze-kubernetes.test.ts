/**
 * `meshlet analyze --kubernetes` against the fake Kubernetes API: the same findings as the same
 * objects read as a directory; a clean cluster has none; an object the controller leaves out is
 * an MA010 error; a cluster that cannot be listed, a kubeconfig that cannot be used, an unknown
 * context and flags that do not go together each fail with a message naming what is wrong.
 */
import t from 'tap';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';
import { analyze, analyzeDirectory } from '../../../src/cli/analyze-command.js';
import { FakeKubeApi, type FakeResource, type KubeJson } from '../../helpers/fake-kube-api.js';
import { BASE, PROBLEMS } from '../../helpers/analyze-fixtures.js';

function scratch(t: { teardown(fn: () => void): void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-analyze-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** The mesh's custom resources and the Gateway API's, served as a cluster with their CRDs does. */
const CRD_RESOURCES: FakeResource[] = [
  { group: 'meshlet.io', version: 'v1alpha1', resource: 'trafficpolicies', kind: 'TrafficPolicy', namespaced: true },
  { group: 'meshlet.io', version: 'v1alpha1', resource: 'authorizationpolicies', kind: 'AuthorizationPolicy', namespaced: true },
  { group: 'gateway.networking.k8s.io', version: 'v1', resource: 'httproutes', kind: 'HTTPRoute', namespaced: true },
];

/** A fake API serving the objects of `yaml`, and a kubeconfig file for it. */
async function cluster(t: { teardown(fn: () => unknown): void }, yaml: string): Promise<{ api: FakeKubeApi; kubeconfig: string }> {
  const api = await FakeKubeApi.start();
  t.teardown(() => api.close());
  api.store.resources.push(...CRD_RESOURCES);
  api.apply(...parseAllDocuments(yaml).map((d) => d.toJS() as KubeJson).filter((o) => o !== null));
  return { api, kubeconfig: await api.writeKubeconfig(scratch(t)) };
}

function io(): { stdout: (s: string) => void; stderr: (s: string) => void; exit: (c: number) => void; out: string[]; err: string[] } {
  const out: string[] = [];
  const err: string[] = [];
  return { stdout: (s) => out.push(s), stderr: (s) => err.push(s), exit: () => undefined, out, err };
}

t.test('live findings equal the same objects read as a directory', async (t) => {
  const { kubeconfig } = await cluster(t, BASE + PROBLEMS);
  const dir = scratch(t);
  writeFileSync(join(dir, 'mesh.yaml'), BASE + PROBLEMS);
  const offline = await analyzeDirectory(dir, undefined);
  t.ok(offline.length >= 7, `the fixture has its problems (${offline.length} findings)`);
  const out = io();
  t.equal(await analyze(out, undefined, { output: 'json', kubernetes: true, kubeconfig }), 1, 'an error-level finding exits 1');
  const live = JSON.parse(out.out.join('')) as typeof offline;
  // The same findings; where an object came from is said in each one's own terms.
  const place = (m: string): string => m.replace(/\S+\/mesh\.yaml \(document \d+\)|kubernetes:\w+\/[\w.-]+\/[\w.-]+ \(document \d+\)/g, '<source>');
  t.same(live.map((f) => ({ ...f, message: place(f.message) })), offline.map((f) => ({ ...f, message: place(f.message) })));
  t.match(live.find((f) => f.code === 'MA007')?.message, /^kubernetes:AuthorizationPolicy\/demo\/selects-nobody /, 'a live finding names the object in the cluster');
});

t.test('a clean cluster: no finding, exit 0', async (t) => {
  const { kubeconfig } = await cluster(t, BASE);
  const out = io();
  t.equal(await analyze(out, undefined, { output: 'text', kubernetes: true, kubeconfig }), 0);
  t.same(out.out, ['no problems found\n']);
});

t.test('an object the controller leaves out for failing validation: MA010, an error', async (t) => {
  const { kubeconfig } = await cluster(t, `${BASE}---\napiVersion: v1\nkind: Service\nmetadata: {name: bad, namespace: demo}\nspec: {clusterIP: not-an-ip, ports: [{port: 80}]}\n`);
  const out = io();
  t.equal(await analyze(out, undefined, { output: 'json', kubernetes: true, kubeconfig }), 1);
  t.match(JSON.parse(out.out.join('')), [{ code: 'MA010', severity: 'error', object: 'Service demo/bad', message: /not-an-ip/ }]);
});

t.test('--context picks a context; an unknown one is refused naming the contexts there are', async (t) => {
  const { kubeconfig } = await cluster(t, BASE);
  const out = io();
  t.equal(await analyze(out, undefined, { output: 'text', kubernetes: true, kubeconfig, context: 'fake' }), 0);
  await t.rejects(analyze(io(), undefined, { output: 'text', kubernetes: true, kubeconfig, context: 'prod' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--context "prod" is not in kubeconfig .*; its contexts: fake/ });
});

t.test('a kubeconfig that cannot be read is named', async (t) => {
  const missing = join(scratch(t), 'nope');
  await t.rejects(analyze(io(), undefined, { output: 'text', kubernetes: true, kubeconfig: missing }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: new RegExp(`kubeconfig ${missing} cannot be used`) });
  const garbage = join(scratch(t), 'garbage');
  writeFileSync(garbage, 'clusters: 12\n');
  await t.rejects(analyze(io(), undefined, { output: 'text', kubernetes: true, kubeconfig: garbage }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /kubeconfig .*garbage/ });
});

t.test('a cluster whose pods cannot be listed: an error naming the resource, within --timeout', async (t) => {
  const { api, kubeconfig } = await cluster(t, BASE);
  api.failNext('/api/v1/pods', 403, 1000);
  const started = Date.now();
  await t.rejects(analyze(io(), undefined, { output: 'text', kubernetes: true, kubeconfig, timeout: '2' }), { code: 'MESHLET_ERR_REGISTRY', message: /not listed within 2000 ms[\s\S]*pods/ });
  t.ok(Date.now() - started < 30_000, 'gave up at the timeout, not later');
});

t.test('flags that do not go together are usage errors', async (t) => {
  const dir = scratch(t);
  await t.rejects(analyze(io(), dir, { output: 'text', kubernetes: true }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /not both/ });
  await t.rejects(analyze(io(), undefined, { output: 'text' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /a directory of mesh YAML, or --kubernetes/ });
  await t.rejects(analyze(io(), dir, { output: 'text', kubeconfig: '/x' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /go with --kubernetes/ });
  for (const bad of ['0', '-1', 'ten', '99999']) {
    await t.rejects(analyze(io(), undefined, { output: 'text', kubernetes: true, kubeconfig: '/x', timeout: bad }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--timeout/ }, `--timeout ${bad}`);
  }
});
