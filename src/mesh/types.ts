/**
 * The mesh model: the Kubernetes-style objects meshlet reads, and the per-node snapshot the
 * agent runs on. Plain data only; parsing lives in `objects.ts`, derivation in `snapshot.ts`.
 */

import type { BalancerSpec, HashKeySource } from './load-balancer.js';
import type { AuthorizationPolicyData } from './authz/types.js';
import type { GrpcRouteData, HttpRouteData, RouteData } from './routes.js';
import type { ResiliencePolicy, ROUTE_POLICY_SECTIONS } from './resilience.js';

/** Label on a Namespace that enrolls its pods into the mesh. */
export const MESH_LABEL = 'meshlet.io/mesh';
/** Value of {@link MESH_LABEL} on a Namespace that enrolls it. */
export const MESH_ENABLED = 'enabled';
/** Value of {@link MESH_LABEL} on a Pod or Workload that opts it out. */
export const MESH_DISABLED = 'disabled';
/** Default SPIFFE trust domain. */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

/** Where an object came from, so errors can name the file and the document. */
export interface SourceRef {
  /** File path (or another source name such as `kubernetes`). */
  readonly file: string;
  /** 0-based index of the YAML document in the file. */
  readonly doc: number;
}

/** Fields every object shares. */
export interface ObjectBase {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly source: SourceRef;
}

/** A namespaced object. */
export interface NamespacedBase extends ObjectBase {
  readonly namespace: string;
}

/** `v1 Namespace`. */
export interface NamespaceObject extends ObjectBase {
  readonly kind: 'Namespace';
}

/** `v1 Node`: meshlet reads its name and its InternalIP address (the tunnel address). */
export interface NodeObject extends ObjectBase {
  readonly kind: 'Node';
  /** InternalIP addresses, first preferred. */
  readonly addresses: readonly string[];
  /** The `topology.kubernetes.io/zone` label, when set. */
  readonly zone?: string;
}

/** The Node label that names its zone (locality-aware load balancing prefers the source's). */
export const ZONE_LABEL = 'topology.kubernetes.io/zone';

/** A named container port, for Service `targetPort` by name. */
export interface NamedPort {
  readonly name: string;
  readonly port: number;
}

/** `v1 Pod`. */
export interface PodObject extends NamespacedBase {
  readonly kind: 'Pod';
  readonly nodeName: string;
  readonly serviceAccountName: string;
  /** `status.podIPs` (or `status.podIP`); empty while the pod has no address. */
  readonly addresses: readonly string[];
  readonly namedPorts: readonly NamedPort[];
  /** `hostNetwork: true` pods are never captured: they share the node's address. */
  readonly hostNetwork: boolean;
  /** Its `meshlet.io/max-connections` and `meshlet.io/max-bandwidth` annotations; absent: the agent's defaults (docs/workload-limits.md). */
  readonly limits?: WorkloadLimits;
}

/**
 * What an operator caps for one workload on its node's agent (docs/workload-limits.md). Absent fields
 * take the agent's default, which protects the rest of the node without configuration.
 */
export interface WorkloadLimits {
  /** Connections the workload may have open through its agent at once (as a source, outbound). */
  readonly maxConnections?: number;
  /**
   * Bits per second its outbound connections may move through its agent, both ways summed
   * (`meshlet.io/max-bandwidth`); absent: not limited.
   */
  readonly maxBandwidth?: number;
  /**
   * The largest share of each data-path process of its agent, in percent (1..100), the workload
   * may take while the process is saturated and another local workload is active
   * (`meshlet.io/max-agent-share`); absent: not limited.
   */
  readonly maxAgentShare?: number;
}

/** One entry of a Service's `spec.ports`. */
export interface ServicePort {
  readonly name?: string;
  readonly port: number;
  /** A number, or the name of a container port. Defaults to `port`. */
  readonly targetPort: number | string;
  readonly appProtocol?: string;
}

/** `v1 Service`. */
export interface ServiceObject extends NamespacedBase {
  readonly kind: 'Service';
  /** `spec.clusterIPs` (or `spec.clusterIP`); empty for headless Services. */
  readonly clusterIPs: readonly string[];
  /** `spec.selector`; absent means the Service selects nothing (manual endpoints). */
  readonly selector?: Readonly<Record<string, string>>;
  readonly ports: readonly ServicePort[];
  /** Ports the `meshlet.io/opaque-ports` annotation declares opaque (never sniffed), sorted. */
  readonly opaquePorts?: readonly number[];
}

/** Service annotation listing ports that are opaque TCP, never sniffed: `"3306,5432"`. */
export const OPAQUE_PORTS_ANNOTATION = 'meshlet.io/opaque-ports';

/** A route's `parentRefs` entry as written (defaults filled in). GAMMA attaches kind Service. */
export interface RouteParentRef {
  /** '' for the core group. */
  readonly group: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly sectionName?: string;
  readonly port?: number;
}

