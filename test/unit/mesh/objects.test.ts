/**
 * Parsing valid objects: realistic Kubernetes YAML (with fields meshlet does not read) and
 * meshlet's own kinds become the typed objects of types.ts.
 */
import t from 'tap';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';
import { twoNodeFiles, twoNodeObjects } from './fixture.js';

function find<K extends MeshObject['kind']>(objects: MeshObject[], kind: K, name: string, namespace?: string): Extract<MeshObject, { kind: K }> {
  const found = objects.find((o) => o.kind === kind && o.name === name && (namespace === undefined || ('namespace' in o && o.namespace === namespace)));
  if (found === undefined) throw new Error(`${kind} ${namespace ?? ''}/${name} not parsed`);
  return found as Extract<MeshObject, { kind: K }>;
}

t.test('every file of the two-node fixture parses', async (t) => {
  for (const { name, text } of twoNodeFiles()) {
    t.doesNotThrow(() => parseObjects(text, name), name);
  }
  const counts: Record<string, number> = {};
  for (const o of twoNodeObjects()) counts[o.kind] = (counts[o.kind] ?? 0) + 1;
  t.same(counts, { MeshTLS: 3, Namespace: 4, Node: 2, Pod: 10, Service: 5, Workload: 1 });
});

t.test('Pod fields', async (t) => {
  const objects = twoNodeObjects();
  const client = find(objects, 'Pod', 'client', 'demo');
  t.same(
    { ...client },
    {
      kind: 'Pod',
      name: 'client',
      namespace: 'demo',
      labels: { app: 'client' },
      source: { file: 'pods.yaml', doc: 0 },
      nodeName: 'node-a',
      serviceAccountName: 'client',
      addresses: ['198.18.1.10'],
      namedPorts: [],
      hostNetwork: false,
    },
  );
  t.same(find(objects, 'Pod', 'web-2').namedPorts, [{ name: 'http', port: 8081 }, { name: 'metrics', port: 9100 }], 'named ports of every container');
  t.same(find(objects, 'Pod', 'web-legacy').namedPorts, [{ name: 'http', port: 80 }], 'UDP ports are not target ports');
  t.equal(find(objects, 'Pod', 'web-opt-out').serviceAccountName, 'default', 'default service account');
  t.same(find(objects, 'Pod', 'web-pending').addresses, [], 'no address yet');
  t.equal(find(objects, 'Pod', 'web-pending').nodeName, '', 'not scheduled');
  t.equal(find(objects, 'Pod', 'node-exporter').hostNetwork, true);
  t.same(find(objects, 'Pod', 'migrate-28xk2').addresses, [], 'a finished pod has released its address');
  t.same(find(objects, 'Pod', 'cart').addresses, ['198.18.1.20', 'fd00:198:18:1::20'], 'podIPs, dual-stack');
  t.equal(find(objects, 'Pod', 'cart').source.doc, 8, 'source document index');
});

t.test('Service fields', async (t) => {
  const objects = twoNodeObjects();
  const web = find(objects, 'Service', 'web', 'demo');
  t.same(web.clusterIPs, ['198.19.0.10']);
  t.same(web.selector, { app: 'web' });
  t.same(web.ports, [
    { name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' },
    { name: 'metrics', port: 9090, targetPort: 'metrics' },
  ]);
  t.same(find(objects, 'Service', 'db', 'legacy').ports, [{ port: 5432, targetPort: 5432 }], 'targetPort defaults to port');
  t.same(find(objects, 'Service', 'web-headless').clusterIPs, [], 'headless: no cluster IP');
  t.same(find(objects, 'Service', 'dns', 'shop').ports, [{ name: 'dns-tcp', port: 53, targetPort: 53 }], 'UDP ports are dropped');
});

t.test('Node, Namespace, Workload and MeshTLS fields', async (t) => {
  const objects = twoNodeObjects();
  t.same(find(objects, 'Node', 'node-a').addresses, ['198.18.0.1'], 'InternalIP only, from a List');
  t.same(find(objects, 'Node', 'node-b').addresses, ['198.18.0.2']);
  t.equal(find(objects, 'Node', 'node-b').source.doc, 0, 'List items keep their document index');
  t.same(find(objects, 'Namespace', 'demo').labels, { 'kubernetes.io/metadata.name': 'demo', 'meshlet.io/mesh': 'enabled' });
  const vm = find(objects, 'Workload', 'vm-db');
  t.same(
    { address: vm.address, node: vm.node, serviceAccount: vm.serviceAccount, namedPorts: vm.namedPorts, namespace: vm.namespace },
    { address: '198.18.2.30', node: 'node-b', serviceAccount: 'db', namedPorts: [{ name: 'postgres', port: 5432 }], namespace: 'demo' },
  );
  const strict = find(objects, 'MeshTLS', 'db-strict');
  t.same([strict.mode, strict.selector], ['STRICT', { app: 'db' }]);
  t.equal(find(objects, 'MeshTLS', 'demo-permissive').selector, undefined, 'no selector: namespace-wide');
});

t.test('defaults, empty documents and label order', async (t) => {
  const text = `
# only a comment
---
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata:
  name: vm
  labels: { zeta: "1", alpha: "2" }
spec:
  address: "fd00::5"
  node: host-1
---
`;
  const [vm, ...rest] = parseObjects(text, 'vm.yaml');
  t.equal(rest.length, 0, 'empty documents are skipped');
  t.equal(vm?.kind, 'Workload', 'the document is a Workload');
  if (vm?.kind !== 'Workload') return;
  t.equal(vm.namespace, 'default', 'namespace defaults to default');
  t.equal(vm.serviceAccount, 'default', 'service account defaults to default');
  t.same(vm.namedPorts, []);
  t.equal(vm.source.doc, 1, 'document index counts empty documents (a comment before the first --- is not one)');
  t.same(Object.keys(vm.labels), ['alpha', 'zeta'], 'labels are sorted by key');
  t.same(parseObjects('', 'empty.yaml'), [], 'an empty file has no objects');
});
