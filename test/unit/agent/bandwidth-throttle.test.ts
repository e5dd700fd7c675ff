/**
 * The per-workload bandwidth limit's bucket and pausing (`bandwidth-throttle.ts`), driven by a
 * fake clock and a manual timer: no test here waits for wall-clock time. The splice cases use
 * in-memory streams: the throttle pauses the source that read a chunk into debt, a resume by
 * anyone else is undone while the debt lasts, and its timer lets every held source go once the
 * refill has paid.
 */
import t from 'tap';
import fc from 'fast-check';
import { Duplex, PassThrough } from 'node:stream';
import { once } from 'node:events';
import { BandwidthLimiter, WorkloadThrottle, type ThrottleClock } from '../../../src/agent/proxy/bandwidth-throttle.js';
import { bandwidthBurstBytes, processBandwidthBytes, MIN_BANDWIDTH_BURST_BYTES } from '../../../src/agent/policy/workload-limit.js';
import { splice } from '../../../src/agent/proxy/splice.js';
import type { WorkloadInfo } from '../../../src/mesh/types.js';

/** A clock the test moves, and timers that fire only when the test moves it past them. */
function manual(): ThrottleClock & { at: number; timers: Array<{ due: number; fn: () => void }>; advance(ms: number): void } {
  const c = {
    at: 0,
    timers: [] as Array<{ due: number; fn: () => void }>,
    now: () => c.at,
    after: (ms: number, fn: () => void) => {
      c.timers.push({ due: c.at + ms, fn });
    },
    advance: (ms: number) => {
      c.at += ms;
      const due = c.timers.filter((x) => x.due <= c.at);
      c.timers = c.timers.filter((x) => x.due > c.at);
      for (const x of due) x.fn();
    },
  };
  return c;
}

/** 8 Mbit/s: 1,000,000 bytes per second, a burst of 100 ms = 100,000 bytes. */
const BPS = 8_000_000;
const BURST = 100_000;

const workload = (uid: string, maxBandwidth?: number): WorkloadInfo => ({
  uid, kind: 'Pod', name: uid.split('/')[2] ?? 'x', namespace: 'demo', addresses: ['198.18.1.2'], node: 'n', nodeAddress: '198.18.0.1',
  serviceAccount: 'a', identity: 'spiffe://cluster.local/ns/demo/sa/a', labels: {}, tlsMode: 'STRICT', namedPorts: [],
  ...(maxBandwidth === undefined ? {} : { limits: { maxBandwidth } }),
});

t.test('the split and the burst', async (t) => {
  t.equal(processBandwidthBytes(BPS, 1), 1_000_000, 'bits to bytes');
  t.equal(processBandwidthBytes(BPS, 4), 250_000, 'each of 4 workers holds a quarter');
  t.equal(processBandwidthBytes(BPS, 0), 1_000_000, 'no worker count: this process alone');
  t.equal(bandwidthBurstBytes(1_000_000), BURST, '100 ms of the rate');
  t.equal(bandwidthBurstBytes(1000), MIN_BANDWIDTH_BURST_BYTES, 'never below one read');
});

t.test('the bucket starts full, goes into debt by a whole chunk, and is paid back by the refill', async (t) => {
  const clock = manual();
  const w = new WorkloadThrottle(BPS, 1, clock);
  t.equal(w.charge(BURST - 1), false, 'the burst passes at once');
  t.equal(w.charge(50_001), true, 'beyond it: in debt (the chunk is still passed on, never cut)');
  t.equal(w.takeCounts().throttledBytes, 50_000, 'the bytes beyond the tokens are counted');
  clock.at += 49;
  t.equal(w.mustHold(new PassThrough()), true, '49 ms later the 50,000-byte debt is not paid (1,000 bytes/ms)');
  clock.at += 1;
  t.equal(w.mustHold(new PassThrough()), false, 'at 50 ms it is');
  clock.at += 1;
  t.equal(w.charge(1000), false, 'and a chunk the refill covers flows');
  t.equal(w.charge(1), true, 'one byte more does not');
});

