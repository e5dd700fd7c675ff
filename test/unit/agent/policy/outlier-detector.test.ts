/**
 * Outlier detection of one Service port, on a clock the test moves: consecutive 5xx and gateway
 * errors eject, a success in between resets the run, success rates below mean - k x stdev
 * eject once enough endpoints have enough requests, ejection time grows with times ejected up
 * to the cap and "times ejected" decays while in rotation, and the ejection limit holds (but one
 * may always be ejected). Property tests: never more ejected than allowed, every ejection ends.
 */
import t from 'tap';
import fc from 'fast-check';
import { DEFAULT_PASSIVE_HEALTH, type PassiveHealthPolicy } from '../../../../src/mesh/resilience.js';
import { maxEjected, OutlierDetector } from '../../../../src/agent/policy/resilience/outlier-detector.js';

const KEYS = ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i', 'j'];

function policy(over: Partial<PassiveHealthPolicy> = {}): PassiveHealthPolicy {
  return { ...DEFAULT_PASSIVE_HEALTH, intervalMs: 1000, baseEjectionMs: 30_000, maxEjectionMs: 300_000, maxEjectionPercent: 50, ...over };
}

t.test('five consecutive 5xx eject for the base time; a success in between resets the run', async (t) => {
  const d = new OutlierDetector(policy(), KEYS, 0);
  for (let i = 0; i < 4; i++) t.equal(d.report('a', 500, false, 10), undefined, `5xx number ${i + 1}: not yet`);
  t.equal(d.report('a', 200, false, 10), undefined, 'a success');
  t.equal(d.get('a')?.consecutive5xx, 0, 'the success reset the run');
  for (let i = 0; i < 4; i++) d.report('a', 503, false, 20);
  const e = d.report('a', 500, false, 20);
  t.same(e, { key: 'a', reason: 'consecutive_5xx', untilMs: 30_020 }, 'the fifth in a row ejects for 30 s');
  t.equal(d.ejected, 1);
  t.equal(d.get('a')?.consecutive5xx, 0, 'the counter starts afresh after an ejection');
  t.equal(d.get('a')?.timesEjected, 1);
  t.equal(d.report('a', 500, false, 30), undefined, 'an ejected endpoint is not ejected again');
  t.same(d.expire(30_019), [], 'not before its time');
  t.same(d.expire(30_020), ['a'], 'back in rotation at its time');
  t.equal(d.ejected, 0);
  t.equal(d.get('a')?.consecutive5xx, 0, 'returned with a clean slate');
});

t.test('4xx and other statuses are not failures; a connect failure (status 0, gateway) is both kinds', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 3, consecutiveGatewayErrors: 0 }), KEYS, 0);
  for (let i = 0; i < 10; i++) d.report('a', 404, false, 1);
  t.equal(d.ejected, 0, '4xx never eject');
  d.report('b', 0, true, 1);
  d.report('b', 0, true, 1);
  t.equal(d.get('b')?.consecutiveGatewayErrors, 2);
  t.same(d.report('b', 0, true, 1), { key: 'b', reason: 'consecutive_5xx', untilMs: 30_001 }, 'connect failures count as 5xx (Envoy without split local errors)');
});

t.test('consecutive gateway errors: 502/503/504 and failures without a status; a 500 breaks the run', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 0, consecutiveGatewayErrors: 3 }), KEYS, 0);
  d.report('a', 502, false, 1);
  d.report('a', 504, false, 1);
  d.report('a', 500, false, 1);
  t.equal(d.get('a')?.consecutiveGatewayErrors, 0, 'a 500 is not a gateway error');
  d.report('a', 503, false, 1);
  d.report('a', 0, true, 1);
  t.same(d.report('a', 504, false, 1), { key: 'a', reason: 'consecutive_gateway_errors', untilMs: 30_001 });
  t.equal(d.ejected, 1);
});

t.test('with both thresholds the gateway run is named when both are reached at once', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 2, consecutiveGatewayErrors: 2 }), KEYS, 0);
  d.report('a', 503, false, 1);
  t.equal(d.report('a', 503, false, 1)?.reason, 'consecutive_gateway_errors');
});

t.test('a threshold of 0 is off', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 0, consecutiveGatewayErrors: 0 }), KEYS, 0);
  for (let i = 0; i < 100; i++) d.report('a', 503, false, 1);
  t.equal(d.ejected, 0);
});

