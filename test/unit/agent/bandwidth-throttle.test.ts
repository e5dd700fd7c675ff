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
import { bandwidthBurstBytes, processBandwidthBytes, MIN_BANDWIDTH_BURST_BYTES, MIN_SHARE_BYTES_PER_SECOND, nextShareRate, SHARE_CUT_MARGIN, SHARE_RATE_GROWTH, type ShareInput } from '../../../src/agent/policy/workload-limit.js';
import type { UsageInterval } from '../../../src/agent/proxy/workload-usage.js';
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
  const w = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
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
    const w = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
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
  const w = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
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
  const w = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
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
  const w = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
  w.charge(BURST + 500_000);
  w.setLimits({ maxBandwidth: BPS });
  t.equal(w.mustHold(new PassThrough()), true, 'same limit: still in debt');
  w.setLimits({ maxBandwidth: BPS * 10 });
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
  const throttle = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
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
    const w = new WorkloadThrottle({ maxBandwidth: BPS }, 1, clock);
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


const shareInput = (over: Partial<ShareInput>): ShareInput => ({ limitPercent: 40, elapsedSeconds: 1, cpuSeconds: 0.8, bytes: 10_000_000, othersActive: true, rate: undefined, bound: false, ...over });

t.test('nextShareRate: cut over the share beside an active neighbour, loosened while bound, lifted otherwise', async (t) => {
  t.equal(nextShareRate(shareInput({})), 10_000_000 * (0.4 / 0.8) * SHARE_CUT_MARGIN, 'over its share: its rate scaled by share over use, a little under');
  t.equal(nextShareRate(shareInput({ elapsedSeconds: 2 })), undefined, 'the same CPU over 2 s is 0.4 cores, exactly its share: not engaged, nothing');
  t.equal(nextShareRate(shareInput({ othersActive: false })), undefined, 'alone: never limited');
  t.equal(nextShareRate(shareInput({ othersActive: false, rate: 1_000_000, bound: true })), undefined, 'a neighbour gone: lifted at once');
  t.equal(nextShareRate(shareInput({ limitPercent: 100, rate: 1_000_000 })), undefined, '100%: never limited');
  t.equal(nextShareRate(shareInput({ rate: 2_000_000 })), 2_000_000, 'never looser than the rate in force while over its share');
  t.equal(nextShareRate(shareInput({ bytes: 10_000, cpuSeconds: 0.99 })), MIN_SHARE_BYTES_PER_SECOND, 'slowed, never stopped');
  t.equal(nextShareRate(shareInput({ bytes: 0, rate: 3_000_000 })), 3_000_000, 'a cost that is all connections: the byte rate is kept (the connection cap is for that)');
  t.equal(nextShareRate(shareInput({ bytes: 0 })), undefined, 'and none is made');
  t.equal(nextShareRate(shareInput({ cpuSeconds: 0.3, rate: 1_000_000, bound: true })), 1_000_000 * SHARE_RATE_GROWTH, 'within its share and bound: loosened');
  t.equal(nextShareRate(shareInput({ cpuSeconds: 0.3, rate: 1_000_000, bound: false })), undefined, 'within its share and not bound: lifted');
  t.equal(nextShareRate(shareInput({ elapsedSeconds: 0 })), undefined, 'an empty interval says nothing');
});

t.test('property: over its share the rate only falls and never below the floor; alone it is always lifted', async (t) => {
  const input = fc.record({
    limitPercent: fc.integer({ min: 1, max: 100 }),
    elapsedSeconds: fc.double({ min: 0.5, max: 10, noNaN: true }),
    cpuSeconds: fc.double({ min: 0, max: 20, noNaN: true }),
    bytes: fc.double({ min: 0, max: 1e10, noNaN: true }),
    othersActive: fc.boolean(),
    rate: fc.option(fc.double({ min: MIN_SHARE_BYTES_PER_SECOND, max: 1e10, noNaN: true }), { nil: undefined }),
    bound: fc.boolean(),
  });
  let over = 0;
  fc.assert(fc.property(input, (i) => {
    const next = nextShareRate(i);
    if (!i.othersActive || i.limitPercent === 100) return next === undefined;
    if (i.cpuSeconds / i.elapsedSeconds > i.limitPercent / 100 && i.bytes > 0) {
      over += 1;
      return next !== undefined && next >= MIN_SHARE_BYTES_PER_SECOND && (i.rate === undefined || next <= i.rate);
    }
    return next === undefined || (i.rate !== undefined && next >= i.rate);
  }), { seed: 1818, numRuns: 2000 });
  t.ok(over > 50, `the over-share branch was exercised (${over} cases)`);
});

const interval = (elapsedMs: number, rows: Record<string, { cpuSeconds: number; bytes: number }>): UsageInterval => ({
  elapsedMs,
  cpuSeconds: Object.values(rows).reduce((a, r) => a + r.cpuSeconds, 0),
  workloads: new Map(Object.entries(rows).map(([uid, r]) => [uid, { ...r, weight: r.bytes }])),
});

const shareWorkload = (uid: string, maxAgentShare: number, maxBandwidth?: number): WorkloadInfo => ({
  ...workload(uid, maxBandwidth),
  limits: { maxAgentShare, ...(maxBandwidth === undefined ? {} : { maxBandwidth }) },
});

