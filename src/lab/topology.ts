/**
 * The lab's input: a small "cluster" described as nodes, Kubernetes namespaces, pods, Services
 * and MeshTLS objects. Plain data; `topology-parse.ts` narrows YAML into it and
 * `topology-validate.ts` checks it, `addressing.ts` turns it into a {@link LabPlan}.
 *
 * @module
 */

import type { TlsMode } from '../mesh/types.js';

/** A node of the lab: one network namespace that will run one meshlet agent. */
export interface LabNode {
  /** Node name, a DNS label of at most 15 characters (it names an interface in the fabric). */
  readonly name: string;
  /** Node labels, e.g. `topology.kubernetes.io/zone` for locality. */
  readonly labels?: Readonly<Record<string, string>>;
}

/** A Kubernetes namespace. Label `meshlet.io/mesh: enabled` enrolls its pods in the mesh. */
export interface LabNamespace {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** A pod: one network namespace with a routed veth into its node. */
export interface LabPod {
  /** Pod name, unique in the whole lab (it names the pod's network namespace). */
  readonly name: string;
  /** Kubernetes namespace of the pod; must be listed in {@link LabTopology.namespaces}. */
  readonly namespace: string;
  /** Node the pod runs on; must be listed in {@link LabTopology.nodes}. */
  readonly node: string;
  /** Service account (SPIFFE identity); `default` when absent. */
  readonly serviceAccount?: string;
  readonly labels?: Readonly<Record<string, string>>;
  /** Pod annotations, e.g. `meshlet.io/max-connections: "5"`. */
  readonly annotations?: Readonly<Record<string, string>>;
  /** Opt this pod out of the mesh (label `meshlet.io/mesh: disabled`). */
  readonly meshDisabled?: boolean;
}

/** One port of a lab Service. */
export interface LabServicePort {
  readonly name?: string;
  readonly port: number;
  /**
   * Container port number; defaults to `port`. Lab pods declare no named container ports, so
   * a port name could never resolve and is not accepted.
   */
  readonly targetPort?: number;
  /** `http`, `http2`, `grpc`... (unknown protocols stay L4). */
  readonly appProtocol?: string;
}

/** A Service: gets a VIP from 198.19.0.0/16 and selects pods by labels. */
export interface LabService {
  readonly name: string;
  readonly namespace: string;
  readonly selector: Readonly<Record<string, string>>;
  readonly ports: readonly LabServicePort[];
  /** Service annotations, e.g. `meshlet.io/opaque-ports: "5432"`. */
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A `meshlet.io/v1alpha1 MeshTLS` object for a namespace or a label selector inside it. */
export interface LabMeshTLS {
  readonly name: string;
  readonly namespace: string;
  readonly mode: TlsMode;
  readonly selector?: Readonly<Record<string, string>>;
}

/** Everything a lab is built from. */
export interface LabTopology {
  /** Lab name, `[a-z0-9]{1,8}`: it prefixes every namespace (`ml-<name>-...`). */
  readonly name: string;
  readonly nodes: readonly LabNode[];
  readonly namespaces: readonly LabNamespace[];
  readonly pods: readonly LabPod[];
  readonly services: readonly LabService[];
  readonly meshTLS?: readonly LabMeshTLS[];
}

/** Prefix of every network namespace a lab creates: `ml-<lab>-`. */
export function netnsPrefix(lab: string): string {
  return `ml-${lab}-`;
}

/** Name of the network namespace holding a lab's fabric bridge. */
export function fabricNetnsName(lab: string): string {
  return `${netnsPrefix(lab)}fabric`;
}

/** Name of the network namespace of a node or a pod (they share one name space). */
export function memberNetnsName(lab: string, member: string): string {
  return `${netnsPrefix(lab)}${member}`;
}

/** Where labs keep their files unless told otherwise. */
export const DEFAULT_LAB_BASE_DIR = '/run/meshlet/lab';
