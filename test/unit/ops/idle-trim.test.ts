/**
 * The idle trim: once per idle stretch (the first idle period after a busy one, or after the
 * start), never while busy, never twice in a row; and the timer drives exactly that.
 */
import t from 'tap';
import { HEAP_RELEASE_IDLE_MS, HEAP_SLACK_BYTES, IDLE_UTILIZATION, heapReleaseDecision, releaseHeap, startIdleTrim, trimDecision, type TrimState } from '../../../src/ops/idle-trim.js';

function run(utilizations: readonly number[]): boolean[] {
  let state: TrimState = { busySinceTrim: true };
  return utilizations.map((u) => {
    const d = trimDecision(state, u);
    state = d.next;
    return d.trim;
  });
}

t.test('idle after the start trims once', async (t) => {
  t.same(run([0.01, 0.01, 0]), [true, false, false]);
});

t.test('busy periods never trim; the first idle one after them does', async (t) => {
  t.same(run([0.9, 0.5, 0.01, 0.02, 0.8, 0.03]), [false, false, true, false, false, true]);
});

t.test('the threshold: at it is busy, under it idle', async (t) => {
  t.same(run([IDLE_UTILIZATION, IDLE_UTILIZATION - 0.001]), [false, true]);
  t.same(run([0.2, IDLE_UTILIZATION]), [false, false]);
});

t.test('the timer applies the decisions in order, and stops', async (t) => {
  const utilizations = [0.6, 0.01, 0.01, 0.3, 0.02];
  let trims = 0;
  let asked = 0;
  let trimsAtEnd = -1;
  // The trim timer is unref'd (it never keeps a process up): this one keeps the test's loop alive.
  const keepAlive = setTimeout(() => undefined, 60_000);
  t.teardown(() => clearTimeout(keepAlive));
  const stop = await new Promise<() => void>((resolve) => {
    const s = startIdleTrim({
      periodMs: 5,
      trim: () => (trims += 1),
      releaseHeap: null,
      utilization: () => {
        const u = utilizations[asked] ?? 0.5;
        asked += 1;
        if (asked === utilizations.length) setImmediate(() => resolve(s));
        return u;
      },
    });
  });
  trimsAtEnd = trims;
  stop();
  t.equal(trimsAtEnd, 2, 'trimmed after the first idle period of each idle stretch');
  const askedAtStop = asked;
  await new Promise((r) => setTimeout(r, 30));
  t.equal(asked, askedAtStop, 'no period is judged after stop');
  clearTimeout(keepAlive);
});

const MiB = 1048576;

t.test('the heap is released only when V8 holds enough beyond its live objects', async (t) => {
  const idle = HEAP_RELEASE_IDLE_MS;
  t.equal(heapReleaseDecision({ heapTotal: 135 * MiB, heapUsed: 15 * MiB }, idle, false), true, 'a grown young generation: released');
  t.equal(heapReleaseDecision({ heapTotal: 15 * MiB + HEAP_SLACK_BYTES - 1, heapUsed: 15 * MiB }, idle, false), false, 'just under the slack: kept');
  t.equal(heapReleaseDecision({ heapTotal: 15 * MiB + HEAP_SLACK_BYTES, heapUsed: 15 * MiB }, idle, false), true, 'at the slack: released');
});

t.test('only after a long rest, once per rest', async (t) => {
  const grown = { heapTotal: 135 * MiB, heapUsed: 15 * MiB };
  t.equal(heapReleaseDecision(grown, HEAP_RELEASE_IDLE_MS - 1, false), false, 'idle, but not long enough');
  t.equal(heapReleaseDecision(grown, HEAP_RELEASE_IDLE_MS, true), false, 'already released in this stretch');
});

