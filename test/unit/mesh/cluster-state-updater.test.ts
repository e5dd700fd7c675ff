/**
 * The incremental build against the full one: after any sequence of generated changes the
 * updated state equals `buildClusterState` of the same objects, and a set the full build
 * refuses is refused with the same message, the previous state staying the next update's base.
 */
import { deepStrictEqual } from 'node:assert';
import fc from 'fast-check';
import t from 'tap';
import { buildClusterState, type ClusterState } from '../../../src/mesh/cluster-state.js';
import { ClusterStateUpdater } from '../../../src/mesh/cluster-state-updater.js';
import type { MeshObject } from '../../../src/mesh/types.js';
import { objectDigest } from '../../../src/controller/input-digest.js';
import { clusterArb, GeneratedCluster, SEED, stepArb } from './cluster-change-arb.js';
import { twoNodeObjects } from './fixture.js';

const TD = 'cluster.local';

/** The full build's state, or its error message. */
function outcome(build: () => ClusterState): { state: ClusterState } | { error: string } {
  try {
    return { state: build() };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

for (const digest of [undefined, objectDigest]) t.test(`generated change sequences: every updated state equals the full build of its objects (${digest === undefined ? 'identity only' : 'with the object digest'})`, async (t) => {
  const counts = { update: 0, full: 0, refused: 0 };
  const run = fc.check(
    fc.property(clusterArb, fc.array(stepArb, { minLength: 1, maxLength: 30 }), (initial, steps) => {
      const cluster = new GeneratedCluster(initial);
      const updater = new ClusterStateUpdater(TD, digest === undefined ? {} : { digest });
      for (const step of [undefined, ...steps]) {
        if (step !== undefined) cluster.apply(step);
        const objects = cluster.objects();
        const want = outcome(() => buildClusterState(objects, { trustDomain: TD }));
        const got = outcome(() => updater.build(objects));
        deepStrictEqual(got, want);
        if ('error' in got) counts.refused += 1;
        else counts[updater.lastBuild === 'update' ? 'update' : 'full'] += 1;
      }
    }),
    { seed: SEED, numRuns: 800 },
  );
  t.equal(run.failed, false, fc.defaultReportMessage(run) ?? '800 generated sequences');
  // The property is only worth something if the update path ran, and refusals came up.
  t.ok(counts.update > 2000, `updates: ${counts.update}`);
  t.ok(counts.refused > 200, `refusals: ${counts.refused}`);
  t.ok(counts.full > 500, `full builds: ${counts.full}`);
});

t.test('a one-pod change is an update, and reuses every unchanged member, workload and Service', async (t) => {
  const objects = twoNodeObjects().map((o) => Object.freeze(o));
  const updater = new ClusterStateUpdater(TD);
  const before = updater.build(objects);
  t.equal(updater.lastBuild, 'full', 'the first build is full');
  const i = objects.findIndex((o) => o.kind === 'Pod' && o.name === 'client');
  const pod = objects[i] as Extract<MeshObject, { kind: 'Pod' }>;
  const changed = objects.map((o, n) => (n === i ? Object.freeze({ ...pod, labels: { ...pod.labels, extra: "yes" } }) : o));
  const after = updater.build(changed);
  t.equal(updater.lastBuild, 'update');
  deepStrictEqual(after, buildClusterState(changed, { trustDomain: TD }));
  const uid = `Pod/${pod.namespace}/${pod.name}`;
  const kept = after.members.filter((m) => m.uid !== uid);
  t.not(kept.length, 0);
  t.equal(kept.filter((m) => !before.members.includes(m)).length, 0, 'the other members are the same objects');
  t.equal(after.workloads.filter((w) => w.uid !== uid && !before.workloads.includes(w)).length, 0, 'the other workloads too');
  t.equal(after.services.filter((s) => !s.endpoints.some((e) => e.workload === uid) && !before.services.includes(s)).length, 0, 'Services without the pod too');
  t.ok(Object.isFrozen(after.members), 'frozen like a full build');
  t.ok(Object.isFrozen(after.members.find((m) => m.uid === uid)), 'the new member too');
});

t.test('a duplicate object (the same object twice, or two of one key) is refused as the full build refuses it, and the previous state stays the base', async (t) => {
  const objects = twoNodeObjects().map((o) => Object.freeze(o));
  const updater = new ClusterStateUpdater(TD);
  updater.build(objects);
  const pod = objects.find((o) => o.kind === 'Pod') as MeshObject;
  for (const bad of [[...objects, pod], [...objects, Object.freeze({ ...pod, source: { file: 'other.yaml', doc: 0 } })]]) {
    const want = outcome(() => buildClusterState(bad, { trustDomain: TD }));
    t.match(want, { error: /duplicate Pod/ });
    t.same(outcome(() => updater.build(bad)), want);
  }
  const moved = objects.map((o) => (o === pod ? Object.freeze({ ...o, labels: { moved: 'yes' } }) : o));
  t.same(updater.build(moved), buildClusterState(moved, { trustDomain: TD }));
  t.equal(updater.lastBuild, 'update', 'the refusals left the kept state usable');
});

t.test('kinds that can change every member take the full build, unless replaced by equal content (with a digest)', async (t) => {
  const objects = twoNodeObjects().map((o) => Object.freeze(o));
  for (const kind of ['Namespace', 'Node', 'MeshTLS'] as const) {
    const copied = objects.map((o) => (o.kind === kind ? Object.freeze({ ...o }) : o));
    const changed = objects.map((o) => (o.kind === kind ? Object.freeze({ ...o, name: `${o.name}-x` }) : o));
    for (const [digest, list, how] of [[undefined, copied, 'full'], [objectDigest, copied, 'update'], [objectDigest, changed, 'full']] as const) {
      const updater = new ClusterStateUpdater(TD, digest === undefined ? {} : { digest });
      updater.build(objects);
      t.same(outcome(() => updater.build(list)), outcome(() => buildClusterState(list, { trustDomain: TD })));
      t.equal(updater.lastBuild, how, `${kind}: ${list === copied ? 'equal copies' : 'renamed'}, ${digest === undefined ? 'no digest' : 'digest'}`);
    }
  }
});
