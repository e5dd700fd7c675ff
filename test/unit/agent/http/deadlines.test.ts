/**
 * The source side's shared deadline timer: callbacks run in order, never before their time and
 * at most a slot (plus the event loop's own lateness) after it; cancelled ones never run; one
 * that throws does not stop the others; many deadlines share one Node timer.
 */
import t from 'tap';
import { Deadlines, SLOT_MS } from '../../../../src/agent/http/deadlines.js';

// The deadline timer is unref'd (it never keeps a process alive): this test's process is kept.
const keepAlive = setInterval(() => undefined, 1000);
t.teardown(() => clearInterval(keepAlive));

t.test('never early, at most a slot late, in order', async (t) => {
  const d = new Deadlines();
  const start = performance.now();
  const ran: { want: number; at: number }[] = [];
  const delays = [0, 1, 3, 7, 12, 12, 20, 33, 50, 80];
  // The loop's own lateness, from plain timers of the same delays (a loaded machine delays both).
  let loopLate = 0;
  const refs = delays.map((want) => new Promise<void>((resolve) => setTimeout(() => {
    loopLate = Math.max(loopLate, performance.now() - start - want);
    resolve();
  }, want)));
  await new Promise<void>((resolve) => {
    let left = delays.length;
    for (const want of delays) {
      d.add(want, () => {
        ran.push({ want, at: performance.now() - start });
        if (--left === 0) resolve();
      });
    }
  });
  await Promise.all(refs);
  for (const r of ran) {
    t.ok(r.at >= r.want - 1, `${r.want} ms ran at ${r.at.toFixed(1)} (not early; 1 ms for the clocks' rounding)`);
    t.ok(r.at <= r.want + SLOT_MS + 25 + loopLate, `${r.want} ms ran at ${r.at.toFixed(1)} (at most a slot late, plus the loop's own lateness ${loopLate.toFixed(1)} ms)`);
  }
  t.same(ran.map((r) => r.want), [...delays].sort((a, b) => a - b), 'in order of their time');
  t.equal(d.size, 0);
});

t.test('cancelled deadlines never run; the rest still do', async (t) => {
  const d = new Deadlines();
  const ran: string[] = [];
  const a = d.add(10, () => ran.push('a'));
  d.add(10, () => ran.push('b'));
  const c = d.add(30, () => ran.push('c'));
  d.cancel(a);
  d.cancel(c);
  d.cancel(c);
  d.cancel(undefined);
  await new Promise((r) => setTimeout(r, 60));
  t.same(ran, ['b']);
  t.equal(d.size, 0);
});

t.test('a throwing callback does not stop the others', async (t) => {
  const d = new Deadlines();
  const ran: string[] = [];
  const errors: unknown[] = [];
  const onError = (err: unknown): void => {
    errors.push(err);
  };
  process.on('uncaughtException', onError);
  t.teardown(() => process.off('uncaughtException', onError));
  d.add(5, () => {
    throw new Error('boom');
  });
  d.add(5, () => ran.push('after'));
  await new Promise((r) => setTimeout(r, 40));
  t.same(ran, ['after']);
  t.equal(errors.length, 1, 'the error surfaced');
});

t.test('10,000 deadlines over a second: one pass each, none lost', async (t) => {
  const d = new Deadlines();
  let ran = 0;
  const cancelled = new Set<number>();
  const handles = [];
  for (let i = 0; i < 10_000; i++) handles.push(d.add(i % 200, () => ran++));
  for (let i = 0; i < 10_000; i += 3) {
    d.cancel(handles[i]);
    cancelled.add(i);
  }
  await new Promise((r) => setTimeout(r, 300));
  t.equal(ran, 10_000 - cancelled.size);
  t.equal(d.size, 0, 'nothing left behind');
});

t.test('cancelled deadlines do not pile up: memory follows live deadlines, not rate × timeout', async (t) => {
  let now = 0;
  const d = new Deadlines(() => now);
  // A request every 0.1 ms for 10 s, each with a one-hour timeout cancelled when it finishes a
  // millisecond later: what a busy Service with a long request timeout does to the wheel.
  const live: ReturnType<Deadlines['add']>[] = [];
  let maxRetained = 0;
  for (let i = 0; i < 100_000; i++) {
    now = i * 0.1;
    live.push(d.add(3_600_000, () => undefined));
    if (live.length > 10) d.cancel(live.shift());
    maxRetained = Math.max(maxRetained, d.retained);
  }
  t.equal(d.size, 10, 'ten in flight');
  t.ok(maxRetained < 1_000, `at most ${maxRetained} entries kept for 10 live (100,000 cancelled)`);
  for (const h of live) d.cancel(h);
  t.equal(d.size, 0);
  t.equal(d.retained, 0, 'a slot whose deadlines were all cancelled keeps none');
});

t.test('a cancelled deadline in a compacted slot never runs, the live ones all do', async (t) => {
  const d = new Deadlines();
  const ran = new Set<number>();
  const handles = [];
  for (let i = 0; i < 100; i++) handles.push(d.add(10, () => ran.add(i)));
  for (let i = 0; i < 100; i++) if (i % 4 !== 0) d.cancel(handles[i]);
  t.ok(d.retained < 100, `compacted (${d.retained} kept)`);
  await new Promise((r) => setTimeout(r, 60));
  t.same([...ran].sort((a, b) => a - b), Array.from({ length: 25 }, (_, i) => i * 4));
  t.equal(d.size, 0);
});
