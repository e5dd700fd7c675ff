/**
 * The agent's lookup tables, built once per snapshot: workloads by address, Services by
 * VIP and port. Lookups only: which endpoint of a Service gets a connection is a balancer's
 * choice (`policy/balancer.ts`), whose state outlives the snapshot.
 */
import { WorkloadAuthz } from '../../mesh/authz/engine.js';
import { portProtocol, type PortProtocol } from '../../mesh/port-protocol.js';
import type { RouteInfo } from '../../mesh/routes.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, RoutePolicyInfo, TrafficPolicyInfo, WorkloadInfo } from '../../mesh/types.js';
import { workloadAddressProblem, type AddressPolicy, type AddressPolicyOptions } from '../../mesh/workload-address.js';
import { LayeredMap } from '../../mesh/snapshot-wire/layered-map.js';
import { buildEndpointServices, deriveEndpointServices, endpointKey, type EndpointServices } from './endpoint-services.js';
import { buildTables, deriveTables, vipPort, type IndexTables, type ListChanges, type RefusedEntry, type RefusedRoute, type ServiceEntryChange, type ServicePortEntry } from './index-tables.js';

export type { ListChanges, RefusedEntry, RefusedRoute, ServiceEntryChange, ServicePortEntry } from './index-tables.js';

/** Where a captured outbound connection goes. */
export type OutboundTarget =
  /** A meshed workload: through a tunnel (other node) or handed to our inbound side (this node). */
  | {
      readonly kind: 'meshed';
      readonly address: string;
      readonly port: number;
      readonly workload: WorkloadInfo;
      readonly service?: ServiceInfo;
      readonly local: boolean;
    }
  /**
   * A Service endpoint with no meshed workload in the snapshot: plaintext, straight to it, unless
   * `endpoint.meshed` says it is meshed after all (its workload missing from the view): then the
   * connection is refused, never sent in plaintext (see `outbound-plan.ts`).
   */
  | { readonly kind: 'plaintext'; readonly address: string; readonly port: number; readonly service: ServiceInfo; readonly endpoint: EndpointInfo }
  /** A Service VIP with no endpoint for that port. */
  | { readonly kind: 'no-endpoints'; readonly service: ServiceInfo }
  /** Not the mesh's business: passed through unchanged to where the workload dialled. */
  | { readonly kind: 'passthrough'; readonly address: string; readonly port: number };

/** Chooses one endpoint of a Service port; undefined when it has none. */
export type EndpointPicker = (entry: ServicePortEntry) => EndpointInfo | undefined;

/** Marks a route known to have no TrafficPolicy (a WeakMap cannot hold undefined as a value to tell apart). */
const NO_ROUTE_POLICY: unique symbol = Symbol('no route policy');

/** What {@link WorkloadIndex.derive} hands its new index (internal). */
interface Derivation {
  readonly prev: WorkloadIndex;
  readonly tables: IndexTables;
  readonly changed: ServiceEntryChange;
  readonly lists: ListChanges;
}

/**
 * Immutable lookup tables for one snapshot: built from the whole snapshot (`new WorkloadIndex`),
 * or derived from the previous snapshot's index in proportion to the change
 * ({@link WorkloadIndex.derive}); either way the same lookups.
 */
export class WorkloadIndex {
  readonly snapshot: NodeSnapshot;
  private readonly t: IndexTables;
  /**
   * The index this one was derived from (weakly: a chain of every earlier index would be kept
   * alive otherwise), and what changed since (none: built whole).
   */
  private readonly derivation: { readonly prev: WeakRef<WorkloadIndex>; readonly changed: ServiceEntryChange; readonly lists: ListChanges } | undefined;
  /** Local workload uid -> the Service ports with it as an endpoint; made at the first protocol lookup, then derived. */
  private endpointEntries: LayeredMap<string, readonly ServicePortEntry[]> | undefined;
  /** Endpoint `address|targetPort` -> its Services; made at the first {@link servicesAtEndpoint}, then derived. */
  private endpointServices: EndpointServices | undefined;

  /**
   * @param opts `nodeAddresses`: this host's own addresses (the snapshot's node addresses are
   *   added); `allowLoopback`: only for in-process tests on 127.0.0.1.
   * @param derivation internal: given by {@link WorkloadIndex.derive} only.
   */
  constructor(snapshot: NodeSnapshot, opts: AddressPolicyOptions = {}, derivation?: Derivation) {
    this.snapshot = snapshot;
    this.t = derivation?.tables ?? buildTables(snapshot, opts);
    this.derivation = derivation === undefined ? undefined : { prev: new WeakRef(derivation.prev), changed: derivation.changed, lists: derivation.lists };
    const before = derivation?.prev.endpointEntries;
    if (before !== undefined && derivation !== undefined) this.endpointEntries = deriveEndpointEntries(before, derivation.changed);
    const services = derivation?.prev.endpointServices;
    if (services !== undefined && derivation !== undefined) this.endpointServices = deriveEndpointServices(services, derivation.changed);
  }

