/**
 * The tables behind a `WorkloadIndex`, built from a whole snapshot ({@link buildTables}) or
 * derived from the previous snapshot's tables and the entries that changed
 * ({@link deriveTables}: issue 17, a one-pod change at 100,000 pods costs the change). Every
 * per-key table is a {@link LayeredMap}: the derived version shares every unchanged entry with
 * the previous one, which stays as it was (open connections and balancers may still read it).
 * Derived tables equal the tables built from the same snapshot (a property test compares every
 * lookup: `test/unit/agent/state/index-tables.test.ts`); on any doubt (a changed address
 * policy, a list not in key order, a duplicate address, a large change) the derive gives up
 * and the caller builds from the whole snapshot.
 */
import { WorkloadAuthz } from '../../mesh/authz/engine.js';
import { selectPolicies } from '../../mesh/authz/select.js';
import { compileRoute, regexCount, type RouteData, type RouteInfo } from '../../mesh/routes.js';
import { LayeredMap, type MapDraft } from '../../mesh/snapshot-wire/layered-map.js';
import { isStrictlySorted } from '../../mesh/snapshot-wire/sorted-merge.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, ServicePort, WorkloadInfo } from '../../mesh/types.js';
import { MAX_NODE_ROUTE_REGEXES } from '../../mesh/validate/regex.js';
import { addressPolicy, workloadAddressProblem, type AddressPolicy, type AddressPolicyOptions } from '../../mesh/workload-address.js';
import { sortedListChange, type ListChange } from './list-changes.js';

/** A snapshot entry the index left out because of an address the address policy refuses. */
export interface RefusedEntry {
  /** `Pod/demo/web` for a workload, `Service demo/web` for a VIP or an endpoint. */
  readonly what: string;
  readonly field: 'addresses' | 'vips' | 'endpoints';
  readonly address: string;
  readonly reason: string;
}

/** A Service port as the index knows it: what a balancer picks from. */
export interface ServicePortEntry {
  /** `demo/web|80`: the same for every VIP of the Service and across snapshots (a balancer's key). */
  readonly key: string;
  readonly service: ServiceInfo;
  readonly port: ServicePort;
  /** Endpoints that have a target port for this Service port (the same array for every VIP). */
  readonly endpoints: readonly EndpointInfo[];
}

/** A route left out, and why. */
export interface RefusedRoute {
  readonly route: string;
  readonly reason: string;
}

/** The tables of one snapshot. Never changed once made. */
export interface IndexTables {
  /** The options the tables were made with (a derive under other options rebuilds). */
  readonly options: AddressPolicyOptions;
  /** How many workloads have each node address (the address policy refuses them all). */
  readonly nodeAddressCounts: LayeredMap<string, number>;
  readonly addressPolicy: AddressPolicy;
  readonly byUid: LayeredMap<string, WorkloadInfo>;
  readonly byAddress: LayeredMap<string, WorkloadInfo>;
  readonly localByUid: LayeredMap<string, WorkloadInfo>;
  readonly localByAddress: LayeredMap<string, WorkloadInfo>;
  /** Local workloads per identity: {@link localIdentities} is their keys. */
  readonly localIdentityCounts: LayeredMap<string, number>;
  readonly localIdentities: ReadonlySet<string>;
  readonly refusedWorkloads: LayeredMap<string, readonly RefusedEntry[]>;
  readonly refusedServices: LayeredMap<string, readonly RefusedEntry[]>;
  readonly refused: readonly RefusedEntry[];
  readonly services: LayeredMap<string, ServiceInfo>;
  readonly entriesByService: LayeredMap<string, readonly ServicePortEntry[]>;
  /** `vip|port` -> the Service port. */
  readonly servicePorts: LayeredMap<string, ServicePortEntry>;
  readonly serviceEntries: readonly ServicePortEntry[];
  readonly opaqueByService: LayeredMap<string, ReadonlySet<number>>;
  readonly routes: readonly RouteInfo[];
  readonly refusedRoutes: readonly RefusedRoute[];
  readonly routesByEntry: LayeredMap<string, readonly RouteInfo[]>;
  readonly authzByUid: LayeredMap<string, WorkloadAuthz>;
  /**
   * Whether a derive may start from these tables: the snapshot's workloads, Services and local
   * workloads strictly in key order, and no workload address nor VIP:port held twice (the
   * whole build lets the last one win, which a derive would not know to undo).
   */
  readonly derivable: boolean;
}

