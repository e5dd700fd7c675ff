/**
 * OutlierRegistry over real balancers and a clock the test moves: ejections reach every
 * attached balancer registry (and balancers made later), the balancers skip the ejected
 * endpoint, the one timer runs only while some Service has passive health, ejections end at
 * their time, a Service losing its policy gets its endpoints back, and the views (describe,
 * the balancers' describe, the gauge's values) show it.
 */
import t from 'tap';
import { BalancerRegistry } from '../../../../src/agent/policy/balancer.js';
import { policyBalancerFactory } from '../../../../src/agent/policy/balancer-policy.js';
import { endpointKey } from '../../../../src/agent/policy/balancers/endpoint-table.js';
import { seededRandom } from '../../../../src/agent/policy/balancers/seeded-random.js';
import { MAX_TIMER_MS, OutlierRegistry, type OutlierTimers } from '../../../../src/agent/proxy/outlier-registry.js';
import { WorkloadIndex, type ServicePortEntry } from '../../../../src/agent/state/workload-index.js';
import { DEFAULT_PASSIVE_HEALTH, type PassiveHealthPolicy } from '../../../../src/mesh/resilience.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, TrafficPolicyInfo } from '../../../../src/mesh/types.js';

function ep(n: number): EndpointInfo {
  return { workload: `Pod/demo/e${n}`, address: `198.18.2.${n}`, node: 'node2', nodeAddress: '198.18.0.12', meshed: false, targetPorts: { 80: 8080 } };
}

const HEALTH: PassiveHealthPolicy = { ...DEFAULT_PASSIVE_HEALTH, consecutive5xx: 3, intervalMs: 1000, baseEjectionMs: 5000, maxEjectionMs: 60_000, maxEjectionPercent: 50 };

function traffic(passiveHealth?: PassiveHealthPolicy): TrafficPolicyInfo {
  return { policy: 'demo/p', balancer: { algorithm: 'round-robin' }, hashKeys: [], preferLocalZone: false, ...(passiveHealth === undefined ? {} : { passiveHealth }) };
}

function index(version: string, policy: TrafficPolicyInfo | undefined, endpoints = [ep(1), ep(2), ep(3), ep(4)]): WorkloadIndex {
  const base: ServiceInfo = { key: 'demo/web', name: 'web', namespace: 'demo', vips: ['198.19.0.10'], ports: [{ port: 80, targetPort: 8080 }], endpoints };
  const other: ServiceInfo = { key: 'demo/db', name: 'db', namespace: 'demo', vips: ['198.19.0.11'], ports: [{ port: 80, targetPort: 8080 }], endpoints: [ep(5)] };
  const snap: NodeSnapshot = { version, node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local', localWorkloads: [], workloads: [], services: [policy === undefined ? base : { ...base, trafficPolicy: policy }, other] };
  return new WorkloadIndex(snap);
}

function entryOf(idx: WorkloadIndex, vip = '198.19.0.10'): ServicePortEntry {
  const e = idx.serviceAt(vip, 80);
  if (e === undefined) throw new Error('no entry');
  return e;
}

/** A clock and timers the test moves: `advance` runs the timer when it is due. */
function fakeTime(): { clock: { now: number }; timers: OutlierTimers & { armed: number; dueAt: number | undefined }; advance(ms: number): void } {
  const clock = { now: 1000 };
  let pending: { fn: () => void; at: number } | undefined;
  const timers = {
    armed: 0,
    get dueAt(): number | undefined {
      return pending?.at;
    },
    set(fn: () => void, ms: number): unknown {
      timers.armed++;
      pending = { fn, at: clock.now + ms };
      return pending;
    },
    clear(h: unknown): void {
      if (h === pending) pending = undefined;
    },
  };
  return {
    clock,
    timers,
    advance(ms: number): void {
      const end = clock.now + ms;
      while (pending !== undefined && pending.at <= end) {
        const p = pending;
        pending = undefined;
        clock.now = p.at;
        p.fn();
      }
      clock.now = end;
    },
  };
}

function setup(policy: TrafficPolicyInfo | undefined = traffic(HEALTH)) {
  const time = fakeTime();
  const idx = index('v1', policy);
  const env = { now: () => time.clock.now, random: seededRandom(1) };
  const l7 = new BalancerRegistry(policyBalancerFactory(() => idx, env));
  const l4 = new BalancerRegistry();
  const events: string[] = [];
  const outliers = new OutlierRegistry({ now: () => time.clock.now, timers: time.timers, onEject: (service, reason, key) => void events.push(`${service} ${reason} ${key}`) });
  outliers.attach(l7);
  outliers.attach(l4);
  l7.apply(idx);
  l4.apply(idx);
  outliers.apply(idx);
  return { time, idx, l7, l4, outliers, events };
}

function picked(registry: BalancerRegistry, entry: ServicePortEntry, n: number): Set<string> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) seen.add(registry.lease(entry)?.endpoint.address ?? 'none');
  return seen;
}