  /**
   * The index of `snapshot`, derived from `prev` (the index of the snapshot before it) when the
   * snapshot shares its unchanged entries with `prev`'s (the agent's held view makes it so): the
   * cost of the change, not of the cluster. Built from the whole snapshot otherwise, or on any
   * doubt (see `index-tables.ts`). `prev` is left as it was. `known`: the changed entries of
   * the three lists when the caller knows them for sure (a worker told by the primary): no walk
   * over the lists to find them.
   */
  static derive(prev: WorkloadIndex | undefined, snapshot: NodeSnapshot, opts: AddressPolicyOptions = {}, known?: ListChanges): WorkloadIndex {
    const d = prev === undefined ? undefined : deriveTables(prev.t, prev.snapshot, snapshot, opts, known);
    if (prev === undefined || d === undefined) return new WorkloadIndex(snapshot, opts);
    return new WorkloadIndex(snapshot, opts, { prev, tables: d.tables, changed: d.changed, lists: d.lists });
  }

  /**
   * Whether a later snapshot's index (or a worker's snapshot change) may be derived from this one:
   * the snapshot's workloads, Services and local workloads are strictly in key order, and no
   * address is held twice.
   */
  get derivable(): boolean {
    return this.t.derivable;
  }

  /** Whether these tables were derived from a previous index (false: built from the whole snapshot). */
  get derived(): boolean {
    return this.derivation !== undefined;
  }

  /**
   * The Service ports removed and added (a changed one in both) from `prev` to this index, when
   * this index was derived from `prev`; undefined otherwise (then any of them may have changed).
   */
  serviceEntriesChangedSince(prev: WorkloadIndex): ServiceEntryChange | undefined {
    return this.derivation?.prev.deref() === prev ? this.derivation.changed : undefined;
  }

  /** The changed entries of the workloads, Services and local workloads from `prev`, when this index was derived from it. */
  listChangesSince(prev: WorkloadIndex): ListChanges | undefined {
    return this.derivation?.prev.deref() === prev ? this.derivation.lists : undefined;
  }

  get localByAddress(): ReadonlyMap<string, WorkloadInfo> {
    return this.t.localByAddress;
  }

  get byAddress(): ReadonlyMap<string, WorkloadInfo> {
    return this.t.byAddress;
  }

  get byUid(): ReadonlyMap<string, WorkloadInfo> {
    return this.t.byUid;
  }

  /** Identities of the local workloads, for certificates and the tunnel server's SNI (the same set object while it does not change). */
  get localIdentities(): ReadonlySet<string> {
    return this.t.localIdentities;
  }

  private localAddressList: readonly string[] | undefined;

  /**
   * Addresses of the local workloads the index serves: exactly what the capture rules should
   * capture (the rule builder applies the same address policy, so the two never disagree).
   */
  get localAddresses(): readonly string[] {
    return (this.localAddressList ??= this.snapshot.localWorkloads.filter((w) => this.t.localByUid.has(w.uid)).flatMap((w) => w.addresses));
  }

  /**
   * Entries left out because the address policy refuses an address of theirs: a workload (all
   * of it), a Service VIP, or a Service endpoint. The agent logs and counts them.
   */
  get refused(): readonly RefusedEntry[] {
    return this.t.refused;
  }

  /** The policy workload addresses were checked with (this node's addresses included). */
  get addressPolicy(): AddressPolicy {
    return this.t.addressPolicy;
  }

  /** One entry per Service port, whatever its number of VIPs, in Service order. */
  get serviceEntries(): readonly ServicePortEntry[] {
    return this.t.serviceEntries;
  }

  /** Routes whose patterns did not compile (validation refuses those first; kept for the log). */
  get refusedRoutes(): readonly RefusedRoute[] {
    return this.t.refusedRoutes;
  }

  /** Declared protocol of a local workload's target ports, per uid, made at its first lookup. */
  private readonly protocolsByUid = new Map<string, ReadonlyMap<number, PortProtocol>>();

  /**
   * The protocol a Service declares for a local workload's target port (`http`, `http2`, `grpc`
   * or `tcp`), from the Service ports that send to it; `detect` when none declares one (or two
   * disagree: then nothing is assumed). The destination side terminates HTTP only on a declared
   * HTTP port.
   */
  targetPortProtocol(workload: Pick<WorkloadInfo, 'uid'>, port: number): PortProtocol {
    if (!this.t.localByUid.has(workload.uid)) return 'detect';
    let ports = this.protocolsByUid.get(workload.uid);
    if (ports === undefined) {
      this.endpointEntries ??= buildEndpointEntries(this.t.serviceEntries);
      ports = declaredProtocols(workload.uid, this.endpointEntries.get(workload.uid) ?? [], (key) => this.opaquePortsOf(key));
      this.protocolsByUid.set(workload.uid, ports);
    }
    return ports.get(port) ?? 'detect';
  }

