/**
 * The cluster state kept up to date in proportion to a change (issue 17, item 3): after the
 * first build, a new set of objects is compared with the previous one by identity (the YAML
 * source hands the same frozen object again while its file is unchanged), and only what the
 * changed objects touch is made again: their members and workloads, the Services whose
 * selector matches them before or after (or that changed themselves), the routes and
 * TrafficPolicies when a Service, route or policy changed, the AuthorizationPolicies' status
 * lines when there are any. Everything else is the previous state's own objects.
 *
 * Falls back to {@link buildClusterParts} (the full build) for what can change everything: the
 * first build, a new trust domain, a Namespace, Node or MeshTLS change, many changed objects,
 * and any possible conflict (a duplicate object, address or cluster IP, a meshed workload on an
 * unknown node), so a refusal reads exactly as the full build's. The result always equals
 * `buildClusterState` of the same objects (property-tested in
 * test/unit/mesh/cluster-state-updater.test.ts).
 */
import {
  authorizationOf,
  buildClusterParts,
  deepFreeze,
  globalsOf,
  memberOf,
  refusalOf,
  routesAndPolicies,
  sortBy,
  telemetryOf,
  withPolicy,
  workloadInfoOf,
  type ClusterParts,
} from './cluster-state.js';
import type { ClusterState, StateWorkload } from './cluster-types.js';
import type { ObjectProblem } from './objects/report.js';
import { SelectorIndex, serviceInfoOf } from './service-endpoints.js';
import { ServiceSelectors } from './service-selectors.js';
import { mergeSorted } from './snapshot-wire/sorted-merge.js';
import type { MeshObject, PodObject, ServiceInfo, ServiceObject, WorkloadObject } from './types.js';

/**
 * Above this share of the objects changed (added plus removed), the full build: each changed
 * member copies the index lists it is in, so a change that large costs about a full build
 * anyway, and the full build is the reference.
 */
const MAX_CHANGED_SHARE = 1 / 16;
/** Changed objects always taken as an update, whatever the cluster's size (a small cluster's burst). */
const MIN_CHANGED_LIMIT = 64;

/** Kinds whose change can alter every member (membership, node address, zone, TLS mode). */
const GLOBAL_KINDS: ReadonlySet<MeshObject['kind']> = new Set(['Namespace', 'Node', 'MeshTLS']);
/** Kinds the route and TrafficPolicy part is made from. */
const LINK_KINDS: ReadonlySet<MeshObject['kind']> = new Set(['Service', 'HTTPRoute', 'GRPCRoute', 'TrafficPolicy']);

/** What one state is made of, kept to update it. Replaced whole, never edited but the indexes. */
interface Kept extends ClusterParts {
  /**
   * The kept objects, each with the number of the latest diff that found it listed: a diff
   * stamps the listed objects and takes the others as removed, without a set of the new list
   * (making a 111,000-entry set was most of a diff's time).
   */
  readonly objects: Map<MeshObject, number>;
  /** The number of the latest diff (see `objects`). */
  stamp: number;
  /** Object key (as the duplicate check keys it) -> object. */
  readonly byKey: Map<string, MeshObject>;
  readonly index: SelectorIndex;
  readonly selectors: ServiceSelectors;
  /** Address -> the uid of the member holding it (hostNetwork members share their node's). */
  readonly addresses: Map<string, string>;
  /** Cluster IP -> the key of the Service holding it. */
  readonly clusterIPs: Map<string, string>;
  /** Object key -> why that Pod or Workload is left out of the mesh. */
  readonly refused: Map<string, ObjectProblem>;
  readonly authorizationPolicies: number;
  /** Digest of each object that is not frozen, when it was kept (see UpdaterOptions.digest). */
  readonly digests: WeakMap<MeshObject, string>;
}

/** What changed between the kept objects and a new set. */
interface Change {
  readonly added: readonly MeshObject[];
  readonly removed: readonly MeshObject[];
  readonly kinds: ReadonlySet<MeshObject['kind']>;
  /** The diff's stamp (see `Kept.objects`). */
  readonly stamp: number;
  /**
   * Namespace, Node or MeshTLS objects replaced by objects of equal content (a node's status
   * written again with nothing meshlet reads changed): their maps are made again, no member is.
   */
  readonly globalsReplaced: boolean;
}

