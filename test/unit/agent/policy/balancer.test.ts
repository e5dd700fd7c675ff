/**
 * Balancers outlive snapshots: round robin is fair, its cursor survives a snapshot that does not
 * change the endpoints, follows added and removed endpoints, and removed Services lose theirs.
 * The registry hands out per-request leases, and its L4 pick leaves nothing outstanding.
 */
import t from 'tap';
import { BalancerRegistry } from '../../../../src/agent/policy/balancer.js';
import { RoundRobinBalancer } from '../../../../src/agent/policy/balancers/round-robin.js';
import { balancerFactory, createBalancer } from '../../../../src/agent/policy/balancers/create-balancer.js';
import { seededRandom } from '../../../../src/agent/policy/balancers/seeded-random.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo } from '../../../../src/mesh/types.js';

function ep(n: number): EndpointInfo {
  return { workload: `Pod/demo/e${n}`, address: `198.18.2.${n}`, node: 'node2', nodeAddress: '198.18.0.12', meshed: false, targetPorts: { 80: 8080 } };
}

function service(name: string, vip: string, endpoints: EndpointInfo[]): ServiceInfo {
  return { key: `demo/${name}`, name, namespace: 'demo', vips: [vip], ports: [{ port: 80, targetPort: 8080 }], endpoints };
}

function snap(version: string, services: ServiceInfo[]): NodeSnapshot {
  return { version, node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services };
}

/** `n` picks through the registry for the VIP 198.19.0.10:80 of `index`, as endpoint addresses. */
function picks(registry: BalancerRegistry, index: WorkloadIndex, n: number, vip = '198.19.0.10'): string[] {
  registry.apply(index);
  const entry = index.serviceAt(vip, 80);
  if (entry === undefined) throw new Error(`no service at ${vip}:80`);
  return Array.from({ length: n }, () => registry.pick(entry)?.address ?? 'none');
}

t.test('round robin is fair over N picks', async (t) => {
  const rr = new RoundRobinBalancer([ep(1), ep(2), ep(3)]);
  const counts = new Map<string, number>();
  for (let i = 0; i < 300; i++) {
    const a = rr.pick()?.endpoint.address ?? 'none';
    counts.set(a, (counts.get(a) ?? 0) + 1);
  }
  t.same(Object.fromEntries(counts), { '198.18.2.1': 100, '198.18.2.2': 100, '198.18.2.3': 100 });
  t.equal(new RoundRobinBalancer([]).pick(), undefined, 'no endpoint, no pick');
});

t.test('a snapshot that does not change the endpoints keeps the cursor', async (t) => {
  const registry = new BalancerRegistry();
  const v1 = new WorkloadIndex(snap('v1', [service('web', '198.19.0.10', [ep(1), ep(2), ep(3)])]));
  t.same(picks(registry, v1, 2), ['198.18.2.1', '198.18.2.2']);
  // New objects, same endpoints (every snapshot is decoded afresh).
  const v2 = new WorkloadIndex(snap('v2', [service('web', '198.19.0.10', [ep(1), ep(2), ep(3)])]));
  t.same(picks(registry, v2, 3), ['198.18.2.3', '198.18.2.1', '198.18.2.2'], 'not reset to the first endpoint');
});

t.test('added and removed endpoints', async (t) => {
  const registry = new BalancerRegistry();
  t.same(picks(registry, new WorkloadIndex(snap('v1', [service('web', '198.19.0.10', [ep(1), ep(2), ep(3)])])), 1), ['198.18.2.1']);
  // The next one (e2) stays next; e4 joins the rotation.
  t.same(picks(registry, new WorkloadIndex(snap('v2', [service('web', '198.19.0.10', [ep(1), ep(2), ep(3), ep(4)])])), 4), ['198.18.2.2', '198.18.2.3', '198.18.2.4', '198.18.2.1']);
  // e2, the next one, leaves: the rotation goes on without it.
  t.same(picks(registry, new WorkloadIndex(snap('v3', [service('web', '198.19.0.10', [ep(1), ep(3), ep(4)])])), 3), ['198.18.2.3', '198.18.2.4', '198.18.2.1']);
  t.same(picks(registry, new WorkloadIndex(snap('v4', [service('web', '198.19.0.10', [ep(4)])])), 2), ['198.18.2.4', '198.18.2.4']);
});

t.test('VIPs of one Service share a balancer; a removed Service drops it', async (t) => {
  const registry = new BalancerRegistry();
  const two: ServiceInfo = { ...service('web', '198.19.0.10', [ep(1), ep(2)]), vips: ['198.19.0.10', '198.19.0.11'] };
  const v1 = new WorkloadIndex(snap('v1', [two, service('db', '198.19.0.20', [ep(5)])]));
  t.same([...picks(registry, v1, 1), ...picks(registry, v1, 1, '198.19.0.11')], ['198.18.2.1', '198.18.2.2']);
  t.equal(registry.size, 2);
  const v2 = new WorkloadIndex(snap('v2', [service('db', '198.19.0.20', [ep(5)])]));
  registry.apply(v2);
  t.equal(registry.size, 1, 'the removed Service has no balancer');
  const v3 = new WorkloadIndex(snap('v3', [two]));
  t.same(picks(registry, v3, 1), ['198.18.2.1'], 'a Service that comes back starts afresh');
  t.equal(registry.size, 1, 'db is gone too');
});

