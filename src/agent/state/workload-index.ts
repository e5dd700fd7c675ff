/**
 * The agent's lookup tables, built once per snapshot: workloads by address, Services by
 * VIP and port. Lookups only: which endpoint of a Service gets a connection is a balancer's
 * choice (`policy/balancer.ts`), whose state outlives the snapshot.
 */
import { WorkloadAuthz } from '../../mesh/authz/engine.js';
import { selectPolicies } from '../../mesh/authz/select.js';
import { portProtocol, type PortProtocol } from '../../mesh/port-protocol.js';
import { compileRoute, regexCount, type RouteData, type RouteInfo } from '../../mesh/routes.js';
import { MAX_NODE_ROUTE_REGEXES } from '../../mesh/validate/regex.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, ServicePort, RoutePolicyInfo, TrafficPolicyInfo, WorkloadInfo } from '../../mesh/types.js';
import { addressPolicy, workloadAddressProblem, type AddressPolicy, type AddressPolicyOptions } from '../../mesh/workload-address.js';

/** A snapshot entry the index left out because of an address the address policy refuses. */
export interface RefusedEntry {
  /** `Pod/demo/web` for a workload, `Service demo/web` for a VIP or an endpoint. */
  readonly what: string;
  readonly field: 'addresses' | 'vips' | 'endpoints';
  readonly address: string;
  readonly reason: string;
}

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

/** A Service port as the index knows it: what a balancer picks from. */
export interface ServicePortEntry {
  /** `demo/web|80`: the same for every VIP of the Service and across snapshots (a balancer's key). */
  readonly key: string;
  readonly service: ServiceInfo;
  readonly port: ServicePort;
  /** Endpoints that have a target port for this Service port (the same array for every VIP). */
  readonly endpoints: readonly EndpointInfo[];
}

/** Chooses one endpoint of a Service port; undefined when it has none. */
export type EndpointPicker = (entry: ServicePortEntry) => EndpointInfo | undefined;

/** Immutable lookup tables for one snapshot. */
/** Marks a route known to have no TrafficPolicy (a WeakMap cannot hold undefined as a value to tell apart). */
const NO_ROUTE_POLICY: unique symbol = Symbol('no route policy');

export class WorkloadIndex {
  readonly snapshot: NodeSnapshot;
  readonly localByAddress: ReadonlyMap<string, WorkloadInfo>;
  readonly byAddress: ReadonlyMap<string, WorkloadInfo>;
  readonly byUid: ReadonlyMap<string, WorkloadInfo>;
  /** Identities of the local workloads, for certificates and the tunnel server's SNI. */
  readonly localIdentities: ReadonlySet<string>;
  /**
   * Addresses of the local workloads the index serves: exactly what the capture rules should
   * capture (the rule builder applies the same address policy, so the two never disagree).
   */
  readonly localAddresses: readonly string[];
  /**
   * Entries left out because the address policy refuses an address of theirs: a workload (all
   * of it), a Service VIP, or a Service endpoint. The agent logs and counts them.
   */
  readonly refused: readonly RefusedEntry[];
  /** The policy workload addresses were checked with (this node's addresses included). */
  readonly addressPolicy: AddressPolicy;
  private readonly servicePorts: Map<string, ServicePortEntry>;
  /** One entry per Service port, whatever its number of VIPs. */
  readonly serviceEntries: readonly ServicePortEntry[];
  /** Compiled routes per Service port key (`demo/web|80`): the same array for the snapshot's life. */
  private readonly routesByEntry = new Map<string, readonly RouteInfo[]>();
  /** Routes whose patterns did not compile (validation refuses those first; kept for the log). */
  readonly refusedRoutes: readonly { readonly route: string; readonly reason: string }[];
  private readonly opaqueByService = new Map<string, ReadonlySet<number>>();
  /** The AuthorizationPolicies of each local workload, compiled when the index is built. */
  private readonly authzByUid = new Map<string, WorkloadAuthz>();

