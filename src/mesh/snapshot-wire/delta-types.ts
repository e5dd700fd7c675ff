/**
 * The cluster view as keyed sets, and the shape of a delta between two versions of it (issue
 * 17; on the wire as `SnapshotDelta`, docs/agent-api.md). A full snapshot sends every workload and Service for
 * a one-pod change; a delta sends the entries that changed, each whole, and the keys removed.
 *
 * Keys, one set per section (what a full view's lists are unique by):
 * - `workloads`: the uid (`Pod/<namespace>/<name>`);
 * - `services`: `<namespace>/<name>`, the Service **without** its endpoints;
 * - `endpoints`: per Service key, its whole endpoint list (a pod joining or leaving a Service
 *   changes that list, not the Service's ports or policy), removed only with its Service;
 * - `routes`: `<kind>/<namespace>/<name>`; `routePolicies`: the route key;
 * - `authorizationPolicies`: `<API group> <namespace>/<name>` (a `meshlet.io` and a
 *   `security.istio.io` policy of one name are two policies, as in a full view);
 * - `telemetry`: `<namespace>/<name>`;
 * - `nodeZones`: sent whole when any zone changed (one short entry per node, rarely changing).
 */
import type { AuthorizationPolicyData } from '../authz/types.js';
import { sortBy } from '../cluster-state.js';
import type { RouteData } from '../routes.js';
import type { RoutePolicyData, ServiceInfo, TelemetryData, WorkloadInfo } from '../types.js';
import { canonicalAddress } from '../workload-address.js';
import { nodeZones } from './encode.js';
import { LayeredMap } from './layered-map.js';
import type { ClusterView } from './types.js';

/** The `cluster_encoding` of a delta: the full view's family (JSON, gzip), its own layout name. */
export const CLUSTER_DELTA_ENCODING = 'meshlet.cluster-delta.v1+json+gzip';
/**
 * The Hello capability of an agent that takes its local workloads as a change from the set it
 * holds (`SnapshotDelta.local_workloads_as_change`): a node with 10,000 local workloads would
 * otherwise get 10,000 uids (~170 KB) with every delta.
 */
export const LOCAL_WORKLOADS_CHANGE = 'meshlet.local-workloads-change.v1';
/** The format name inside the JSON, checked on decode. */
export const CLUSTER_DELTA_FORMAT = 'meshlet.cluster-delta.v1';

/** The keyed sections of a delta, in the order they are applied (routes need their Services). */
export const DELTA_SECTIONS = ['workloads', 'services', 'endpoints', 'routes', 'routePolicies', 'authorizationPolicies', 'telemetry'] as const;
/** One keyed section's name. */
export type DeltaSectionName = (typeof DELTA_SECTIONS)[number];

/**
 * What changed in one section: entries added or changed, each in its full new wire form (the
 * form a full view's list holds: untrusted until `applyDelta` validates it), and keys removed.
 */
export interface DeltaSection {
  readonly upserted: readonly unknown[];
  readonly removed: readonly string[];
}

/** The wire entry of the `endpoints` section: one Service's whole endpoint list. */
export interface EndpointsEntry {
  readonly service: string;
  readonly endpoints: readonly unknown[];
}

/** From one version of the cluster view to the next. */
export type ClusterDelta = Readonly<Record<DeltaSectionName, DeltaSection>> & {
  /** The version the delta applies to: anything else is a gap (ask for a full snapshot). */
  readonly fromVersion: string;
  readonly toVersion: string;
  /** The view's trust domain; a delta never changes it (that takes a full snapshot). */
  readonly trustDomain: string;
  /** Zone by node name, whole, when any changed; absent: unchanged. */
  readonly nodeZones?: Readonly<Record<string, string>>;
};

/** A delta as it would travel: `cluster_encoding` and the bytes. */
export interface EncodedClusterDelta {
  readonly fromVersion: string;
  readonly toVersion: string;
  readonly encoding: string;
  readonly bytes: Uint8Array;
}

/**
 * The cluster view an agent holds, keyed, with the indexes that let a delta be checked against
 * it in proportion to the delta (no pass over every workload). Never mutated: `applyDelta`
 * returns a new one, whose maps share the unchanged entries (`layered-map.ts`).
 */
export interface KeyedClusterView {
  readonly trustDomain: string;
  readonly workloads: LayeredMap<string, WorkloadInfo>;
  /** Services with their endpoints. */
  readonly services: LayeredMap<string, ServiceInfo>;
  readonly routes: LayeredMap<string, RouteData>;
  readonly routePolicies: LayeredMap<string, RoutePolicyData>;
  readonly authorizationPolicies: LayeredMap<string, AuthorizationPolicyData>;
  readonly telemetry: LayeredMap<string, TelemetryData>;
  readonly nodeZones: Readonly<Record<string, string>>;
  /** Workload address, as written -> its workload's uid (no address has two owners). */
  readonly addressOwners: LayeredMap<string, string>;
  /** Canonical workload address -> how many workloads have it (the node-address check). */
  readonly canonicalAddresses: LayeredMap<string, number>;
  /** Canonical node address of workloads -> how many workloads name it. */
  readonly nodeAddresses: LayeredMap<string, number>;
  /**
   * The same entries as lists in a full view's order, kept sorted by `applyDelta` (a merge of
   * the changed keys, `sorted-merge.ts`), so the agent's snapshot of a new version costs the
   * change, not a sort of the view. Shared with every snapshot made from this view: never
   * changed.
   */
  readonly listed: ListedClusterView;
}

