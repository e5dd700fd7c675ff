/**
 * A small generated cluster for the agent's derive tests (`index-tables.test.ts`,
 * `workers/snapshot-change.test.ts`): steps of change applied to a model whose snapshots are
 * made as the agent's held view makes them (sorted lists sharing every unchanged entry), and
 * every lookup the data path makes of an index, as plain data to compare.
 */
import fc from 'fast-check';
import type { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { AuthorizationPolicyData } from '../../../../src/mesh/authz/types.js';
import type { RouteData } from '../../../../src/mesh/routes.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../../../src/mesh/types.js';
import { buildClusterState, computeSnapshot } from '../../../../src/mesh/snapshot.js';
import { l7Objects } from '../../mesh/l7-fixture.js';

const NODES = { node1: '198.18.0.11', node2: '198.18.0.12', node3: '198.18.0.13' } as const;
type NodeName = keyof typeof NODES;
/** Workload and VIP addresses: mostly good, some the policy refuses (loopback, link-local, a node's). */
const ADDRESSES = [...Array.from({ length: 12 }, (_, i) => `198.18.1.${i + 1}`), '127.0.0.5', '169.254.0.9', '198.18.0.12', 'fd00::7'];
const VIPS = ['198.19.0.1', '198.19.0.2', '198.19.0.3', '198.19.0.4', '127.0.0.9', '198.19.0.1'];
const IDENTITIES = ['a', 'b', 'c', 'd'];
export const PORTS = [80, 81, 8080, 9090];
/** Routes of a real built cluster (their parents are `demo/web` and friends: the Services below use those names). */
const FIXTURE = computeSnapshot(buildClusterState(l7Objects()), 'node-a', 'v1');
const ROUTES: readonly (readonly RouteData[] | undefined)[] = [undefined, FIXTURE.routes, FIXTURE.routes?.slice(0, 1)];
export const SERVICE_NAMES = ['demo/web', 'demo/web-v2', 'demo/db', 'other/web'];

function policies(variant: number): readonly AuthorizationPolicyData[] | undefined {
  const base = { namespace: 'demo', apiVersion: 'meshlet.io/v1alpha1', rules: [], creationTimestamp: 0 } as const;
  if (variant === 0) return undefined;
  const list: AuthorizationPolicyData[] = [{ ...base, key: 'demo/deny-b', name: 'deny-b', action: 'DENY', selector: { id: 'b' } }];
  if (variant >= 2) list.push({ ...base, key: 'demo/to-web', name: 'to-web', action: 'ALLOW', targetServices: ['web'] });
  return list;
}

/** One step of change. */
export type Op =
  | { op: 'workload'; slot: number; node: NodeName; address: number; identity: number; local: boolean }
  | { op: 'drop-workload'; slot: number }
  | { op: 'toggle-local'; slot: number }
  | { op: 'service'; slot: number; vip: number; members: number[]; ports: number; opaque: boolean; policy: number; plain: boolean }
  | { op: 'drop-service'; slot: number }
  | { op: 'routes'; variant: number }
  | { op: 'policies'; variant: number }
  | { op: 'node-address'; address: string }
  | { op: 'zone'; zone: string | undefined };

const slot = fc.integer({ min: 0, max: 9 });
export const opArb: fc.Arbitrary<Op> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('workload' as const), slot, node: fc.oneof({ weight: 8, arbitrary: fc.constantFrom<NodeName>('node1', 'node2') }, { weight: 1, arbitrary: fc.constant<NodeName>('node3') }), address: fc.oneof({ weight: 6, arbitrary: fc.integer({ min: -2, max: -1 }) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: ADDRESSES.length - 1 }) }), identity: fc.integer({ min: 0, max: IDENTITIES.length - 1 }), local: fc.boolean() }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('drop-workload' as const), slot }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('toggle-local' as const), slot }) },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('service' as const), slot: fc.integer({ min: 0, max: SERVICE_NAMES.length - 1 }), vip: fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: VIPS.length - 1 }) }), members: fc.array(slot, { maxLength: 4 }), ports: fc.integer({ min: 1, max: 3 }), opaque: fc.boolean(), policy: fc.integer({ min: 0, max: 2 }), plain: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('drop-service' as const), slot: fc.integer({ min: 0, max: SERVICE_NAMES.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('routes' as const), variant: fc.integer({ min: 0, max: ROUTES.length - 1 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('policies' as const), variant: fc.integer({ min: 0, max: 2 }) }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('node-address' as const), address: fc.constantFrom('198.18.0.11', '198.18.0.21') }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('zone' as const), zone: fc.constantFrom(undefined, 'z1', 'z2') }) },
);