t.test('consecutive 5xx eject in every attached registry until the ejection ends', async (t) => {
  const { time, idx, l7, l4, outliers, events } = setup();
  const entry = entryOf(idx);
  const bad = endpointKey(ep(2));
  for (let i = 0; i < 3; i++) outliers.report(entry, bad, 503, false);
  t.same(events, [`demo/web consecutive_5xx ${bad}`], 'one ejection event with its Service and reason');
  t.notOk(picked(l7, entry, 20).has('198.18.2.2'), 'the L7 balancer skips it');
  t.notOk(picked(l4, entry, 20).has('198.18.2.2'), 'the L4 balancer (a clock that stands still) skips it');
  t.same(outliers.ejectedByService(), [{ labels: { service: 'demo/web' }, value: 1 }], 'the gauge counts it');
  time.advance(5000);
  t.ok(picked(l4, entry, 20).has('198.18.2.2'), 'back in L4 rotation after 5 s: the timer lifted it');
  t.ok(picked(l7, entry, 20).has('198.18.2.2'), 'back in L7 rotation');
  t.same(outliers.ejectedByService(), [{ labels: { service: 'demo/web' }, value: 0 }]);
});

t.test('a balancer made after an ejection (a forgotten one) starts with it', async (t) => {
  const { idx, l7, outliers } = setup();
  const entry = entryOf(idx);
  for (let i = 0; i < 3; i++) outliers.reportEndpoint(entry, ep(3), 0, true);
  l7.forget();
  t.notOk(picked(l7, entry, 20).has('198.18.2.3'), 'the new balancer skips the ejected endpoint');
});

t.test('describe and the balancers\' describe show health: counters, times ejected, until when', async (t) => {
  const { time, idx, l7, outliers } = setup();
  const entry = entryOf(idx);
  outliers.report(entry, endpointKey(ep(1)), 500, false);
  outliers.report(entry, endpointKey(ep(1)), 502, false);
  for (let i = 0; i < 3; i++) outliers.report(entry, endpointKey(ep(4)), 0, true);
  const view = outliers.describe();
  t.equal(view.length, 1, 'one Service port under passive health');
  t.equal(view[0]?.servicePort, 'demo/web|80');
  t.equal(view[0]?.ejected, 1);
  const e1 = view[0]?.endpoints.find((e) => e.key === endpointKey(ep(1)));
  t.equal(e1?.consecutive5xx, 2);
  t.equal(e1?.consecutiveGatewayErrors, 1);
  t.equal(e1?.ejectedUntilMs, undefined, 'not ejected');
  const lb = l7.describe()[0]?.endpoints.find((e) => e.key === endpointKey(ep(4)));
  t.same(lb?.health, { timesEjected: 1, ejectionsTotal: 1, consecutive5xx: 0, consecutiveGatewayErrors: 0, ejectedUntilMs: time.clock.now + 5000, ejectionMs: 5000, ejectionReason: 'consecutive_5xx' });
  t.equal(lb?.ejectedUntilMs, time.clock.now + 5000, 'the balancer holds the same ejection');
});