/** Fields of `gateway.networking.k8s.io/v1` HTTPRoute and GRPCRoute objects. */
interface RouteObjectBase extends NamespacedBase {
  /** `metadata.creationTimestamp` in ms since the epoch; 0 when absent (YAML files). */
  readonly creationTimestamp: number;
  /** Every parentRef, Services and others (a Gateway parent is reported, not attached). */
  readonly parentRefs: readonly RouteParentRef[];
  /** `metadata.generation` (Kubernetes sets it): the status's `observedGeneration`. */
  readonly generation?: number;
}

/** `gateway.networking.k8s.io/v1 HTTPRoute`, validated; `route.parents` are its Service parentRefs. */
export interface HTTPRouteObject extends RouteObjectBase {
  readonly kind: 'HTTPRoute';
  readonly route: HttpRouteData;
}

/** `gateway.networking.k8s.io/v1 GRPCRoute`, validated. */
export interface GRPCRouteObject extends RouteObjectBase {
  readonly kind: 'GRPCRoute';
  readonly route: GrpcRouteData;
}

/** A TrafficPolicy compiled for the data path: how a Service's requests are balanced. */
export interface TrafficPolicyInfo extends ResiliencePolicy {
  /** `namespace/name` of the TrafficPolicy, for status and logs. */
  readonly policy: string;
  readonly balancer: BalancerSpec;
  /** Where a consistent-hash key comes from, in order (empty unless the algorithm hashes). */
  readonly hashKeys: readonly HashKeySource[];
  /** Prefer endpoints in the source's zone, failing over when none is healthy. */
  readonly preferLocalZone: boolean;
}

/** `meshlet.io/v1alpha1 TrafficPolicy`: per-request traffic settings of the Services it targets. */
export interface TrafficPolicyObject extends NamespacedBase {
  readonly kind: 'TrafficPolicy';
  readonly creationTimestamp: number;
  /** Names of the Services it targets, in its namespace. */
  readonly targets: readonly string[];
  readonly policy: TrafficPolicyInfo;
}

/** `meshlet.io/v1alpha1 Workload`: a VM or a container on a systemd host. */
export interface WorkloadObject extends NamespacedBase {
  readonly kind: 'Workload';
  readonly address: string;
  readonly node: string;
  readonly serviceAccount: string;
  readonly namedPorts: readonly NamedPort[];
  /** Its limit annotations, as a pod's. */
  readonly limits?: WorkloadLimits;
}

/** mTLS mode for inbound plaintext. */
export type TlsMode = 'STRICT' | 'PERMISSIVE';

/** `meshlet.io/v1alpha1 MeshTLS`: the inbound TLS mode of a namespace or selected workloads. */
export interface MeshTLSObject extends NamespacedBase {
  readonly kind: 'MeshTLS';
  readonly mode: TlsMode;
  /** `spec.selector.matchLabels`; absent means the whole namespace. */
  readonly selector?: Readonly<Record<string, string>>;
}

/**
 * `meshlet.io/v1alpha1 AuthorizationPolicy`, or Istio's `security.istio.io/v1` (`v1beta1`) one
 * read as it is: who may reach the workloads it selects (see `authz/types.ts`).
 */
export interface AuthorizationPolicyObject extends NamespacedBase {
  readonly kind: 'AuthorizationPolicy';
  readonly policy: AuthorizationPolicyData;
}

/** How spans reach a collector: OTLP/HTTP with protobuf bodies, or OTLP/gRPC (`OTEL_EXPORTER_OTLP_PROTOCOL`'s names). */
export type OtlpProtocol = 'http/protobuf' | 'grpc';

/** The tracing settings of a namespace. */
export interface TracingSettings {
  /** The collector's URL (`http:` or `https:`; for gRPC, plaintext HTTP/2 or TLS). */
  readonly collector: string;
  /** Absent: `http/protobuf` (so a snapshot without the field means what it always meant). */
  readonly protocol?: OtlpProtocol;
  /** Percentage (0-100) of new traces sampled; a caller's decision is always honoured. */
  readonly samplingPercentage: number;
}

/** A Telemetry object as agents get it (in the snapshot). */
export interface TelemetryData {
  readonly namespace: string;
  readonly name: string;
  readonly creationTimestamp: number;
  /** Absent: this namespace has no tracing (it does not fall back to the mesh-wide one). */
  readonly tracing?: TracingSettings;
}

/** `meshlet.io/v1alpha1 Telemetry` (`objects/telemetry.ts`): tracing settings of a namespace, or of the mesh in the root namespace. */
export interface TelemetryObject extends TelemetryData {
  readonly kind: 'Telemetry';
  readonly labels: Readonly<Record<string, string>>;
  readonly source: SourceRef;
}