/** Options of {@link ClusterStateUpdater}. */
export interface UpdaterOptions {
  /**
   * A digest of an object's content, where it came from left out (`controller/input-digest.ts`).
   * With it, an object that is not frozen (it could change in place) counts as unchanged only
   * while its digest is the one it had, and {@link ClusterStateUpdater.unchanged} sees objects
   * replaced by equal ones. Without it, an object that is not frozen takes the full build.
   */
  readonly digest?: (o: MeshObject) => string;
}

/** The objects added and removed since the kept state's, or 'full' when that takes the full build. */
type Diff = { readonly added: readonly MeshObject[]; readonly removed: readonly MeshObject[]; readonly stamp: number } | 'full';

/** Builds cluster states, each from the previous one where it can. */
export class ClusterStateUpdater {
  private kept: Kept | undefined;
  /** The diff {@link unchanged} made, reused when the same list is built next. */
  private diffed: { readonly objects: readonly MeshObject[]; readonly diff: Diff } | undefined;
  /** How the latest build was made (tests and the bench check that the update was used). */
  lastBuild: 'full' | 'update' | 'none' = 'none';

  constructor(
    private readonly trustDomain: string,
    private readonly opts: UpdaterOptions = {},
  ) {}

  /**
   * The state of `objects`: equal to `buildClusterState(objects, {trustDomain})`, and throws
   * what it throws (then the previous state stays the base of the next update).
   */
  build(objects: readonly MeshObject[]): ClusterState {
    const kept = this.kept;
    const change = kept === undefined ? undefined : changeOf(objects, this.diff(objects), this.opts.digest);
    this.diffed = undefined;
    let next: Kept | undefined;
    try {
      next = kept !== undefined && change !== undefined ? update(kept, objects, change, this.trustDomain) : undefined;
    } catch {
      // Not expected (conflicts are ruled out before any index is edited); the indexes may be
      // half edited, so they are dropped and the full build decides (and reports).
      this.kept = undefined;
    }
    if (next !== undefined) recordDigests(next, change?.added ?? [], this.opts.digest);
    this.kept = next ?? keep(buildClusterParts(objects, this.trustDomain), objects, this.trustDomain, this.opts.digest);
    this.lastBuild = next === undefined ? 'full' : 'update';
    return this.kept.state;
  }

  /**
   * Whether `objects` build the kept (latest built) state: the same objects, or some replaced by
   * objects of the same key with the same digest (a file written again with the same content,
   * an informer's resync). Where objects came from may differ: the store publishes nothing for
   * that. False before the first build, and without a digest for a replaced object.
   */
  unchanged(objects: readonly MeshObject[]): boolean {
    // Made afresh (an object that is not frozen may have changed since), kept for the build.
    this.diffed = undefined;
    const diff = this.kept === undefined ? 'full' : this.diff(objects);
    if (diff === 'full') return false;
    return (diff.added.length === 0 && diff.removed.length === 0) || sameContent(diff.added, diff.removed, this.opts.digest);
  }

  private diff(objects: readonly MeshObject[]): Diff {
    if (this.diffed?.objects !== objects) this.diffed = { objects, diff: diffOf(this.kept as Kept, objects, this.opts.digest) };
    return this.diffed.diff;
  }
}

/**
 * The objects added and removed since `kept`'s, by identity: 'full' when the same object is
 * listed twice (a duplicate the full build names), or when a kept object that is not frozen
 * changed in place (its old content is gone: nothing to take out of the indexes).
 */
function diffOf(kept: Kept, objects: readonly MeshObject[], digest: ((o: MeshObject) => string) | undefined): Diff {
  const stamp = (kept.stamp += 1);
  const added: MeshObject[] = [];
  for (const o of objects) {
    const seen = kept.objects.get(o);
    if (seen === undefined) added.push(o);
    else if (seen === stamp) return 'full';
    else if (!Object.isFrozen(o) && (digest === undefined || digest(o) !== kept.digests.get(o))) return 'full';
    else kept.objects.set(o, stamp);
  }
  if (new Set(added).size !== added.length) return 'full';
  const removed: MeshObject[] = [];
  // Every kept object listed now carries this stamp; the others are gone.
  if (objects.length - added.length !== kept.objects.size) for (const [o, seen] of kept.objects) if (seen !== stamp) removed.push(o);
  return { added, removed, stamp };
}

