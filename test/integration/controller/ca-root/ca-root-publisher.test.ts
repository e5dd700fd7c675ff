/**
 * The meshlet-ca-root publisher against the fake Kubernetes API server: created where wanted
 * and nowhere else, put back after a delete or an edit, replaced on a new root, failures (403,
 * 409, 503, a forbidden watch) retried, counted and logged once per cause, and nothing written
 * while this replica does not lead.
 */
import t from 'tap';
import { CA_ROOT_CONFIGMAP, CA_ROOT_KEY, CA_ROOT_LABEL } from '../../../../src/controller/ca-root/ca-root-plan.js';
import { CaRootPublisher, failureReason, type CaRootPublisherOptions } from '../../../../src/controller/ca-root/ca-root-publisher.js';
import type { FakeKubeApi, FakeResource, KubeJson } from '../../../helpers/fake-kube-api.js';
import { recordingLogger, startFakeApi, type Teardown } from '../../../helpers/registry-rig.js';
import { waitFor } from '../../../helpers/wait-for.js';

const CONFIGMAPS: FakeResource = { group: '', version: 'v1', resource: 'configmaps', kind: 'ConfigMap', namespaced: true };
const ROOT = '-----BEGIN CERTIFICATE-----\nMIIroot\n-----END CERTIFICATE-----\n';
const ROTATED = `${ROOT}-----BEGIN CERTIFICATE-----\nMIInew\n-----END CERTIFICATE-----\n`;
const FAST = { retryBackoff: { initialMs: 20, maxMs: 200 }, watchTiming: { initialPaceMs: 20, maxPaceMs: 200, minHealthyMs: 50 } };

async function rig(t: Teardown, opts: Partial<CaRootPublisherOptions> = {}, objects: KubeJson[] = []) {
  const { api, kubeConfig } = await startFakeApi(t);
  api.store.resources.push(CONFIGMAPS);
  api.apply(...objects);
  const { logger, lines } = recordingLogger();
  const publisher = new CaRootPublisher({ kubeConfig, logger, bundlePem: ROOT, isLeader: () => true, ...FAST, ...opts });
  t.teardown(() => publisher.close());
  return { api, kubeConfig, publisher, lines };
}

const stored = (api: FakeKubeApi, namespace: string): KubeJson | undefined => api.store.get(CONFIGMAPS, namespace, CA_ROOT_CONFIGMAP);
const pemIn = (api: FakeKubeApi, namespace: string): unknown => (stored(api, namespace)?.['data'] as Record<string, unknown> | undefined)?.[CA_ROOT_KEY];
const holding = (api: FakeKubeApi): string[] => api.store.list(CONFIGMAPS).filter((o) => (o['metadata'] as { name: string }).name === CA_ROOT_CONFIGMAP).map((o) => (o['metadata'] as { namespace: string }).namespace).sort();
const writes = (api: FakeKubeApi): number => api.requests.filter((r) => (r.method === 'POST' || r.method === 'PUT') && r.path.includes('/configmaps')).length;

t.test('created in meshlet-system and each wanted namespace, nowhere else; then a new namespace', async (t) => {
  const { api, publisher } = await rig(t);
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo', 'shop']);
  await waitFor('three ConfigMaps', () => holding(api).length === 3);
  t.same(holding(api), ['demo', 'meshlet-system', 'shop'], 'not in any other namespace');
  t.equal(pemIn(api, 'demo'), ROOT);
  t.equal(((stored(api, 'demo')?.['metadata'] as { labels: Record<string, string> }).labels)[CA_ROOT_LABEL], 'true');
  const watch = api.requests.find((r) => r.path === '/api/v1/configmaps' && r.watch);
  t.equal(watch?.query['fieldSelector'], `metadata.name=${CA_ROOT_CONFIGMAP}`, 'the watch asks for the root ConfigMaps only');
  publisher.setNamespaces(['meshlet-system', 'demo', 'shop', 'late']);
  await waitFor('the new namespace', () => pemIn(api, 'late') === ROOT);
  await publisher.idle();
  t.equal(publisher.counters().created, 4);
  t.equal(publisher.counters().published, 4);
  const before = writes(api);
  publisher.setNamespaces(['meshlet-system', 'demo', 'shop', 'late']);
  await publisher.idle();
  t.equal(writes(api), before, 'nothing written when everything holds');
});

