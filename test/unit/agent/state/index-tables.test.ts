/**
 * A WorkloadIndex derived from the previous one (`WorkloadIndex.derive`, `index-tables.ts`)
 * answers every lookup the data path uses as the index built from the whole snapshot does:
 * generated sequences of changes (workloads and Services added, changed and removed, local
 * workloads, refused addresses, node addresses, routes, AuthorizationPolicies, opaque ports,
 * TrafficPolicies, zones), each step derived from the step before (never from a fresh build),
 * compared lookup by lookup with a build of the same snapshot. Snapshots are made as the
 * agent's held view makes them: sorted lists sharing every unchanged entry.
 */
import t from 'tap';
import fc from 'fast-check';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import { sortedListChange } from '../../../../src/agent/state/list-changes.js';
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
const PORTS = [80, 81, 8080, 9090];
/** Routes of a real built cluster (their parents are `demo/web` and friends: the Services below use those names). */
const FIXTURE = computeSnapshot(buildClusterState(l7Objects()), 'node-a', 'v1');
const ROUTES: readonly (readonly RouteData[] | undefined)[] = [undefined, FIXTURE.routes, FIXTURE.routes?.slice(0, 1)];
const SERVICE_NAMES = ['demo/web', 'demo/web-v2', 'demo/db', 'other/web'];

function policies(variant: number): readonly AuthorizationPolicyData[] | undefined {
  const base = { namespace: 'demo', apiVersion: 'meshlet.io/v1alpha1', rules: [], creationTimestamp: 0 } as const;
  if (variant === 0) return undefined;
  const list: AuthorizationPolicyData[] = [{ ...base, key: 'demo/deny-b', name: 'deny-b', action: 'DENY', selector: { id: 'b' } }];
  if (variant >= 2) list.push({ ...base, key: 'demo/to-web', name: 'to-web', action: 'ALLOW', targetServices: ['web'] });
  return list;
}

/** One step of change. */
type Op =
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
const opArb: fc.Arbitrary<Op> = fc.oneof(
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
class Model {
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

const uidOf = (slot: number): string => `Pod/demo/p${slot}`;

/** A workload's address: mostly its slot's own (one of two), sometimes one of the shared pool (a duplicate, or refused). */
function addressOf(slot: number, pick: number): string {
  return pick < 0 ? `198.18.${(-pick % 2) + 4}.${slot + 1}` : (ADDRESSES[pick] as string);
}

/** Every lookup the data path makes of an index, as plain data. */
function lookups(index: WorkloadIndex): unknown {
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
    protocols: uids.flatMap((uid) => [8080, 8081, 8082, 9090].map((port) => index.targetPortProtocol({ uid }, port))),
    zone: index.zone,
  };
}

t.test('derived indexes answer every lookup as an index built from the whole snapshot (generated change sequences)', async (t) => {
  let steps = 0;
  let derived = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 25 }), (setup, changes) => {
      const model = new Model();
      for (const o of setup) model.apply(o);
      let index = new WorkloadIndex(model.snapshot('v0'));
      // Half the runs first ask for protocols, so the endpoint table is derived too.
      index.targetPortProtocol({ uid: uidOf(0) }, 8080);
      changes.forEach((step, i) => {
        for (const o of step) model.apply(o);
        const snapshot = model.snapshot(`v${i + 1}`);
        index = WorkloadIndex.derive(index, snapshot);
        steps += 1;
        if (index.derived) derived += 1;
        const full = new WorkloadIndex(snapshot);
        t.same(lookups(index), lookups(full), `step ${i + 1}`);
        if (i % 2 === 0) index.targetPortProtocol({ uid: uidOf(1) }, 8080);
      });
    }),
    { seed: 1717, numRuns: 200 },
  );
  t.ok(steps > 1000, `${steps} steps compared`);
  t.ok(derived > steps / 2, `most steps derived (${derived} of ${steps}): the test exercises the derive, not only its fallback`);
});

t.test('long runs fold the layered tables and stay equal', async (t) => {
  const model = new Model();
  let index = new WorkloadIndex(model.snapshot('v0'));
  const ops = fc.sample(fc.array(opArb, { minLength: 1, maxLength: 2 }), { seed: 4242, numRuns: 600 });
  let derived = 0;
  ops.forEach((step, i) => {
    for (const o of step) if (o.op !== 'node-address' && o.op !== 'routes' && o.op !== 'policies') model.apply(o);
    index = WorkloadIndex.derive(index, model.snapshot(`v${i + 1}`));
    if (index.derived) derived += 1;
  });
  t.same(lookups(index), lookups(new WorkloadIndex(index.snapshot)));
  t.ok(derived > 500, `derived ${derived} of 600 in a row (past the overlay's 64-key fold)`);
});