/** The workloads, Services and local workloads of a snapshot are each sorted by these keys. */
const uidOf = (w: WorkloadInfo): string => w.uid;
const keyOf = (s: ServiceInfo): string => s.key;

/** The addresses the address policy refuses as a node's: the host's, the snapshot's node's and every workload's node's. */
function nodeAddressList(snapshot: NodeSnapshot, opts: AddressPolicyOptions): string[] {
  return [...(opts.nodeAddresses ?? []), snapshot.nodeAddress, ...snapshot.workloads.map((w) => w.nodeAddress)].filter((a) => a !== '');
}

/** The tables of `snapshot`, from its whole lists. */
export function buildTables(snapshot: NodeSnapshot, opts: AddressPolicyOptions): IndexTables {
  // A workload can never be a node: neither this one nor another (a relay from a pod to a
  // node's own services with a node's source address), so every node address known is refused.
  const policy = addressPolicy({ nodeAddresses: nodeAddressList(snapshot, opts), allowLoopback: opts.allowLoopback === true });
  const counts = new Map<string, number>();
  for (const w of snapshot.workloads) if (w.nodeAddress !== '') counts.set(w.nodeAddress, (counts.get(w.nodeAddress) ?? 0) + 1);
  const refusedWorkloads = new Map<string, RefusedEntry[]>();
  const byUid = new Map<string, WorkloadInfo>();
  const byAddress = new Map<string, WorkloadInfo>();
  let addressCount = 0;
  for (const w of snapshot.workloads) {
    const refused = workloadRefusal(w, policy);
    if (refused !== undefined) {
      refusedWorkloads.set(w.uid, refused);
      continue;
    }
    byUid.set(w.uid, w);
    for (const a of w.addresses) byAddress.set(a, w);
    addressCount += w.addresses.length;
  }
  const local = snapshot.localWorkloads.filter((w) => byUid.has(w.uid));
  const localByAddress = new Map<string, WorkloadInfo>();
  const identityCounts = new Map<string, number>();
  for (const w of local) {
    for (const a of w.addresses) localByAddress.set(a, w);
    identityCounts.set(w.identity, (identityCounts.get(w.identity) ?? 0) + 1);
  }
  const services = buildServices(snapshot.services, policy, opts);
  const { routes, refusedRoutes } = compileRoutes(snapshot.routes ?? []);
  const routesByEntry = new Map(services.serviceEntries.map((e) => [e.key, routesOf(routes, e)] as const));
  const authz = new Map<string, WorkloadAuthz>();
  const policies = snapshot.authorizationPolicies ?? [];
  // Selected and compiled once per snapshot, so a connection's check is a lookup and a walk
  // over its workload's own rules (`bench/authz.ts` measures both).
  if (policies.length > 0) for (const w of local) authz.set(w.uid, WorkloadAuthz.compile(selectPolicies(policies, w, snapshot.services)));
  const refusedList = [...refusedWorkloads.values(), ...services.refusedServices.values()].flat();
  const sorted = isStrictlySorted(snapshot.workloads, uidOf) && isStrictlySorted(snapshot.services, keyOf) && isStrictlySorted(snapshot.localWorkloads, uidOf);
  return {
    options: opts,
    nodeAddressCounts: LayeredMap.of(counts),
    addressPolicy: policy,
    byUid: LayeredMap.of(byUid),
    byAddress: LayeredMap.of(byAddress),
    localByUid: LayeredMap.of(local.map((w) => [w.uid, w] as const)),
    localByAddress: LayeredMap.of(localByAddress),
    localIdentityCounts: LayeredMap.of(identityCounts),
    localIdentities: new Set(local.map((w) => w.identity)),
    refusedWorkloads: LayeredMap.of<string, readonly RefusedEntry[]>(refusedWorkloads),
    refusedServices: LayeredMap.of(services.refusedServices),
    refused: refusedList,
    services: LayeredMap.of(snapshot.services.map((s) => [s.key, s] as const)),
    entriesByService: LayeredMap.of(services.entriesByService),
    servicePorts: LayeredMap.of(services.servicePorts),
    serviceEntries: services.serviceEntries,
    opaqueByService: LayeredMap.of(services.opaque),
    routes,
    refusedRoutes,
    routesByEntry: LayeredMap.of(routesByEntry),
    authzByUid: LayeredMap.of(authz),
    derivable: sorted && byAddress.size === addressCount && services.servicePorts.size === services.vipPorts,
  };
}

