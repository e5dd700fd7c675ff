/**
 * The cluster state: every object checked against the others, mesh membership and TLS mode
 * decided, Services joined to their endpoints. Everything here is node-independent, so the
 * per-node snapshot (`snapshot.ts`) is a cheap selection from it.
 */
import { MeshletError } from './errors.js';
import { findConflicts } from './cluster-conflicts.js';
import type { ClusterState, StateWorkload } from './cluster-types.js';
import { spiffeId, isValidTrustDomain } from './identity.js';
import { formatSource } from './cluster-conflicts.js';
import { problemsError, type ObjectProblem } from './objects/report.js';
import { CONTROLLER_NAMESPACE, CONTROLLER_SERVICE_ACCOUNT, controllerIdentity } from './snapshot-wire/types.js';
import { resolveTlsMode } from './tls-mode.js';
import { buildServices } from './service-endpoints.js';
import { routeProblems, routeStatus } from './route-status.js';
import { attachTrafficPolicies, routePolicyKey, routePolicyList } from './traffic-policies.js';
import { authorizationStatuses } from './authz/cluster-status.js';
import { telemetryData } from './objects/telemetry.js';
import { DEFAULT_ROOT_NAMESPACE } from './authz/select.js';
import {
  DEFAULT_TRUST_DOMAIN,
  MESH_DISABLED,
  MESH_ENABLED,
  MESH_LABEL,
  type MeshObject,
  type MeshTLSObject,
  type ServiceInfo,
  type TrafficPolicyInfo,
  type NamespaceObject,
  type NodeObject,
  type PodObject,
  type RoutePolicyData,
  type TlsMode,
  type WorkloadInfo,
  type WorkloadObject,
} from './types.js';

/**
 * The root namespace: a namespace-wide MeshTLS here is the mesh-wide default, an
 * AuthorizationPolicy here applies mesh-wide. One value, defined with the authorization
 * selection (`authz/select.ts`).
 */
export const ROOT_NAMESPACE = DEFAULT_ROOT_NAMESPACE;

/**
 * Builds the cluster state. Throws one MeshletError MESHLET_ERR_OBJECT_CONFLICT listing every
 * conflict (duplicate objects, duplicate pod or cluster IPs, meshed workloads on unknown nodes),
 * or MESHLET_ERR_CONFIG_INVALID for a bad trust domain.
 */
export function buildClusterState(objects: readonly MeshObject[], opts: { trustDomain?: string | undefined } = {}): ClusterState {
  return buildClusterParts(objects, opts.trustDomain ?? DEFAULT_TRUST_DOMAIN).state;
}

/** A state and what its incremental update keeps besides it (`cluster-state-updater.ts`). */
export interface ClusterParts {
  readonly state: ClusterState;
  /** The Services before policies attach, sorted by key. */
  readonly plainServices: readonly ServiceInfo[];
  readonly policyByService: ReadonlyMap<string, TrafficPolicyInfo>;
}

/** {@link buildClusterState}, with the parts an incremental update starts from. */
export function buildClusterParts(objects: readonly MeshObject[], trustDomain: string): ClusterParts {
  if (!isValidTrustDomain(trustDomain)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `trust domain ${JSON.stringify(trustDomain)} is not a valid SPIFFE trust domain (lowercase letters, digits, ".", "-", "_")`);
  }
  const { namespaces, nodes, meshTLS } = globalsOf(objects);
  const members = sortBy(
    objects.flatMap((o) => (o.kind === 'Pod' || o.kind === 'Workload' ? [memberOf(o, namespaces, nodes, trustDomain)] : [])),
    (m) => m.uid,
  );
  const conflicts = findConflicts(objects, members, nodes);
  if (conflicts.length > 0) throw problemsError(conflicts);

  const workloads = members.filter((m) => m.meshed).map((m) => workloadInfoOf(m, meshTLS));
  const plainServices = buildServices(sortBy(objects.filter(isKind('Service')), (s) => `${s.namespace}/${s.name}`), members);
  const { policyByService, ...linked } = routesAndPolicies(objects, plainServices);
  const refused = sortBy(objects.flatMap((o) => refusalOf(o, namespaces, trustDomain) ?? []), (p) => p.text);
  const authz = authorizationOf(objects, workloads, linked.services);
  const state = deepFreeze({ trustDomain, namespaces, nodes, members, workloads, meshTLS, refused, ...linked, telemetry: telemetryOf(objects), ...authz });
  return { state, plainServices, policyByService };
}

