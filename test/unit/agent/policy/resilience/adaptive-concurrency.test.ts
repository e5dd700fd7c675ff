/**
 * The gradient controller (src/agent/policy/resilience/adaptive-concurrency.ts) on a fake clock:
 * the first minimum-RTT measure, growth while latency stays near it, a cut when a server slows
 * down under load, recovery, the periodic re-measure, the re-measure after windows at the
 * minimum, and the bounds.
 */
import t from 'tap';
import { GradientController, MAX_WINDOW_SAMPLES, MIN_LIMIT_WINDOWS, nextLimit, percentileOf } from '../../../../../src/agent/policy/resilience/adaptive-concurrency.js';
import { DEFAULT_ADAPTIVE_CONCURRENCY, type AdaptiveConcurrencyPolicy } from '../../../../../src/mesh/resilience.js';

const POLICY: AdaptiveConcurrencyPolicy = { ...DEFAULT_ADAPTIVE_CONCURRENCY, minRttRequests: 10, minRttIntervalMs: 10_000, maxConcurrency: 500 };

/**
 * A server whose latency is `base` up to `knee` requests in flight and grows with every request
 * past it (queueing). Drives the controller: each ms as many requests as it admits start (up to
 * `offered` in flight) and each finishes after the latency it had when it started.
 */
class Sim {
  now = 0;
  private running: { ticket: NonNullable<ReturnType<GradientController['tryAcquire']>>; endAt: number }[] = [];
  refused = 0;
  constructor(readonly c: GradientController, public base: number, public knee: number) {}

  latency(): number {
    return this.base * Math.max(1, this.running.length / this.knee);
  }

  run(ms: number, offered: number): void {
    const end = this.now + ms;
    for (; this.now < end; this.now++) {
      const due = this.running.filter((r) => r.endAt <= this.now);
      this.running = this.running.filter((r) => r.endAt > this.now);
      for (const r of due) this.c.release(r.ticket, this.now, this.now);
      while (this.running.length < offered) {
        const ticket = this.c.tryAcquire(this.now);
        if (ticket === undefined) {
          this.refused++;
          break;
        }
        this.running.push({ ticket, endAt: this.now + Math.round(this.latency()) });
      }
    }
  }
}

t.test('starts measuring the minimum RTT at minConcurrency, then restores and grows', async (t) => {
  const c = new GradientController(POLICY, 0);
  t.equal(c.measuringMinRtt, true);
  t.equal(c.limit, POLICY.minConcurrency);
  const sim = new Sim(c, 10, 1000);
  sim.run(100, 1000);
  t.equal(c.measuringMinRtt, false);
  t.equal(c.minRtt, 10);
  sim.run(2000, 1000);
  t.ok(c.limit > 100, `latency stays at the minimum: the limit grows (${c.limit})`);
});

t.test('a server that slows down under load gets its limit cut; when it recovers the limit grows back', async (t) => {
  const c = new GradientController(POLICY, 0);
  const sim = new Sim(c, 10, 1000);
  sim.run(3000, 400);
  const before = c.limit;
  t.ok(before >= 400, `unloaded: the limit reaches the offered load (${before})`);
  sim.knee = 20; // the server now queues past 20 requests in flight
  sim.run(2000, 400);
  const cut = c.limit;
  t.ok(cut < before / 4, `under load its limit is cut (${before} -> ${cut})`);
  t.ok(cut < 60, `to near where latency stays within the buffer (${cut})`);
  t.ok(sim.refused > 0, 'requests past the limit were refused');
  sim.knee = 1000; // recovered
  sim.run(3000, 400);
  t.ok(c.limit >= 400, `recovered: the limit grows back (${c.limit})`);
});