t.test('a share limit costs nothing until engaged; engaged, it holds; a neighbour gone lifts it and lets the held sources go', async (t) => {
  const clock = manual();
  const limiter = new BandwidthLimiter(1, clock);
  const flood = limiter.forWorkload(shareWorkload('Pod/demo/flood', 25));
  if (flood === undefined) throw new Error('a share limit makes a throttle');
  t.equal(limiter.hasShareLimits, true, 'the sweeps come every second');
  t.equal(flood.charge(1e9), false, 'not engaged: no bucket, nothing charged');
  t.equal(flood.bytesPerSecond, Infinity);
  limiter.adjustShares(interval(1000, { 'Pod/demo/flood': { cpuSeconds: 0.9, bytes: 90_000_000 }, 'Pod/demo/quiet': { cpuSeconds: 0.05, bytes: 100_000 } }));
  const cut = 90_000_000 * (0.25 / 0.9) * SHARE_CUT_MARGIN;
  t.equal(flood.shareBytesPerSecond, cut, '90% of the process beside an active neighbour: cut to its share');
  t.equal(flood.bytesPerSecond, cut);
  const src = new PassThrough();
  t.equal(flood.charge(cut), true, 'a second of the rate at once is a debt');
  src.pause();
  flood.hold(src, undefined);
  const seen: Array<[string, number | undefined]> = [];
  limiter.drain((uid, c) => seen.push([uid, c.shareBytesPerSecond]));
  t.same(seen, [['Pod/demo/flood', cut]], 'the drain reports the rate in force');
  limiter.adjustShares(interval(1000, { 'Pod/demo/flood': { cpuSeconds: 0.2, bytes: cut } }));
  t.equal(flood.shareBytesPerSecond, undefined, 'the neighbour went quiet: lifted');
  t.equal(flood.heldCount, 0, 'and the held source let go at once');
  t.equal(src.isPaused(), false, 'resumed');
  t.equal(flood.charge(1e9), false, 'no bucket again');
});

t.test('the lower of the two limits holds; a snapshot without the share annotation disengages it', async (t) => {
  const clock = manual();
  const limiter = new BandwidthLimiter(1, clock);
  const w = limiter.forWorkload(shareWorkload('Pod/demo/w', 50, BPS));
  if (w === undefined) throw new Error('limits make a throttle');
  t.equal(w.bytesPerSecond, 1_000_000, 'the bandwidth limit alone');
  limiter.adjustShares(interval(1000, { 'Pod/demo/w': { cpuSeconds: 1, bytes: 400_000 }, 'Pod/demo/other': { cpuSeconds: 0, bytes: 10 } }));
  t.equal(w.bytesPerSecond, MIN_SHARE_BYTES_PER_SECOND < 400_000 * 0.5 * SHARE_CUT_MARGIN ? 400_000 * 0.5 * SHARE_CUT_MARGIN : MIN_SHARE_BYTES_PER_SECOND, 'the share rate, lower, holds');
  limiter.apply(new Map([['Pod/demo/w', workload('Pod/demo/w', BPS)]]));
  t.equal(w.maxAgentShare, undefined, 'the annotation is gone');
  t.equal(w.shareBytesPerSecond, undefined, 'so is its rate');
  t.equal(w.bytesPerSecond, 1_000_000, 'back to the bandwidth limit');
  t.equal(limiter.hasShareLimits, false);
  limiter.apply(new Map());
  t.equal(w.bytesPerSecond, Infinity, 'a workload gone from the snapshot: no limit holds its open connections');
});

t.test('closed loop: a flood over its share settles at about its share and is never starved', async (t) => {
  // A process where each byte costs the same CPU: the flood wants 200 MB/s (2 cores' worth at
  // 10 ns a byte), the quiet neighbour 1 MB/s. Each interval the flood moves what its rate lets it.
  const clock = manual();
  const limiter = new BandwidthLimiter(1, clock);
  const flood = limiter.forWorkload(shareWorkload('Pod/demo/flood', 30));
  if (flood === undefined) throw new Error('a share limit makes a throttle');
  const nsPerByte = 10;
  const uses: number[] = [];
  for (let i = 0; i < 40; i += 1) {
    const capacity = 1e9 / nsPerByte; // one core's worth of bytes per second
    const quiet = 1_000_000;
    const allowed = Math.min(200_000_000, flood.bytesPerSecond, capacity - quiet);
    const bytes = allowed;
    const bound = flood.bytesPerSecond < 200_000_000;
    if (bound) flood.hold(new PassThrough(), undefined);
    limiter.adjustShares(interval(1000, { 'Pod/demo/flood': { cpuSeconds: (bytes * nsPerByte) / 1e9, bytes }, 'Pod/demo/quiet': { cpuSeconds: (quiet * nsPerByte) / 1e9, bytes: quiet } }));
    uses.push((bytes * nsPerByte) / 1e9);
  }
  const settled = uses.slice(10);
  const most = Math.max(...settled);
  const least = Math.min(...settled);
  t.ok(most <= 0.3 * SHARE_RATE_GROWTH + 0.01, `after 10 s the flood uses at most its share plus one loosening step: ${most.toFixed(3)} cores`);
  t.ok(least >= 0.3 * SHARE_CUT_MARGIN * 0.8, `and never much less than its share: ${least.toFixed(3)} cores`);
});