/** The parts of a state every member depends on: namespaces and nodes by name, MeshTLS sorted. */
export function globalsOf(objects: readonly MeshObject[]): Pick<ClusterState, 'namespaces' | 'nodes' | 'meshTLS'> {
  return {
    namespaces: indexByName(objects.filter(isKind('Namespace'))),
    nodes: indexByName(objects.filter(isKind('Node'))),
    meshTLS: sortBy(objects.filter(isKind('MeshTLS')), (m) => `${m.namespace}/${m.name}`),
  };
}

/** The route and TrafficPolicy parts of a state: O(Services + routes + policies). */
export function routesAndPolicies(
  objects: readonly MeshObject[],
  plainServices: readonly ServiceInfo[],
): Pick<ClusterState, 'services' | 'routes' | 'routeStatuses' | 'policyConflicts' | 'routePolicies'> & { policyByService: ReadonlyMap<string, TrafficPolicyInfo> } {
  const routeObjects = sortBy([...objects.filter(isKind('HTTPRoute')), ...objects.filter(isKind('GRPCRoute'))], (r) => `${r.kind}/${r.namespace}/${r.name}`);
  // Routes are resolved against the Services before policies attach (a route's status does not
  // depend on a policy), and policies attach to the routes the data path gets.
  const plainByKey = new Map(plainServices.map((s) => [s.key, s]));
  const routeStatuses = routeObjects.map((r) => routeStatus(r, plainByKey));
  const routes = routeStatuses.flatMap((s) => (s.resolved === undefined ? [] : [s.resolved]));
  const routeKeys = new Set(routes.map((r) => routePolicyKey(r.kind, r.namespace, r.name)));
  const policies = attachTrafficPolicies(objects.filter(isKind('TrafficPolicy')), new Set(plainByKey.keys()), routeKeys);
  const services = plainServices.map((s) => withPolicy(s, policies.byService.get(s.key)));
  return { services, routes, routeStatuses, policyConflicts: policies.problems, routePolicies: routePolicyList(policies.byRoute), policyByService: policies.byService };
}

/** A Service with the TrafficPolicy in force for it, if any. */
export function withPolicy(s: ServiceInfo, trafficPolicy: TrafficPolicyInfo | undefined): ServiceInfo {
  return trafficPolicy === undefined ? s : { ...s, trafficPolicy };
}

/** The Telemetry objects' data, sorted by namespace/name. */
export function telemetryOf(objects: readonly MeshObject[]): ClusterState['telemetry'] {
  return sortBy(objects.filter(isKind('Telemetry')), (o) => `${o.namespace}/${o.name}`).map(telemetryData);
}

/** A member's WorkloadInfo, with the TLS mode the MeshTLS objects (sorted) give it. */
export function workloadInfoOf(m: StateWorkload, meshTLS: readonly MeshTLSObject[]): WorkloadInfo {
  return toWorkloadInfo(m, resolveTlsMode(m, meshTLS, ROOT_NAMESPACE));
}

/**
 * Every AuthorizationPolicy, sorted by key then apiVersion (a `meshlet.io` and a
 * `security.istio.io` policy of one name are two policies, both kept), and its status lines.
 */
export function authorizationOf(
  objects: readonly MeshObject[],
  workloads: readonly WorkloadInfo[],
  services: ClusterState['services'],
): Pick<ClusterState, 'authorizationPolicies' | 'authorizationStatuses'> {
  const policies = objects.filter(isKind('AuthorizationPolicy'));
  const authorizationPolicies = sortBy(policies, (p) => `${p.policy.key} ${p.policy.apiVersion}`).map((p) => p.policy);
  const statuses = authorizationStatuses({ policies, workloads, services, serviceObjects: objects.filter(isKind('Service')), rootNamespace: ROOT_NAMESPACE });
  return { authorizationPolicies, authorizationStatuses: sortBy(statuses, (p) => p.text) };
}