t.test('per-request leases through the registry; an L4 pick leaves no request outstanding', async (t) => {
  const env = { now: () => 0, random: seededRandom(1) };
  const registry = new BalancerRegistry((entry) => createBalancer({ algorithm: 'least-request' }, entry.endpoints, { env }));
  const index = new WorkloadIndex(snap('v1', [service('web', '198.19.0.10', [ep(1), ep(2)])]));
  registry.apply(index);
  const entry = index.serviceAt('198.19.0.10', 80);
  if (entry === undefined) throw new Error('no service');
  t.not(registry.pick(entry), undefined);
  const outstanding = (): number[] => registry.describe()[0]?.endpoints.map((e) => e.outstanding) ?? [];
  t.same(outstanding(), [0, 0], 'the L4 pick released its lease');
  const lease = registry.lease(entry);
  t.same(outstanding().reduce((a, b) => a + b, 0), 1, 'a request lease is outstanding');
  // The endpoint refused: release, retry with it excluded, land on the other one.
  lease?.release({ outcome: 'failure' });
  const retry = registry.lease(entry, { exclude: new Set([lease?.key ?? '']) });
  t.not(retry?.key, lease?.key);
  t.equal(registry.describe()[0]?.algorithm, 'least-request');
  registry.balancerOf(entry).eject(retry?.key ?? '', 1);
  t.equal(registry.describe()[0]?.endpoints.filter((e) => e.ejectedUntilMs === 1).length, 1, 'ejected through the registry');
});

t.test('the default stays round robin (L4 behaviour unchanged)', async (t) => {
  const registry = new BalancerRegistry();
  const index = new WorkloadIndex(snap('v1', [service('web', '198.19.0.10', [ep(1), ep(2)])]));
  t.same(picks(registry, index, 4), ['198.18.2.1', '198.18.2.2', '198.18.2.1', '198.18.2.2']);
  t.equal(registry.describe()[0]?.algorithm, 'round-robin');
});

t.test("a factory by spec; forget makes a Service port's balancer afresh (a changed policy)", async (t) => {
  let algorithm: 'maglev' | 'peak-ewma' = 'maglev';
  const env = { now: () => 0, random: seededRandom(2) };
  const registry = new BalancerRegistry(balancerFactory(() => ({ algorithm }), { env }));
  const index = new WorkloadIndex(snap('v1', [service('web', '198.19.0.10', [ep(1), ep(2)])]));
  registry.apply(index);
  t.same(registry.describe().map((d) => d.algorithm), ['maglev']);
  algorithm = 'peak-ewma';
  registry.apply(index);
  t.same(registry.describe().map((d) => d.algorithm), ['maglev'], 'kept until told');
  registry.forget(['demo/web|80']);
  registry.apply(new WorkloadIndex(snap('v2', [service('web', '198.19.0.10', [ep(1), ep(2)])])));
  t.same(registry.describe().map((d) => d.algorithm), ['peak-ewma']);
});

/** A registry's Service ports and each one's endpoints, in key order (its balancers' state left out). */
function registryView(r: BalancerRegistry): unknown {
  return r.describe().map((d) => ({ servicePort: d.servicePort, endpoints: d.endpoints.map((e) => e.key) })).sort((a, b) => (a.servicePort < b.servicePort ? -1 : 1));
}

t.test('apply with derived indexes (only the changed Service ports) keeps the registry as applying every Service port does (generated change sequences)', async (t) => {
  const { Model, opArb } = await import('../state/snapshot-model.js');
  const fc = (await import('fast-check')).default;
  /** Between pushes: a TrafficPolicy change's forget, or a pick with the previous snapshot's entry (both outside apply). */
  const aside = fc.oneof(fc.constant({ kind: 'none' as const }), fc.record({ kind: fc.constantFrom('forget' as const, 'pick-old' as const), slot: fc.nat(20) }));
  let steps = 0;
  let incremental = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 10 }), fc.array(fc.tuple(fc.array(opArb, { minLength: 1, maxLength: 3 }), aside), { minLength: 1, maxLength: 20 }), (setup, changes) => {
      const model = new Model();
      for (const o of setup) model.apply(o);
      const first = model.snapshot('v0');
      let derived = new WorkloadIndex(first);
      let whole = new WorkloadIndex(first);
      const a = new BalancerRegistry();
      const b = new BalancerRegistry();
      a.apply(derived);
      b.apply(whole);
      changes.forEach(([step, side], i) => {
        for (const o of step) model.apply(o);
        const snapshot = model.snapshot(`v${i + 1}`);
        const [prevDerived, prevWhole] = [derived, whole];
        derived = WorkloadIndex.derive(derived, snapshot);
        whole = new WorkloadIndex(snapshot);
        if (side.kind !== 'none') {
          const key = prevWhole.serviceEntries[side.slot % Math.max(1, prevWhole.serviceEntries.length)]?.key;
          const oldA = prevDerived.serviceEntries.find((e) => e.key === key);
          const oldB = prevWhole.serviceEntries.find((e) => e.key === key);
          if (side.kind === 'forget' && key !== undefined) {
            a.forget([key]);
            b.forget([key]);
          }
          if (side.kind === 'pick-old' && oldA !== undefined && oldB !== undefined) {
            a.pick(oldA);
            b.pick(oldB);
          }
        } else if (derived.derived) incremental += 1;
        a.apply(derived);
        b.apply(whole);
        steps += 1;
        t.same(registryView(a), registryView(b), `step ${i + 1}`);
      });
    }),
    { seed: 1717, numRuns: 150 },
  );
  t.ok(steps > 500, `${steps} steps compared`);
  t.ok(incremental > steps / 3, `${incremental} of ${steps} applies took the derived path`);
});