/** The refusal of a workload (its first address the policy refuses: the whole workload is left out), or undefined. */
function workloadRefusal(w: WorkloadInfo, policy: AddressPolicy): RefusedEntry[] | undefined {
  for (const a of w.addresses) {
    const reason = workloadAddressProblem(a, policy);
    if (reason !== undefined) return [{ what: w.uid, field: 'addresses', address: a, reason }];
  }
  return undefined;
}

/** One Service's entries, the VIPs they are reached at, and its refused VIPs and endpoints. */
interface ServiceTables {
  readonly entries: readonly ServicePortEntry[];
  readonly vips: readonly string[];
  readonly refused: readonly RefusedEntry[];
}

function serviceTables(service: ServiceInfo, policy: AddressPolicy, endpointPolicy: AddressPolicy): ServiceTables {
  const what = `Service ${service.key}`;
  const refused: RefusedEntry[] = [];
  const vips = service.vips.filter((vip) => keep(refused, what, 'vips', vip, workloadAddressProblem(vip, policy)));
  const usable = service.endpoints.filter((e) => keep(refused, what, 'endpoints', e.address, workloadAddressProblem(e.address, endpointPolicy)));
  const entries = service.ports.map((port) => ({ key: `${service.key}|${port.port}`, service, port, endpoints: usable.filter((e) => e.targetPorts[port.port] !== undefined) }));
  return { entries, vips, refused };
}

/** Endpoints may be a node's address (hostNetwork pods), never loopback, link-local, ... */
function endpointPolicyOf(opts: AddressPolicyOptions): AddressPolicy {
  return addressPolicy({ allowLoopback: opts.allowLoopback === true });
}

function buildServices(list: readonly ServiceInfo[], policy: AddressPolicy, opts: AddressPolicyOptions) {
  const endpointPolicy = endpointPolicyOf(opts);
  const servicePorts = new Map<string, ServicePortEntry>();
  const entriesByService = new Map<string, readonly ServicePortEntry[]>();
  const refusedServices = new Map<string, readonly RefusedEntry[]>();
  const opaque = new Map<string, ReadonlySet<number>>();
  const serviceEntries: ServicePortEntry[] = [];
  let vipPorts = 0;
  for (const service of list) {
    const t = serviceTables(service, policy, endpointPolicy);
    entriesByService.set(service.key, t.entries);
    if (t.refused.length > 0) refusedServices.set(service.key, t.refused);
    for (const entry of t.entries) {
      serviceEntries.push(entry);
      for (const vip of t.vips) servicePorts.set(vipPort(vip, entry.port.port), entry);
      vipPorts += t.vips.length;
    }
    const o = opaquePorts(service);
    if (o !== undefined) opaque.set(service.key, o);
  }
  return { servicePorts, entriesByService, refusedServices, opaque, serviceEntries, vipPorts };
}

function opaquePorts(service: ServiceInfo): ReadonlySet<number> | undefined {
  return service.opaquePorts !== undefined && service.opaquePorts.length > 0 ? new Set(service.opaquePorts) : undefined;
}

/** True when `reason` is undefined; otherwise records the refusal. */
function keep(refused: RefusedEntry[], what: string, field: RefusedEntry['field'], address: string, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  refused.push({ what, field, address, reason });
  return false;
}

/** The `servicePorts` key of a VIP and a port. */
export function vipPort(address: string, port: number): string {
  return `${address}|${port}`;
}

/**
 * The routes with their regular expressions compiled; one that fails is left out and recorded,
 * and so is one whose patterns would take the node over {@link MAX_NODE_ROUTE_REGEXES} (charged
 * oldest route first, so a new route never displaces an older one).
 */
