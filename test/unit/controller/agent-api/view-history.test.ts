/**
 * The controller's delta history (`view-history.ts`): bounded to the newest state and
 * `bases` before it, one diff per version pair however many ask, deltas only from kept versions
 * of the same trust domain, and each delta applied to its base's view gives the newer view.
 */
import { deepStrictEqual } from 'node:assert';
import fc from 'fast-check';
import t from 'tap';
import { ClusterStateUpdater } from '../../../../src/mesh/cluster-state-updater.js';
import { ViewHistory } from '../../../../src/controller/agent-api/view-history.js';
import type { PublishedState } from '../../../../src/controller/contracts.js';
import type { ClusterState } from '../../../../src/mesh/cluster-types.js';
import { applyDelta, decodeDelta, diffView, encodeDelta, keyedView, viewOfKeyed } from '../../../../src/mesh/snapshot-wire/delta.js';
import { clusterArb, GeneratedCluster, SEED, stepArb } from '../../mesh/cluster-change-arb.js';
import { largeClusterState } from './large-cluster.js';

const base = largeClusterState({ nodes: 3, pods: 60, services: 6 });

/** Version k: workload k relabelled (cumulative). */
function published(k: number): PublishedState {
  let state: ClusterState = base;
  for (let i = 1; i <= k; i++) {
    const target = state.workloads[i]!;
    state = { ...state, workloads: state.workloads.map((w) => (w === target ? { ...w, labels: { ...w.labels, rev: `r${i}` } } : w)) };
  }
  return { version: `v${k}`, state, publishedAt: k };
}

t.test('bounded: the newest and `bases` before it; older versions give no delta', async (t) => {
  const history = new ViewHistory(2);
  const states = [0, 1, 2, 3, 4].map(published);
  for (const s of states) history.remember(s);
  t.same(states.map((s) => history.holds(s.version)), [false, false, true, true, true]);
  t.equal(history.deltaTo('v1', states[4]!), undefined, 'v1 fell out: no delta (a full snapshot)');
  t.equal(history.diffs, 0);
});

t.test('one diff per version pair, whatever the number of streams; deltas only to the newest are kept', async (t) => {
  const history = new ViewHistory(4);
  const states = [0, 1, 2, 3].map(published);
  for (const s of states) history.remember(s);
  const first = history.deltaTo('v2', states[3]!);
  for (let i = 0; i < 10; i++) t.equal(history.deltaTo('v2', states[3]!), first, `stream ${i} gets the same bytes`);
  t.equal(history.diffs, 1);
  history.deltaTo('v0', states[3]!);
  t.equal(history.diffs, 2, 'another base: another diff');
  const v4 = published(4);
  history.remember(v4);
  history.deltaTo('v3', v4);
  history.deltaTo('v3', v4);
  t.equal(history.diffs, 3);
  t.equal(history.deltaTo('v4', v4), undefined, 'from the version itself: none');
});

t.test('a delta from each kept base, applied to that base, gives the newest view', async (t) => {
  const history = new ViewHistory(4);
  const states = [0, 1, 2, 3, 4].map(published);
  for (const s of states) history.remember(s);
  for (const from of states.slice(0, 4)) {
    const encoded = history.deltaTo(from.version, states[4]!);
    t.not(encoded, undefined, `a delta from ${from.version}`);
    const applied = applyDelta(keyedView(from.state), from.version, decodeDelta(encoded!.encoding, encoded!.bytes));
    t.strictSame(viewOfKeyed(applied).workloads, states[4]!.state.workloads, `${from.version} -> v4`);
  }
});

t.test('no delta across a trust domain change', async (t) => {
  const history = new ViewHistory(4);
  const v0 = published(0);
  const v1 = { ...published(1), state: { ...published(1).state, trustDomain: 'other.local' } };
  history.remember(v0);
  history.remember(v1);
  t.equal(history.deltaTo('v0', v1), undefined);
  t.equal(history.diffs, 0);
});

t.test('an entry that is the same object in both states is not read: a delta costs the changed entries', async (t) => {
  const v0 = published(0);
  const poisoned = new Proxy(v0.state.workloads[5]!, {
    get(): never {
      throw new Error('an unchanged workload was read');
    },
  });
  const withTrap = (p: PublishedState): PublishedState => ({ ...p, state: { ...p.state, workloads: p.state.workloads.map((w, i) => (i === 5 ? poisoned : w)) } });
  const [from, to] = [withTrap(v0), withTrap(published(1))];
  const history = new ViewHistory(4);
  history.remember(from);
  const encoded = history.deltaTo('v0', to);
  t.not(encoded, undefined, 'a delta');
  const delta = decodeDelta(encoded!.encoding, encoded!.bytes);
  t.same(delta.workloads.upserted.map((w) => (w as { uid: string }).uid), [v0.state.workloads[1]!.uid], 'only the changed workload');
  t.same(delta.workloads.removed, []);
});

t.test('deltas from an older kept base apply to that base', async (t) => {
  const history = new ViewHistory(4);
  const states = [0, 1, 2, 3].map(published);
  for (const s of states) history.remember(s);
  history.deltaTo('v2', states[3]!);
  const v4 = published(4);
  history.remember(v4);
  const encoded = history.deltaTo('v1', v4);
  const applied = applyDelta(keyedView(states[1]!.state), 'v1', decodeDelta(encoded!.encoding, encoded!.bytes));
  t.strictSame(viewOfKeyed(applied).workloads, v4.state.workloads, 'v1 -> v4');
});

t.test('generated change sequences through the incremental build: each delta, from every kept base, equals the full diff', async (t) => {
  let deltas = 0;
  const run = fc.check(
    fc.property(clusterArb, fc.array(stepArb, { minLength: 1, maxLength: 20 }), (initial, steps) => {
      const cluster = new GeneratedCluster(initial);
      const updater = new ClusterStateUpdater('cluster.local');
      const history = new ViewHistory(2);
      const versions: PublishedState[] = [];
      for (const [i, step] of [undefined, ...steps].entries()) {
        if (step !== undefined) cluster.apply(step);
        let state: ClusterState;
        try {
          state = updater.build(cluster.objects());
        } catch {
          continue;
        }
        const next: PublishedState = { version: `v${i}`, state, publishedAt: i };
        for (const base of versions.slice(-2)) {
          const delta = history.deltaTo(base.version, next);
          const full = encodeDelta(diffView(base.state, state, base.version, next.version));
          deepStrictEqual(delta === undefined ? undefined : decodeDelta(delta.encoding, delta.bytes), decodeDelta(full.encoding, full.bytes));
          deltas += 1;
        }
        history.remember(next);
        versions.push(next);
      }
    }),
    { seed: SEED, numRuns: 300 },
  );
  t.equal(run.failed, false, fc.defaultReportMessage(run) ?? '300 generated sequences');
  t.ok(deltas > 2000, `deltas compared: ${deltas}`);
});
