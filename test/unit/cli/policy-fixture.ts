/**
 * A small mesh with AuthorizationPolicies for `policy explain` / `policy check` and the
 * explain query: namespaces demo and other (meshed) and plain (not), two nodes, a client, two
 * web pods behind Service web (an HTTP port and an opaque one), a database in other, a Pod and a
 * Workload both named demo/vm, a pod outside the mesh behind a Service of its own.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ExplainData } from '../../../src/mesh/authz/explain-query.js';
import { buildClusterState, type ClusterState } from '../../../src/mesh/cluster-state.js';
import { parseObjects } from '../../../src/mesh/objects/parse.js';
import { computeSnapshot } from '../../../src/mesh/snapshot.js';
import type { MeshObject, NodeSnapshot } from '../../../src/mesh/types.js';

export const MESH_YAML = `apiVersion: v1
kind: Namespace
metadata: {name: demo, labels: {meshlet.io/mesh: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: other, labels: {meshlet.io/mesh: enabled}}
---
apiVersion: v1
kind: Namespace
metadata: {name: plain}
---
apiVersion: v1
kind: Node
metadata: {name: node-a}
status: {addresses: [{type: InternalIP, address: 198.18.0.1}]}
---
apiVersion: v1
kind: Node
metadata: {name: node-b}
status: {addresses: [{type: InternalIP, address: 198.18.0.2}]}
---
apiVersion: v1
kind: Pod
metadata: {name: client, namespace: demo, labels: {app: client}}
spec: {nodeName: node-a, serviceAccountName: client}
status: {podIP: 198.18.1.11}
---
apiVersion: v1
kind: Pod
metadata: {name: web-1, namespace: demo, labels: {app: web}}
spec: {nodeName: node-a, serviceAccountName: web}
status: {podIP: 198.18.1.10}
---
apiVersion: v1
kind: Pod
metadata: {name: web-2, namespace: demo, labels: {app: web}}
spec: {nodeName: node-b, serviceAccountName: web}
status: {podIP: 198.18.2.10}
---
apiVersion: v1
kind: Pod
metadata: {name: vm, namespace: demo, labels: {app: vm}}
spec: {nodeName: node-b, serviceAccountName: vm}
status: {podIP: 198.18.2.11}
---
apiVersion: meshlet.io/v1alpha1
kind: Workload
metadata: {name: vm, namespace: demo, labels: {app: vm}}
spec: {address: 198.18.3.5, node: node-b, serviceAccount: vm}
---
apiVersion: v1
kind: Pod
metadata: {name: db, namespace: other, labels: {app: db}}
spec: {nodeName: node-b, serviceAccountName: db}
status: {podIP: 198.18.2.20}
---
apiVersion: v1
kind: Pod
metadata: {name: legacy, namespace: plain, labels: {app: legacy}}
spec: {nodeName: node-a}
status: {podIP: 198.18.1.50}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: demo}
spec: {clusterIP: 198.19.0.10, selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}, {name: tcp-admin, port: 9000, targetPort: 9000}]}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: other}
spec: {clusterIP: 198.19.0.20, selector: {app: db}, ports: [{name: tcp-pg, port: 5432}]}
---
apiVersion: v1
kind: Service
metadata: {name: legacy, namespace: plain}
spec: {clusterIP: 198.19.0.50, selector: {app: legacy}, ports: [{port: 80}]}
`;

/** Policies on web: an ALLOW of the client's GETs under /api, a DENY of /admin; on db: demo may connect. */
export const POLICIES_YAML = `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: allow-client, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  rules:
  - from: [{source: {principals: ["cluster.local/ns/other/sa/db"]}}]
  - from: [{source: {principals: ["cluster.local/ns/demo/sa/client"]}}]
    to: [{operation: {methods: ["GET"], paths: ["/api/*"]}}]
---
apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: {name: deny-admin, namespace: demo}
spec:
  selector: {matchLabels: {app: web}}
  action: DENY
  rules:
  - to: [{operation: {paths: ["/admin/*"]}}]
---
apiVersion: meshlet.io/v1alpha1
kind: AuthorizationPolicy
metadata: {name: db-from-demo, namespace: other}
spec:
  selector: {matchLabels: {app: db}}
  rules:
  - from: [{source: {namespaces: ["demo"]}}]
`;

/** The mesh's objects, with `extra` YAML (more policies) parsed after it. */
export function meshObjects(extra = POLICIES_YAML): MeshObject[] {
  return [...parseObjects(MESH_YAML, 'mesh.yaml'), ...parseObjects(extra, 'policies.yaml')];
}

/** The cluster state of {@link meshObjects}. */
export function meshState(extra = POLICIES_YAML): ClusterState {
  return buildClusterState(meshObjects(extra));
}

/** What `policy explain --config` resolves against, from the state. */
export function explainData(state: ClusterState = meshState()): ExplainData {
  return {
    trustDomain: state.trustDomain,
    workloads: state.workloads,
    services: state.services,
    authorizationPolicies: state.authorizationPolicies,
    unmeshed: state.members.filter((m) => !m.meshed),
  };
}

/**
 * node-a's snapshot of the mesh (local: client and web-1), named for the agent `asNode` (an
 * in-process test agent has its own node name), at `version`.
 */
export function meshSnapshot(asNode: string, version = 'v2'): NodeSnapshot {
  return { ...computeSnapshot(meshState(), 'node-a', version), node: asNode };
}

type Teardown = { teardown(fn: () => void): void };

/** A temporary directory holding `mesh.yaml` and `policies.yaml` (`policies` as given). */
export function meshDirectory(t: Teardown, policies = POLICIES_YAML): string {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-policy-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  mkdirSync(join(dir, 'mesh'));
  writeFileSync(join(dir, 'mesh', 'mesh.yaml'), MESH_YAML);
  writeFileSync(join(dir, 'mesh', 'policies.yaml'), policies);
  return join(dir, 'mesh');
}