/**
 * The change to update with, or undefined when it takes the full build: too many objects, or a
 * Namespace, Node or MeshTLS object whose content changed (or, without a digest, was replaced).
 */
function changeOf(objects: readonly MeshObject[], diff: Diff, digest: ((o: MeshObject) => string) | undefined): Change | undefined {
  if (diff === 'full') return undefined;
  const limit = Math.max(MIN_CHANGED_LIMIT, Math.floor(objects.length * MAX_CHANGED_SHARE));
  if (diff.added.length + diff.removed.length > limit) return undefined;
  const kinds = new Set([...diff.added, ...diff.removed].map((o) => o.kind));
  const globalsReplaced = [...kinds].some((kind) => GLOBAL_KINDS.has(kind));
  if (globalsReplaced && !sameContent(diff.added.filter(isGlobal), diff.removed.filter(isGlobal), digest)) return undefined;
  return { ...diff, kinds, globalsReplaced };
}

const isGlobal = (o: MeshObject): boolean => GLOBAL_KINDS.has(o.kind);

/** Whether `added` are `removed` again, key by key, each with the same digest. */
function sameContent(added: readonly MeshObject[], removed: readonly MeshObject[], digest: ((o: MeshObject) => string) | undefined): boolean {
  if (digest === undefined || added.length !== removed.length) return false;
  const before = new Map(removed.map((o) => [objectKey(o), digest(o)]));
  const after = new Map(added.map((o) => [objectKey(o), digest(o)]));
  return before.size === after.size && [...after].every(([key, d]) => before.get(key) === d);
}

/** Digests of the objects that are not frozen, to see later whether they changed in place. */
function recordDigests(kept: Kept, objects: Iterable<MeshObject>, digest: ((o: MeshObject) => string) | undefined): void {
  if (digest === undefined) return;
  for (const o of objects) if (!Object.isFrozen(o)) kept.digests.set(o, digest(o));
}

