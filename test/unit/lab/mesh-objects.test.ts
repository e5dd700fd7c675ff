import t from 'tap';
import { parseAllDocuments } from 'yaml';
import { parseLabTopology, planLab, renderLabConfig, type LabTopology } from '../../../src/lab/index.js';

const base: LabTopology = {
  name: 'yml',
  nodes: [{ name: 'n1' }],
  namespaces: [{ name: 'app', labels: { 'meshlet.io/mesh': 'enabled' } }],
  pods: [
    { name: 'web', namespace: 'app', node: 'n1', labels: { app: 'web' } },
    { name: 'other', namespace: 'app', node: 'n1', labels: { app: 'other' } },
  ],
  services: [{ name: 'web', namespace: 'app', selector: { app: 'web' }, ports: [{ port: 80, targetPort: 8080 }, { port: 81 }] }],
};

function docs(text: string | undefined): Record<string, unknown>[] {
  return parseAllDocuments(text ?? '').map((d) => d.toJS() as Record<string, unknown>);
}

t.test('one file per kind, one document per object', async (t) => {
  const files = renderLabConfig(planLab(base));
  t.same([...files.keys()].sort(), ['namespaces.yaml', 'nodes.yaml', 'pods.yaml', 'services.yaml'], 'no meshtls.yaml without MeshTLS objects');
  t.equal(docs(files.get('pods.yaml')).length, 2);
  const withTls = renderLabConfig(planLab({ ...base, meshTLS: [{ name: 'm', namespace: 'app', mode: 'PERMISSIVE' }] }));
  t.same(docs(withTls.get('meshtls.yaml')), [
    { apiVersion: 'meshlet.io/v1alpha1', kind: 'MeshTLS', metadata: { name: 'm', namespace: 'app' }, spec: { mode: 'PERMISSIVE' } },
  ], 'a namespace-wide MeshTLS has no selector');
});

t.test('pods carry container ports of the Services selecting them', async (t) => {
  const pods = docs(renderLabConfig(planLab(base)).get('pods.yaml'));
  const spec = (name: string): unknown => pods.find((p) => (p['metadata'] as { name: string }).name === name)?.['spec'];
  t.same(spec('web'), {
    nodeName: 'n1',
    serviceAccountName: 'default',
    containers: [{ name: 'app', image: 'lab', ports: [{ containerPort: 81, protocol: 'TCP' }, { containerPort: 8080, protocol: 'TCP' }] }],
  });
  t.same(spec('other'), { nodeName: 'n1', serviceAccountName: 'default', containers: [{ name: 'app', image: 'lab' }] }, 'no ports when nothing selects it');
});

t.test('a Service without appProtocol or name leaves them out', async (t) => {
  const [svc] = docs(renderLabConfig(planLab(base)).get('services.yaml'));
  t.same((svc?.['spec'] as { ports: unknown }).ports, [
    { protocol: 'TCP', port: 80, targetPort: 8080 },
    { protocol: 'TCP', port: 81, targetPort: 81 },
  ]);
  t.same((svc?.['spec'] as { clusterIPs: unknown }).clusterIPs, ['198.19.0.10']);
});

t.test('Service annotations are written when the topology has them (meshlet.io/opaque-ports)', async (t) => {
  const withAnnotations: LabTopology = {
    ...base,
    services: [{ name: 'db', namespace: 'app', selector: { app: 'web' }, ports: [{ port: 5432 }], annotations: { 'meshlet.io/opaque-ports': '5432' } }],
  };
  const [svc] = docs(renderLabConfig(planLab(withAnnotations)).get('services.yaml'));
  t.same(svc?.['metadata'], { name: 'db', namespace: 'app', annotations: { 'meshlet.io/opaque-ports': '5432' } });
  const [plain] = docs(renderLabConfig(planLab(base)).get('services.yaml'));
  t.same(plain?.['metadata'], { name: 'web', namespace: 'app' }, 'no annotations key without annotations');
});

t.test('Node labels (a zone) are written when the topology has them', async (t) => {
  const zoned: LabTopology = { ...base, nodes: [{ name: 'n1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } }] };
  const [node] = docs(renderLabConfig(planLab(zoned)).get('nodes.yaml'));
  t.same(node?.['metadata'], { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'zone-a' } });
  const [plain] = docs(renderLabConfig(planLab(base)).get('nodes.yaml'));
  t.same(plain?.['metadata'], { name: 'n1' }, 'no labels key without labels');
});

t.test('pod annotations are written on the Pod (and parsed from a topology)', async (t) => {
  const annotated: LabTopology = { ...base, pods: [{ name: 'web', namespace: 'app', node: 'n1', labels: { app: 'web' }, annotations: { 'meshlet.io/max-connections': '5' } }] };
  const [pod] = docs(renderLabConfig(planLab(annotated)).get('pods.yaml'));
  t.same((pod?.['metadata'] as { annotations?: unknown }).annotations, { 'meshlet.io/max-connections': '5' });
  const [plain] = docs(renderLabConfig(planLab(base)).get('pods.yaml'));
  t.equal('annotations' in (plain?.['metadata'] as object), false, 'none without annotations');
  const parsed = parseLabTopology({ ...annotated });
  t.same(parsed.pods[0]?.annotations, { 'meshlet.io/max-connections': '5' });
});