t.test('the minimum RTT is measured again every minRttIntervalMs, at minConcurrency, and the limit comes back', async (t) => {
  const c = new GradientController(POLICY, 0);
  const sim = new Sim(c, 10, 1000);
  sim.run(POLICY.minRttIntervalMs - 100, 200);
  t.equal(c.measuringMinRtt, false);
  const limit = c.limit;
  sim.base = 20; // the ideal latency itself moved (a slower release)
  sim.run(200, 200);
  t.equal(c.measuringMinRtt, true, 'the interval passed: measuring');
  t.equal(c.limit, POLICY.minConcurrency);
  sim.run(300, 200);
  t.equal(c.measuringMinRtt, false);
  t.equal(c.minRtt, 20, 'the new minimum');
  t.ok(c.limit >= Math.min(limit, POLICY.maxConcurrency) / 2, `the limit in force before came back (${c.limit}, was ${limit})`);
});

t.test('requests started before a measure do not count toward the minimum RTT', async (t) => {
  const c = new GradientController({ ...POLICY, minRttRequests: 2 }, 0);
  const early = c.tryAcquire(0);
  t.ok(early !== undefined);
  const a = c.tryAcquire(1);
  const b = c.tryAcquire(1);
  t.equal(c.tryAcquire(1), undefined, 'minConcurrency (3) in flight');
  if (early === undefined || a === undefined || b === undefined) return;
  c.release(a, 6, 6);
  c.release(b, 6, 6);
  t.equal(c.minRtt, 5);
  t.equal(c.measuringMinRtt, false);
});

t.test('a failed request (no response head) frees its place and gives no sample', async (t) => {
  const c = new GradientController(POLICY, 0);
  const x = c.tryAcquire(0);
  if (x === undefined) {
    t.fail('admitted');
    return;
  }
  t.equal(c.inFlight, 1);
  c.release(x, undefined, 1_000);
  t.equal(c.inFlight, 0);
  t.equal(c.minRtt, undefined);
});

t.test(`the limit at the minimum for ${MIN_LIMIT_WINDOWS} windows starts a measure early`, async (t) => {
  const c = new GradientController(POLICY, 0);
  const sim = new Sim(c, 10, 1000);
  sim.run(200, 50);
  t.equal(c.measuringMinRtt, false);
  sim.knee = 1; // every request queues behind the others: sample RTT far above the minimum
  sim.base = 30;
  let measured = false;
  for (let i = 0; i < 20 && !measured; i++) {
    sim.run(100, 50);
    measured = c.measuringMinRtt;
  }
  t.equal(measured, true, 'a measure started long before minRttIntervalMs');
  t.ok(sim.now < POLICY.minRttIntervalMs);
});

t.test('nextLimit: gradient clamped to [0.5, 2], headroom sqrt, bounds', async (t) => {
  const p = { ...POLICY, minConcurrency: 3, maxConcurrency: 1000, bufferPercent: 25 };
  t.equal(nextLimit(p, 100, 10, 12.5), Math.floor(100 + 10), 'at minRtt + buffer: gradient 1');
  t.equal(nextLimit(p, 100, 10, 1), Math.floor(200 + Math.sqrt(200)), 'fast: doubled at most');
  t.equal(nextLimit(p, 100, 10, 1000), Math.floor(50 + Math.sqrt(50)), 'slow: halved at most');
  t.equal(nextLimit(p, 900, 10, 1), 1000, 'capped at maxConcurrency');
  t.equal(nextLimit(p, 3, 10, 1000), 3, 'never below minConcurrency');
  t.equal(nextLimit(p, 100, 10, 0), 214, 'a zero sample counts as fast (gradient 2)');
});

t.test('percentileOf and the bounded window', async (t) => {
  const v = new Float64Array([5, 1, 4, 2, 3]);
  t.equal(percentileOf(v, 5, 90), 5);
  t.equal(percentileOf(new Float64Array([5, 1, 4, 2, 3]), 5, 50), 3);
  t.equal(percentileOf(new Float64Array([7]), 1, 99), 7);
  const c = new GradientController({ ...POLICY, minRttRequests: 1 }, 0);
  const first = c.tryAcquire(0);
  if (first === undefined) {
    t.fail('admitted');
    return;
  }
  c.release(first, 1, 1);
  for (let i = 0; i < MAX_WINDOW_SAMPLES * 5; i++) {
    const x = c.tryAcquire(2);
    if (x !== undefined) c.release(x, 3, 3);
  }
  t.equal(c.inFlight, 0, 'a flood of samples in one window is held in a fixed ring');
});
