/**
 * The shapes of the cluster state, apart from the code that builds it (`cluster-state.ts`) so
 * the helpers it uses can name them without importing it back.
 */
import type { AuthorizationPolicyData } from './authz/types.js';
import type { ObjectProblem } from './objects/report.js';
import type { RouteStatus } from './route-status.js';
import type { RouteData } from './routes.js';
import type {
  MeshTLSObject,
  NamedPort,
  WorkloadLimits,
  NamespaceObject,
  NodeObject,
  ServiceInfo,
  SourceRef,
  WorkloadInfo,
  RoutePolicyData,
  TelemetryData,
} from './types.js';

/** A Pod or Workload object as the state sees it, meshed or not. */
export interface StateWorkload {
  /** `<kind>/<namespace>/<name>`. */
  readonly uid: string;
  readonly kind: 'Pod' | 'Workload';
  readonly name: string;
  readonly namespace: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly addresses: readonly string[];
  /** Node name; '' for a pod not yet scheduled. */
  readonly node: string;
  /** The node's first InternalIP; '' when the node is unknown. */
  readonly nodeAddress: string;
  readonly serviceAccount: string;
  readonly identity: string;
  readonly namedPorts: readonly NamedPort[];
  readonly hostNetwork: boolean;
  readonly meshed: boolean;
  readonly source: SourceRef;
  /** Its node's zone, when the Node has the `topology.kubernetes.io/zone` label. */
  readonly zone?: string;
  /** Its object's limit annotations, when it sets any. */
  readonly limits?: WorkloadLimits;
}

/** The whole mesh, validated and derived. Build it with {@link buildClusterState}. */
export interface ClusterState {
  readonly trustDomain: string;
  readonly namespaces: ReadonlyMap<string, NamespaceObject>;
  readonly nodes: ReadonlyMap<string, NodeObject>;
  /** Every Pod and Workload object, sorted by uid. */
  readonly members: readonly StateWorkload[];
  /** Meshed workloads, sorted by uid. */
  readonly workloads: readonly WorkloadInfo[];
  /** Every Service with a cluster IP, with its endpoints, sorted by key. */
  readonly services: readonly ServiceInfo[];
  readonly meshTLS: readonly MeshTLSObject[];
  /**
   * Pods and Workloads that would be meshed but are left out, each with the reason: today, those
   * claiming the controller's own identity (see `isControllerServiceAccount`).
   */
  readonly refused: readonly ObjectProblem[];
  /** Routes accepted by at least one Service parent, resolved (see `route-status.ts`), sorted. */
  readonly routes: readonly RouteData[];
  /** Every HTTPRoute and GRPCRoute with its Gateway API status, sorted by kind/namespace/name. */
  readonly routeStatuses: readonly RouteStatus[];
  /**
   * TrafficPolicies (or some of their targets) set aside: a Service already targeted by an
   * older policy, or a target that does not exist. The rest applies.
   */
  readonly policyConflicts: readonly ObjectProblem[];
  /**
   * Every AuthorizationPolicy (`meshlet.io` and `security.istio.io` alike), sorted by key then
   * apiVersion. None is ever dropped: a policy left out could be a DENY, and leaving it out
   * would open what it closes.
   */
  readonly authorizationPolicies: readonly AuthorizationPolicyData[];
  /** TrafficPolicies attached to routes (oldest wins per route), sorted by route key `<kind>/<namespace>/<name>`. */
  readonly routePolicies: readonly RoutePolicyData[];
  /** Telemetry objects (tracing settings by namespace), sorted by namespace/name. */
  readonly telemetry: readonly TelemetryData[];
  /**
   * What an AuthorizationPolicy does not do that its author may expect, one line each (see
   * `authz/cluster-status.ts`): it selects no meshed workload, a targetRef names no Service,
   * or its L7 fields fail closed on a port no Service declares HTTP. Reported, never enforced.
   */
  readonly authorizationStatuses: readonly ObjectProblem[];
}