t.test('attack: a flood is held to the rate over time, whatever its chunk sizes', async (t) => {
  // A source that reads as fast as it is allowed: a chunk whenever it is not held.
  for (const chunk of [100, 1500, 65_536, 1_000_000]) {
    const clock = manual();
    const w = new WorkloadThrottle(BPS, 1, clock);
    let moved = 0;
    let held = false;
    const src = new PassThrough();
    const dst = new PassThrough();
    src.resume = () => { held = false; return src; };
    for (let step = 0; step < 200_000 && clock.at <= 10_000; step += 1) {
      if (held) {
        const next = clock.timers[0];
        if (next === undefined) break;
        clock.advance(next.due - clock.at);
        continue;
      }
      moved += chunk;
      if (w.charge(chunk)) {
        held = true;
        w.hold(src, dst);
      }
    }
    const seconds = clock.at / 1000;
    t.ok(seconds >= 9, `chunks of ${chunk}: ran ${seconds.toFixed(1)} s of fake time`);
    // Over the run: the rate, plus the burst and at most one chunk of debt.
    t.ok(moved <= 1_000_000 * seconds + BURST + chunk, `chunks of ${chunk}: ${moved} bytes in ${seconds.toFixed(2)} s, at most the rate (1,000,000/s) + burst + one chunk`);
    t.ok(moved >= 1_000_000 * (seconds - 1), `chunks of ${chunk}: ${moved} bytes: the limit is reached, not undershot by more than a second's worth`);
  }
});

t.test('one timer per workload: every held source resumes at once when the debt is paid', async (t) => {
  const clock = manual();
  const w = new WorkloadThrottle(BPS, 1, clock);
  const a = new PassThrough();
  const b = new PassThrough();
  const da = new PassThrough();
  const db = new PassThrough();
  a.pause();
  b.pause();
  t.equal(w.charge(BURST + 10_000), true);
  w.hold(a, da);
  w.hold(b, db);
  t.equal(clock.timers.length, 1, 'one timer for two held sources');
  t.equal(w.heldCount, 2);
  clock.advance(9);
  t.equal(a.isPaused(), true, 'not before the debt is paid');
  clock.advance(1);
  t.equal(w.heldCount, 0);
  t.equal(a.isPaused(), false, 'a resumed');
  t.equal(b.isPaused(), false, 'b resumed');
  t.equal(w.mustHold(a), false, 'a released source is not held again by the guard');
  t.equal(w.charge(BURST), true, 'a reads a chunk into debt again');
  w.hold(a, da);
  t.equal(w.mustHold(a), true, 'the grant is used up: a resume by anyone else is undone again');
  t.equal(w.mustHold(b), false, 'b keeps its grant until it is held');
  const counts = w.takeCounts();
  t.equal(counts.throttledMs, 10, 'throttled for the 10 ms its sources were held (and the interval open since)');
});

t.test('a source whose destination waits for drain is left to pipe; a destroyed one is skipped', async (t) => {
  const clock = manual();
  const w = new WorkloadThrottle(BPS, 1, clock);
  const full = new PassThrough({ highWaterMark: 1 });
  full.write(Buffer.alloc(10));
  t.equal(full.writableNeedDrain, true);
  const src = new PassThrough();
  src.pause();
  const gone = new PassThrough();
  gone.pause();
  gone.destroy();
  w.charge(BURST + 1000);
  w.hold(src, full);
  w.hold(gone, new PassThrough());
  clock.advance(1);
  t.equal(src.isPaused(), true, 'still paused: pipe resumes it on drain');
  t.equal(w.heldCount, 0, 'nothing held any more');
});

t.test('a new limit takes a fresh bucket; the same limit keeps the debt', async (t) => {
  const clock = manual();
  const w = new WorkloadThrottle(BPS, 1, clock);
  w.charge(BURST + 500_000);
  w.setLimit(BPS, 1);
  t.equal(w.mustHold(new PassThrough()), true, 'same limit: still in debt');
  w.setLimit(BPS * 10, 1);
  t.equal(w.bytesPerSecond, 10_000_000);
  t.equal(w.mustHold(new PassThrough()), false, 'a raised limit starts full');
});

t.test('the limiter: a throttle per limited workload, none for others; snapshots update limits; idle ones are forgotten', async (t) => {
  const clock = manual();
  const limiter = new BandwidthLimiter(2, clock);
  t.equal(limiter.forWorkload(workload('Pod/demo/free')), undefined, 'no limit: no throttle, no cost');
  const a = limiter.forWorkload(workload('Pod/demo/a', BPS));
  t.equal(a?.bytesPerSecond, 500_000, 'two workers: half each');
  t.equal(limiter.forWorkload(workload('Pod/demo/a', BPS)), a, 'one throttle per workload');
  limiter.apply(new Map([['Pod/demo/a', workload('Pod/demo/a', 2 * BPS)]]));
  t.equal(a?.bitsPerSecond, 2 * BPS, 'a new snapshot changes the limit of open connections');
  a?.charge(10_000_000);
  if (a !== undefined) a.connections = 1;
  const seen: Array<[string, number]> = [];
  limiter.drain((uid, c) => seen.push([uid, c.throttledBytes]));
  t.same(seen, [['Pod/demo/a', 10_000_000 - 100_000]], 'counts handed over once');
  t.equal(limiter.get('Pod/demo/a'), a, 'kept while a connection is open');
  if (a !== undefined) a.connections = 0;
  limiter.drain(() => t.fail('nothing new to count'));
  t.equal(limiter.get('Pod/demo/a'), undefined, 'forgotten once idle');
});