/** Every object kind meshlet reads. */
export type MeshObject =
  | NamespaceObject
  | NodeObject
  | PodObject
  | ServiceObject
  | WorkloadObject
  | MeshTLSObject
  | HTTPRouteObject
  | GRPCRouteObject
  | TrafficPolicyObject
  | AuthorizationPolicyObject
  | TelemetryObject;

/** The kind names meshlet reads. */
export type MeshObjectKind = MeshObject['kind'];

/**
 * A meshed (or known) workload as the data path sees it: one address, its node, its identity.
 * Workloads are keyed by `uid` = `<kind>/<namespace>/<name>`.
 */
export interface WorkloadInfo {
  readonly uid: string;
  readonly kind: 'Pod' | 'Workload';
  readonly name: string;
  readonly namespace: string;
  readonly addresses: readonly string[];
  readonly node: string;
  /** Tunnel address of the workload's node (its InternalIP). */
  readonly nodeAddress: string;
  readonly serviceAccount: string;
  /** SPIFFE ID, e.g. `spiffe://cluster.local/ns/demo/sa/web`. */
  readonly identity: string;
  readonly labels: Readonly<Record<string, string>>;
  /** Inbound TLS mode in force for this workload. */
  readonly tlsMode: TlsMode;
  readonly namedPorts: readonly NamedPort[];
  /** Its node's zone (`topology.kubernetes.io/zone`), when known. */
  readonly zone?: string;
  /** Limits its object's annotations set (absent: the agent's defaults; never on the wire then). */
  readonly limits?: WorkloadLimits;
}

/** An endpoint of a Service. `identity` is absent when the backing workload is not meshed. */
export interface EndpointInfo {
  /** uid of the backing workload. */
  readonly workload: string;
  readonly address: string;
  readonly node: string;
  readonly nodeAddress: string;
  readonly meshed: boolean;
  readonly identity?: string;
  /** Resolved target port for each Service port (keyed by the Service `port`). */
  readonly targetPorts: Readonly<Record<number, number>>;
  /** Its node's zone (`topology.kubernetes.io/zone`), when known: for locality. */
  readonly zone?: string;
}

/** A Service as the data path sees it. */
export interface ServiceInfo {
  /** `<namespace>/<name>`. */
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly vips: readonly string[];
  readonly ports: readonly ServicePort[];
  readonly endpoints: readonly EndpointInfo[];
  /** The TrafficPolicy in force (the oldest one targeting the Service); absent: defaults. */
  readonly trafficPolicy?: TrafficPolicyInfo;
  /** Ports declared opaque by the `meshlet.io/opaque-ports` annotation (never sniffed). */
  readonly opaquePorts?: readonly number[];
}

/**
 * Everything one node's agent needs: computed by the controller (or, in static mode, by the
 * agent itself from a YAML directory) and applied as one unit.
 */
export interface NodeSnapshot {
  /** Opaque version; a new snapshot always carries a new version. */
  readonly version: string;
  readonly node: string;
  /** This node's tunnel address. */
  readonly nodeAddress: string;
  readonly trustDomain: string;
  /** Meshed workloads scheduled on this node: capture rules and certificates are for these. */
  readonly localWorkloads: readonly WorkloadInfo[];
  /** Every meshed workload in the cluster, local ones included: for direct pod-IP traffic. */
  readonly workloads: readonly WorkloadInfo[];
  /** Every Service with its endpoints (meshed or not). */
  readonly services: readonly ServiceInfo[];
  /**
   * Accepted HTTPRoutes and GRPCRoutes (each with its accepted Service parents, unresolved
   * backends marked `invalid`), as plain data: the agent compiles their patterns.
   * Absent: none.
   */
  readonly routes?: readonly RouteData[];
  /** This node's zone (`topology.kubernetes.io/zone`), when known. */
  readonly zone?: string;
  /**
   * Every AuthorizationPolicy of the mesh, sorted by key then apiVersion (the agent selects and
   * compiles those of its workloads). Absent: none.
   */
  readonly authorizationPolicies?: readonly AuthorizationPolicyData[];
  /**
   * TrafficPolicies that target a route (HTTPRoute or GRPCRoute) rather than a Service: only the
   * per-request sections ({@link ROUTE_POLICY_SECTIONS}). Absent: none.
   */
  readonly routePolicies?: readonly RoutePolicyData[];
  /** Telemetry objects (tracing settings by namespace), sorted by namespace/name. Absent: none. */
  readonly telemetry?: readonly TelemetryData[];
}

/** A TrafficPolicy attached to a route: `route` is `<kind>/<namespace>/<name>`. */
export interface RoutePolicyData {
  readonly route: string;
  readonly policy: RoutePolicyInfo;
}

/** The sections of a TrafficPolicy that apply per route. */
export type RoutePolicyInfo = { readonly policy: string } & Pick<ResiliencePolicy, (typeof ROUTE_POLICY_SECTIONS)[number]>;

/** An IP address and port, e.g. a connection's original destination. */
export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}