t.test('the timer runs only while some Service has passive health, and close stops it', async (t) => {
  const none = setup(traffic());
  t.equal(none.outliers.size, 0);
  t.equal(none.time.timers.armed, 0, 'no policy: no timer');
  none.outliers.report(entryOf(none.idx), endpointKey(ep(1)), 500, false);
  t.same(none.outliers.describe(), [], 'reports for a Service without passive health are ignored');

  const { time, outliers, l7, l4 } = setup();
  t.equal(time.timers.dueAt, 2000, 'armed for the first interval');
  time.advance(3000);
  t.equal(time.timers.dueAt, 5000, 'rearmed at each interval');
  const next = index('v2', traffic());
  l7.apply(next);
  l4.apply(next);
  outliers.apply(next);
  t.equal(outliers.size, 0, 'the policy went away');
  t.equal(time.timers.dueAt, undefined, 'the timer stopped');
  outliers.apply(index('v3', traffic(HEALTH)));
  t.equal(time.timers.dueAt, time.clock.now + 1000, 'a policy again: armed again');
  outliers.close();
  t.equal(time.timers.dueAt, undefined, 'closed: no timer');
  outliers.close();
  t.equal(time.timers.dueAt, undefined, 'close is idempotent');
});

t.test('a Service losing its policy gets its ejected endpoints back at once', async (t) => {
  const { idx, l4, outliers } = setup();
  const entry = entryOf(idx);
  for (let i = 0; i < 3; i++) outliers.report(entry, endpointKey(ep(1)), 500, false);
  t.notOk(picked(l4, entry, 8).has('198.18.2.1'));
  const next = index('v2', traffic());
  l4.apply(next);
  outliers.apply(next);
  t.ok(picked(l4, entryOf(next), 8).has('198.18.2.1'), 'unejected');
});

t.test('state survives a snapshot with the same policy; an endpoint that leaves is forgotten', async (t) => {
  const { idx, outliers } = setup();
  outliers.report(entryOf(idx), endpointKey(ep(1)), 500, false);
  outliers.report(entryOf(idx), endpointKey(ep(2)), 500, false);
  outliers.apply(index('v2', traffic(HEALTH), [ep(1), ep(3)]));
  const endpoints = outliers.describe()[0]?.endpoints ?? [];
  t.same(endpoints.map((e) => [e.key, e.consecutive5xx]), [[endpointKey(ep(1)), 1], [endpointKey(ep(3)), 0]]);
});

t.test('success-rate ejection at the interval, counted with its reason', async (t) => {
  const health: PassiveHealthPolicy = { ...HEALTH, consecutive5xx: 0, successRate: { minimumHosts: 3, requestVolume: 10, stdevFactor: 1 } };
  const { time, idx, outliers, events } = setup(traffic(health));
  const entry = entryOf(idx);
  for (const n of [1, 2, 3]) for (let i = 0; i < 20; i++) outliers.report(entry, endpointKey(ep(n)), 200, false);
  for (let i = 0; i < 20; i++) outliers.report(entry, endpointKey(ep(4)), i < 5 ? 200 : 500, false);
  t.same(events, [], 'nothing before the interval');
  time.advance(1000);
  t.same(events, [`demo/web success_rate ${endpointKey(ep(4))}`]);
  t.equal(outliers.describe()[0]?.endpoints.find((e) => e.key === endpointKey(ep(4)))?.successRate, 25);
});

t.test('attack: a flood of failures across every endpoint ejects no more than allowed', async (t) => {
  const { idx, l7, outliers } = setup();
  const entry = entryOf(idx);
  for (let round = 0; round < 1000; round++) for (const n of [1, 2, 3, 4]) outliers.report(entry, endpointKey(ep(n)), 503, true);
  t.equal(outliers.describe()[0]?.ejected, 2, '50% of 4');
  t.equal(picked(l7, entry, 40).size, 2, 'the other two still take traffic');
});

