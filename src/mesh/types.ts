/**
 * The mesh model: the Kubernetes-style objects meshlet reads, and the per-node snapshot the
 * agent runs on. Plain data only; parsing lives in `objects.ts`, derivation in `snapshot.ts`.
 */

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
}

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
}

/** `meshlet.io/v1alpha1 Workload`: a VM or a container on a systemd host. */
export interface WorkloadObject extends NamespacedBase {
  readonly kind: 'Workload';
  readonly address: string;
  readonly node: string;
  readonly serviceAccount: string;
  readonly namedPorts: readonly NamedPort[];
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

/** Every object kind meshlet reads. */
export type MeshObject =
  | NamespaceObject
  | NodeObject
  | PodObject
  | ServiceObject
  | WorkloadObject
  | MeshTLSObject;

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
}

/** An IP address and port, e.g. a connection's original destination. */
export interface SocketAddress {
  readonly address: string;
  readonly port: number;
  readonly family: 4 | 6;
}