  /**
   * The Services (keys, sorted) with `address:port` as an endpoint's address and target port;
   * undefined when none. The table is made from every Service port at the first call on an index
   * whose predecessor had none, then derived from the predecessor's with each derived index.
   */
  servicesAtEndpoint(address: string, port: number): readonly string[] | undefined {
    this.endpointServices ??= buildEndpointServices(this.t.serviceEntries);
    return this.endpointServices.get(endpointKey(address, port))?.keys;
  }

  /**
   * The AuthorizationPolicies in force for a local workload, compiled ({@link WorkloadAuthz.NONE}
   * when none selects it, or for a workload that is not local: only local ones are enforced here).
   */
  authzOf(workload: Pick<WorkloadInfo, 'uid'>): WorkloadAuthz {
    return this.t.authzByUid.get(workload.uid) ?? WorkloadAuthz.NONE;
  }

  /** This node's zone (`topology.kubernetes.io/zone` of its Node), when known: the source zone for locality. */
  get zone(): string | undefined {
    return this.snapshot.zone;
  }

  /**
   * The HTTPRoutes and GRPCRoutes attached to a Service port (parentRef to the Service with no
   * port, or with this port), compiled: give them to `matchRoute`. Empty when none. The same
   * array for every call on this index, so the matcher's sorted table is built once.
   */
  routesOf(entry: ServicePortEntry): readonly RouteInfo[] {
    return this.t.routesByEntry.get(entry.key) ?? NO_ROUTES;
  }

  /** The TrafficPolicy in force for a Service (`namespace/name`), or undefined (defaults). */
  trafficPolicyOf(serviceKey: string): TrafficPolicyInfo | undefined {
    return this.t.services.get(serviceKey)?.trafficPolicy;
  }

  private routePolicies: Map<string, RoutePolicyInfo> | undefined;

  /** The TrafficPolicy that targets a route (`kind/namespace/name`), or undefined. */
  routePolicyOf(route: Pick<RouteInfo, 'kind' | 'namespace' | 'name'>): RoutePolicyInfo | undefined {
    const list = this.snapshot.routePolicies;
    if (list === undefined || list.length === 0) return undefined;
    // By route object first: a request of a routed Service builds no `kind/namespace/name` key.
    const known = this.routePolicyByRoute.get(route);
    if (known !== undefined) return known === NO_ROUTE_POLICY ? undefined : known;
    this.routePolicies ??= new Map(list.map((p) => [p.route, p.policy]));
    const found = this.routePolicies.get(`${route.kind}/${route.namespace}/${route.name}`);
    this.routePolicyByRoute.set(route, found ?? NO_ROUTE_POLICY);
    return found;
  }

  private readonly routePolicyByRoute = new WeakMap<object, RoutePolicyInfo | typeof NO_ROUTE_POLICY>();

  /**
   * Ports of a Service (`namespace/name`) declared opaque by its `meshlet.io/opaque-ports`
   * annotation: pass as `portProtocol(entry.port, { opaquePorts })`.
   */
  opaquePortsOf(serviceKey: string): ReadonlySet<number> {
    return this.t.opaqueByService.get(serviceKey) ?? NO_PORTS;
  }

  /** Why the inbound side must not dial `address`, or undefined when it is a workload address. */
  addressProblem(address: string): string | undefined {
    // A local workload's address passed this very check when the index was built (a request's
    // hot path asks for it each time: the parse cost 1.5% of the destination agent's CPU).
    if (this.t.localByAddress.has(address)) return undefined;
    return workloadAddressProblem(address, this.addressPolicy);
  }

  /** The meshed workload on this node that owns `address`, if any. */
  localWorkload(address: string): WorkloadInfo | undefined {
    return this.t.localByAddress.get(address);
  }

  /**
   * The Service port `port` of Service `serviceKey` (`namespace/name`), else undefined: a route
   * backend's lookup. From the per-Service table the index derives, so no table per index.
   */
  servicePort(serviceKey: string, port: number): ServicePortEntry | undefined {
    const entries = this.t.entriesByService.get(serviceKey);
    if (entries === undefined) return undefined;
    // The last of a port listed twice, as a table filled in Service-port order would hold.
    let found: ServicePortEntry | undefined;
    for (const e of entries) if (e.port.port === port) found = e;
    return found;
  }

