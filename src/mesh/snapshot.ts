/**
 * Per-node snapshots: what one node's agent needs, selected from the cluster state. The state
 * holds everything node-independent, so a snapshot costs one pass over the workloads.
 */
import type { ClusterState } from './cluster-types.js';
import type { NodeSnapshot } from './types.js';

export { buildClusterState, ROOT_NAMESPACE, type ClusterState, type StateWorkload } from './cluster-state.js';

/**
 * The snapshot for `nodeName`: its local meshed workloads, every meshed workload, every Service
 * with endpoints, every accepted route and every AuthorizationPolicy. Equal states give equal snapshots (everything is sorted). An unknown node gets
 * a snapshot with no local workloads and an empty `nodeAddress`, not an error: an agent may
 * start before its Node object is written.
 */
export function computeSnapshot(state: ClusterState, nodeName: string, version: string): NodeSnapshot {
  const snapshot: NodeSnapshot = {
    version,
    node: nodeName,
    nodeAddress: state.nodes.get(nodeName)?.addresses[0] ?? '',
    trustDomain: state.trustDomain,
    localWorkloads: state.workloads.filter((w) => w.node === nodeName),
    workloads: state.workloads,
    services: state.services,
  };
  // Absent rather than empty, so a mesh without L7 objects has the snapshot it always had.
  const withRoutes = state.routes.length === 0 ? snapshot : { ...snapshot, routes: state.routes };
  // Every policy to every node (issue #17 will trim): see docs/agent-api.md.
  const withAuthz = state.authorizationPolicies.length === 0 ? withRoutes : { ...withRoutes, authorizationPolicies: state.authorizationPolicies };
  const withPolicies = state.routePolicies.length === 0 ? withAuthz : { ...withAuthz, routePolicies: state.routePolicies };
  const withTelemetry = state.telemetry.length === 0 ? withPolicies : { ...withPolicies, telemetry: state.telemetry };
  const zone = state.nodes.get(nodeName)?.zone;
  return zone === undefined ? withTelemetry : { ...withTelemetry, zone };
}