/** The next kept parts, or undefined when the change may conflict (the full build says how). */
function update(kept: Kept, objects: readonly MeshObject[], change: Change, trustDomain: string): Kept | undefined {
  // Equal content: the members' namespaces, nodes and TLS modes stay; the maps hold the new objects.
  const state: ClusterState = change.globalsReplaced ? { ...kept.state, ...globalsOf(objects) } : kept.state;
  const removedKeys = new Set(change.removed.map(objectKey));
  const addedKeys = new Set<string>();
  for (const o of change.added) {
    const key = objectKey(o);
    if (addedKeys.has(key) || (kept.byKey.has(key) && !removedKeys.has(key))) return undefined;
    addedKeys.add(key);
  }
  const gone = change.removed.filter(isMemberObject).map((o) => memberByUid(state, memberUid(o)));
  const fresh = change.added.filter(isMemberObject).map((o) => memberOf(o, state.namespaces, state.nodes, trustDomain));
  const goneServices = change.removed.filter(isService);
  const freshServices = change.added.filter(isService);
  if (!fits(kept, gone, fresh, removedKeys, freshServices)) return undefined;

  // No conflict: from here on the kept indexes are edited into the next state's.
  for (const m of gone) unindexMember(kept, m);
  for (const m of fresh) indexMember(kept, m);
  for (const o of change.removed) kept.byKey.delete(objectKey(o));
  for (const o of change.added) kept.byKey.set(objectKey(o), o);
  const affected = new Set<string>();
  for (const m of [...gone, ...fresh]) for (const key of kept.selectors.matching(m)) affected.add(key);
  for (const s of goneServices) {
    kept.selectors.update(s, false);
    for (const ip of s.clusterIPs) if (kept.clusterIPs.get(ip) === serviceKey(s)) kept.clusterIPs.delete(ip);
    affected.add(serviceKey(s));
  }
  for (const s of freshServices) {
    kept.selectors.update(s, true);
    for (const ip of s.clusterIPs) kept.clusterIPs.set(ip, serviceKey(s));
    affected.add(serviceKey(s));
  }
  const changedServices = [...affected].flatMap((key) => {
    const s = kept.selectors.service(key);
    return s === undefined || s.clusterIPs.length === 0 ? [] : [deepFreeze(serviceInfoOf(s, kept.index))];
  });
  const plainServices = mergeSorted(kept.plainServices, [...affected], changedServices, keyOfService);
  const goneUids = gone.map((m) => m.uid);
  const members = mergeSorted(state.members, goneUids, deepFreeze(fresh), uidOf);
  const workloads = mergeSorted(state.workloads, goneUids, deepFreeze(fresh.filter((m) => m.meshed).map((m) => workloadInfoOf(m, state.meshTLS))), uidOf);

  let linked: Pick<ClusterState, 'services' | 'routes' | 'routeStatuses' | 'policyConflicts' | 'routePolicies'>;
  let policyByService = kept.policyByService;
  if ([...change.kinds].some((k) => LINK_KINDS.has(k))) {
    ({ policyByService, ...linked } = routesAndPolicies(objects, plainServices));
  } else {
    const services = mergeSorted(state.services, [...affected], changedServices.map((s) => withPolicy(s, policyByService.get(s.key))), keyOfService);
    linked = { services, routes: state.routes, routeStatuses: state.routeStatuses, policyConflicts: state.policyConflicts, routePolicies: state.routePolicies };
  }
  const refused = updateRefused(kept, change, trustDomain);
  const authorizationPolicies = kept.authorizationPolicies + count(change.added, 'AuthorizationPolicy') - count(change.removed, 'AuthorizationPolicy');
  const authz = authorizationPolicies > 0 || change.kinds.has('AuthorizationPolicy') ? authorizationOf(objects, workloads, linked.services) : state;
  // The big lists' entries are frozen already (deepFreeze would visit each one again).
  const next: ClusterState = deepFreeze({
    ...state,
    members: Object.freeze(members),
    workloads: Object.freeze(workloads),
    ...linked,
    refused,
    telemetry: change.kinds.has('Telemetry') ? telemetryOf(objects) : state.telemetry,
    authorizationPolicies: authz.authorizationPolicies,
    authorizationStatuses: authz.authorizationStatuses,
  });
  for (const o of change.removed) kept.objects.delete(o);
  for (const o of change.added) kept.objects.set(o, change.stamp);
  return { ...kept, state: next, plainServices: Object.freeze(plainServices), policyByService, authorizationPolicies };
}

/**
 * Whether the changed members and Services fit with the rest: no meshed member on an unknown
 * node or one without an address, no address or cluster IP held twice.
 */
function fits(kept: Kept, gone: readonly StateWorkload[], fresh: readonly StateWorkload[], removedKeys: ReadonlySet<string>, services: readonly ServiceObject[]): boolean {
  const goneUids = new Set(gone.map((m) => m.uid));
  const claimed = new Map<string, string>();
  for (const m of fresh) {
    if (m.meshed && (kept.state.nodes.get(m.node)?.addresses.length ?? 0) === 0) return false;
    if (m.hostNetwork) continue;
    for (const address of m.addresses) {
      const prior = claimed.get(address);
      if (prior !== undefined) {
        if (prior !== m.uid) return false;
        continue;
      }
      const owner = kept.addresses.get(address);
      if (owner !== undefined && owner !== m.uid && !goneUids.has(owner)) return false;
      claimed.set(address, m.uid);
    }
  }
  const ips = new Map<string, string>();
  for (const s of services) {
    const key = serviceKey(s);
    for (const ip of s.clusterIPs) {
      const prior = ips.get(ip);
      if (prior !== undefined) {
        if (prior !== key) return false;
        continue;
      }
      const owner = kept.clusterIPs.get(ip);
      if (owner !== undefined && owner !== key && !removedKeys.has(serviceObjectKey(owner))) return false;
      ips.set(ip, key);
    }
  }
  return true;
}

function indexMember(kept: Kept, m: StateWorkload): void {
  kept.index.update(m, true);
  if (!m.hostNetwork) for (const address of m.addresses) kept.addresses.set(address, m.uid);
}