/** Drives startIdleTrim over `utilizations` (5 ms periods, a rest of IDLE_PERIODS of them) with a fake heap; what ran, in order. */
async function drive(utilizations: readonly number[], heapAt: (period: number) => { heapTotal: number; heapUsed: number }): Promise<string[]> {
  const events: string[] = [];
  let asked = 0;
  const keepAlive = setTimeout(() => undefined, 60_000);
  try {
    const stop = await new Promise<() => void>((resolve) => {
      const s = startIdleTrim({
        periodMs: 5,
        releaseIdleMs: IDLE_PERIODS * 5,
        trim: () => events.push(`trim@${asked - 1}`),
        releaseHeap: (done) => {
          events.push(`release@${asked - 1}`);
          setImmediate(done);
        },
        heap: () => heapAt(asked - 1),
        utilization: () => {
          const u = utilizations[asked] ?? 0.5;
          asked += 1;
          if (asked === utilizations.length) setTimeout(() => resolve(s), 20);
          return u;
        },
      });
    });
    stop();
  } finally {
    clearTimeout(keepAlive);
  }
  return events;
}

/** The default rest is this many of the default 2 s periods; the driven timer keeps the count. */
const IDLE_PERIODS = HEAP_RELEASE_IDLE_MS / 2000;
const idle = (n: number): number[] => Array.from({ length: n }, () => 0.01);

t.test('the timer: the malloc trim at the first idle period, the heap release after a long rest, then a trim', async (t) => {
  const grown = () => ({ heapTotal: 135 * MiB, heapUsed: 15 * MiB });
  // busy, then a rest just long enough: trim at once, release (and trim) at its end
  t.same(await drive([0.6, ...idle(IDLE_PERIODS)], grown), ['trim@1', `release@${IDLE_PERIODS}`, `trim@${IDLE_PERIODS}`]);
  // pauses shorter than the rest: trims only, never a release
  t.same(await drive([0.6, ...idle(IDLE_PERIODS - 1), 0.6, ...idle(3)], grown), ['trim@1', `trim@${IDLE_PERIODS + 1}`]);
  // a rest twice as long: one release
  t.same((await drive([0.6, ...idle(2 * IDLE_PERIODS)], grown)).filter((e) => e.startsWith('release')), [`release@${IDLE_PERIODS}`]);
});

t.test('the timer does not release a heap with little slack', async (t) => {
  t.same(await drive([0.6, ...idle(IDLE_PERIODS)], () => ({ heapTotal: 20 * MiB, heapUsed: 15 * MiB })), ['trim@1']);
});

t.test('releaseHeap really gives back a grown young generation', async (t) => {
  // Short-lived garbage with a few survivors, as requests in flight leave: V8 grows its young
  // generation under it and keeps it grown afterwards.
  let keep: unknown[] = [];
  for (let j = 0; j < 400; j += 1) {
    for (let i = 0; i < 5000; i += 1) {
      const o = { a: Buffer.allocUnsafe(64), b: `request-${i}-${j}`, c: [i, j] };
      if (i % 100 === 0) keep.push(o);
    }
    if (keep.length > 2000) keep = [];
  }
  keep = [];
  const before = process.memoryUsage().heapTotal;
  const err = await new Promise<Error | undefined>((resolve) => releaseHeap(resolve));
  const after = process.memoryUsage().heapTotal;
  t.equal(err, undefined, 'the collection ran');
  t.ok(before - after >= 8 * MiB, `the heap shrank by ${((before - after) / MiB).toFixed(1)} MiB (${(before / MiB).toFixed(1)} -> ${(after / MiB).toFixed(1)})`);
  const fired = await new Promise<boolean>((resolve) => {
    const guard = setTimeout(() => resolve(false), 5000);
    setTimeout(() => {
      clearTimeout(guard);
      resolve(true);
    }, 10);
  });
  t.equal(fired, true, 'timers still run after the session is closed (a disconnect inside its dispatch would hang the loop)');
});

t.test('the heap is not even read while busy or before the rest is long enough', async (t) => {
  const readAt: number[] = [];
  await drive([0.6, 0.6, ...idle(IDLE_PERIODS - 1), 0.6], (p) => {
    readAt.push(p);
    return { heapTotal: 135 * MiB, heapUsed: 15 * MiB };
  });
  t.same(readAt, [], 'never read: busy, then a rest one period short');
  await drive([0.6, ...idle(IDLE_PERIODS)], (p) => {
    readAt.push(p);
    return { heapTotal: 135 * MiB, heapUsed: 15 * MiB };
  });
  t.same(readAt, [IDLE_PERIODS], 'read once, at the end of the rest');
});
