/**
 * Balancers from TrafficPolicy: the algorithm a Service's policy names (least request without
 * one), locality from this node's zone when the policy prefers the local zone, hash-key sources,
 * and which balancers to rebuild when a policy or the zone changes.
 */
import t from 'tap';
import fc from 'fast-check';
import { Model, opArb } from '../state/snapshot-model.js';
import { BalancerRegistry } from '../../../../src/agent/policy/balancer.js';
import { balancersToRebuild, hashKeySourcesOf, localityOf, policyBalancerFactory } from '../../../../src/agent/policy/balancer-policy.js';
import { hashKeyOf } from '../../../../src/agent/policy/balancers/hash-key.js';
import { seededRandom } from '../../../../src/agent/policy/balancers/seeded-random.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, TrafficPolicyInfo } from '../../../../src/mesh/types.js';

function ep(n: number, zone: string): EndpointInfo {
  return { workload: `Pod/demo/e${n}`, address: `198.18.2.${n}`, node: `node${n}`, nodeAddress: `198.18.0.${n}`, meshed: false, targetPorts: { 80: 8080 }, zone };
}

const EPS = [ep(1, 'zone-a'), ep(2, 'zone-b'), ep(3, 'zone-b')];

function snap(policy: TrafficPolicyInfo | undefined, zone: string | undefined): NodeSnapshot {
  const base: ServiceInfo = { key: 'demo/web', name: 'web', namespace: 'demo', vips: ['198.19.0.10'], ports: [{ port: 80, targetPort: 8080 }], endpoints: EPS };
  const service = policy === undefined ? base : { ...base, trafficPolicy: policy };
  const s: NodeSnapshot = { version: 'v', node: 'node9', nodeAddress: '198.18.0.99', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services: [service] };
  return zone === undefined ? s : { ...s, zone };
}

const env = (): { now: () => number; random: () => number } => ({ now: () => 0, random: seededRandom(7) });

function setup(policy: TrafficPolicyInfo | undefined, zone: string | undefined): { registry: BalancerRegistry; index: WorkloadIndex } {
  const index = new WorkloadIndex(snap(policy, zone));
  const registry = new BalancerRegistry(policyBalancerFactory(() => index, env()));
  registry.apply(index);
  return { registry, index };
}

const entry = (index: WorkloadIndex) => {
  const e = index.serviceAt('198.19.0.10', 80);
  if (e === undefined) throw new Error('no entry');
  return e;
};

t.test('no policy: least request, no locality', async (t) => {
  const { registry, index } = setup(undefined, 'zone-a');
  t.equal(registry.balancerOf(entry(index)).algorithm, 'least-request');
  const seen = new Set(Array.from({ length: 60 }, () => registry.pick(entry(index))?.address));
  t.equal(seen.size, 3, 'every zone gets traffic without preferLocal');
});

t.test('the policy\'s algorithm, and the local zone first when it prefers it', async (t) => {
  const policy: TrafficPolicyInfo = { policy: 'demo/p', balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: true };
  const { registry, index } = setup(policy, 'zone-b');
  t.equal(registry.balancerOf(entry(index)).algorithm, 'round-robin');
  const picked = Array.from({ length: 20 }, () => registry.pick(entry(index))?.address);
  t.same([...new Set(picked)].sort(), ['198.18.2.2', '198.18.2.3'], 'only zone-b endpoints while they are healthy');
  t.same(localityOf(policy, undefined), undefined, 'no zone on this node: no preference');
  t.equal(localityOf({ ...policy, preferLocalZone: false }, 'zone-b'), undefined);
});

t.test('hash key sources come from the policy', async (t) => {
  const policy: TrafficPolicyInfo = { policy: 'demo/p', balancer: { algorithm: 'maglev' }, hashKeys: [{ kind: 'header', name: 'x-user' }], preferLocalZone: false };
  const { registry, index } = setup(policy, undefined);
  const sources = hashKeySourcesOf(index, entry(index));
  const key = hashKeyOf(sources, { headers: { 'x-user': 'bob' }, sourceAddress: '198.18.1.1' });
  t.equal(key, 'bob');
  const a = registry.lease(entry(index), { hashKey: key });
  const b = registry.lease(entry(index), { hashKey: key });
  t.equal(a?.endpoint.address, b?.endpoint.address, 'one key, one endpoint');
  t.same(hashKeySourcesOf(setup(undefined, undefined).index, entry(index)), []);
});

t.test('balancersToRebuild: a changed policy or zone, nothing else', async (t) => {
  const p1: TrafficPolicyInfo = { policy: 'demo/p', balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: true };
  const a = new WorkloadIndex(snap(p1, 'zone-a'));
  t.same(balancersToRebuild(undefined, a), []);
  t.same(balancersToRebuild(a, new WorkloadIndex(snap(p1, 'zone-a'))), [], 'same policy, same zone');
  t.same(balancersToRebuild(a, new WorkloadIndex(snap({ ...p1, balancer: { algorithm: 'peak-ewma' } }, 'zone-a'))), ['demo/web|80']);
  t.same(balancersToRebuild(a, new WorkloadIndex(snap(undefined, 'zone-a'))), ['demo/web|80'], 'policy removed');
  t.same(balancersToRebuild(a, new WorkloadIndex(snap(p1, 'zone-b'))), ['demo/web|80'], 'zone changed under preferLocal');
  const noLocal = { ...p1, preferLocalZone: false };
  t.same(balancersToRebuild(new WorkloadIndex(snap(noLocal, 'zone-a')), new WorkloadIndex(snap(noLocal, 'zone-b'))), [], 'zone change without preferLocal');
});

t.test('balancersToRebuild from a derived index (only the changed Service ports looked at) = from a whole build, over generated changes', async (t) => {
  let rebuilt = 0;
  let derived = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 10 }), fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 15 }), (setup, steps) => {
      const model = new Model();
      for (const o of setup) model.apply(o);
      let prev = new WorkloadIndex(model.snapshot('v0'));
      steps.forEach((step, i) => {
        for (const o of step) model.apply(o);
        const next = WorkloadIndex.derive(prev, model.snapshot(`v${i + 1}`));
        if (next.derived) derived += 1;
        const expected = balancersToRebuild(prev, new WorkloadIndex(next.snapshot));
        t.same(balancersToRebuild(prev, next), expected);
        rebuilt += expected.length;
        prev = next;
      });
    }),
    { seed: 99, numRuns: 60 },
  );
  t.ok(rebuilt > 0, `some balancers rebuilt (${rebuilt})`);
  t.ok(derived > 0, `through derived indexes (${derived})`);
});