/** A route's key: `<kind>/<namespace>/<name>`. */
export const routeKey = (r: { readonly kind: string; readonly namespace: string; readonly name: string }): string => `${r.kind}/${r.namespace}/${r.name}`;
/** An AuthorizationPolicy's key: `<API group> <namespace>/<name>`. */
export const authorizationPolicyKey = (p: AuthorizationPolicyData): string => `${p.apiVersion.split('/')[0] ?? ''} ${p.key}`;
/** A Telemetry object's key: `<namespace>/<name>`. */
export const telemetryKey = (t: TelemetryData): string => `${t.namespace}/${t.name}`;

/** What `indexWorkload` changes: a Map, or a draft of a LayeredMap. */
export interface WritableMap<K, V> {
  get(key: K): V | undefined;
  set(key: K, value: V): void;
  delete(key: K): void;
}

/** `map[key] += by`, deleting it at 0. */
export function bump(map: WritableMap<string, number>, key: string | undefined, by: 1 | -1): void {
  if (key === undefined) return;
  const n = (map.get(key) ?? 0) + by;
  if (n <= 0) map.delete(key);
  else map.set(key, n);
}

/** Adds (1) or takes out (-1) a workload's entries of the address indexes. */
export function indexWorkload(
  w: WorkloadInfo,
  by: 1 | -1,
  owners: WritableMap<string, string>,
  canonical: WritableMap<string, number>,
  nodes: WritableMap<string, number>,
): void {
  for (const a of w.addresses) {
    if (by === 1) owners.set(a, w.uid);
    else if (owners.get(a) === w.uid) owners.delete(a);
    bump(canonical, canonicalAddress(a), by);
  }
  if (w.nodeAddress !== '') bump(nodes, canonicalAddress(w.nodeAddress), by);
}

/** The keyed form of a view (one that passed a full decode, or the controller's own state). */
export function keyedView(view: ClusterView): KeyedClusterView {
  const listed = sortedView(view);
  const owners = new Map<string, string>();
  const canonical = new Map<string, number>();
  const nodes = new Map<string, number>();
  for (const w of view.workloads) indexWorkload(w, 1, owners, canonical, nodes);
  return {
    trustDomain: view.trustDomain,
    workloads: LayeredMap.of(view.workloads.map((w) => [w.uid, w])),
    services: LayeredMap.of(view.services.map((s) => [s.key, s])),
    routes: LayeredMap.of((view.routes ?? []).map((r) => [routeKey(r), r])),
    routePolicies: LayeredMap.of((view.routePolicies ?? []).map((p) => [p.route, p])),
    authorizationPolicies: LayeredMap.of((view.authorizationPolicies ?? []).map((p) => [authorizationPolicyKey(p), p])),
    telemetry: LayeredMap.of((view.telemetry ?? []).map((t) => [telemetryKey(t), t])),
    nodeZones: listed.nodeZones,
    addressOwners: LayeredMap.of(owners),
    canonicalAddresses: LayeredMap.of(canonical),
    nodeAddresses: LayeredMap.of(nodes),
    listed,
  };
}

/** A cluster view with every list present (maybe empty). */
export interface ListedClusterView extends ClusterView {
  readonly routes: readonly RouteData[];
  readonly routePolicies: readonly RoutePolicyData[];
  readonly authorizationPolicies: readonly AuthorizationPolicyData[];
  readonly telemetry: readonly TelemetryData[];
  readonly nodeZones: Readonly<Record<string, string>>;
}

/** The sort key of each list of a full view (`sortBy`'s order, code-point compare). */
export const LIST_ORDER = {
  workloads: (w: WorkloadInfo): string => w.uid,
  services: (s: ServiceInfo): string => s.key,
  routes: routeKey,
  routePolicies: (p: RoutePolicyData): string => p.route,
  authorizationPolicies: (p: AuthorizationPolicyData): string => `${p.key} ${p.apiVersion}`,
  telemetry: telemetryKey,
} as const;

/**
 * `view`'s lists in the order a built state and a full snapshot have them (each sorted by its
 * key: {@link LIST_ORDER}). A list that is in order already costs one pass.
 */
export function sortedView(view: ClusterView): ListedClusterView {
  return {
    trustDomain: view.trustDomain,
    workloads: sortBy(view.workloads, LIST_ORDER.workloads),
    services: sortBy(view.services, LIST_ORDER.services),
    routes: sortBy(view.routes ?? [], LIST_ORDER.routes),
    routePolicies: sortBy(view.routePolicies ?? [], LIST_ORDER.routePolicies),
    authorizationPolicies: sortBy(view.authorizationPolicies ?? [], LIST_ORDER.authorizationPolicies),
    telemetry: sortBy(view.telemetry ?? [], LIST_ORDER.telemetry),
    nodeZones: nodeZones(view),
  };
}

/** The view as lists, in a full view's order: the lists `applyDelta` keeps (no sort). */
export function viewOfKeyed(k: KeyedClusterView): ListedClusterView {
  return k.listed;
}
