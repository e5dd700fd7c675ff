/**
 * The idle trim: once per idle stretch (the first idle period after a busy one, or after the
 * start), never while busy, never twice in a row; and the timer drives exactly that.
 */
import t from 'tap';
import { IDLE_UTILIZATION, startIdleTrim, trimDecision, type TrimState } from '../../../src/ops/idle-trim.js';

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