t.test('ejection time: base x times ejected, capped; times ejected decays one per interval in rotation', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 1, baseEjectionMs: 100, maxEjectionMs: 250, maxEjectionPercent: 100 }), ['a', 'b'], 0);
  let now = 0;
  const lengths: number[] = [];
  for (let i = 0; i < 4; i++) {
    const e = d.report('a', 500, false, now);
    if (e === undefined) throw new Error('expected an ejection');
    lengths.push(e.untilMs - now);
    now = e.untilMs;
    t.same(d.expire(now), ['a']);
  }
  t.same(lengths, [100, 200, 250, 250], '100, 200, then the 250 ms cap');
  const before = d.get('a')?.timesEjected ?? -1;
  t.equal(before, 3, 'the backoff stops growing at the cap');
  d.interval(now);
  t.equal(d.get('a')?.timesEjected, 2, 'one interval in rotation: one less');
  d.interval(now + 1000);
  d.interval(now + 2000);
  d.interval(now + 3000);
  t.equal(d.get('a')?.timesEjected, 0, 'decays to zero, not below');
  t.equal(d.get('a')?.ejectionsTotal, 4, 'the total never decays');
  const e = d.report('a', 500, false, now + 4000);
  t.equal((e?.untilMs ?? 0) - (now + 4000), 100, 'after the decay the base time again');
});

t.test('an endpoint ejected during the interval does not decay at that interval', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 1, baseEjectionMs: 100, maxEjectionPercent: 100 }), ['a', 'b'], 0);
  d.report('a', 500, false, 0);
  const { returned } = d.interval(100);
  t.same(returned, ['a'], 'its ejection ended at this interval');
  t.equal(d.get('a')?.timesEjected, 1, 'no decay for the interval it spent ejected');
  d.interval(1100);
  t.equal(d.get('a')?.timesEjected, 0);
});

t.test('at most maxEjectionPercent are ejected at once, but always one may be', async (t) => {
  t.equal(maxEjected(10, 10), 1);
  t.equal(maxEjected(3, 10), 1, 'a tenth of 3 rounds down to 0: one is still allowed');
  t.equal(maxEjected(10, 0), 1, '0 percent still allows one');
  t.equal(maxEjected(10, 35), 3);
  t.equal(maxEjected(4, 100), 4);
  const d = new OutlierDetector(policy({ consecutive5xx: 1, maxEjectionPercent: 20 }), KEYS, 0);
  for (const k of KEYS) d.report(k, 500, false, 1);
  t.equal(d.ejected, 2, 'two of ten at 20%');
  t.equal(d.get('c')?.consecutive5xx, 1, 'a refused ejection leaves the run counted');
  d.expire(30_001);
  t.equal(d.ejected, 0);
  t.ok(d.report('c', 500, false, 30_002), 'room again: the next failure ejects');
});

t.test('success rate: below mean - stdevFactor x stdev is ejected when enough endpoints have enough requests', async (t) => {
  const sr = { minimumHosts: 3, requestVolume: 10, stdevFactor: 1 };
  const d = new OutlierDetector(policy({ consecutive5xx: 0, successRate: sr, maxEjectionPercent: 50 }), ['a', 'b', 'c', 'd'], 0);
  const feed = (key: string, ok: number, failed: number): void => {
    for (let i = 0; i < ok; i++) d.report(key, 200, false, 5);
    for (let i = 0; i < failed; i++) d.report(key, 500, false, 5);
  };
  feed('a', 20, 0);
  feed('b', 20, 0);
  feed('c', 19, 1);
  feed('d', 4, 16);
  const { ejected } = d.interval(1000);
  t.same(ejected, [{ key: 'd', reason: 'success_rate', untilMs: 31_000 }], 'the outlier at 20% goes');
  t.equal(d.get('c')?.lastSuccessRate, 95, 'the rate of each judged endpoint is kept');
  t.equal(d.get('d')?.lastSuccessRate, 20);
  t.equal(d.get('a')?.requests, 0, 'the interval starts afresh');
});

t.test('success rate: too few endpoints with enough volume judge no one', async (t) => {
  const sr = { minimumHosts: 3, requestVolume: 10, stdevFactor: 1 };
  const d = new OutlierDetector(policy({ consecutive5xx: 0, successRate: sr }), ['a', 'b', 'c'], 0);
  for (let i = 0; i < 20; i++) d.report('a', 200, false, 1);
  for (let i = 0; i < 20; i++) d.report('b', 500, false, 1);
  for (let i = 0; i < 9; i++) d.report('c', 200, false, 1);
  t.same(d.interval(1000).ejected, [], 'c has 9 of 10 requests: only two judged, three needed');
  t.equal(d.get('c')?.lastSuccessRate, undefined);
});

t.test('success rate: all equal means a zero stdev and no ejection', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 0, successRate: { minimumHosts: 2, requestVolume: 1, stdevFactor: 1.9 } }), ['a', 'b'], 0);
  for (const k of ['a', 'b']) for (let i = 0; i < 5; i++) d.report(k, 500, false, 1);
  t.same(d.interval(1000).ejected, []);
});

