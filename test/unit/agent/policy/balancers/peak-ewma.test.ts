/**
 * Peak EWMA: a new endpoint starts at the default RTT, a peak replaces the estimate at once, the
 * estimate decays with the time constant, a failure never makes an endpoint look faster, an
 * endpoint made slow mid-run is avoided, and the estimates survive a snapshot.
 */
import t from 'tap';
import { PeakEwmaBalancer, DEFAULT_EWMA_DECAY_MS, DEFAULT_EWMA_RTT_MS } from '../../../../../src/agent/policy/balancers/peak-ewma.js';
import { endpointKey } from '../../../../../src/agent/policy/balancers/endpoint-table.js';
import { FakeEnv, ep, eps, share, simulate } from './balancer-fixtures.js';

const only = (n: number, all: number[]): { exclude: Set<string> } => ({ exclude: new Set(all.filter((x) => x !== n).map((x) => endpointKey(ep(x)))) });
const ewma = (b: PeakEwmaBalancer): number[] => b.describe().map((s) => Math.round((s.ewmaMs ?? -1) * 100) / 100);

t.test("Linkerd's defaults: 30 ms to start, 10 s decay", async (t) => {
  t.equal(DEFAULT_EWMA_RTT_MS, 30);
  t.equal(DEFAULT_EWMA_DECAY_MS, 10_000);
  const b = new PeakEwmaBalancer(eps(1), { env: new FakeEnv() });
  t.same(ewma(b), [30]);
});

t.test('a peak replaces the estimate; smaller samples pull it down with the time constant', async (t) => {
  const env = new FakeEnv();
  const b = new PeakEwmaBalancer(eps(1), { env, decayMs: 1000 });
  b.pick()?.release({ outcome: 'success', latencyMs: 200 });
  t.same(ewma(b), [200], 'the peak at once');
  env.t = 1000;
  b.pick()?.release({ outcome: 'success', latencyMs: 100 });
  // 200 * e^-1 + 100 * (1 - e^-1) = 136.79
  t.same(ewma(b), [136.79]);
  env.t = 2000;
  t.same(ewma(b), [50.32], 'idle: decays toward zero (136.79 * e^-1), so the endpoint is tried again');
  b.pick()?.release({ outcome: 'failure', latencyMs: 1 });
  t.same(ewma(b), [136.79], 'a fast failure does not lower the estimate');
  const l = b.pick();
  env.t = 2300;
  l?.release({ outcome: 'success' });
  t.same(ewma(b), [300], 'latency defaults to the clock since the pick');
  b.pick()?.release({ outcome: 'cancelled', latencyMs: 5000 });
  t.same(ewma(b), [300], 'a cancelled request teaches nothing');
});

t.test('cost is estimate times (outstanding + 1): a loaded fast endpoint loses to an idle one', async (t) => {
  const env = new FakeEnv(4);
  const b = new PeakEwmaBalancer(eps(1, 2), { env });
  b.pick(only(1, [1, 2]))?.release({ outcome: 'success', latencyMs: 10 });
  b.pick(only(2, [1, 2]))?.release({ outcome: 'success', latencyMs: 40 });
  t.equal(b.pick()?.endpoint.address, '198.18.2.1', 'idle: the faster one');
  // Four more on e1 (now five outstanding): 10 * 6 = 60 > 40 * 1.
  for (let i = 0; i < 4; i++) b.pick(only(1, [1, 2]));
  t.same(b.describe().map((s) => s.outstanding), [5, 0]);
  t.equal(b.pick()?.endpoint.address, '198.18.2.2');
});

t.test('an endpoint made slow mid-run is avoided', async (t) => {
  const env = new FakeEnv(21);
  const b = new PeakEwmaBalancer(eps(1, 2, 3), { env });
  // All 10 ms; from 5 s on, e3 takes 200 ms.
  const latencyOf = (a: string, now: number): number => (a === '198.18.2.3' && now >= 5000 ? 200 : 10);
  const r = simulate(b, env, { clients: 12, durationMs: 15_000, latencyOf, earlyUntilMs: 5000, fromMs: 6000 });
  const before = share(r.early, '198.18.2.3');
  const after = share(r.late, '198.18.2.3');
  t.ok(before > 0.15, `e3 had its share while fast: ${before}`);
  t.ok(after < 0.03, `and almost none once slow: ${after}`);
});

t.test('estimates survive a snapshot for endpoints that stay; a new one starts at the default', async (t) => {
  const env = new FakeEnv();
  const b = new PeakEwmaBalancer(eps(1, 2), { env });
  b.pick(only(1, [1, 2]))?.release({ outcome: 'success', latencyMs: 80 });
  b.update(eps(1, 3));
  t.same(ewma(b), [80, 30]);
});