t.test('a deleted ConfigMap is put back; an edited one too; another ConfigMap is left alone', async (t) => {
  const other = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'app-config', namespace: 'demo' }, data: { k: 'v' } };
  const { api, publisher } = await rig(t, {}, [other]);
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('published', () => pemIn(api, 'demo') === ROOT);
  t.ok(api.remove('v1', 'ConfigMap', 'demo', CA_ROOT_CONFIGMAP), 'deleted by hand');
  await waitFor('put back after the delete', () => pemIn(api, 'demo') === ROOT);
  const current = stored(api, 'demo') as KubeJson;
  api.apply({ ...current, data: { [CA_ROOT_KEY]: 'tampered', 'extra.crt': 'x' }, metadata: { ...(current['metadata'] as KubeJson), labels: { team: 'a' } } });
  await waitFor('put back after the edit', () => pemIn(api, 'demo') === ROOT);
  await publisher.idle();
  t.same(stored(api, 'demo')?.['data'], { [CA_ROOT_KEY]: ROOT }, 'the added key removed');
  t.same((stored(api, 'demo')?.['metadata'] as { labels: Record<string, string> }).labels, { team: 'a', [CA_ROOT_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'meshlet-controller' }, 'labels back, the other label kept');
  t.same(api.store.get(CONFIGMAPS, 'demo', 'app-config')?.['data'], { k: 'v' }, 'another ConfigMap untouched');
  t.equal(publisher.counters().created, 3, 'meshlet-system, demo, demo again');
  t.equal(publisher.counters().updated, 1);
});

t.test('a new root replaces every ConfigMap: in place, and by a restarted controller', async (t) => {
  const { api, kubeConfig, publisher } = await rig(t);
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('published', () => holding(api).length === 2);
  publisher.setBundle(ROTATED);
  await waitFor('the bundle in both', () => pemIn(api, 'demo') === ROTATED && pemIn(api, 'meshlet-system') === ROTATED);
  await publisher.close();
  const NEXT = '-----BEGIN CERTIFICATE-----\nMIInext\n-----END CERTIFICATE-----\n';
  const { logger } = recordingLogger();
  const restarted = new CaRootPublisher({ kubeConfig, logger, bundlePem: NEXT, isLeader: () => true, ...FAST });
  t.teardown(() => restarted.close());
  restarted.start();
  restarted.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('the restarted controller\'s root', () => pemIn(api, 'demo') === NEXT && pemIn(api, 'meshlet-system') === NEXT);
  // The API holds both writes before the publisher has read their answers: count once it is idle.
  await restarted.idle();
  t.equal(restarted.counters().updated, 2, 'replaced, not created');
  t.equal(restarted.counters().created, 0);
});

t.test('a 403 is retried with backoff, counted, logged once; other namespaces are not held up', async (t) => {
  const { api, publisher, lines } = await rig(t);
  api.failNext('/api/v1/namespaces/demo/configmaps', 403, 3);
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo', 'shop']);
  await waitFor('demo published after three refusals', () => pemIn(api, 'demo') === ROOT);
  // The API holds the write before the publisher has read its answer (and logged the recovery).
  await publisher.idle();
  t.equal(pemIn(api, 'shop'), ROOT);
  t.equal(publisher.counters().failures['create/forbidden'], 3);
  const warned = lines.filter((l) => l['msg'] === 'meshlet-ca-root not published; retrying (logged once per namespace and cause)');
  t.equal(warned.length, 1, 'one line for three failures');
  t.equal(warned[0]?.['namespace'], 'demo');
  t.equal(warned[0]?.['reason'], 'forbidden');
  t.equal(lines.filter((l) => l['msg'] === 'meshlet-ca-root published again' && l['namespace'] === 'demo').length, 1, 'the recovery logged');
});

t.test('a conflict and a 503 on update are retried and counted by reason', async (t) => {
  const { api, publisher } = await rig(t);
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('published', () => holding(api).length === 2);
  await publisher.idle();
  api.failNext(`/api/v1/namespaces/demo/configmaps/${CA_ROOT_CONFIGMAP}`, 409, 1);
  publisher.setBundle(ROTATED);
  await waitFor('replaced after the conflict', () => pemIn(api, 'demo') === ROTATED);
  await publisher.idle();
  t.equal(publisher.counters().failures['update/conflict'], 1);
  api.failNext(`/api/v1/namespaces/demo/configmaps/${CA_ROOT_CONFIGMAP}`, 503, 2);
  publisher.setBundle(ROOT);
  await waitFor('replaced after two 503s', () => pemIn(api, 'demo') === ROOT);
  await publisher.idle();
  t.equal(publisher.counters().failures['update/server_error'], 2);
});

