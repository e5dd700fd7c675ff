/**
 * `meshlet check --pre --kubernetes` against the fake Kubernetes API: the version, the access
 * reviews and the CRD list are asked of the API the kubeconfig names; a denied kind fails the
 * check (exit 1) naming it; flags that do not go together are usage errors.
 */
import t from 'tap';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { check } from '../../../src/cli/check-command.js';
import type { PreProbes } from '../../../src/cli/check-pre.js';
import { FakeKubeApi } from '../../helpers/fake-kube-api.js';

const NO_HOST = {} as PreProbes;

function io(): { stdout: (s: string) => void; stderr: (s: string) => void; exit: (c: number) => void; out: string[] } {
  const out: string[] = [];
  return { stdout: (s) => out.push(s), stderr: () => undefined, exit: () => undefined, out };
}

/** A fake API at `version`, denying `create` on `denied` resources; the reviews it was asked, recorded. */
async function cluster(t: { teardown(fn: () => unknown): void }, version: string, denied: readonly string[]): Promise<{ kubeconfig: string; reviews: unknown[] }> {
  const api = await FakeKubeApi.start();
  t.teardown(() => api.close());
  const reviews: unknown[] = [];
  api.route('GET', '/version', () => ({ status: 200, body: { major: '1', minor: version.split('.')[1], gitVersion: version } }));
  api.route('POST', '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews', (_req, body) => {
    const review = JSON.parse(body) as { spec: { resourceAttributes: { resource: string } } };
    reviews.push(review.spec.resourceAttributes);
    return { status: 201, body: { ...review, status: { allowed: !denied.includes(review.spec.resourceAttributes.resource) } } };
  });
  api.route('GET', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions', () => ({ status: 200, body: { apiVersion: 'apiextensions.k8s.io/v1', kind: 'CustomResourceDefinitionList', metadata: {}, items: [{ metadata: { name: 'workloads.meshlet.io' } }] } }));
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-check-k8s-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return { kubeconfig: await api.writeKubeconfig(dir), reviews };
}

t.test('a cluster ready for the install: exit 0, each line from the API', async (t) => {
  const { kubeconfig, reviews } = await cluster(t, 'v1.31.4', []);
  const out = io();
  t.equal(await check(out, { pre: true, kubernetes: true, kubeconfig, output: 'json' }, NO_HOST), 0);
  const results = JSON.parse(out.out.join('')) as { name: string; outcome: string; detail: string }[];
  t.match(results.find((r) => r.name === 'Kubernetes version'), { outcome: 'ok', detail: 'v1.31.4' });
  t.match(results.find((r) => r.name === 'meshlet CRDs'), { detail: /1 of 5 installed \(workloads\.meshlet\.io\)/ });
  t.match(reviews, [{ resource: 'namespaces', verb: 'create' }], 'access reviews asked of the API');
  const daemonsets = reviews.find((r) => (r as { resource: string }).resource === 'daemonsets') as { namespace?: string } | undefined;
  t.equal(daemonsets?.namespace, 'meshlet-system', 'namespaced kinds reviewed in meshlet-system');
});

t.test('an old cluster and a denied kind: exit 1 naming both', async (t) => {
  const { kubeconfig } = await cluster(t, 'v1.28.0', ['clusterrolebindings']);
  const out = io();
  t.equal(await check(out, { pre: true, kubernetes: true, kubeconfig, output: 'text' }, NO_HOST), 1);
  const text = out.out.join('');
  t.match(text, /✖ Kubernetes version: v1\.28\.0 is older than 1\.30/);
  t.match(text, /✖ RBAC: may not create clusterrolebindings\.rbac\.authorization\.k8s\.io/);
  t.match(text, /Status check results are ✖ \(2 failed\)/);
});

t.test('flags that do not go together are usage errors', async (t) => {
  await t.rejects(check(io(), { kubernetes: true, output: 'text' }, NO_HOST), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /--kubernetes goes with --pre/ });
  await t.rejects(check(io(), { pre: true, context: 'x', output: 'text' }, NO_HOST), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /go with --kubernetes/ });
  await t.rejects(check(io(), { pre: true, kubernetes: true, kubeconfig: '/nonexistent/kubeconfig', output: 'text' }, NO_HOST), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /kubeconfig \/nonexistent\/kubeconfig cannot be used/ });
});
