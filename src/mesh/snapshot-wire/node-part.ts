/**
 * The node's own part of a snapshot made from the agent's keyed view (issue 17): its name, its
 * address and its local workloads, checked as a full decode checks them (the agent's own node,
 * an address no workload has, local workloads of the view on this node, each once). The local
 * workloads come whole (`localWorkloadUids`, as in a full snapshot) or as the change from the
 * set the agent holds (`SnapshotDelta.local_workloads_as_change`): then the check and the list
 * cost the change, not the node's 10,000 local workloads. A removed uid that is not held, or an
 * added uid that is held already, not in the view or on another node, refuses the push.
 */
import { MeshletError } from '../errors.js';
import { formatValue } from '../validate/values.js';
import type { NodeSnapshot, WorkloadInfo } from '../types.js';
import { canonicalAddress } from '../workload-address.js';
import { ipOrEmpty, subdomain, WireProblems } from './checks.js';
import { LIST_ORDER, type KeyedClusterView } from './delta-types.js';
import { LayeredMap } from './layered-map.js';
import { isStrictlySorted, mergeSorted } from './sorted-merge.js';
import { sortBy } from '../cluster-state.js';

/** Problems named in the error message (all are in `details`). */
const MESSAGE_PROBLEMS = 5;

/** The node's own part of a snapshot, as the `Snapshot` message carries it. */
export interface NodePart {
  readonly node: string;
  readonly nodeAddress: string;
  readonly localWorkloadUids: readonly string[];
}

/** The local workloads as the change from the agent's held set (`SnapshotDelta` fields 11, 12). */
export interface LocalWorkloadsChange {
  readonly localWorkloadUidsAdded: readonly string[];
  readonly localWorkloadUidsRemoved: readonly string[];
}

/** The local workloads an agent holds with its view: by uid, and as its snapshot lists them. */
export interface HeldLocal {
  readonly byUid: LayeredMap<string, WorkloadInfo>;
  readonly list: readonly WorkloadInfo[];
  /** `list` is in uid order (what this controller sends): a change merges into it. */
  readonly sorted: boolean;
}

/** The held form of a snapshot's local workloads (in the order they came). */
export function heldLocalOf(list: readonly WorkloadInfo[]): HeldLocal {
  return { byUid: LayeredMap.of(list.map((w) => [w.uid, w])), list, sorted: isStrictlySorted(list, LIST_ORDER.workloads) };
}

/** A node snapshot and the local workloads to hold with it. */
export interface NodeSnapshotAndLocal {
  readonly snapshot: NodeSnapshot;
  readonly local: HeldLocal;
}

/**
 * The snapshot an agent runs on, from its keyed view (of `version`) and its node part with the
 * local workloads whole: what `decodeSnapshot` gives for a full snapshot of the same view.
 * Throws MESHLET_ERR_CONTROLLER naming each problem.
 */
export function nodeSnapshotOfView(view: KeyedClusterView, version: string, part: NodePart, expected: Expected): NodeSnapshot {
  return nodeSnapshotWhole(view, version, part, expected).snapshot;
}

/** {@link nodeSnapshotOfView}, with the local workloads to hold. O(local workloads). */
export function nodeSnapshotWhole(view: KeyedClusterView, version: string, part: NodePart, expected: Expected): NodeSnapshotAndLocal {
  const p = new WireProblems();
  checkNode(p, view, part, expected);
  const localWorkloads: WorkloadInfo[] = [];
  const seen = new Set<string>();
  part.localWorkloadUids.forEach((uid, i) => {
    const path = `localWorkloadUids[${i}]`;
    const w = localWorkload(p, path, view, uid, part.node);
    if (w === undefined) return;
    if (seen.has(uid)) p.add(path, `${JSON.stringify(uid)} appears twice`);
    else {
      seen.add(uid);
      localWorkloads.push(w);
    }
  });
  refuseIfAny(p, version);
  return { snapshot: snapshotOf(view, version, part, localWorkloads), local: heldLocalOf(localWorkloads) };
}

/**
 * The snapshot an agent runs on, from its keyed view (of `version`, made by a delta that
 * changed the workloads `changedWorkloads`), the local workloads it held before (`held`) and the
 * node part with the local workloads as a change. Equal to {@link nodeSnapshotOfView} with the
 * new set whole, in uid order. Costs the change: the added and removed uids and the changed
 * workloads that are local, plus one copy of the local list's references when it changed.
 * Throws MESHLET_ERR_CONTROLLER naming each problem.
 */