/**
 * What a state sets aside, one line each, for logs and `status`: members left out of the mesh,
 * TrafficPolicies ignored for a Service, routes not accepted or with unresolved backends, and
 * AuthorizationPolicies that select nothing (or fail closed where their author may not expect).
 */
export function setAside(state: ClusterState): string[] {
  return [
    ...state.refused.map((p) => p.text),
    ...state.policyConflicts.map((p) => p.text),
    ...routeProblems(state.routeStatuses),
    ...state.authorizationStatuses.map((p) => p.text),
  ];
}

/**
 * True for the controller's own ServiceAccount (`meshlet-system/meshlet-controller`). Its SPIFFE
 * ID is the one agents trust as the controller: a Pod or Workload running as it is never meshed,
 * so no node is ever given a certificate for it.
 */
export function isControllerServiceAccount(namespace: string, serviceAccount: string): boolean {
  return namespace === CONTROLLER_NAMESPACE && serviceAccount === CONTROLLER_SERVICE_ACCOUNT;
}

/** Why a Pod or Workload is left out of the mesh because it claims the controller's identity; else undefined. */
export function refusalOf(o: MeshObject, namespaces: ReadonlyMap<string, NamespaceObject>, trustDomain: string): ObjectProblem | undefined {
  const why = (): string => `runs as the controller's service account ${CONTROLLER_NAMESPACE}/${CONTROLLER_SERVICE_ACCOUNT} (${controllerIdentity(trustDomain)}), which is never meshed or given to a node`;
  if (o.kind === 'Pod' && isControllerServiceAccount(o.namespace, o.serviceAccountName) && wouldPodBeMeshed(o, namespaces.get(o.namespace))) {
    return { kind: 'content', text: `${formatSource(o.source)}: Pod ${o.namespace}/${o.name}: left out of the mesh: ${why()}` };
  }
  if (o.kind === 'Workload' && isControllerServiceAccount(o.namespace, o.serviceAccount) && o.labels[MESH_LABEL] !== MESH_DISABLED) {
    return { kind: 'content', text: `${formatSource(o.source)}: Workload ${o.namespace}/${o.name}: left out of the mesh: ${why()}` };
  }
  return undefined;
}

/** True when a Pod is in the mesh (see docs/model.md, "Membership"). */
export function isPodMeshed(pod: PodObject, namespace: NamespaceObject | undefined): boolean {
  return wouldPodBeMeshed(pod, namespace) && !isControllerServiceAccount(pod.namespace, pod.serviceAccountName);
}

/** The membership rules of a Pod, apart from the controller's reserved identity. */
function wouldPodBeMeshed(pod: PodObject, namespace: NamespaceObject | undefined): boolean {
  return (
    namespace?.labels[MESH_LABEL] === MESH_ENABLED &&
    pod.labels[MESH_LABEL] !== MESH_DISABLED &&
    pod.nodeName !== '' &&
    pod.addresses.length > 0 &&
    !pod.hostNetwork
  );
}

/**
 * True when a Workload object is in the mesh: declaring one opts it in, unless labelled out (or
 * it claims the controller's identity).
 */
export function isWorkloadMeshed(workload: WorkloadObject): boolean {
  return workload.labels[MESH_LABEL] !== MESH_DISABLED && !isControllerServiceAccount(workload.namespace, workload.serviceAccount);
}

/** The member with its node's zone, when the node has one. */
function withZone(m: StateWorkload, nodes: ReadonlyMap<string, NodeObject>): StateWorkload {
  const zone = nodes.get(m.node)?.zone;
  return zone === undefined ? m : { ...m, zone };
}

/** The state's view of a Pod or Workload object, meshed or not. */
export function memberOf(
  o: PodObject | WorkloadObject,
  namespaces: ReadonlyMap<string, NamespaceObject>,
  nodes: ReadonlyMap<string, NodeObject>,
  trustDomain: string,
): StateWorkload {
  return o.kind === 'Pod' ? podMember(o, namespaces, nodes, trustDomain) : workloadMember(o, nodes, trustDomain);
}

