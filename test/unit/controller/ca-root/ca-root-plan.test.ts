/**
 * The root ConfigMap decisions without I/O: which namespaces hold it, when a ConfigMap is
 * created or replaced (content, extra keys, binaryData, labels), what a replace keeps, and
 * which API objects count as root ConfigMaps.
 */
import t from 'tap';
import {
  CA_ROOT_CONFIGMAP,
  CA_ROOT_KEY,
  CA_ROOT_LABEL,
  CA_ROOT_LABELS,
  caRootNamespaces,
  observeConfigMap,
  planCaRoot,
  type ObservedConfigMap,
} from '../../../../src/controller/ca-root/ca-root-plan.js';
import type { MeshObject } from '../../../../src/mesh/types.js';

const ROOT = '-----BEGIN CERTIFICATE-----\nMIIroot\n-----END CERTIFICATE-----\n';
const ROTATED = '-----BEGIN CERTIFICATE-----\nMIInew\n-----END CERTIFICATE-----\n';
const source = { file: 'kubernetes', doc: 0 };
const ns = (name: string, labels: Record<string, string> = {}): MeshObject => ({ kind: 'Namespace', name, labels, source }) as MeshObject;

function observed(namespace: string, over: Partial<ObservedConfigMap> = {}): ObservedConfigMap {
  const labels = over.labels ?? { ...CA_ROOT_LABELS };
  return {
    namespace,
    resourceVersion: '41',
    data: { [CA_ROOT_KEY]: ROOT },
    hasBinaryData: false,
    labels,
    metadata: { name: CA_ROOT_CONFIGMAP, namespace, resourceVersion: '41', labels, annotations: { 'team.example/owner': 'sre' } },
    ...over,
  };
}

t.test('namespaces: meshlet-system first, then the enrolled ones sorted; not the others', async (t) => {
  const objects = [
    ns('zeta', { 'meshlet.io/mesh': 'enabled' }),
    ns('legacy'),
    ns('off', { 'meshlet.io/mesh': 'disabled' }),
    ns('alpha', { 'meshlet.io/mesh': 'enabled' }),
    ns('meshlet-system', { 'meshlet.io/mesh': 'enabled' }),
  ];
  t.same(caRootNamespaces(objects), ['meshlet-system', 'alpha', 'zeta']);
  t.same(caRootNamespaces([]), ['meshlet-system'], 'the controller\'s namespace even in an empty mesh');
});

t.test('a missing ConfigMap is created with the bundle and both labels', async (t) => {
  const actions = planCaRoot({ bundlePem: ROOT, namespaces: ['meshlet-system', 'demo'] }, new Map([['meshlet-system', observed('meshlet-system')]]));
  t.equal(actions.length, 1);
  const [create] = actions;
  t.equal(create?.kind, 'create');
  t.equal(create?.namespace, 'demo');
  t.same(create?.body, {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: CA_ROOT_CONFIGMAP, namespace: 'demo', labels: { [CA_ROOT_LABEL]: 'true', 'app.kubernetes.io/managed-by': 'meshlet-controller' } },
    data: { [CA_ROOT_KEY]: ROOT },
  });
});

t.test('a ConfigMap as wanted: nothing to do', async (t) => {
  t.same(planCaRoot({ bundlePem: ROOT, namespaces: ['demo'] }, new Map([['demo', observed('demo')]])), []);
});

t.test('a new root replaces the content, keeping the resourceVersion, other labels and annotations', async (t) => {
  const current = observed('demo', { labels: { ...CA_ROOT_LABELS, 'team.example/tier': 'gold' } });
  const [update] = planCaRoot({ bundlePem: ROTATED, namespaces: ['demo'] }, new Map([['demo', current]]));
  t.equal(update?.kind, 'update');
  t.equal(update?.kind === 'update' ? update.reason : undefined, 'content');
  t.same(update?.body.data, { [CA_ROOT_KEY]: ROTATED });
  t.equal(update?.body.metadata['resourceVersion'], '41', 'optimistic concurrency: the version seen');
  t.same(update?.body.metadata['labels'], { ...CA_ROOT_LABELS, 'team.example/tier': 'gold' });
  t.same(update?.body.metadata['annotations'], { 'team.example/owner': 'sre' });
});

