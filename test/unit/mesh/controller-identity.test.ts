/**
 * Issue 9, finding 5 (cluster state): a Pod or Workload running as the controller's service
 * account (meshlet-system/meshlet-controller) is never meshed, whatever labels it carries; it is
 * reported among the state's refused members, and the rest of the mesh applies.
 */
import t from 'tap';
import { buildClusterState, isPodMeshed, isWorkloadMeshed } from '../../../src/mesh/cluster-state.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';

const MESH = `
apiVersion: v1
kind: Node
metadata: { name: node-a }
status: { addresses: [{ type: InternalIP, address: 198.18.0.1 }] }
---
apiVersion: v1
kind: Namespace
metadata: { name: meshlet-system, labels: { meshlet.io/mesh: enabled } }
---
apiVersion: v1
kind: Namespace
metadata: { name: demo, labels: { meshlet.io/mesh: enabled } }
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata: { name: fake-controller, namespace: meshlet-system }
spec: { address: 198.18.1.50, node: node-a, serviceAccount: meshlet-controller }
---
apiVersion: v1
kind: Pod
metadata: { name: fake-controller-pod, namespace: meshlet-system }
spec: { serviceAccountName: meshlet-controller, nodeName: node-a, containers: [{ name: c, image: c }] }
status: { podIP: 198.18.1.51 }
---
apiVersion: v1
kind: Pod
metadata: { name: other, namespace: meshlet-system }
spec: { serviceAccountName: something-else, nodeName: node-a, containers: [{ name: c, image: c }] }
status: { podIP: 198.18.1.52 }
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata: { name: same-sa-name, namespace: demo }
spec: { address: 198.18.1.53, node: node-a, serviceAccount: meshlet-controller }
`;

t.test('the controller identity is never meshed; the state reports it and keeps the rest', async (t) => {
  const objects = parseObjects(MESH, 'mesh.yaml');
  const state = buildClusterState(objects);
  t.same(
    state.workloads.map((w) => w.uid),
    ['Pod/meshlet-system/other', 'Workload/demo/same-sa-name'],
    'only the controller\'s own service account in meshlet-system is left out',
  );
  t.equal(state.workloads.some((w) => w.identity === 'spiffe://cluster.local/ns/meshlet-system/sa/meshlet-controller'), false);
  t.same(state.refused, [
    {
      kind: 'content',
      text: "mesh.yaml (document 4): Workload meshlet-system/fake-controller: left out of the mesh: runs as the controller's service account meshlet-system/meshlet-controller (spiffe://cluster.local/ns/meshlet-system/sa/meshlet-controller), which is never meshed or given to a node",
    },
    {
      kind: 'content',
      text: "mesh.yaml (document 5): Pod meshlet-system/fake-controller-pod: left out of the mesh: runs as the controller's service account meshlet-system/meshlet-controller (spiffe://cluster.local/ns/meshlet-system/sa/meshlet-controller), which is never meshed or given to a node",
    },
  ]);
  const workload = objects.find((o) => o.kind === 'Workload' && o.name === 'fake-controller');
  t.equal(workload?.kind === 'Workload' ? isWorkloadMeshed(workload) : undefined, false);
  const pod = objects.find((o) => o.kind === 'Pod' && o.name === 'fake-controller-pod');
  t.equal(pod?.kind === 'Pod' ? isPodMeshed(pod, state.namespaces.get('meshlet-system')) : undefined, false);
});

t.test('the real controller pod (meshlet-system not meshed) is not reported', async (t) => {
  const quiet = MESH.replace('metadata: { name: meshlet-system, labels: { meshlet.io/mesh: enabled } }', 'metadata: { name: meshlet-system }')
    .split('---')
    .filter((doc) => !doc.includes('kind: Workload\nmetadata: { name: fake-controller,'))
    .join('---');
  const state = buildClusterState(parseObjects(quiet, 'mesh.yaml'));
  t.same(state.refused, [], 'an unmeshed controller pod is simply not meshed');
  t.same(
    state.workloads.map((w) => w.uid),
    ['Workload/demo/same-sa-name'],
  );
});