t.test('endpoints that leave are forgotten, with their ejection', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 1, maxEjectionPercent: 100 }), ['a', 'b'], 0);
  d.report('a', 500, false, 1);
  t.equal(d.ejected, 1);
  d.setEndpoints(['b', 'c']);
  t.equal(d.ejected, 0);
  t.equal(d.get('a'), undefined);
  t.equal(d.report('zz', 500, false, 1), undefined, 'an unknown key is ignored');
  t.equal(d.size, 2);
});

t.test('nextDueMs: the interval, or an earlier end of an ejection', async (t) => {
  const d = new OutlierDetector(policy({ consecutive5xx: 1, intervalMs: 10_000, baseEjectionMs: 500 }), ['a', 'b'], 0);
  t.equal(d.nextDueMs(), 10_000);
  d.report('a', 500, false, 100);
  t.equal(d.nextDueMs(), 600);
});

t.test('property: never more ejected than allowed, and every ejection ends', async (t) => {
  const op = fc.oneof(
    fc.record({ kind: fc.constant('report' as const), key: fc.integer({ min: 0, max: 11 }), status: fc.constantFrom(0, 200, 404, 500, 502, 503, 504), gateway: fc.boolean(), dt: fc.integer({ min: 0, max: 2000 }) }),
    fc.record({ kind: fc.constant('tick' as const), dt: fc.integer({ min: 0, max: 5000 }) }),
    fc.record({ kind: fc.constant('endpoints' as const), n: fc.integer({ min: 0, max: 12 }) }),
  );
  const pol = fc.record({
    consecutive5xx: fc.integer({ min: 0, max: 4 }),
    consecutiveGatewayErrors: fc.integer({ min: 0, max: 4 }),
    intervalMs: fc.integer({ min: 100, max: 3000 }),
    baseEjectionMs: fc.integer({ min: 1, max: 5000 }),
    maxEjectionMs: fc.integer({ min: 1, max: 20_000 }),
    maxEjectionPercent: fc.integer({ min: 0, max: 100 }),
    sr: fc.option(fc.record({ minimumHosts: fc.integer({ min: 1, max: 5 }), requestVolume: fc.integer({ min: 1, max: 5 }), stdevFactor: fc.double({ min: 0, max: 3, noNaN: true }) }), { nil: undefined }),
  });
  fc.assert(
    fc.property(pol, fc.integer({ min: 1, max: 12 }), fc.array(op, { maxLength: 200 }), ({ sr, ...p }, n0, ops) => {
      const full: PassiveHealthPolicy = sr === undefined ? p : { ...p, successRate: sr };
      let keys = Array.from({ length: n0 }, (_, i) => `k${i}`);
      let now = 0;
      const d = new OutlierDetector(full, keys, now);
      const cap = Math.max(full.baseEjectionMs, full.maxEjectionMs);
      const check = (): void => {
        let count = 0;
        for (const s of d.values()) {
          if (s.ejectedUntilMs === 0) continue;
          count++;
          if (s.ejectedUntilMs - now > cap) throw new Error(`ejected beyond the cap: ${s.ejectedUntilMs - now} > ${cap}`);
        }
        if (count !== d.ejected) throw new Error(`ejected count ${d.ejected} but ${count} ejected`);
      };
      for (const o of ops) {
        if (o.kind === 'report') {
          now += o.dt;
          const before = d.ejected;
          const e = d.report(`k${o.key}`, o.status, o.gateway, now);
          if (e !== undefined && before + 1 > maxEjected(keys.length, full.maxEjectionPercent)) throw new Error('an ejection over the limit');
        } else if (o.kind === 'tick') {
          now += o.dt;
          const before = d.ejected;
          const { ejected, returned } = d.interval(now);
          if (ejected.length > 0 && before - returned.length + ejected.length > maxEjected(keys.length, full.maxEjectionPercent)) throw new Error('success-rate ejections over the limit');
        } else {
          keys = Array.from({ length: o.n }, (_, i) => `k${i}`);
          d.setEndpoints(keys);
        }
        check();
      }
      // (Endpoints leaving may leave more ejected than the smaller set's limit; none is added then.)
      // Every ejection ends: past the longest possible ejection, nothing is ejected.
      d.expire(now + cap);
      if (d.ejected !== 0) throw new Error(`${d.ejected} still ejected after the cap`);
      for (const s of d.values()) if (s.ejectedUntilMs !== 0) throw new Error(`${s.key} still ejected`);
    }),
    { numRuns: 500 },
  );
  t.equal(maxEjected(1, 0), 1, 'the property ran (fc.assert throws on a counterexample)');
});