  /** The Service port behind `address:port` when it is a VIP's, else undefined. */
  serviceAt(address: string, port: number): ServicePortEntry | undefined {
    return this.t.servicePorts.get(vipPort(address, port));
  }

  /**
   * Resolves an original destination into where the connection should go; for a Service VIP,
   * `pick` chooses the endpoint (the index only looks up).
   */
  resolveOutbound(address: string, port: number, pick: EndpointPicker): OutboundTarget {
    const entry = this.t.servicePorts.get(vipPort(address, port));
    if (entry !== undefined) return this.endpointTarget(entry, pick(entry));
    const workload = this.t.byAddress.get(address);
    if (workload !== undefined) {
      return { kind: 'meshed', address, port, workload, local: workload.node === this.snapshot.node };
    }
    return { kind: 'passthrough', address, port };
  }

  /**
   * Whether a connection to `address:port` would reach a meshed workload: the address of one, or
   * a Service VIP:port with a meshed endpoint. Picks nothing.
   */
  meshedDestination(address: string, port: number): boolean {
    if (this.t.byAddress.has(address)) return true;
    const entry = this.t.servicePorts.get(vipPort(address, port));
    return entry !== undefined && entry.endpoints.some((e) => e.meshed);
  }

  /** Where the picked endpoint of a Service port is (no endpoint: `no-endpoints`). */
  endpointTarget(entry: ServicePortEntry, endpoint: EndpointInfo | undefined): OutboundTarget {
    if (endpoint === undefined) return { kind: 'no-endpoints', service: entry.service };
    const targetPort = endpoint.targetPorts[entry.port.port] as number;
    const workload = endpoint.meshed ? this.t.byUid.get(endpoint.workload) : undefined;
    if (workload === undefined) {
      return { kind: 'plaintext', address: endpoint.address, port: targetPort, service: entry.service, endpoint };
    }
    return {
      kind: 'meshed',
      address: endpoint.address,
      port: targetPort,
      workload,
      service: entry.service,
      local: workload.node === this.snapshot.node,
    };
  }
}

const NO_ROUTES: readonly RouteInfo[] = Object.freeze([]);
const NO_PORTS: ReadonlySet<number> = new Set();

/** Endpoint workload uid -> the Service ports with it as an endpoint. O(endpoints): once per agent, then derived. */
function buildEndpointEntries(entries: readonly ServicePortEntry[]): LayeredMap<string, readonly ServicePortEntry[]> {
  const out = new Map<string, ServicePortEntry[]>();
  for (const e of entries) {
    for (const ep of e.endpoints) {
      const list = out.get(ep.workload);
      if (list === undefined) out.set(ep.workload, [e]);
      else if (list[list.length - 1] !== e) list.push(e);
    }
  }
  return LayeredMap.of<string, readonly ServicePortEntry[]>(out);
}

/** {@link buildEndpointEntries} of the next index, from the previous one's and the Service ports that changed. */
function deriveEndpointEntries(before: LayeredMap<string, readonly ServicePortEntry[]>, changed: ServiceEntryChange): LayeredMap<string, readonly ServicePortEntry[]> {
  if (changed.removed.length + changed.added.length === 0) return before;
  const draft = before.edit();
  const gone = new Set(changed.removed);
  for (const e of changed.removed) {
    for (const ep of e.endpoints) {
      const list = draft.get(ep.workload);
      if (list === undefined) continue;
      const kept = list.filter((x) => !gone.has(x));
      if (kept.length === 0) draft.delete(ep.workload);
      else draft.set(ep.workload, kept);
    }
  }
  for (const e of changed.added) {
    for (const ep of e.endpoints) {
      const list = draft.get(ep.workload) ?? [];
      if (list[list.length - 1] !== e) draft.set(ep.workload, [...list, e]);
    }
  }
  return draft.done();
}

/**
 * The protocol each target port of workload `uid` is declared with by the Service ports in
 * `entries` (those that have it as an endpoint); a port two of them declare differently is left
 * out (`detect`).
 */
function declaredProtocols(uid: string, entries: readonly ServicePortEntry[], opaquePortsOf: (serviceKey: string) => ReadonlySet<number>): ReadonlyMap<number, PortProtocol> {
  const table = new Map<number, PortProtocol>();
  const conflicting = new Set<number>();
  for (const e of entries) {
    const protocol = portProtocol(e.port, { opaquePorts: opaquePortsOf(e.service.key) });
    if (protocol === 'detect') continue;
    for (const ep of e.endpoints) {
      const target = ep.targetPorts[e.port.port];
      if (ep.workload !== uid || target === undefined) continue;
      const seen = table.get(target);
      if (seen !== undefined && seen !== protocol) conflicting.add(target);
      table.set(target, protocol);
    }
  }
  for (const p of conflicting) table.delete(p);
  return table;
}
