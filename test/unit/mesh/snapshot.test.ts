/**
 * Per-node snapshots of the two-node fixture: local workloads, Services and endpoints with
 * resolved target ports, unknown nodes, and determinism.
 */
import t from 'tap';
import { buildClusterState, computeSnapshot } from '../../../src/mesh/snapshot.js';
import type { MeshObject, ServiceInfo } from '../../../src/mesh/types.js';
import { twoNodeObjects } from './fixture.js';

function service(services: readonly ServiceInfo[], key: string): ServiceInfo {
  const found = services.find((s) => s.key === key);
  if (found === undefined) throw new Error(`no service ${key}`);
  return found;
}

t.test('node-a and node-b snapshots of the two-node fixture', async (t) => {
  const state = buildClusterState(twoNodeObjects());
  const a = computeSnapshot(state, 'node-a', 'v7');
  t.same(
    { version: a.version, node: a.node, nodeAddress: a.nodeAddress, trustDomain: a.trustDomain },
    { version: 'v7', node: 'node-a', nodeAddress: '198.18.0.1', trustDomain: 'cluster.local' },
  );
  t.same(a.localWorkloads.map((w) => w.uid), ['Pod/demo/client', 'Pod/demo/web-1', 'Pod/shop/cart'], 'local meshed workloads');
  const b = computeSnapshot(state, 'node-b', 'v7');
  t.same(b.localWorkloads.map((w) => w.uid), ['Pod/demo/web-2', 'Pod/demo/web-legacy', 'Workload/demo/vm-db']);
  t.same(a.workloads, b.workloads, 'every node sees every meshed workload');
  t.equal(a.workloads.length, 6);
  t.same(a.services, b.services, 'and every Service');
  t.same(a.services.map((s) => s.key), ['demo/db', 'demo/web', 'legacy/db', 'shop/dns'], 'headless Services are left out');

  const client = a.localWorkloads[0];
  t.same(client, {
    uid: 'Pod/demo/client',
    kind: 'Pod',
    name: 'client',
    namespace: 'demo',
    addresses: ['198.18.1.10'],
    node: 'node-a',
    nodeAddress: '198.18.0.1',
    serviceAccount: 'client',
    identity: 'spiffe://cluster.local/ns/demo/sa/client',
    labels: { app: 'client' },
    tlsMode: 'PERMISSIVE',
    namedPorts: [],
  });
  t.same(
    Object.fromEntries(a.workloads.map((w) => [w.name, w.tlsMode])),
    { client: 'PERMISSIVE', 'web-1': 'PERMISSIVE', 'web-2': 'PERMISSIVE', 'web-legacy': 'PERMISSIVE', cart: 'STRICT', 'vm-db': 'STRICT' },
    'TLS modes from the fixture MeshTLS objects',
  );
});

t.test('Service endpoints, meshed or not, with named target ports resolved', async (t) => {
  const { services } = computeSnapshot(buildClusterState(twoNodeObjects()), 'node-a', '1');
  const web = service(services, 'demo/web');
  t.same(web.vips, ['198.19.0.10']);
  t.same(web.endpoints, [
    {
      workload: 'Pod/demo/web-1',
      address: '198.18.1.11',
      node: 'node-a',
      nodeAddress: '198.18.0.1',
      meshed: true,
      identity: 'spiffe://cluster.local/ns/demo/sa/web',
      targetPorts: { 80: 8080, 9090: 9102 },
    },
    {
      workload: 'Pod/demo/web-2',
      address: '198.18.2.11',
      node: 'node-b',
      nodeAddress: '198.18.0.2',
      meshed: true,
      identity: 'spiffe://cluster.local/ns/demo/sa/web',
      targetPorts: { 80: 8081, 9090: 9100 },
    },
    {
      workload: 'Pod/demo/web-legacy',
      address: '198.18.2.13',
      node: 'node-b',
      nodeAddress: '198.18.0.2',
      meshed: true,
      identity: 'spiffe://cluster.local/ns/demo/sa/web',
      targetPorts: { 80: 80 },
    },
    { workload: 'Pod/demo/web-opt-out', address: '198.18.2.12', node: 'node-b', nodeAddress: '198.18.0.2', meshed: false, targetPorts: { 80: 8080 } },
  ], 'web-legacy lacks "metrics"; web-pending has no address; the opted-out pod has no identity');
  t.notOk('identity' in (web.endpoints[3] ?? {}), 'a non-meshed endpoint has no identity field at all');

  const db = service(services, 'demo/db');
  t.same(db.endpoints.map((e) => [e.workload, e.targetPorts]), [['Workload/demo/vm-db', { 5432: 5432 }]], 'a Workload object backs a Service by named port');
  const legacy = service(services, 'legacy/db');
  t.same(legacy.endpoints.map((e) => [e.workload, e.meshed, e.targetPorts]), [['Pod/legacy/db', false, { 5432: 5432 }]], 'a pod outside the mesh');
  const dns = service(services, 'shop/dns');
  t.same([dns.ports, dns.endpoints], [[{ name: 'dns-tcp', port: 53, targetPort: 53 }], []], 'TCP port only; no pod matches');
});

t.test('a Service whose named port no endpoint has, and one without a selector', async (t) => {
  const extra = `apiVersion: v1
kind: Service
metadata: {name: grpc, namespace: demo}
spec:
  clusterIP: 198.19.0.99
  selector: {app: web}
  ports: [{name: grpc, port: 9000, targetPort: grpc}]
---
apiVersion: v1
kind: Service
metadata: {name: manual, namespace: demo}
spec:
  clusterIP: 198.19.0.98
  selector: {}
  ports: [{port: 80}]
`;
  const { parseObjects } = await import('../../../src/mesh/objects/parse.js');
  const state = buildClusterState([...twoNodeObjects(), ...parseObjects(extra, 'extra.yaml')]);
  const { services } = computeSnapshot(state, 'node-a', '1');
  t.same(service(services, 'demo/grpc').endpoints, [], 'no workload declares "grpc": no endpoints');
  t.same(service(services, 'demo/manual').endpoints, [], 'no selector: no endpoints');
});

t.test('an unknown node gets an empty local view, not an error', async (t) => {
  const snap = computeSnapshot(buildClusterState(twoNodeObjects()), 'node-zz', '1');
  t.same([snap.nodeAddress, snap.localWorkloads], ['', []]);
  t.equal(snap.workloads.length, 6, 'the rest of the mesh is still there');
});

/** A deterministic shuffle (a fixed LCG), so the test is the same on every run. */
function shuffled<T>(items: readonly T[], seed: number): T[] {
  const out = [...items];
  let x = seed;
  for (let i = out.length - 1; i > 0; i--) {
    x = (x * 1103515245 + 12345) % 2147483648;
    const j = x % (i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

t.test('equal states give equal snapshots, whatever the input order', async (t) => {
  const objects: MeshObject[] = twoNodeObjects();
  const reference = JSON.stringify(computeSnapshot(buildClusterState(objects), 'node-b', 'v1'));
  for (const seed of [1, 2, 3, 42, 1000]) {
    const other = JSON.stringify(computeSnapshot(buildClusterState(shuffled(objects, seed)), 'node-b', 'v1'));
    t.equal(other, reference, `order ${seed}: byte-identical snapshot`);
  }
});