/** One end of a spliced connection: what the peer sends is pushed into its readable side, what is written to it is kept. */
function end(): { side: Duplex; written: Buffer[] } {
  const written: Buffer[] = [];
  const side = new Duplex({
    allowHalfOpen: true,
    read() {},
    write(chunk: Buffer, _enc, cb) {
      written.push(chunk);
      cb();
    },
  });
  return { side, written };
}

t.test('splice: the source that read into debt pauses; a drain resume is undone; the timer resumes it; bytes all arrive', async (t) => {
  const clock = manual();
  const throttle = new WorkloadThrottle(BPS, 1, clock);
  const client = end();
  const upstream = end();
  const done = new Promise<void>((resolve) => splice(client.side, upstream.side, () => resolve(), { throttle, idleTimeoutMs: 0, turnBudget: null }));
  client.side.push(Buffer.alloc(BURST + 20_000, 1));
  await new Promise<void>((r) => setImmediate(r));
  t.equal(client.side.isPaused(), true, 'the client is paused after the chunk that went into debt');
  t.equal(upstream.side.isPaused(), true, 'pipe resumed the other direction while in debt: the guard held it too');
  t.equal(throttle.heldCount, 2, 'both directions held, each once');
  client.side.push(Buffer.alloc(5000, 2));
  client.side.resume(); // as pipe does on 'drain'
  await once(client.side, 'resume');
  t.equal(client.side.isPaused(), true, 'the guard pauses it again while the debt lasts');
  // A resume by someone else may let one buffered chunk through before the guard runs: it is charged.
  upstream.side.resume();
  upstream.side.push(Buffer.alloc(3000, 3));
  await new Promise<void>((r) => setImmediate(r));
  t.equal(upstream.side.isPaused(), true, 'the other direction is charged to the same bucket: held again');
  clock.advance(20);
  await new Promise<void>((r) => setImmediate(r));
  t.equal(client.side.isPaused(), true, 'at 20 ms the 28,000-byte debt (20,000 + 5,000 + 3,000) is not paid');
  clock.advance(10);
  await new Promise<void>((r) => setImmediate(r));
  t.equal(client.side.isPaused(), false, 'at 30 ms the timer resumed the client');
  t.equal(upstream.side.isPaused(), false, 'and the other direction');
  t.equal(throttle.heldCount, 0);
  const sent = upstream.written.reduce((n, c) => n + c.length, 0);
  const back = client.written.reduce((n, c) => n + c.length, 0);
  t.equal(sent, BURST + 20_000 + 5000, 'every byte arrived upstream: delayed, never dropped');
  t.equal(back, 3000, 'and every byte back');
  client.side.destroy();
  upstream.side.destroy();
  await done;
});

t.test('splice: a socket marked with no throttle pays nothing (no listener)', async (t) => {
  const a = new PassThrough({ allowHalfOpen: true });
  const b = new PassThrough({ allowHalfOpen: true });
  const done = new Promise<void>((resolve) => splice(a, b, () => resolve(), { idleTimeoutMs: 0, turnBudget: null }));
  t.equal(a.listenerCount('resume'), 0, 'no resume guard');
  t.equal(a.listenerCount('data'), 1, 'only pipe reads it');
  a.destroy();
  b.destroy();
  await done;
});

t.test('property: whatever the chunks and their timing, the bytes moved never pass the rate plus the burst and one chunk', async (t) => {
  let runs = 0;
  const check = (steps: ReadonlyArray<readonly [chunk: number, gapMs: number]>): boolean => {
    runs++;
    const clock = manual();
    const w = new WorkloadThrottle(BPS, 1, clock);
    const src = new PassThrough();
    let held = false;
    src.resume = () => { held = false; return src; };
    let moved = 0;
    let biggest = 0;
    for (const [chunk, gap] of steps) {
      clock.advance(gap);
      if (held) continue;
      moved += chunk;
      biggest = Math.max(biggest, chunk);
      if (w.charge(chunk)) {
        held = true;
        w.hold(src, new PassThrough());
      }
      const bound = (1_000_000 * clock.at) / 1000 + BURST + biggest;
      if (moved > bound) throw new Error(`${moved} bytes moved by ${clock.at} ms, over ${bound}`);
    }
    return true;
  };
  const steps = fc.array(fc.tuple(fc.integer({ min: 1, max: 200_000 }), fc.integer({ min: 0, max: 50 })), { minLength: 1, maxLength: 300 });
  fc.assert(fc.property(steps, check), { numRuns: 500, seed: 20261208 });
  t.equal(runs, 500, 'every generated run checked (a counterexample would be reported by fast-check)');
});
