import t from 'tap';
import { PassThrough } from 'node:stream';
import { TurnBudget, type TurnScheduler } from '../../../src/agent/proxy/turn-budget.js';

/** A scheduler the test drives: the clock is a number, deferred turn ends run on `endTurn()`. */
function manual(): TurnScheduler & { at: number; pending: Array<() => void>; endTurn(): void } {
  const s = {
    at: 0,
    pending: [] as Array<() => void>,
    now: () => s.at,
    defer: (fn: () => void) => {
      s.pending.push(fn);
    },
    endTurn: () => {
      for (const fn of s.pending.splice(0)) fn();
    },
  };
  return s;
}

const BUDGET = 1000;
const ACTIVE_MS = 100;

t.test('a workload alone is never paused, however much it moves', async (t) => {
  const clock = manual();
  const budget = new TurnBudget(BUDGET, ACTIVE_MS, clock);
  const bulk = budget.workload({});
  t.equal(budget.charge(bulk, 10 * BUDGET), false, 'far over budget, alone: flows');
  t.equal(budget.charge(bulk, 10 * BUDGET), false, 'still alone: flows');
  t.equal(budget.pauses, 0, 'nothing counted');
});

t.test('the workload over budget pauses while another is active; the other does not', async (t) => {
  const clock = manual();
  const budget = new TurnBudget(BUDGET, ACTIVE_MS, clock);
  const bulk = budget.workload({});
  const quiet = budget.workload({});
  t.equal(budget.charge(quiet, 10), false, 'quiet moves a small message');
  t.equal(budget.charge(bulk, BUDGET - 1), false, 'bulk under its budget flows');
  t.equal(budget.charge(bulk, 1), true, 'bulk at its budget pauses');
  t.equal(budget.charge(quiet, 10), false, 'quiet, under budget, keeps flowing in the same turn');
  t.equal(budget.activeCount(), 2, 'two workloads active');
});

t.test('a workload paused in one turn gets a fresh budget in the next (no starvation)', async (t) => {
  const clock = manual();
  const budget = new TurnBudget(BUDGET, ACTIVE_MS, clock);
  const bulk = budget.workload({});
  const quiet = budget.workload({});
  budget.charge(quiet, 10);
  t.equal(budget.charge(bulk, BUDGET), true, 'paused in turn 1');
  clock.endTurn();
  clock.at += 1;
  t.equal(budget.charge(bulk, BUDGET - 1), false, 'turn 2: a whole budget again');
  t.equal(budget.charge(bulk, 1), true, 'and pauses at its end again');
  let moved = 0;
  for (let turn = 0; turn < 50; turn += 1) {
    clock.endTurn();
    clock.at += 1;
    budget.charge(quiet, 10);
    // A source moves chunks until it is told to pause: the first chunk of a turn always moves.
    for (let chunk = 0; chunk < 100; chunk += 1) {
      moved += 100;
      if (budget.charge(bulk, 100)) break;
    }
  }
  t.equal(moved, 50 * BUDGET, 'bulk moved exactly one budget in every one of 50 contended turns');
});

t.test('the budget stops applying once the other workload has been quiet for the active window', async (t) => {
  const clock = manual();
  const budget = new TurnBudget(BUDGET, ACTIVE_MS, clock);
  const bulk = budget.workload({});
  const quiet = budget.workload({});
  budget.charge(quiet, 10);
  clock.endTurn();
  clock.at += ACTIVE_MS - 1;
  t.equal(budget.charge(bulk, BUDGET), true, 'quiet moved a byte within the window: bulk pauses');
  clock.endTurn();
  clock.at += 2;
  t.equal(budget.charge(bulk, BUDGET), false, 'quiet silent for longer than the window: bulk flows');
  t.equal(budget.activeCount(), 1, 'only bulk is active');
});

t.test('each key has one workload; a turn ends once, from the deferral', async (t) => {
  const clock = manual();
  const budget = new TurnBudget(BUDGET, ACTIVE_MS, clock);
  const key = {};
  t.equal(budget.workload(key), budget.workload(key), 'same state for the same key');
  budget.charge(budget.workload(key), 1);
  budget.charge(budget.workload({}), 1);
  t.equal(clock.pending.length, 1, 'one turn end deferred for many charges');
});

t.test('held sources resume at the end of the turn, unless their destination waits for drain or they are gone', async (t) => {
  const clock = manual();
  const budget = new TurnBudget(BUDGET, ACTIVE_MS, clock);
  budget.charge(budget.workload({}), 1);
  const free = new PassThrough();
  const freeDst = new PassThrough();
  const blocked = new PassThrough();
  const blockedDst = new PassThrough({ highWaterMark: 1 });
  const gone = new PassThrough();
  const goneDst = new PassThrough();
  for (const s of [free, blocked, gone]) s.pause();
  blockedDst.write('more than one byte');
  gone.destroy();
  budget.hold(free, freeDst);
  budget.hold(blocked, blockedDst);
  budget.hold(gone, goneDst);
  t.equal(budget.pauses, 3, 'three pauses counted');
  clock.endTurn();
  t.equal(free.isPaused(), false, 'the free source resumed');
  t.equal(blocked.isPaused(), true, 'the source whose destination needs drain stays for pipe to resume');
  t.equal(gone.isPaused(), true, 'the destroyed source is left alone');
});

t.test('bad budgets are refused with the value named', async (t) => {
  t.throws(() => new TurnBudget(0), /positive integer of bytes, got 0/);
  t.throws(() => new TurnBudget(1.5), /got 1.5/);
  t.throws(() => new TurnBudget(BUDGET, 0), /active window must be a positive number of ms, got 0/);
  t.throws(() => new TurnBudget(BUDGET, Number.NaN), /got NaN/);
});