/** The cluster the steps change: objects replaced on change, kept (the same object) otherwise. */
export class Model {
  readonly workloads = new Map<string, WorkloadInfo>();
  readonly services = new Map<string, ServiceInfo>();
  readonly local = new Set<string>();
  routes: readonly RouteData[] | undefined;
  policies: readonly AuthorizationPolicyData[] | undefined;
  nodeAddress = NODES.node1;
  zone: string | undefined;
  private serial = 0;
  private list: { workloads: readonly WorkloadInfo[]; services: readonly ServiceInfo[]; local: readonly WorkloadInfo[] } = { workloads: [], services: [], local: [] };

  apply(o: Op): void {
    if (o.op === 'workload') this.setWorkload(o);
    else if (o.op === 'drop-workload') {
      this.workloads.delete(uidOf(o.slot));
      this.local.delete(uidOf(o.slot));
    } else if (o.op === 'toggle-local') {
      const w = this.workloads.get(uidOf(o.slot));
      if (this.local.has(uidOf(o.slot))) this.local.delete(uidOf(o.slot));
      else if (w?.node === 'node1') this.local.add(w.uid);
    } else if (o.op === 'service') this.setService(o);
    else if (o.op === 'drop-service') this.services.delete(SERVICE_NAMES[o.slot] as string);
    else if (o.op === 'routes') this.routes = ROUTES[o.variant];
    else if (o.op === 'policies') this.policies = policies(o.variant);
    else if (o.op === 'node-address') this.nodeAddress = o.address as typeof NODES.node1;
    else this.zone = o.zone;
  }

  private setWorkload(o: Extract<Op, { op: 'workload' }>): void {
    const uid = uidOf(o.slot);
    const id = IDENTITIES[o.identity] as string;
    this.serial += 1;
    this.workloads.set(uid, {
      uid, kind: 'Pod', name: `p${o.slot}`, namespace: 'demo', addresses: [addressOf(o.slot, o.address)], node: o.node, nodeAddress: NODES[o.node],
      serviceAccount: id, identity: `spiffe://cluster.local/ns/demo/sa/${id}`, labels: { app: 'web', id, serial: String(this.serial) }, tlsMode: 'PERMISSIVE', namedPorts: [],
    });
    if (o.local && o.node === 'node1') this.local.add(uid);
    else this.local.delete(uid);
  }

  private setService(o: Extract<Op, { op: 'service' }>): void {
    const key = SERVICE_NAMES[o.slot] as string;
    const [namespace, name] = key.split('/') as [string, string];
    const ports = PORTS.slice(0, o.ports).map((port, i) => ({ port, targetPort: 8080 + i, ...(i === 0 ? { appProtocol: 'http' } : i === 2 ? { appProtocol: 'grpc' } : {}) }));
    const endpoints: EndpointInfo[] = [];
    for (const m of new Set(o.members)) {
      const w = this.workloads.get(uidOf(m));
      if (w === undefined) continue;
      endpoints.push({ workload: w.uid, address: w.addresses[0] as string, node: w.node, nodeAddress: w.nodeAddress, meshed: true, identity: w.identity, targetPorts: Object.fromEntries(ports.map((p, i) => [p.port, i === 1 ? 9090 : 8080])) });
    }
    if (o.plain) endpoints.push({ workload: 'Pod/demo/plain', address: '198.18.3.1', node: 'node2', nodeAddress: NODES.node2, meshed: false, targetPorts: { 80: 8080 } });
    const policy = o.policy === 0 ? {} : { trafficPolicy: { preferLocalZone: o.policy === 2 } };
    this.services.set(key, { key, name, namespace, vips: [o.vip < 0 ? `198.19.1.${o.slot + 1}` : (VIPS[o.vip] as string)], ports, endpoints, ...(o.opaque ? { opaquePorts: [81] } : {}), ...policy } as ServiceInfo);
  }