function compileRoutes(list: readonly RouteData[]): { routes: RouteInfo[]; refusedRoutes: RefusedRoute[] } {
  const refusedRoutes: RefusedRoute[] = [];
  /** Routes over the budget, with their pattern counts. */
  const overBudget = new Map<RouteData, number>();
  let held = 0;
  const byAge = [...list].sort((a, b) => a.creationTimestamp - b.creationTimestamp || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  for (const r of byAge) {
    const n = regexCount(r.rules);
    if (held + n > MAX_NODE_ROUTE_REGEXES) overBudget.set(r, n);
    else held += n;
  }
  const routes: RouteInfo[] = [];
  for (const r of list) {
    const n = overBudget.get(r);
    if (n !== undefined) {
      refusedRoutes.push({ route: `${r.kind} ${r.namespace}/${r.name}`, reason: `its ${n} regular expressions would take the node over ${MAX_NODE_ROUTE_REGEXES} route regular expressions (the older routes applied hold ${held}); not applied` });
      continue;
    }
    try {
      routes.push(compileRoute(r));
    } catch (err) {
      refusedRoutes.push({ route: `${r.kind} ${r.namespace}/${r.name}`, reason: (err as Error).message });
    }
  }
  return { routes, refusedRoutes };
}

const NO_ROUTES: readonly RouteInfo[] = Object.freeze([]);

/** The routes attached to `entry` (a parent that is its Service, on no port or on its port), in route order. */
function routesOf(routes: readonly RouteInfo[], entry: ServicePortEntry): readonly RouteInfo[] {
  if (routes.length === 0) return NO_ROUTES;
  const s = entry.service;
  const out = routes.filter((r) => r.parents.some((p) => p.namespace === s.namespace && p.name === s.name && (p.port === undefined || p.port === entry.port.port)));
  return out.length === 0 ? NO_ROUTES : out;
}

/** The Service ports a derive removed and added (a changed one in both: its old entry and its new one). */
export interface ServiceEntryChange {
  readonly removed: readonly ServicePortEntry[];
  readonly added: readonly ServicePortEntry[];
}

/**
 * What changed in the three lists a derive follows. Found by the derive's walk (pointer
 * comparisons: a few ms at 100,000 workloads, each a cache miss), or given by a caller that knows
 * them (a worker told by the primary), which saves the walk.
 */
export interface ListChanges {
  readonly workloads: ListChange<WorkloadInfo>;
  readonly services: ListChange<ServiceInfo>;
  readonly localWorkloads: ListChange<WorkloadInfo>;
}

/** Largest share of a list that may change for a derive; past it, building afresh is as cheap. */
const MAX_CHANGED_SHARE = 8;
/** Changes a derive takes whatever the list's size (a small cluster). */
const MIN_CHANGED = 64;

/**
 * The tables of `snapshot` from `prev` (the tables of `before`) and the entries that changed,
 * or undefined when they cannot be derived (the caller builds them from the whole snapshot).
 * Costs the change, plus pointer comparisons over the changed lists.
 */
export function deriveTables(
  prev: IndexTables,
  before: NodeSnapshot,
  snapshot: NodeSnapshot,
  opts: AddressPolicyOptions,
  known?: ListChanges,
): { tables: IndexTables; changed: ServiceEntryChange; lists: ListChanges } | undefined {
  if (!prev.derivable || !sameOptions(prev.options, opts) || snapshot.nodeAddress !== before.nodeAddress) return undefined;
  const max = (n: number): number => Math.max(MIN_CHANGED, n >> Math.log2(MAX_CHANGED_SHARE));
  const workloads = known?.workloads ?? sortedListChange(before.workloads, snapshot.workloads, uidOf, max(snapshot.workloads.length));
  const services = known?.services ?? sortedListChange(before.services, snapshot.services, keyOf, max(snapshot.services.length));
  const local = known?.localWorkloads ?? sortedListChange(before.localWorkloads, snapshot.localWorkloads, uidOf, max(snapshot.localWorkloads.length));
  if (workloads === undefined || services === undefined || local === undefined) return undefined;
  // A workload that became local with no change of its own: possible, not worth a path of its own.
  const changedUids = new Set(workloads.added.map(uidOf));
  if (local.added.some((w) => !changedUids.has(w.uid))) return undefined;
  // And a local workload that changed or left the cluster leaves the local list too (its old entry).
  const localGone = new Set(local.removed.map(uidOf));
  if (workloads.removed.some((w) => prev.localByUid.has(w.uid) && !localGone.has(w.uid))) return undefined;
  const counts = nodeAddressCounts(prev, workloads);
  if (counts === undefined) return undefined;
  const w = deriveWorkloads(prev, workloads);
  if (w === undefined) return undefined;
  const l = deriveLocal(prev, local, w.byUid);
  if (l === undefined) return undefined;
  const s = deriveServices(prev, services, opts);
  if (s === undefined) return undefined;
  const routesChanged = (before.routes ?? NO_ROUTE_DATA) !== (snapshot.routes ?? NO_ROUTE_DATA);
  const r = routesChanged ? compileRoutes(snapshot.routes ?? []) : { routes: prev.routes, refusedRoutes: prev.refusedRoutes };
  const refusedChanged = w.refusedChanged || s.refusedChanged;
  const tables: IndexTables = {
    options: prev.options,
    nodeAddressCounts: counts,
    addressPolicy: prev.addressPolicy,
    byUid: w.byUid,
    byAddress: w.byAddress,
    localByUid: l.localByUid,
    localByAddress: l.localByAddress,
    localIdentityCounts: l.identityCounts,
    localIdentities: l.identitiesChanged ? identitySet(prev.localIdentities, l.identityCounts, local) : prev.localIdentities,
    refusedWorkloads: w.refused,
    refusedServices: s.refusedServices,
    refused: refusedChanged ? refusedList(w.refused, s.refusedServices) : prev.refused,
    services: s.services,
    entriesByService: s.entriesByService,
    servicePorts: s.servicePorts,
    serviceEntries: s.serviceEntries,
    opaqueByService: s.opaque,
    routes: r.routes,
    refusedRoutes: r.refusedRoutes,
    routesByEntry: routesChanged ? LayeredMap.of(s.serviceEntries.map((e) => [e.key, routesOf(r.routes, e)] as const)) : deriveRoutesByEntry(prev, s.removedEntries, s.addedEntries),
    authzByUid: deriveAuthz(prev, before, snapshot, local, services, l.localByUid),
    derivable: true,
  };
  return { tables, changed: { removed: s.removedEntries, added: s.addedEntries }, lists: { workloads, services, localWorkloads: local } };
}

const NO_ROUTE_DATA: readonly RouteData[] = Object.freeze([]);

/**
 * The local identities after a change: a native copy of the previous set with the identities of
 * the changed local workloads put in or taken out by their counts (10,000 identities: a copy,
 * not a walk of the layered counts).
 */
function identitySet(before: ReadonlySet<string>, counts: LayeredMap<string, number>, change: ListChange<WorkloadInfo>): ReadonlySet<string> {
  const out = new Set(before);
  for (const w of [...change.removed, ...change.added]) {
    if (counts.has(w.identity)) out.add(w.identity);
    else out.delete(w.identity);
  }
  return out;
}

function sameOptions(a: AddressPolicyOptions, b: AddressPolicyOptions): boolean {
  const x = [...(a.nodeAddresses ?? [])];
  const y = [...(b.nodeAddresses ?? [])];
  return (a.allowLoopback === true) === (b.allowLoopback === true) && x.length === y.length && x.every((v, i) => v === y[i]);
}

/** The node address counts after the change; undefined when the set of node addresses changed (the address policy with it). */
function nodeAddressCounts(prev: IndexTables, change: ListChange<WorkloadInfo>): LayeredMap<string, number> | undefined {
  const draft = prev.nodeAddressCounts.edit();
  const bump = (a: string, by: number): void => {
    if (a !== '') draft.set(a, (draft.get(a) ?? 0) + by);
  };
  for (const w of change.removed) bump(w.nodeAddress, -1);
  for (const w of change.added) bump(w.nodeAddress, 1);
  const touched = new Set([...change.removed, ...change.added].map((w) => w.nodeAddress).filter((a) => a !== ''));
  for (const a of touched) {
    const n = draft.get(a) ?? 0;
    if (n === 0 || !prev.nodeAddressCounts.has(a)) return undefined;
  }
  return draft.done();
}

function deriveWorkloads(prev: IndexTables, change: ListChange<WorkloadInfo>) {
  const byUid = prev.byUid.edit();
  const byAddress = prev.byAddress.edit();
  const refused = prev.refusedWorkloads.edit();
  let refusedChanged = false;
  for (const w of change.removed) {
    if (refused.has(w.uid)) {
      refused.delete(w.uid);
      refusedChanged = true;
    }
    if (byUid.get(w.uid) !== w) continue;
    byUid.delete(w.uid);
    for (const a of w.addresses) if (byAddress.get(a) === w) byAddress.delete(a);
  }
  for (const w of change.added) {
    const r = workloadRefusal(w, prev.addressPolicy);
    if (r !== undefined) {
      refused.set(w.uid, r);
      refusedChanged = true;
      continue;
    }
    if (byUid.has(w.uid)) return undefined;
    byUid.set(w.uid, w);
    for (const a of w.addresses) {
      if (byAddress.has(a)) return undefined;
      byAddress.set(a, w);
    }
  }
  return { byUid: byUid.done(), byAddress: byAddress.done(), refused: refused.done(), refusedChanged };
}

function deriveLocal(prev: IndexTables, change: ListChange<WorkloadInfo>, byUid: LayeredMap<string, WorkloadInfo>) {
  const localByUid = prev.localByUid.edit();
  const localByAddress = prev.localByAddress.edit();
  const counts = prev.localIdentityCounts.edit();
  let identitiesChanged = false;
  for (const w of change.removed) {
    if (localByUid.get(w.uid) !== w) continue;
    localByUid.delete(w.uid);
    for (const a of w.addresses) if (localByAddress.get(a) === w) localByAddress.delete(a);
    const n = (counts.get(w.identity) ?? 0) - 1;
    if (n > 0) counts.set(w.identity, n);
    else {
      counts.delete(w.identity);
      identitiesChanged = true;
    }
  }
  for (const w of change.added) {
    if (!byUid.has(w.uid)) continue;
    localByUid.set(w.uid, w);
    for (const a of w.addresses) {
      if (localByAddress.has(a)) return undefined;
      localByAddress.set(a, w);
    }
    const n = counts.get(w.identity) ?? 0;
    if (n === 0) identitiesChanged = true;
    counts.set(w.identity, n + 1);
  }
  return { localByUid: localByUid.done(), localByAddress: localByAddress.done(), identityCounts: counts.done(), identitiesChanged };
}

function deriveServices(prev: IndexTables, change: ListChange<ServiceInfo>, opts: AddressPolicyOptions) {
  const endpointPolicy = endpointPolicyOf(opts);
  const services = prev.services.edit();
  const entriesByService = prev.entriesByService.edit();
  const servicePorts = prev.servicePorts.edit();
  const refused = prev.refusedServices.edit();
  const opaque = prev.opaqueByService.edit();
  const removedEntries: ServicePortEntry[] = [];
  const addedEntries: ServicePortEntry[] = [];
  let refusedChanged = false;
  for (const s of change.removed) {
    const entries = entriesByService.get(s.key) ?? [];
    for (const entry of entries) {
      removedEntries.push(entry);
      for (const vip of s.vips) {
        const k = vipPort(vip, entry.port.port);
        if (servicePorts.get(k) === entry) servicePorts.delete(k);
      }
    }
    services.delete(s.key);
    entriesByService.delete(s.key);
    opaque.delete(s.key);
    if (refused.has(s.key)) {
      refused.delete(s.key);
      refusedChanged = true;
    }
  }
  for (const s of change.added) {
    const t = serviceTables(s, prev.addressPolicy, endpointPolicy);
    services.set(s.key, s);
    entriesByService.set(s.key, t.entries);
    if (t.refused.length > 0) {
      refused.set(s.key, t.refused);
      refusedChanged = true;
    }
    for (const entry of t.entries) {
      addedEntries.push(entry);
      for (const vip of t.vips) {
        const k = vipPort(vip, entry.port.port);
        if (servicePorts.has(k)) return undefined;
        servicePorts.set(k, entry);
      }
    }
    const o = opaquePorts(s);
    if (o !== undefined) opaque.set(s.key, o);
  }
  const serviceEntries = change.removed.length + change.added.length === 0 ? prev.serviceEntries : spliceEntries(prev.serviceEntries, change, entriesByService);
  return {
    services: services.done(), entriesByService: entriesByService.done(), servicePorts: servicePorts.done(), refusedServices: refused.done(),
    opaque: opaque.done(), serviceEntries, removedEntries, addedEntries, refusedChanged,
  };
}

/**
 * The Service ports in Service order, with the changed Services' runs replaced: each changed
 * key is found by binary search (entries are grouped by Service, in key order) and the runs
 * between them are copied once.
 */
function spliceEntries(list: readonly ServicePortEntry[], change: ListChange<ServiceInfo>, entries: MapDraft<string, readonly ServicePortEntry[]>): ServicePortEntry[] {
  const keys = [...new Set([...change.removed, ...change.added].map(keyOf))].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const out: ServicePortEntry[] = [];
  let cursor = 0;
  for (const key of keys) {
    const from = lowerBound(list, key, cursor);
    for (let i = cursor; i < from; i++) out.push(list[i] as ServicePortEntry);
    let to = from;
    while (to < list.length && (list[to] as ServicePortEntry).service.key === key) to += 1;
    for (const e of entries.get(key) ?? []) out.push(e);
    cursor = to;
  }
  for (let i = cursor; i < list.length; i++) out.push(list[i] as ServicePortEntry);
  return out;
}

/** First index at or after `from` whose Service key is not below `key`. */
function lowerBound(list: readonly ServicePortEntry[], key: string, from: number): number {
  let lo = from;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((list[mid] as ServicePortEntry).service.key < key) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function deriveRoutesByEntry(prev: IndexTables, removed: readonly ServicePortEntry[], added: readonly ServicePortEntry[]): LayeredMap<string, readonly RouteInfo[]> {
  if (removed.length + added.length === 0) return prev.routesByEntry;
  const draft = prev.routesByEntry.edit();
  for (const e of removed) draft.delete(e.key);
  for (const e of added) draft.set(e.key, routesOf(prev.routes, e));
  return draft.done();
}

/**
 * The compiled AuthorizationPolicies per local workload. Compiled again for every local
 * workload when the policies changed, or when a Service a policy targets (`targetRefs`)
 * changed (its endpoints say which workloads it selects); else only for the local workloads
 * that changed.
 */
function deriveAuthz(
  prev: IndexTables,
  before: NodeSnapshot,
  snapshot: NodeSnapshot,
  local: ListChange<WorkloadInfo>,
  services: ListChange<ServiceInfo>,
  localByUid: LayeredMap<string, WorkloadInfo>,
): LayeredMap<string, WorkloadAuthz> {
  const policies = snapshot.authorizationPolicies ?? [];
  if (policies.length === 0) return prev.authzByUid.size === 0 ? prev.authzByUid : LayeredMap.of([]);
  const compile = (w: WorkloadInfo): WorkloadAuthz => WorkloadAuthz.compile(selectPolicies(policies, w, snapshot.services));
  const targeted = new Set(policies.flatMap((p) => (p.targetServices ?? []).map((name) => `${p.namespace}/${name}`)));
  const touchesTarget = targeted.size > 0 && [...services.removed, ...services.added].some((s) => targeted.has(s.key));
  if (policies !== before.authorizationPolicies || touchesTarget) {
    return LayeredMap.of(snapshot.localWorkloads.filter((w) => localByUid.has(w.uid)).map((w) => [w.uid, compile(w)] as const));
  }
  if (local.removed.length + local.added.length === 0) return prev.authzByUid;
  const draft = prev.authzByUid.edit();
  for (const w of local.removed) draft.delete(w.uid);
  for (const w of local.added) if (localByUid.get(w.uid) === w) draft.set(w.uid, compile(w));
  return draft.done();
}

/** The refused entries in the whole build's order: workloads in uid order, then Services in key order. */
function refusedList(workloads: LayeredMap<string, readonly RefusedEntry[]>, services: LayeredMap<string, readonly RefusedEntry[]>): RefusedEntry[] {
  const inOrder = (m: LayeredMap<string, readonly RefusedEntry[]>): RefusedEntry[] =>
    [...m.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).flatMap(([, list]) => list);
  return [...inOrder(workloads), ...inOrder(services)];
}