export function nodeSnapshotOfChange(
  view: KeyedClusterView,
  changedWorkloads: ReadonlySet<string>,
  held: HeldLocal,
  version: string,
  part: NodePart & LocalWorkloadsChange,
  expected: Expected,
): NodeSnapshotAndLocal {
  const p = new WireProblems();
  checkNode(p, view, part, expected);
  if (part.localWorkloadUids.length > 0) p.add('localWorkloadUids', `must be empty when the local workloads come as a change (${part.localWorkloadUids.length} given)`);
  const draft = held.byUid.edit();
  const touched = new Set<string>();
  part.localWorkloadUidsRemoved.forEach((uid, i) => {
    const path = `localWorkloadUidsRemoved[${i}]`;
    if (touched.has(uid)) p.add(path, `${JSON.stringify(uid)} appears twice`);
    else if (!held.byUid.has(uid)) p.add(path, `${formatValue(uid)} is not a local workload the agent holds`);
    else {
      touched.add(uid);
      draft.delete(uid);
    }
  });
  part.localWorkloadUidsAdded.forEach((uid, i) => {
    const path = `localWorkloadUidsAdded[${i}]`;
    if (draft.has(uid)) p.add(path, `${formatValue(uid)} is a local workload the agent holds already`);
    else if (touched.has(uid)) p.add(path, `${JSON.stringify(uid)} is also removed or appears twice`);
    else {
      const w = localWorkload(p, path, view, uid, part.node);
      touched.add(uid);
      if (w !== undefined) draft.set(uid, w);
    }
  });
  // A held local workload the delta changed: the new entry, which must still be on this node.
  for (const uid of changedWorkloads) {
    if (touched.has(uid) || !held.byUid.has(uid)) continue;
    touched.add(uid);
    const w = view.workloads.get(uid);
    if (w === undefined) p.add('localWorkloadUids', `${JSON.stringify(uid)} is held as a local workload, but the delta removed it from the cluster view and not from the local workloads`);
    else if (w.node !== part.node) p.add('localWorkloadUids', `${JSON.stringify(uid)} is held as a local workload, but now runs on node ${JSON.stringify(w.node)}, not ${JSON.stringify(part.node)}`);
    else draft.set(uid, w);
  }
  refuseIfAny(p, version);
  const byUid = draft.done();
  if (touched.size === 0) return { snapshot: snapshotOf(view, version, part, held.list), local: held };
  const before = held.sorted ? held.list : sortBy(held.list, LIST_ORDER.workloads);
  const removed = [...touched].filter((uid) => held.byUid.has(uid));
  const inserted: WorkloadInfo[] = [];
  for (const uid of touched) {
    const w = byUid.get(uid);
    if (w !== undefined) inserted.push(w);
  }
  const list = mergeSorted(before, removed, inserted, LIST_ORDER.workloads);
  return { snapshot: snapshotOf(view, version, part, list), local: { byUid, list, sorted: true } };
}

type Expected = { readonly node: string; readonly trustDomain: string };

/** The trust domain, the node's name and its address. */
function checkNode(p: WireProblems, view: KeyedClusterView, part: Pick<NodePart, 'node' | 'nodeAddress'>, expected: Expected): void {
  if (view.trustDomain !== expected.trustDomain) p.add('cluster.trustDomain', `${JSON.stringify(view.trustDomain)} is not this agent's trust domain ${JSON.stringify(expected.trustDomain)}`);
  const nodeWhy = subdomain(part.node) ?? (part.node !== expected.node ? `is not this agent's node ${JSON.stringify(expected.node)}` : undefined);
  if (nodeWhy !== undefined) p.add('node', `${formatValue(part.node)} ${nodeWhy}`);
  const addressWhy = ipOrEmpty(part.nodeAddress);
  const canonical = part.nodeAddress === '' ? undefined : canonicalAddress(part.nodeAddress);
  if (addressWhy !== undefined) p.add('nodeAddress', `${formatValue(part.nodeAddress)} ${addressWhy}`);
  else if (canonical !== undefined && view.canonicalAddresses.has(canonical)) p.add('nodeAddress', `${JSON.stringify(part.nodeAddress)} is the address of a workload of the view`);
}

/** The workload `uid` names when it is in the view and on `node`; else a problem at `path`. */
function localWorkload(p: WireProblems, path: string, view: KeyedClusterView, uid: unknown, node: string): WorkloadInfo | undefined {
  const w = typeof uid === 'string' ? view.workloads.get(uid) : undefined;
  if (w === undefined) p.add(path, `${formatValue(uid)} is not a workload of the cluster view`);
  else if (w.node !== node) p.add(path, `${JSON.stringify(uid)} runs on node ${JSON.stringify(w.node)}, not ${JSON.stringify(node)}`);
  else return w;
  return undefined;
}

function refuseIfAny(p: WireProblems, version: string): void {
  if (p.total > 0) throw new MeshletError('MESHLET_ERR_CONTROLLER', `snapshot ${JSON.stringify(version)} is invalid: ${p.lines.slice(0, MESSAGE_PROBLEMS).join('; ')}`, { details: p.lines });
}

/** The snapshot of the view's kept lists (no sort, no copy) with the node part. */
function snapshotOf(view: KeyedClusterView, version: string, part: Pick<NodePart, 'node' | 'nodeAddress'>, localWorkloads: readonly WorkloadInfo[]): NodeSnapshot {
  const v = view.listed;
  const plain: NodeSnapshot = { version, node: part.node, nodeAddress: part.nodeAddress, trustDomain: view.trustDomain, localWorkloads, workloads: v.workloads, services: v.services };
  const withRoutes = v.routes.length === 0 ? plain : { ...plain, routes: v.routes };
  const withAuthz = v.authorizationPolicies.length === 0 ? withRoutes : { ...withRoutes, authorizationPolicies: v.authorizationPolicies };
  const withPolicies = v.routePolicies.length === 0 ? withAuthz : { ...withAuthz, routePolicies: v.routePolicies };
  const withTelemetry = v.telemetry.length === 0 ? withPolicies : { ...withPolicies, telemetry: v.telemetry };
  const zone = Object.hasOwn(v.nodeZones, part.node) ? v.nodeZones[part.node] : undefined;
  return zone === undefined ? withTelemetry : { ...withTelemetry, zone };
}

/**
 * The change from the local workload uids `before` to `after` (the controller's side of
 * `local_workloads_as_change`): the uids added and removed, each in the order of its list.
 * O(both lists); none when they are the same list.
 */
export function localWorkloadsChange(before: readonly string[], after: readonly string[]): { localWorkloadUidsAdded: string[]; localWorkloadUidsRemoved: string[] } {
  if (before === after) return { localWorkloadUidsAdded: [], localWorkloadUidsRemoved: [] };
  const was = new Set(before);
  const now = new Set(after);
  return { localWorkloadUidsAdded: after.filter((uid) => !was.has(uid)), localWorkloadUidsRemoved: before.filter((uid) => !now.has(uid)) };
}
