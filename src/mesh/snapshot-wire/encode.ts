/**
 * The snapshot wire format between the controller and the agents (`proto/meshlet/v1/agent.proto`,
 * message `Snapshot`). Pure: bytes in, bytes out.
 *
 * Per-node snapshots share almost everything: every meshed workload and every Service of the
 * cluster. Only the node's own fields and its list of local workloads differ. So a snapshot is
 * split in two:
 * - the **cluster view** (trust domain, workloads, Services, routes, AuthorizationPolicies),
 *   encoded once per state version by
 *   {@link encodeClusterView} and sent as the same bytes to every node;
 * - the **node part** (node name, node address, uids of the local workloads), a few protobuf
 *   fields per node ({@link snapshotToWire}).
 * At 50 nodes, 5,000 pods and 500 Services that is one encoding per version instead of 50
 * (docs/agent-api.md has the figures).
 *
 * The cluster view is JSON (the model's own shapes, picked field by field), gzipped: JSON keeps
 * the model the single schema on both ends, and gzip takes the repeated names and addresses out
 * of the bytes every node receives. Decoding ({@link decodeSnapshot}) validates every field.
 */
import { gzipSync } from 'node:zlib';
import { authorizationPolicyToWire } from './authz.js';
import { routeToWire } from './routes.js';
import { resilienceToWire, routePoliciesToWire } from './policies.js';
import { telemetryToWire } from './telemetry.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, ServicePort, TrafficPolicyInfo, WorkloadInfo, WorkloadLimits } from '../types.js';
import {
  CLUSTER_ENCODING,
  CLUSTER_VIEW_FORMAT,
  type ClusterView,
  type EncodedClusterView,
  type SnapshotWire,
} from './types.js';

export { decodeSnapshot } from './decode.js';
export * from './types.js';

/**
 * gzip level for the cluster view: 6 (zlib's default) gives nearly the size of 9 at about half
 * its time, and the view is compressed once per version, not per node.
 */
const GZIP_LEVEL = 6;

/**
 * Encodes the cluster view of one state version: the same bytes for every node. Call it once
 * per version and hand the result to {@link snapshotToWire} for each node.
 */
export function encodeClusterView(view: ClusterView, version: string): EncodedClusterView {
  const json = JSON.stringify({
    format: CLUSTER_VIEW_FORMAT,
    version,
    trustDomain: view.trustDomain,
    workloads: view.workloads.map(workloadToWire),
    services: view.services.map(serviceToWire),
    routes: (view.routes ?? []).map(routeToWire),
    nodeZones: nodeZones(view),
    authorizationPolicies: (view.authorizationPolicies ?? []).map(authorizationPolicyToWire),
    ...(view.routePolicies === undefined || view.routePolicies.length === 0 ? {} : { routePolicies: routePoliciesToWire(view.routePolicies) }),
    ...(view.telemetry === undefined || view.telemetry.length === 0 ? {} : { telemetry: telemetryToWire(view.telemetry) }),
  });
  return { version, encoding: CLUSTER_ENCODING, bytes: gzipSync(json, { level: GZIP_LEVEL }) };
}

/**
 * The wire form of one node's snapshot: the shared cluster view plus the node's own fields.
 * `snapshot` is `computeSnapshot(state, node, version)` for the state `shared` was encoded from.
 */
export function snapshotToWire(shared: EncodedClusterView, snapshot: NodeSnapshot): SnapshotWire {
  return {
    version: shared.version,
    clusterEncoding: shared.encoding,
    cluster: shared.bytes,
    node: snapshot.node,
    nodeAddress: snapshot.nodeAddress,
    localWorkloadUids: snapshot.localWorkloads.map((w) => w.uid),
  };
}

/** Zone by node name: from the state's Nodes, or as the view gives it. */
export function nodeZones(view: ClusterView): Record<string, string> {
  if (view.nodes === undefined) return { ...view.nodeZones };
  const out: Record<string, string> = {};
  for (const [name, node] of view.nodes) if (node.zone !== undefined) out[name] = node.zone;
  return out;
}

