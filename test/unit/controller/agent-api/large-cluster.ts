/**
 * A realistic cluster built in code: N nodes, pods spread over them in meshed namespaces (some
 * opted out, some STRICT), Services selecting them by label with numeric and named target ports.
 * The target scale of the agent API is 50 nodes, 5,000 pods and 500 Services.
 */
import { buildClusterState, type ClusterState } from '../../../../src/mesh/cluster-state.js';
import type { MeshObject } from '../../../../src/mesh/types.js';

/** How big a cluster to make. */
export interface ClusterSize {
  readonly nodes: number;
  readonly pods: number;
  readonly services: number;
  /** Pods per namespace (default 100). */
  readonly podsPerNamespace?: number;
}

const source = { file: 'large-cluster', doc: 0 };

/** `198.18.0.0/15` address number `n` (the lab's benchmark range; data only, never dialled). */
function address(n: number): string {
  return `198.${18 + (n >> 16)}.${(n >> 8) & 255}.${n & 255}`;
}

/** The objects of a cluster of `size`. Deterministic: equal sizes give equal objects. */
export function largeClusterObjects(size: ClusterSize): MeshObject[] {
  const perNamespace = size.podsPerNamespace ?? 100;
  const namespaces = Math.max(1, Math.ceil(size.pods / perNamespace));
  const servicesPerNamespace = Math.max(1, Math.ceil(size.services / namespaces));
  const objects: MeshObject[] = [];
  for (let n = 0; n < size.nodes; n++) {
    objects.push({ kind: 'Node', name: `node-${n}`, labels: {}, source, addresses: [address(0x1_f000 + n)] });
  }
  for (let ns = 0; ns < namespaces; ns++) {
    objects.push({ kind: 'Namespace', name: `team-${ns}`, labels: { 'meshlet.io/mesh': 'enabled' }, source });
  }
  objects.push({ kind: 'MeshTLS', name: 'strict', namespace: 'team-0', labels: {}, source, mode: 'STRICT' });
  for (let i = 0; i < size.pods; i++) {
    const ns = Math.floor(i / perNamespace);
    const app = `app-${(i % perNamespace) % servicesPerNamespace}`;
    objects.push({
      kind: 'Pod',
      name: `${app}-${i.toString(36)}-x7k2p`,
      namespace: `team-${ns}`,
      // Every 50th pod opts out: Services then have endpoints that are not meshed.
      labels: { app, 'pod-template-hash': 'abc123', version: `v${i % 3}`, ...(i % 50 === 49 ? { 'meshlet.io/mesh': 'disabled' } : {}) },
      source,
      nodeName: `node-${i % size.nodes}`,
      serviceAccountName: app,
      addresses: [address(0x100 + i)],
      namedPorts: [{ name: 'http', port: 8080 }, { name: 'metrics', port: 9090 }],
      hostNetwork: false,
    });
  }
  for (let k = 0; k < size.services; k++) {
    const ns = k % namespaces;
    const app = `app-${Math.floor(k / namespaces) % servicesPerNamespace}`;
    objects.push({
      kind: 'Service',
      name: `svc-${k}`,
      namespace: `team-${ns}`,
      labels: {},
      source,
      clusterIPs: [address(0x1_0000 + k)],
      selector: { app },
      ports: [
        { name: 'http', port: 80, targetPort: 'http', appProtocol: 'http' },
        { name: 'metrics', port: 9090, targetPort: 9090 },
      ],
    });
  }
  return objects;
}

/** The cluster state of `size`. */
export function largeClusterState(size: ClusterSize): ClusterState {
  return buildClusterState(largeClusterObjects(size));
}