function podMember(
  pod: PodObject,
  namespaces: ReadonlyMap<string, NamespaceObject>,
  nodes: ReadonlyMap<string, NodeObject>,
  trustDomain: string,
): StateWorkload {
  return withZone({
    uid: `Pod/${pod.namespace}/${pod.name}`,
    kind: 'Pod',
    name: pod.name,
    namespace: pod.namespace,
    labels: pod.labels,
    addresses: pod.addresses,
    node: pod.nodeName,
    nodeAddress: nodes.get(pod.nodeName)?.addresses[0] ?? '',
    serviceAccount: pod.serviceAccountName,
    identity: spiffeId(trustDomain, pod.namespace, pod.serviceAccountName),
    namedPorts: pod.namedPorts,
    hostNetwork: pod.hostNetwork,
    meshed: isPodMeshed(pod, namespaces.get(pod.namespace)),
    source: pod.source,
    ...(pod.limits === undefined ? {} : { limits: pod.limits }),
  }, nodes);
}

function workloadMember(w: WorkloadObject, nodes: ReadonlyMap<string, NodeObject>, trustDomain: string): StateWorkload {
  return withZone({
    uid: `Workload/${w.namespace}/${w.name}`,
    kind: 'Workload',
    name: w.name,
    namespace: w.namespace,
    labels: w.labels,
    addresses: [w.address],
    node: w.node,
    nodeAddress: nodes.get(w.node)?.addresses[0] ?? '',
    serviceAccount: w.serviceAccount,
    identity: spiffeId(trustDomain, w.namespace, w.serviceAccount),
    namedPorts: w.namedPorts,
    hostNetwork: false,
    meshed: isWorkloadMeshed(w),
    source: w.source,
    ...(w.limits === undefined ? {} : { limits: w.limits }),
  }, nodes);
}

function toWorkloadInfo(m: StateWorkload, tlsMode: TlsMode): WorkloadInfo {
  const { uid, kind, name, namespace, addresses, node, nodeAddress, serviceAccount, identity, labels, namedPorts, zone, limits } = m;
  const info: WorkloadInfo = {
    uid, kind, name, namespace, addresses, node, nodeAddress, serviceAccount, identity, labels, tlsMode, namedPorts,
    ...(zone === undefined ? {} : { zone }),
    ...(limits === undefined ? {} : { limits }),
  };
  return info;
}

export function isKind<K extends MeshObject['kind']>(kind: K) {
  return (o: MeshObject): o is Extract<MeshObject, { kind: K }> => o.kind === kind;
}

function indexByName<T extends { name: string }>(items: readonly T[]): Map<string, T> {
  // Duplicates are reported by findConflicts; the first one is kept meanwhile.
  const out = new Map<string, T>();
  for (const item of sortBy(items, (i) => i.name)) if (!out.has(item.name)) out.set(item.name, item);
  return out;
}

/** A sorted copy, by a string key (plain code-point order, the same on every machine). */
export function sortBy<T>(items: readonly T[], key: (item: T) => string): T[] {
  return [...items].sort((a, b) => {
    const ka = key(a);
    const kb = key(b);
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
}

/** Freezes `value` and everything it holds (a frozen part is taken as frozen through). */
export function deepFreeze<T>(value: T): T {
  if (value === null || typeof value !== 'object' || Object.isFrozen(value)) return value;
  if (value instanceof Map) {
    for (const v of value.values()) deepFreeze(v);
  } else {
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return Object.freeze(value);
}
export type { ClusterState, StateWorkload } from './cluster-types.js';

/**
 * The TrafficPolicies attached to routes in a state made by {@link buildClusterState}, sorted
 * by route key (`<kind>/<namespace>/<name>`): what `NodeSnapshot.routePolicies` carries.
 */
export function routePoliciesOf(state: ClusterState): readonly RoutePolicyData[] {
  return state.routePolicies;
}