/** The view of a snapshot (what the agent stores): its routes, its policies and its own node's zone. */
export function clusterViewOfSnapshot(snapshot: NodeSnapshot): ClusterView {
  return {
    trustDomain: snapshot.trustDomain,
    workloads: snapshot.workloads,
    services: snapshot.services,
    routes: snapshot.routes,
    authorizationPolicies: snapshot.authorizationPolicies,
    routePolicies: snapshot.routePolicies,
    telemetry: snapshot.telemetry,
    nodeZones: snapshot.zone === undefined ? {} : { [snapshot.node]: snapshot.zone },
  };
}

// Field by field (exported for the delta encoding, delta.ts), so the wire carries the model's documented fields and nothing else that an
// object might happen to hold.
export function workloadToWire(w: WorkloadInfo): WorkloadInfo {
  return {
    uid: w.uid,
    kind: w.kind,
    name: w.name,
    namespace: w.namespace,
    addresses: w.addresses,
    node: w.node,
    nodeAddress: w.nodeAddress,
    serviceAccount: w.serviceAccount,
    identity: w.identity,
    labels: w.labels,
    tlsMode: w.tlsMode,
    namedPorts: w.namedPorts.map((p) => ({ name: p.name, port: p.port })),
    ...(w.zone === undefined ? {} : { zone: w.zone }),
    // Absent when the object sets none: the agent's defaults apply, and an older agent reads the same bytes.
    ...(w.limits === undefined ? {} : { limits: limitsToWire(w.limits) }),
  };
}

export function serviceToWire(s: ServiceInfo): ServiceInfo {
  return {
    key: s.key,
    name: s.name,
    namespace: s.namespace,
    vips: s.vips,
    ports: s.ports.map(portToWire),
    endpoints: s.endpoints.map(endpointToWire),
    ...(s.trafficPolicy === undefined ? {} : { trafficPolicy: policyToWire(s.trafficPolicy) }),
    ...(s.opaquePorts === undefined ? {} : { opaquePorts: [...s.opaquePorts] }),
  };
}

/** The balancer fields as they are, the resilience sections in their `spec` form (`policies.ts`). */
function policyToWire(p: TrafficPolicyInfo): TrafficPolicyInfo {
  return {
    policy: p.policy,
    balancer: { ...p.balancer },
    hashKeys: p.hashKeys.map((k) => (k.kind === 'source-ip' ? { kind: k.kind } : { kind: k.kind, name: k.name })),
    preferLocalZone: p.preferLocalZone,
    ...resilienceToWire(p),
  } as TrafficPolicyInfo;
}

function portToWire(p: ServicePort): ServicePort {
  const out: { -readonly [K in keyof ServicePort]: ServicePort[K] } = { port: p.port, targetPort: p.targetPort };
  if (p.name !== undefined) out.name = p.name;
  if (p.appProtocol !== undefined) out.appProtocol = p.appProtocol;
  return out;
}

function endpointToWire(e: EndpointInfo): EndpointInfo {
  const out: EndpointInfo = {
    workload: e.workload,
    address: e.address,
    node: e.node,
    nodeAddress: e.nodeAddress,
    meshed: e.meshed,
    targetPorts: e.targetPorts,
  };
  const withZone = e.zone === undefined ? out : { ...out, zone: e.zone };
  return e.identity === undefined ? withZone : { ...withZone, identity: e.identity };
}

/** The limits an object set, each key only when set: an older agent reads the same bytes for the ones it knows. */
function limitsToWire(l: WorkloadLimits): WorkloadLimits {
  return {
    ...(l.maxConnections === undefined ? {} : { maxConnections: l.maxConnections }),
    ...(l.maxBandwidth === undefined ? {} : { maxBandwidth: l.maxBandwidth }),
    ...(l.maxAgentShare === undefined ? {} : { maxAgentShare: l.maxAgentShare }),
  };
}