t.test('edits are put back: the PEM changed, a key added, binaryData added, a label removed or changed', async (t) => {
  const cases: [string, Partial<ObservedConfigMap>, string][] = [
    ['the PEM edited', { data: { [CA_ROOT_KEY]: 'not a certificate' } }, 'content'],
    ['the key removed', { data: {} }, 'content'],
    ['a key added', { data: { [CA_ROOT_KEY]: ROOT, 'evil.crt': ROTATED } }, 'content'],
    ['binaryData added', { hasBinaryData: true }, 'content'],
    ['the ca-root label removed', { labels: { 'app.kubernetes.io/managed-by': 'meshlet-controller' } }, 'labels'],
    ['the ca-root label changed', { labels: { ...CA_ROOT_LABELS, [CA_ROOT_LABEL]: 'false' } }, 'labels'],
  ];
  for (const [what, over, reason] of cases) {
    const actions = planCaRoot({ bundlePem: ROOT, namespaces: ['demo'] }, new Map([['demo', observed('demo', over)]]));
    t.equal(actions.length, 1, `${what}: one write`);
    t.equal(actions[0]?.kind === 'update' ? actions[0].reason : actions[0]?.kind, reason, `${what}: ${reason}`);
    t.same(actions[0]?.body.data, { [CA_ROOT_KEY]: ROOT }, `${what}: exactly the bundle`);
    t.equal((actions[0]?.body.metadata['labels'] as Record<string, string> | undefined)?.[CA_ROOT_LABEL], 'true', `${what}: the label back`);
  }
});

t.test('a namespace that left the mesh keeps its ConfigMap: no write, no delete', async (t) => {
  const seen = new Map([['meshlet-system', observed('meshlet-system')], ['left', observed('left')]]);
  t.same(planCaRoot({ bundlePem: ROOT, namespaces: ['meshlet-system'] }, seen), []);
  t.same(planCaRoot({ bundlePem: ROTATED, namespaces: ['meshlet-system'] }, seen).map((a) => a.namespace), ['meshlet-system'], 'not even on a new root');
});

t.test('a namespace listed twice is written once', async (t) => {
  t.equal(planCaRoot({ bundlePem: ROOT, namespaces: ['demo', 'demo'] }, new Map()).length, 1);
});

t.test('observeConfigMap: only root ConfigMaps, managedFields dropped, non-string labels ignored', async (t) => {
  const raw = {
    metadata: { name: CA_ROOT_CONFIGMAP, namespace: 'demo', resourceVersion: '7', labels: { [CA_ROOT_LABEL]: 'true', odd: 3 }, managedFields: [{ manager: 'kubectl' }] },
    data: { [CA_ROOT_KEY]: ROOT },
    binaryData: { 'x.bin': 'AAAA' },
  };
  const seen = observeConfigMap(raw);
  t.equal(seen?.namespace, 'demo');
  t.equal(seen?.resourceVersion, '7');
  t.same(seen?.labels, { [CA_ROOT_LABEL]: 'true' });
  t.equal(seen?.hasBinaryData, true);
  t.notOk(seen !== undefined && 'managedFields' in seen.metadata, 'managedFields are not sent back');
  t.equal(observeConfigMap({ ...raw, metadata: { ...raw.metadata, name: 'kube-root-ca.crt' } }), undefined, 'another ConfigMap');
  t.equal(observeConfigMap({ ...raw, metadata: { name: CA_ROOT_CONFIGMAP, resourceVersion: '7' } }), undefined, 'no namespace');
  t.equal(observeConfigMap('garbage'), undefined);
  t.same(observeConfigMap({ metadata: { name: CA_ROOT_CONFIGMAP, namespace: 'demo', resourceVersion: '8' } })?.data, {}, 'no data: an empty one');
});