t.test('a forbidden list is retried, counted and logged once; writes wait for the first list', async (t) => {
  const { api, publisher, lines } = await rig(t);
  api.failNext('/api/v1/configmaps', 403, 3);
  publisher.start();
  publisher.setNamespaces(['meshlet-system']);
  await waitFor('published once the list works', () => pemIn(api, 'meshlet-system') === ROOT);
  await publisher.idle();
  t.equal(publisher.counters().failures['watch/forbidden'], 3);
  const warned = lines.filter((l) => l['msg'] === 'meshlet-ca-root ConfigMaps cannot be listed or watched; retrying (logged once per cause)');
  t.equal(warned.length, 1);
  t.match(warned[0]?.['err'], /RBAC: the controller needs list and watch on configmaps/);
  const firstList = api.requests.findIndex((r) => r.path === '/api/v1/configmaps' && !r.watch && r.method === 'GET');
  const firstWrite = api.requests.findIndex((r) => r.method === 'POST');
  t.ok(firstList < firstWrite, 'no write before a list succeeded');
  const lists = api.requests.filter((r) => r.path === '/api/v1/configmaps' && !r.watch).length;
  t.ok(lists >= 4, `three refused lists, then one that worked (${lists} lists)`);
});

t.test('a replica that does not lead writes nothing; once it leads, it publishes', async (t) => {
  let leading = false;
  const { api, publisher } = await rig(t, { isLeader: () => leading });
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('the watch open', () => api.activeWatches('configmaps') === 1);
  await publisher.idle();
  t.equal(writes(api), 0, 'a follower writes nothing');
  t.same(holding(api), []);
  leading = true;
  publisher.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('published once leading', () => holding(api).length === 2);
  t.same(holding(api), ['demo', 'meshlet-system']);
});

t.test('close() stops writing: a ConfigMap deleted afterwards stays deleted', async (t) => {
  const { api, publisher } = await rig(t);
  publisher.start();
  publisher.setNamespaces(['meshlet-system']);
  await waitFor('published', () => pemIn(api, 'meshlet-system') === ROOT);
  await publisher.close();
  const before = writes(api);
  api.remove('v1', 'ConfigMap', 'meshlet-system', CA_ROOT_CONFIGMAP);
  publisher.setNamespaces(['meshlet-system']);
  await publisher.idle();
  t.equal(writes(api), before);
  await waitFor('the server sees the watch closed', () => api.activeWatches('configmaps') === 0);
  t.equal(writes(api), before, 'still nothing written');
});

t.test('failure reasons are bounded label values', async (t) => {
  const status = (code: number, message = ''): unknown => Object.assign(new Error(`HTTP-Code: ${code}`), { code, body: JSON.stringify({ message }) });
  t.equal(failureReason(status(403, 'configmaps is forbidden: User "system:serviceaccount:meshlet-system:meshlet-controller" cannot create')), 'forbidden');
  t.equal(failureReason(status(403, 'unable to create new content in namespace demo because it is being terminated')), 'namespace_terminating');
  t.equal(failureReason(status(409)), 'conflict');
  t.equal(failureReason(status(404)), 'not_found');
  t.equal(failureReason(status(429)), 'throttled');
  t.equal(failureReason(status(500)), 'server_error');
  t.equal(failureReason(status(418)), 'other');
  t.equal(failureReason(Object.assign(new Error('x'), { statusCode: 401 })), 'unauthorized', 'the registry\'s KubeApiError');
  t.equal(failureReason(new Error('connect ECONNREFUSED 127.0.0.1:6443')), 'unreachable');
});

t.test('the API server away: lists retried with backoff, counted, logged once, nothing thrown', async (t) => {
  const { api, kubeConfig } = await rig(t);
  // The fake stopped: its port refuses every request.
  await api.close();
  const { logger, lines } = recordingLogger();
  const publisher = new CaRootPublisher({ kubeConfig, logger, bundlePem: ROOT, isLeader: () => true, ...FAST });
  t.teardown(() => publisher.close());
  publisher.start();
  publisher.setNamespaces(['meshlet-system', 'demo']);
  await waitFor('three refused lists', () => (publisher.counters().failures['watch/unreachable'] ?? 0) >= 3);
  t.equal(lines.filter((l) => l['msg'] === 'meshlet-ca-root ConfigMaps cannot be listed or watched; retrying (logged once per cause)').length, 1);
  t.same(publisher.counters().published, 0, 'nothing claimed as published');
  t.equal(publisher.counters().namespaces, 2);
});