  /**
   * @param opts `nodeAddresses`: this host's own addresses (the snapshot's node addresses are
   *   added); `allowLoopback`: only for in-process tests on 127.0.0.1.
   */
  constructor(snapshot: NodeSnapshot, opts: AddressPolicyOptions = {}) {
    this.snapshot = snapshot;
    const refused: RefusedEntry[] = [];
    // A workload can never be a node: neither this one nor another (a relay from a pod to a
    // node's own services with a node's source address), so every node address known is refused.
    const nodeAddresses = [...(opts.nodeAddresses ?? []), snapshot.nodeAddress, ...snapshot.workloads.map((w) => w.nodeAddress)];
    this.addressPolicy = addressPolicy({ nodeAddresses: nodeAddresses.filter((a) => a !== ''), allowLoopback: opts.allowLoopback === true });
    const workloads = acceptWorkloads(snapshot.workloads, this.addressPolicy, refused);
    const accepted = new Set(workloads.map((w) => w.uid));
    const local = snapshot.localWorkloads.filter((w) => accepted.has(w.uid));
    this.localByAddress = indexByAddress(local);
    this.localAddresses = local.flatMap((w) => w.addresses);
    this.byAddress = indexByAddress(workloads);
    this.byUid = new Map(workloads.map((w) => [w.uid, w]));
    this.localIdentities = new Set(local.map((w) => w.identity));
    this.servicePorts = new Map();
    const entries: ServicePortEntry[] = [];
    // Endpoints may be a node's address (hostNetwork pods), never loopback, link-local, ...
    const endpointPolicy = addressPolicy({ allowLoopback: opts.allowLoopback === true });
    for (const service of snapshot.services) {
      const what = `Service ${service.key}`;
      const vips = service.vips.filter((vip) => keep(refused, what, 'vips', vip, workloadAddressProblem(vip, this.addressPolicy)));
      const usable = service.endpoints.filter((e) => keep(refused, what, 'endpoints', e.address, workloadAddressProblem(e.address, endpointPolicy)));
      for (const port of service.ports) {
        const entry: ServicePortEntry = { key: `${service.key}|${port.port}`, service, port, endpoints: usable.filter((e) => e.targetPorts[port.port] !== undefined) };
        entries.push(entry);
        for (const vip of vips) this.servicePorts.set(serviceKey(vip, port.port), entry);
      }
    }
    this.serviceEntries = entries;
    this.refused = refused;
    const refusedRoutes: { route: string; reason: string }[] = [];
    const routes = compileRoutes(snapshot.routes ?? [], refusedRoutes);
    for (const entry of entries) this.routesByEntry.set(entry.key, routes.filter((r) => attachesTo(r, entry)));
    this.refusedRoutes = refusedRoutes;
    for (const service of snapshot.services) {
      if (service.opaquePorts !== undefined && service.opaquePorts.length > 0) this.opaqueByService.set(service.key, new Set(service.opaquePorts));
    }
    // Selected and compiled once per snapshot, so a connection's check is a lookup and a walk
    // over its workload's own rules (`bench/authz.ts` measures both).
    const policies = snapshot.authorizationPolicies ?? [];
    if (policies.length > 0) {
      for (const w of local) this.authzByUid.set(w.uid, WorkloadAuthz.compile(selectPolicies(policies, w, snapshot.services)));
    }
  }

  /** Declared protocol of each local workload's target port (`uid|port`), from its Services' ports. */
  private targetProtocols: Map<string, PortProtocol> | undefined;

  /**
   * The protocol a Service declares for a local workload's target port (`http`, `http2`, `grpc`
   * or `tcp`), from the Service ports that send to it; `detect` when none declares one (or two
   * disagree: then nothing is assumed). The destination side terminates HTTP only on a declared
   * HTTP port.
   */
  targetPortProtocol(workload: Pick<WorkloadInfo, 'uid'>, port: number): PortProtocol {
    if (this.targetProtocols === undefined) {
      const table = new Map<string, PortProtocol>();
      const conflicting = new Set<string>();
      for (const e of this.serviceEntries) {
        const protocol = portProtocol(e.port, { opaquePorts: this.opaquePortsOf(e.service.key) });
        if (protocol === 'detect') continue;
        for (const ep of e.endpoints) {
          const target = ep.targetPorts[e.port.port];
          if (target === undefined || !this.localByUid(ep.workload)) continue;
          const k = `${ep.workload}|${target}`;
          const seen = table.get(k);
          if (seen !== undefined && seen !== protocol) conflicting.add(k);
          table.set(k, protocol);
        }
      }
      for (const k of conflicting) table.delete(k);
      this.targetProtocols = table;
    }
    return this.targetProtocols.get(`${workload.uid}|${port}`) ?? 'detect';
  }

  private localUids: Set<string> | undefined;

  private localByUid(uid: string): boolean {
    this.localUids ??= new Set([...this.localByAddress.values()].map((w) => w.uid));
    return this.localUids.has(uid);
  }

  /**
   * The AuthorizationPolicies in force for a local workload, compiled ({@link WorkloadAuthz.NONE}
   * when none selects it, or for a workload that is not local: only local ones are enforced here).
   */
  authzOf(workload: Pick<WorkloadInfo, 'uid'>): WorkloadAuthz {
    return this.authzByUid.get(workload.uid) ?? WorkloadAuthz.NONE;
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
    return this.routesByEntry.get(entry.key) ?? NO_ROUTES;
  }

  /** The TrafficPolicy in force for a Service (`namespace/name`), or undefined (defaults). */
  trafficPolicyOf(serviceKey: string): TrafficPolicyInfo | undefined {
    return this.servicesByKey().get(serviceKey)?.trafficPolicy;
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
    return this.opaqueByService.get(serviceKey) ?? NO_PORTS;
  }

