/**
 * The Kubernetes resources the registry reads, and the only calls it makes on them. RBAC for
 * the controller is derived from {@link KUBERNETES_RESOURCES}: keep it the single list.
 */

/** API group of meshlet's own kinds. */
export const MESHLET_GROUP = 'meshlet.io';
/** Version of meshlet's own kinds. */
export const MESHLET_VERSION = 'v1alpha1';
/** Plural resource name of `meshlet.io/v1alpha1 Workload`. */
export const WORKLOADS_RESOURCE = 'workloads';
/** Plural resource name of `meshlet.io/v1alpha1 MeshTLS`. */
export const MESHTLSES_RESOURCE = 'meshtlses';
/** Plural resource name of `meshlet.io/v1alpha1 TrafficPolicy`. */
export const TRAFFIC_POLICIES_RESOURCE = 'trafficpolicies';
/** Plural resource name of `meshlet.io/v1alpha1 Telemetry`. */
export const TELEMETRIES_RESOURCE = 'telemetries';
/** The Gateway API group and the version meshlet reads its routes as. */
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
export const GATEWAY_VERSION = 'v1';
export const HTTPROUTES_RESOURCE = 'httproutes';
export const GRPCROUTES_RESOURCE = 'grpcroutes';
/** Plural resource name of AuthorizationPolicy, meshlet's and Istio's alike. */
export const AUTHORIZATION_POLICIES_RESOURCE = 'authorizationpolicies';
/** Istio's security API group and the version meshlet reads its AuthorizationPolicies as. */
export const ISTIO_SECURITY_GROUP = 'security.istio.io';
export const ISTIO_SECURITY_VERSION = 'v1';

/** A Kubernetes verb the registry uses. */
export type KubeVerb = 'list' | 'watch';

/** One resource the registry reads. */
export interface KubeResource {
  /** API group; '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural resource name, as in the URL and in RBAC rules. */
  readonly resource: string;
  /** The calls made on it, cluster-wide. */
  readonly verbs: readonly KubeVerb[];
  /** The object kind (objects in a list response carry no kind of their own). */
  readonly kind: string;
  /** Whether its objects live in a namespace. */
  readonly namespaced: boolean;
  /**
   * Its CRD may not be installed (the Gateway API's, or a meshlet CRD added by an upgrade whose
   * manifests are not applied yet): a 404 then means "no objects of it", not a failure, and
   * the list is tried again every minute (`kube-informer.ts`).
   */
  readonly optional?: boolean;
}

const LIST_WATCH: readonly KubeVerb[] = Object.freeze(['list', 'watch']);

/**
 * Every resource the Kubernetes source lists and watches, cluster-wide (no namespaced calls,
 * no get, no writes). The RBAC ClusterRole is these rules and nothing more.
 */
export const KUBERNETES_RESOURCES: readonly KubeResource[] = Object.freeze([
  { group: '', version: 'v1', resource: 'namespaces', verbs: LIST_WATCH, kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', resource: 'nodes', verbs: LIST_WATCH, kind: 'Node', namespaced: false },
  { group: '', version: 'v1', resource: 'pods', verbs: LIST_WATCH, kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', resource: 'services', verbs: LIST_WATCH, kind: 'Service', namespaced: true },
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: WORKLOADS_RESOURCE, verbs: LIST_WATCH, kind: 'Workload', namespaced: true },
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: MESHTLSES_RESOURCE, verbs: LIST_WATCH, kind: 'MeshTLS', namespaced: true },
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: TRAFFIC_POLICIES_RESOURCE, verbs: LIST_WATCH, kind: 'TrafficPolicy', namespaced: true, optional: true },
  { group: GATEWAY_GROUP, version: GATEWAY_VERSION, resource: HTTPROUTES_RESOURCE, verbs: LIST_WATCH, kind: 'HTTPRoute', namespaced: true, optional: true },
  { group: GATEWAY_GROUP, version: GATEWAY_VERSION, resource: GRPCROUTES_RESOURCE, verbs: LIST_WATCH, kind: 'GRPCRoute', namespaced: true, optional: true },
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: AUTHORIZATION_POLICIES_RESOURCE, verbs: LIST_WATCH, kind: 'AuthorizationPolicy', namespaced: true, optional: true },
  { group: MESHLET_GROUP, version: MESHLET_VERSION, resource: TELEMETRIES_RESOURCE, verbs: LIST_WATCH, kind: 'Telemetry', namespaced: true, optional: true },
  // Istio's, read as they are (a cluster moving from Istio keeps its policies); its CRD is
  // Istio's to install, so it is optional. v1 is the version Istio stores and serves since 1.22.
  { group: ISTIO_SECURITY_GROUP, version: ISTIO_SECURITY_VERSION, resource: AUTHORIZATION_POLICIES_RESOURCE, verbs: LIST_WATCH, kind: 'AuthorizationPolicy', namespaced: true, optional: true },
].map((r) => Object.freeze(r)));

/**
 * The kind as the registry's keys name it: the bare kind for the first resource listed with
 * it (keys and messages unchanged: `Pod/demo/web`), `<kind>.<group>` for another group's kind
 * of the same name (`AuthorizationPolicy.security.istio.io/demo/deny`), so the objects of two
 * groups never share a key in the registry.
 */
export function keyKindOf(r: KubeResource): string {
  const first = KUBERNETES_RESOURCES.find((other) => other.kind === r.kind);
  return first === undefined || first.group === r.group ? r.kind : `${r.kind}.${r.group}`;
}

/** `v1` or `meshlet.io/v1alpha1`: the apiVersion of the resource's objects. */
export function apiVersionOf(r: KubeResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

/** The cluster-wide collection path: `/api/v1/pods`, `/apis/meshlet.io/v1alpha1/workloads`. */
export function collectionPath(r: KubeResource): string {
  return r.group === '' ? `/api/${r.version}/${r.resource}` : `/apis/${r.group}/${r.version}/${r.resource}`;
}

/** `pods`, `workloads.meshlet.io`: how kubectl and RBAC messages name a resource. */
export function resourceName(r: KubeResource): string {
  return r.group === '' ? r.resource : `${r.resource}.${r.group}`;
}