  /** The snapshot of the model, its lists sorted, each list the same array as before when nothing in it changed. */
  snapshot(version: string): NodeSnapshot {
    const sorted = <T>(items: Iterable<T>, key: (x: T) => string): T[] => [...items].sort((a, b) => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0));
    const keep = <T>(before: readonly T[], now: T[]): readonly T[] => (before.length === now.length && before.every((x, i) => x === now[i]) ? before : now);
    this.list = {
      workloads: keep(this.list.workloads, sorted(this.workloads.values(), (w) => w.uid)),
      services: keep(this.list.services, sorted(this.services.values(), (s) => s.key)),
      local: keep(this.list.local, sorted([...this.local].map((uid) => this.workloads.get(uid) as WorkloadInfo), (w) => w.uid)),
    };
    return {
      version, node: 'node1', nodeAddress: this.nodeAddress, trustDomain: 'cluster.local', localWorkloads: this.list.local, workloads: this.list.workloads, services: this.list.services,
      ...(this.routes === undefined ? {} : { routes: this.routes }),
      ...(this.policies === undefined ? {} : { authorizationPolicies: this.policies }),
      ...(this.zone === undefined ? {} : { zone: this.zone }),
    };
  }
}

export const uidOf = (slot: number): string => `Pod/demo/p${slot}`;

/** A workload's address: mostly its slot's own (one of two), sometimes one of the shared pool (a duplicate, or refused). */
function addressOf(slot: number, pick: number): string {
  return pick < 0 ? `198.18.${(-pick % 2) + 4}.${slot + 1}` : (ADDRESSES[pick] as string);
}

/** Every lookup the data path makes of an index, as plain data. */
export function lookups(index: WorkloadIndex): unknown {
  const first = (e: { endpoints: readonly EndpointInfo[] }): EndpointInfo | undefined => e.endpoints[0];
  const entries = (m: ReadonlyMap<string, WorkloadInfo>): unknown => [...m.entries()].sort(([a], [b]) => (a < b ? -1 : 1));
  const own = Array.from({ length: 10 }, (_, slot) => [addressOf(slot, -1), addressOf(slot, -2)]).flat();
  const vips = SERVICE_NAMES.map((_, slot) => `198.19.1.${slot + 1}`);
  const addresses = [...new Set([...ADDRESSES, ...own, ...VIPS, ...vips, '198.18.3.1', '198.18.9.9'])];
  const uids = Array.from({ length: 10 }, (_, i) => uidOf(i));
  return {
    byUid: entries(index.byUid),
    byAddress: entries(index.byAddress),
    localByAddress: entries(index.localByAddress),
    sizes: [index.byUid.size, index.byAddress.size, index.localByAddress.size],
    localIdentities: [...index.localIdentities].sort(),
    localAddresses: index.localAddresses,
    refused: index.refused,
    addressProblem: addresses.map((a) => index.addressProblem(a)),
    localWorkload: addresses.map((a) => index.localWorkload(a)?.uid),
    serviceEntries: index.serviceEntries.map((e) => ({ key: e.key, service: e.service, endpoints: e.endpoints, routes: index.routesOf(e).map((r) => `${r.kind}/${r.namespace}/${r.name}`) })),
    serviceAt: addresses.flatMap((a) => PORTS.map((p) => index.serviceAt(a, p)?.key)),
    resolve: addresses.flatMap((a) => PORTS.map((p) => index.resolveOutbound(a, p, first))),
    meshed: addresses.flatMap((a) => PORTS.map((p) => index.meshedDestination(a, p))),
    refusedRoutes: index.refusedRoutes,
    services: SERVICE_NAMES.map((k) => [k, [...index.opaquePortsOf(k)], index.trafficPolicyOf(k)]),
    authz: uids.map((uid) => index.authzOf({ uid }).policies.map((p) => [p.policy.key, p.selectedBy, [...(p.ports ?? [])]])),
    servicePort: SERVICE_NAMES.flatMap((k) => PORTS.map((p) => index.servicePort(k, p)?.key)),
    servicesAtEndpoint: addresses.flatMap((a) => [8080, 8081, 9090].map((p) => index.servicesAtEndpoint(a, p))),
    protocols: uids.flatMap((uid) => [8080, 8081, 8082, 9090].map((port) => index.targetPortProtocol({ uid }, port))),
    zone: index.zone,
  };
}