t.test('the previous index is left as it was', async (t) => {
  const model = new Model();
  for (let s = 0; s < 6; s++) model.apply({ op: 'workload', slot: s, node: s < 3 ? 'node1' : 'node2', address: s, identity: s % 3, local: true });
  model.apply({ op: 'service', slot: 0, vip: 0, members: [0, 1, 3], ports: 2, opaque: false, policy: 1, plain: true });
  const before = new WorkloadIndex(model.snapshot('v1'));
  const expected = lookups(before);
  model.apply({ op: 'drop-workload', slot: 0 });
  model.apply({ op: 'workload', slot: 7, node: 'node1', address: 9, identity: 3, local: true });
  model.apply({ op: 'service', slot: 0, vip: 1, members: [1, 7], ports: 1, opaque: true, policy: 2, plain: false });
  const after = WorkloadIndex.derive(before, model.snapshot('v2'));
  t.equal(after.derived, true);
  t.same(lookups(before), expected, 'v1 lookups unchanged after v2 was derived');
  t.not(after.byUid.get(uidOf(0)), before.byUid.get(uidOf(0)));
});

t.test('doubt builds from the whole snapshot', async (t) => {
  const model = new Model();
  for (let s = 0; s < 4; s++) model.apply({ op: 'workload', slot: s, node: 'node1', address: s, identity: 0, local: true });
  const base = model.snapshot('v1');
  const index = new WorkloadIndex(base);
  t.equal(WorkloadIndex.derive(index, { ...base, version: 'v2' }).derived, true, 'an unchanged snapshot derives');
  t.equal(WorkloadIndex.derive(undefined, base).derived, false, 'nothing to derive from');
  const copied = { ...base, version: 'v2', workloads: base.workloads.map((w) => ({ ...w })), localWorkloads: base.localWorkloads.map((w) => ({ ...w })) };
  t.equal(WorkloadIndex.derive(index, copied).derived, true, 'a few new objects (under the change bound) still derive');
  const reversed = { ...base, version: 'v2', workloads: [...base.workloads].reverse().map((w) => ({ ...w })) };
  const fromReversed = WorkloadIndex.derive(index, reversed);
  t.equal(fromReversed.derived, false, 'a list out of key order is built whole');
  t.same(lookups(fromReversed), lookups(new WorkloadIndex(reversed)));
  t.equal(WorkloadIndex.derive(index, { ...base, version: 'v2', nodeAddress: '198.18.0.99' }).derived, false, 'another node address: another address policy');
  t.equal(WorkloadIndex.derive(index, { ...base, version: 'v2' }, { allowLoopback: true }).derived, false, 'other options');
  const dup = { ...base, version: 'v2', workloads: [...base.workloads, { ...(base.workloads[0] as WorkloadInfo), uid: 'Pod/demo/zz' }] };
  const fromDup = WorkloadIndex.derive(index, dup);
  t.equal(fromDup.derived, false, 'an address held twice is built whole (the last one wins there)');
  t.same(lookups(fromDup), lookups(new WorkloadIndex(dup)));
  t.equal(WorkloadIndex.derive(fromDup, { ...dup, version: 'v3' }).derived, false, 'and an index with an address twice is never derived from');
});

t.test('sortedListChange: by reference, bounded, sortedness checked where the lists differ', async (t) => {
  const k = (x: { k: string }): string => x.k;
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => ({ k: x })) as [{ k: string }, { k: string }, { k: string }, { k: string }];
  const b2 = { k: 'b' };
  t.same(sortedListChange([a, b, c], [a, b2, c, d], k, 10), { removed: [b], added: [b2, d] });
  t.same(sortedListChange([a, b, c], [b, c], k, 10), { removed: [a], added: [] });
  t.equal(sortedListChange([a, b, c], [a, d, b2, c], k, 10), undefined, 'out of order where they differ');
  t.equal(sortedListChange([a, b], [a, b, b], k, 10), undefined, 'a key twice');
  t.equal(sortedListChange([a, b, c, d], [{ k: 'a' }, { k: 'b' }, { k: 'c' }, { k: 'd' }], k, 3), undefined, 'past the bound');
  const same = [a, b];
  t.same(sortedListChange(same, same, k, 0), { removed: [], added: [] });
});
