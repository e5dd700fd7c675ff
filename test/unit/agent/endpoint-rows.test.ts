/**
 * `/endpoints` (`meshlet proxy-config endpoints`): each endpoint's balancing state from real
 * balancers (outstanding requests held by leases, peak-EWMA estimates after answers, zones,
 * ejections with their seconds left), and the admin view's order across worker processes.
 */
import t from 'tap';
import type { Agent } from '../../../src/agent/agent.js';
import { endpointsView } from '../../../src/agent/admin/views.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { policyBalancerFactory } from '../../../src/agent/policy/balancer-policy.js';
import { seededRandom } from '../../../src/agent/policy/balancers/seeded-random.js';
import { endpointRows, type EndpointRow } from '../../../src/agent/proxy/endpoint-rows.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, TrafficPolicyInfo } from '../../../src/mesh/types.js';

function ep(n: number, zone: string): EndpointInfo {
  return { workload: `Pod/demo/e${n}`, address: `198.18.2.${n}`, node: `node${n}`, nodeAddress: `198.18.0.${n}`, meshed: false, targetPorts: { 80: 8080 }, zone };
}

function index(policy?: TrafficPolicyInfo): WorkloadIndex {
  const base: ServiceInfo = { key: 'demo/web', name: 'web', namespace: 'demo', vips: ['198.19.0.10'], ports: [{ port: 80, targetPort: 8080 }], endpoints: [ep(1, 'zone-a'), ep(2, 'zone-b')] };
  const service = policy === undefined ? base : { ...base, trafficPolicy: policy };
  const snap: NodeSnapshot = { version: 'v', node: 'node9', nodeAddress: '198.18.0.99', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services: [service] };
  return new WorkloadIndex(snap);
}

function setup(policy?: TrafficPolicyInfo): { registry: BalancerRegistry; idx: WorkloadIndex; clock: { now: number } } {
  const idx = index(policy);
  const clock = { now: 1000 };
  const registry = new BalancerRegistry(policyBalancerFactory(() => idx, { now: () => clock.now, random: seededRandom(3) }));
  registry.apply(idx);
  return { registry, idx, clock };
}

const entryOf = (idx: WorkloadIndex) => {
  const e = idx.serviceAt('198.19.0.10', 80);
  if (e === undefined) throw new Error('no entry');
  return e;
};

t.test('least request: outstanding requests held by leases, zones, weights', async (t) => {
  const { registry, idx, clock } = setup();
  const leases = Array.from({ length: 5 }, () => registry.lease(entryOf(idx)));
  const zoneOf = (address: string): string | undefined => idx.snapshot.services[0]?.endpoints.find((e) => e.address === address)?.zone;
  const rows = endpointRows(registry, 4242, clock.now, zoneOf);
  t.equal(rows.length, 2);
  t.same(rows.map((r) => [r['servicePort'], r['algorithm'], r['address'], r['workload'], r['zone'], r['weight'], r['worker'], r['ewmaMs'], r['ejectedSeconds']]), [
    ['demo/web|80', 'least-request', '198.18.2.1', 'Pod/demo/e1', 'zone-a', 1, 4242, '', 0],
    ['demo/web|80', 'least-request', '198.18.2.2', 'Pod/demo/e2', 'zone-b', 1, 4242, '', 0],
  ]);
  t.equal(rows.reduce((n, r) => n + Number(r['outstanding']), 0), 5, 'five requests in flight');
  for (const l of leases) l?.release({ outcome: 'success' });
  t.same(endpointRows(registry, 4242, clock.now).map((r) => r['outstanding']), [0, 0], 'released: none in flight');
});

t.test('peak EWMA estimates after answers; an ejection says its seconds left', async (t) => {
  const { registry, idx, clock } = setup({ policy: 'demo/p', balancer: { algorithm: 'peak-ewma' }, hashKeys: [], preferLocalZone: false });
  for (let i = 0; i < 20; i++) {
    const lease = registry.lease(entryOf(idx));
    lease?.release({ outcome: 'success', latencyMs: lease.endpoint.address.endsWith('.1') ? 5 : 80 });
  }
  const rows = endpointRows(registry, 1, clock.now);
  t.same(rows.map((r) => r['algorithm']), ['peak-ewma', 'peak-ewma']);
  const ewma = rows.map((r) => Number(r['ewmaMs']));
  t.ok((ewma[0] as number) < (ewma[1] as number), `the fast endpoint's estimate (${ewma[0]} ms) is below the slow one's (${ewma[1]} ms)`);
  const key = String(rows[0]?.['endpoint']);
  registry.balancerOf(entryOf(idx)).eject(key, clock.now + 30_000);
  t.same(endpointRows(registry, 1, clock.now).map((r) => r['ejectedSeconds']), [30, 0]);
  clock.now += 31_000;
  t.same(endpointRows(registry, 1, clock.now).map((r) => r['ejectedSeconds']), [0, 0], 'an ejection past its time shows 0');
});

t.test('the admin view orders rows by Service port, endpoint, then worker', async (t) => {
  const row = (servicePort: string, endpoint: string, worker: number): EndpointRow => ({ servicePort, endpoint, worker });
  const agent = { endpointRows: async () => [row('b/x|80', 'e1', 2), row('a/y|80', 'e2', 9), row('a/y|80', 'e1', 9), row('a/y|80', 'e1', 3)] } as unknown as Agent;
  const rows = await endpointsView(agent);
  t.same(rows.map((r) => `${r['servicePort']} ${r['endpoint']} ${r['worker']}`), ['a/y|80 e1 3', 'a/y|80 e1 9', 'a/y|80 e2 9', 'b/x|80 e1 2']);
});