function unindexMember(kept: Kept, m: StateWorkload): void {
  kept.index.update(m, false);
  if (!m.hostNetwork) for (const address of m.addresses) if (kept.addresses.get(address) === m.uid) kept.addresses.delete(address);
}

function updateRefused(kept: Kept, change: Change, trustDomain: string): readonly ObjectProblem[] {
  let changed = false;
  for (const o of change.removed) changed = kept.refused.delete(objectKey(o)) || changed;
  for (const o of change.added) {
    const problem = refusalOf(o, kept.state.namespaces, trustDomain);
    if (problem === undefined) continue;
    kept.refused.set(objectKey(o), problem);
    changed = true;
  }
  return changed ? sortBy([...kept.refused.values()], (p) => p.text) : kept.state.refused;
}

/** The parts of a fully built state, with the indexes its updates start from. */
function keep(parts: ClusterParts, objects: readonly MeshObject[], trustDomain: string, digest: ((o: MeshObject) => string) | undefined): Kept {
  const byKey = new Map<string, MeshObject>();
  const selectors = new ServiceSelectors();
  const clusterIPs = new Map<string, string>();
  const refused = new Map<string, ObjectProblem>();
  let authorizationPolicies = 0;
  for (const o of objects) {
    byKey.set(objectKey(o), o);
    if (o.kind === 'Service') {
      selectors.update(o, true);
      for (const ip of o.clusterIPs) clusterIPs.set(ip, serviceKey(o));
    } else if (o.kind === 'AuthorizationPolicy') {
      authorizationPolicies += 1;
    }
    const problem = refusalOf(o, parts.state.namespaces, trustDomain);
    if (problem !== undefined) refused.set(objectKey(o), problem);
  }
  const addresses = new Map<string, string>();
  for (const m of parts.state.members) if (!m.hostNetwork) for (const address of m.addresses) addresses.set(address, m.uid);
  const index = new SelectorIndex(parts.state.members);
  const kept = { ...parts, objects: new Map(objects.map((o) => [o, 0])), stamp: 0, byKey, index, selectors, addresses, clusterIPs, refused, authorizationPolicies, digests: new WeakMap<MeshObject, string>() };
  recordDigests(kept, objects, digest);
  return kept;
}

/** The key the full build's duplicate check gives an object (`cluster-conflicts.ts`). */
function objectKey(o: MeshObject): string {
  const slash = o.kind === 'AuthorizationPolicy' ? o.policy.apiVersion.indexOf('/') : -1;
  const group = o.kind === 'AuthorizationPolicy' && slash >= 0 ? o.policy.apiVersion.slice(0, slash) : '';
  return `${o.kind}/${group}/${'namespace' in o ? o.namespace : ''}/${o.name}`;
}

const serviceKey = (s: ServiceObject): string => `${s.namespace}/${s.name}`;
/** The object key of the Service of key `namespace/name`. */
const serviceObjectKey = (key: string): string => `Service//${key}`;
const keyOfService = (s: ServiceInfo): string => s.key;
const uidOf = (m: { readonly uid: string }): string => m.uid;
const memberUid = (o: PodObject | WorkloadObject): string => `${o.kind}/${o.namespace}/${o.name}`;

function isMemberObject(o: MeshObject): o is PodObject | WorkloadObject {
  return o.kind === 'Pod' || o.kind === 'Workload';
}

function isService(o: MeshObject): o is ServiceObject {
  return o.kind === 'Service';
}

function count(objects: readonly MeshObject[], kind: MeshObject['kind']): number {
  return objects.reduce((n, o) => n + (o.kind === kind ? 1 : 0), 0);
}

/** The kept state's member of `uid` (the removed object's: it is in the kept state). */
function memberByUid(state: ClusterState, uid: string): StateWorkload {
  let lo = 0;
  let hi = state.members.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((state.members[mid] as StateWorkload).uid < uid) lo = mid + 1;
    else hi = mid;
  }
  const m = state.members[lo];
  if (m?.uid !== uid) throw new Error(`the kept state has no member ${uid}`);
  return m;
}