  private byServiceKey: Map<string, ServiceInfo> | undefined;

  private servicesByKey(): Map<string, ServiceInfo> {
    return (this.byServiceKey ??= new Map(this.snapshot.services.map((s) => [s.key, s])));
  }

  /** Why the inbound side must not dial `address`, or undefined when it is a workload address. */
  addressProblem(address: string): string | undefined {
    // A local workload's address passed this very check when the index was built (a request's
    // hot path asks for it each time: the parse cost 1.5% of the destination agent's CPU).
    if (this.localByAddress.has(address)) return undefined;
    return workloadAddressProblem(address, this.addressPolicy);
  }

  /** The meshed workload on this node that owns `address`, if any. */
  localWorkload(address: string): WorkloadInfo | undefined {
    return this.localByAddress.get(address);
  }

  /** The Service port behind `address:port` when it is a VIP's, else undefined. */
  serviceAt(address: string, port: number): ServicePortEntry | undefined {
    return this.servicePorts.get(serviceKey(address, port));
  }

  /**
   * Resolves an original destination into where the connection should go; for a Service VIP,
   * `pick` chooses the endpoint (the index only looks up).
   */
  resolveOutbound(address: string, port: number, pick: EndpointPicker): OutboundTarget {
    const entry = this.servicePorts.get(serviceKey(address, port));
    if (entry !== undefined) return this.endpointTarget(entry, pick(entry));
    const workload = this.byAddress.get(address);
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
    if (this.byAddress.has(address)) return true;
    const entry = this.servicePorts.get(serviceKey(address, port));
    return entry !== undefined && entry.endpoints.some((e) => e.meshed);
  }

  /** Where the picked endpoint of a Service port is (no endpoint: `no-endpoints`). */
  endpointTarget(entry: ServicePortEntry, endpoint: EndpointInfo | undefined): OutboundTarget {
    if (endpoint === undefined) return { kind: 'no-endpoints', service: entry.service };
    const targetPort = endpoint.targetPorts[entry.port.port] as number;
    const workload = endpoint.meshed ? this.byUid.get(endpoint.workload) : undefined;
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

/**
 * The routes with their regular expressions compiled; one that fails is left out and recorded,
 * and so is one whose patterns would take the node over {@link MAX_NODE_ROUTE_REGEXES} (charged
 * oldest route first, so a new route never displaces an older one).
 */
function compileRoutes(routes: readonly RouteData[], refused: { route: string; reason: string }[]): RouteInfo[] {
  /** Routes over the budget, with their pattern counts. */
  const overBudget = new Map<RouteData, number>();
  let held = 0;
  const byAge = [...routes].sort((a, b) => a.creationTimestamp - b.creationTimestamp || a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name));
  for (const r of byAge) {
    const n = regexCount(r.rules);
    if (held + n > MAX_NODE_ROUTE_REGEXES) overBudget.set(r, n);
    else held += n;
  }
  const out: RouteInfo[] = [];
  for (const r of routes) {
    const n = overBudget.get(r);
    if (n !== undefined) {
      refused.push({ route: `${r.kind} ${r.namespace}/${r.name}`, reason: `its ${n} regular expressions would take the node over ${MAX_NODE_ROUTE_REGEXES} route regular expressions (the older routes applied hold ${held}); not applied` });
      continue;
    }
    try {
      out.push(compileRoute(r));
    } catch (err) {
      refused.push({ route: `${r.kind} ${r.namespace}/${r.name}`, reason: (err as Error).message });
    }
  }
  return out;
}

/** True when `route` has a parent that is `entry`'s Service, on no port or on its port. */
function attachesTo(route: RouteInfo, entry: ServicePortEntry): boolean {
  return route.parents.some((p) => p.namespace === entry.service.namespace && p.name === entry.service.name && (p.port === undefined || p.port === entry.port.port));
}

/** The workloads whose every address the policy accepts; the others go to `refused`, whole. */
function acceptWorkloads(workloads: readonly WorkloadInfo[], policy: AddressPolicy, refused: RefusedEntry[]): WorkloadInfo[] {
  return workloads.filter((w) => w.addresses.every((a) => keep(refused, w.uid, 'addresses', a, workloadAddressProblem(a, policy))));
}

/** True when `reason` is undefined; otherwise records the refusal. */
function keep(refused: RefusedEntry[], what: string, field: RefusedEntry['field'], address: string, reason: string | undefined): boolean {
  if (reason === undefined) return true;
  refused.push({ what, field, address, reason });
  return false;
}

function indexByAddress(workloads: readonly WorkloadInfo[]): Map<string, WorkloadInfo> {
  const map = new Map<string, WorkloadInfo>();
  for (const w of workloads) for (const a of w.addresses) map.set(a, w);
  return map;
}

function serviceKey(address: string, port: number): string {
  return `${address}|${port}`;
}