t.test('attack: a huge interval or ejection time never arms a timer Node would fire at once', async (t) => {
  const huge: PassiveHealthPolicy = { ...HEALTH, consecutive5xx: 1, intervalMs: 1e12, baseEjectionMs: 1e12, maxEjectionMs: 1e13 };
  const { time, idx, outliers } = setup(traffic(huge));
  const armedAt = time.clock.now;
  t.equal(time.timers.dueAt, armedAt + MAX_TIMER_MS, 'clamped to the longest timeout Node keeps');
  outliers.report(entryOf(idx), endpointKey(ep(1)), 500, false);
  const before = time.timers.armed;
  time.advance(MAX_TIMER_MS);
  t.equal(time.timers.armed, before + 1, 'one wake-up per clamped step, not a spin');
  t.equal(outliers.describe()[0]?.ejected, 1, 'the ejection still holds');
});

t.test('apply with derived indexes (only the changed Service ports) keeps the detectors as applying every Service port does (generated change sequences)', async (t) => {
  const { Model, opArb } = await import('../state/snapshot-model.js');
  const fc = (await import('fast-check')).default;
  // The model's TrafficPolicies (variants 1 and 2) get passive health, each variant its own (other interval).
  const health = [undefined, HEALTH, { ...HEALTH, intervalMs: 3000 }];
  const withHealth = new WeakMap<object, unknown>();
  /** The same object out for the same object in, so the lists still share their unchanged entries. */
  const cached = <T extends object>(x: T, make: (x: T) => T): T => {
    let y = withHealth.get(x) as T | undefined;
    if (y === undefined) withHealth.set(x, (y = make(x)));
    return y;
  };
  const healthOf = (s: ServiceInfo): ServiceInfo => cached(s, () => (s.trafficPolicy === undefined ? s : { ...s, trafficPolicy: { ...s.trafficPolicy, passiveHealth: health[s.trafficPolicy.preferLocalZone ? 2 : 1] as PassiveHealthPolicy } }));
  const snapshotOf = (s: NodeSnapshot): NodeSnapshot => ({ ...s, services: cached(s.services, (l) => l.map(healthOf)) });
  const view = (r: OutlierRegistry): unknown => r.describe().sort((a, b) => (a.servicePort < b.servicePort ? -1 : 1));
  const timers: OutlierTimers = { set: () => ({}), clear: () => undefined };
  let steps = 0;
  let incremental = 0;
  let watched = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 10 }), fc.array(fc.tuple(fc.array(opArb, { minLength: 1, maxLength: 3 }), fc.nat(20)), { minLength: 1, maxLength: 20 }), (setup, changes) => {
      const model = new Model();
      for (const o of setup) model.apply(o);
      const clock = { now: 1000 };
      const a = new OutlierRegistry({ now: () => clock.now, timers });
      const b = new OutlierRegistry({ now: () => clock.now, timers });
      let derived = new WorkloadIndex(snapshotOf(model.snapshot('v0')));
      a.apply(derived);
      b.apply(new WorkloadIndex(derived.snapshot));
      changes.forEach(([step, failing], i) => {
        // 5xx answers at one endpoint of one port, the same on both: ejections to carry over.
        const entry = derived.serviceEntries[failing % Math.max(1, derived.serviceEntries.length)];
        const endpoint = entry?.endpoints[0];
        if (entry !== undefined && endpoint !== undefined) {
          for (let n = 0; n < 3; n++) {
            a.reportEndpoint(entry, endpoint, 503, false);
            b.reportEndpoint(entry, endpoint, 503, false);
          }
        }
        clock.now += 100;
        for (const o of step) model.apply(o);
        const snapshot = snapshotOf(model.snapshot(`v${i + 1}`));
        derived = WorkloadIndex.derive(derived, snapshot);
        if (derived.derived) incremental += 1;
        a.apply(derived);
        b.apply(new WorkloadIndex(snapshot));
        steps += 1;
        watched += a.size;
        t.same(view(a), view(b), `step ${i + 1}`);
      });
    }),
    { seed: 1717, numRuns: 150 },
  );
  t.ok(steps > 500, `${steps} steps compared`);
  t.ok(incremental > steps / 2, `${incremental} of ${steps} applies took the derived path`);
  t.ok(watched > steps / 2, `ports under passive health: ${watched} over all steps`);
});
