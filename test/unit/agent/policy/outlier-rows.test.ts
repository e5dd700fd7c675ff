/**
 * Passive health as `proxy-config endpoints` shows it: the `/endpoints` rows carry each
 * endpoint's consecutive 5xx and gateway errors, last success rate, times ejected, and the
 * ejection in force (seconds left, its whole length, until when on the wall clock, why); a
 * Service without passive health has empty health fields; the CLI's EJECTED and OUTLIER cells.
 */
import t from 'tap';
import { BalancerRegistry } from '../../../../src/agent/policy/balancer.js';
import { policyBalancerFactory } from '../../../../src/agent/policy/balancer-policy.js';
import { endpointKey } from '../../../../src/agent/policy/balancers/endpoint-table.js';
import { seededRandom } from '../../../../src/agent/policy/balancers/seeded-random.js';
import { OutlierRegistry } from '../../../../src/agent/proxy/outlier-registry.js';
import { endpointRows } from '../../../../src/agent/proxy/endpoint-rows.js';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import { ejectedCell, outlierCell } from '../../../../src/cli/proxy-config-command.js';
import { DEFAULT_PASSIVE_HEALTH } from '../../../../src/mesh/resilience.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo } from '../../../../src/mesh/types.js';

function ep(n: number): EndpointInfo {
  return { workload: `Pod/demo/e${n}`, address: `198.18.2.${n}`, node: 'node2', nodeAddress: '198.18.0.12', meshed: false, targetPorts: { 80: 8080 } };
}

function setup() {
  const health = { ...DEFAULT_PASSIVE_HEALTH, consecutive5xx: 2, baseEjectionMs: 30_000, maxEjectionPercent: 50, intervalMs: 10_000 };
  const web: ServiceInfo = {
    key: 'demo/web', name: 'web', namespace: 'demo', vips: ['198.19.0.10'], ports: [{ port: 80, targetPort: 8080 }], endpoints: [ep(1), ep(2)],
    trafficPolicy: { policy: 'demo/p', balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: false, passiveHealth: health },
  };
  const plain: ServiceInfo = { key: 'demo/db', name: 'db', namespace: 'demo', vips: ['198.19.0.11'], ports: [{ port: 80, targetPort: 8080 }], endpoints: [ep(3)] };
  const snap: NodeSnapshot = { version: 'v', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services: [web, plain] };
  const idx = new WorkloadIndex(snap);
  const clock = { now: 5000 };
  const registry = new BalancerRegistry(policyBalancerFactory(() => idx, { now: () => clock.now, random: seededRandom(2) }));
  const outliers = new OutlierRegistry({ now: () => clock.now, timers: { set: () => undefined, clear: () => undefined } });
  outliers.attach(registry);
  registry.apply(idx);
  outliers.apply(idx);
  for (const e of idx.serviceEntries) registry.balancerOf(e);
  const entry = idx.serviceAt('198.19.0.10', 80);
  if (entry === undefined) throw new Error('no entry');
  return { registry, outliers, entry, clock };
}

t.test('rows carry the health of each endpoint and the ejection in force', async (t) => {
  const { registry, outliers, entry, clock } = setup();
  outliers.report(entry, endpointKey(ep(1)), 503, false);
  outliers.report(entry, endpointKey(ep(1)), 500, false);
  outliers.report(entry, endpointKey(ep(2)), 502, false);
  clock.now += 10_000;
  const wall = Date.parse('2026-12-06T12:00:00.000Z');
  const rows = endpointRows(registry, 7, clock.now, undefined, wall);
  const pick = (r: Record<string, unknown> | undefined) => [r?.['servicePort'], r?.['consecutive5xx'], r?.['consecutiveGatewayErrors'], r?.['timesEjected'], r?.['ejectionsTotal'], r?.['ejectedSeconds'], r?.['ejectionSeconds'], r?.['ejectedUntil'], r?.['ejectionReason']];
  t.equal(rows.length, 3);
  t.same(pick(rows[0]), ['demo/db|80', '', '', '', '', 0, '', '', ''], 'no passive health: empty health fields');
  t.same(pick(rows[1]), ['demo/web|80', 0, 0, 1, 1, 20, 30, '2026-12-06T12:00:20.000Z', 'consecutive_5xx'], 'ejected 10 s ago for 30 s: 20 s left');
  t.same(pick(rows[2]), ['demo/web|80', 1, 1, 0, 0, 0, 0, '', ''], 'one 502 so far');
  t.equal(ejectedCell(rows[1]), '20s/30s');
  t.equal(ejectedCell(rows[2]), '');
  t.equal(outlierCell(rows[1]), 'ej:1');
  t.equal(outlierCell(rows[2]), '5xx:1 gw:1');
  t.equal(outlierCell(rows[0]), '', 'nothing for a Service without passive health');
});

t.test('the success rate is shown once judged', async (t) => {
  const health = { ...DEFAULT_PASSIVE_HEALTH, consecutive5xx: 0, intervalMs: 1000, successRate: { minimumHosts: 2, requestVolume: 4, stdevFactor: 1.9 } };
  const { registry, entry, clock } = setup();
  const outliers = new OutlierRegistry({ now: () => clock.now, timers: { set: () => undefined, clear: () => undefined } });
  const services = [{ ...entry.service, trafficPolicy: { policy: 'demo/p', balancer: { algorithm: 'round-robin' as const }, hashKeys: [], preferLocalZone: false, passiveHealth: health } }];
  const idx = new WorkloadIndex({ version: 'v2', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services });
  outliers.attach(registry);
  outliers.apply(idx);
  const e = idx.serviceAt('198.19.0.10', 80);
  if (e === undefined) throw new Error('no entry');
  for (let i = 0; i < 8; i++) outliers.report(e, endpointKey(ep(1)), i < 5 ? 200 : 503, false);
  for (let i = 0; i < 8; i++) outliers.report(e, endpointKey(ep(2)), 200, false);
  clock.now += 1000;
  outliers.tick();
  const row = endpointRows(registry, 1, clock.now).find((r) => r['address'] === '198.18.2.1');
  t.equal(row?.['successRate'], 62.5);
  t.equal(outlierCell(row), '5xx:3 gw:3 sr:62.5%', 'the last three were 503s');
});

t.test('hostile rows do not break the cells', async (t) => {
  t.equal(ejectedCell({ ejectedSeconds: 'x', ejectionSeconds: 5 }), '');
  t.equal(ejectedCell({ ejectedSeconds: 5 }), '5s', 'no length known: time left only');
  t.equal(outlierCell({ consecutive5xx: 'many', successRate: 'NaN', ejectionsTotal: -1 }), '');
  t.equal(outlierCell(null), '');
});
