/**
 * The snapshot handed to data-path workers as a change (`snapshot-change.ts`): over generated
 * change sequences, the primary's change, structured-cloned as the IPC channel does, applied to
 * the worker's own copy gives the primary's snapshot, and the worker's index derived from its
 * previous one answers every lookup as a whole build; a worker that holds another snapshot than
 * the change's asks for the whole one, once, and takes changes again after it.
 */
import t from 'tap';
import fc from 'fast-check';
import { deserialize, serialize } from 'node:v8';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import { applySnapshotChange, snapshotChange, type SnapshotChange } from '../../../../src/agent/workers/snapshot-change.js';
import { isSnapshotChange, type FromWorker } from '../../../../src/agent/workers/protocol.js';
import { WorkerRuntime } from '../../../../src/agent/workers/runtime.js';
import type { NodeSnapshot } from '../../../../src/mesh/types.js';
import { lookups, Model, opArb } from '../state/snapshot-model.js';

/** What `child.send` with `serialization: 'advanced'` does to a message. */
const clone = <T>(v: T): T => deserialize(serialize(v)) as T;

t.test('changes cloned to a worker rebuild the primary snapshot, and the worker index derives equal to a whole build', async (t) => {
  let changes = 0;
  let steps = 0;
  let derived = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 20 }), (setup, sequence) => {
      const model = new Model();
      for (const o of setup) model.apply(o);
      let primary = new WorkloadIndex(model.snapshot('v0'));
      let worker: NodeSnapshot = clone(primary.snapshot);
      let workerIndex = new WorkloadIndex(worker);
      sequence.forEach((step, i) => {
        for (const o of step) model.apply(o);
        const next = WorkloadIndex.derive(primary, model.snapshot(`v${i + 1}`));
        // Half the steps with the lists' changes the primary's derive found, half found by a walk.
        const known = i % 2 === 0 ? next.listChangesSince(primary) : undefined;
        const change = primary.derivable || known !== undefined ? snapshotChange(primary.snapshot, next.snapshot, i, i + 1, known) : undefined;
        primary = next;
        steps += 1;
        let lists;
        if (change === undefined) worker = clone(next.snapshot);
        else {
          changes += 1;
          const wire = clone(change);
          t.equal(isSnapshotChange(wire), true);
          const applied = applySnapshotChange(worker, wire);
          worker = applied.snapshot;
          lists = applied.lists;
        }
        t.same(worker, next.snapshot, `step ${i + 1}: the worker's snapshot`);
        // The worker derives with the change it was told (no walk), as the runtime does.
        workerIndex = WorkloadIndex.derive(workerIndex, worker, {}, lists);
        if (workerIndex.derived) derived += 1;
        t.same(lookups(workerIndex), lookups(new WorkloadIndex(worker)), `step ${i + 1}: the worker's lookups`);
      });
    }),
    { seed: 2024, numRuns: 100 },
  );
  t.ok(changes > steps / 2, `most steps went as changes (${changes} of ${steps})`);
  t.ok(derived > steps / 2, `most worker indexes derived (${derived} of ${steps})`);
});

t.test('a change carries the changed entries only; unchanged lists keep their array', async (t) => {
  const model = new Model();
  for (let s = 0; s < 8; s++) model.apply({ op: 'workload', slot: s, node: s < 4 ? 'node1' : 'node2', address: -1, identity: s % 2, local: true });
  model.apply({ op: 'service', slot: 0, vip: -1, members: [0, 5], ports: 1, opaque: false, policy: 0, plain: false });
  const v1 = model.snapshot('v1');
  model.apply({ op: 'workload', slot: 2, node: 'node1', address: -2, identity: 1, local: true });
  model.apply({ op: 'zone', zone: 'z1' });
  const v2 = model.snapshot('v2');
  const change = snapshotChange(v1, v2, 1, 2) as SnapshotChange;
  t.same(change.workloads.removed, ['Pod/demo/p2']);
  t.same(change.workloads.upserted.map((w) => w.uid), ['Pod/demo/p2']);
  t.same(change.localWorkloads.removed, ['Pod/demo/p2']);
  t.same(change.services, { removed: [], upserted: [] });
  t.same(change.fields, { version: 'v2', zone: 'z1' });
  const { snapshot: applied, lists } = applySnapshotChange(v1, clone(change));
  t.same(lists.workloads.removed.map((w) => w.labels['serial']), [v1.workloads[2]?.labels['serial']], 'the list changes name the old entry');
  t.equal(lists.workloads.added[0], applied.workloads[2], 'and the new one, the object now in the list');
  t.equal(applied.services, v1.services, 'the unchanged list is the same array');
  t.equal(applied.localWorkloads[2], applied.workloads[2], 'a local workload is the same object as its entry in the workloads list');
  model.apply({ op: 'zone', zone: undefined });
  const v3 = model.snapshot('v3');
  const unset = snapshotChange(v2, v3, 2, 3) as SnapshotChange;
  t.same(unset.unset, ['zone']);
  t.equal(Object.hasOwn(applySnapshotChange(applied, unset).snapshot, 'zone'), false);
  const fresh = { ...v3, workloads: v3.workloads.map((w) => ({ ...w })).reverse() };
  t.equal(snapshotChange(v3, fresh, 3, 4), undefined, 'lists not in key order: the whole snapshot goes');
});

t.test('a worker holding another snapshot asks for the whole one, once, then takes changes again', async (t) => {
  const sent: FromWorker[] = [];
  const runtime = new WorkerRuntime({ send: (m) => void sent.push(m), exit: () => undefined });
  const held = (): { seq: number; snapshot: NodeSnapshot } | undefined => (runtime as unknown as { held?: { seq: number; snapshot: NodeSnapshot } }).held;
  const model = new Model();
  model.apply({ op: 'workload', slot: 1, node: 'node1', address: -1, identity: 0, local: true });
  const v1 = model.snapshot('v1');
  model.apply({ op: 'workload', slot: 2, node: 'node2', address: -1, identity: 1, local: false });
  const v2 = model.snapshot('v2');
  const change12 = snapshotChange(v1, v2, 1, 2) as SnapshotChange;
  runtime.onMessage({ type: 'snapshot-change', change: change12 });
  t.same(sent, [{ type: 'resync', seq: 0 }], 'nothing held: asks for the whole snapshot');
  runtime.onMessage({ type: 'snapshot-change', change: { ...change12, fromSeq: 7, seq: 8 } });
  t.equal(sent.length, 1, 'asked once, not again for each change until the whole one comes');
  runtime.onMessage({ type: 'snapshot', snapshot: clone(v1), seq: 1 });
  runtime.onMessage({ type: 'snapshot-change', change: clone(change12) });
  t.equal(sent.length, 1, 'the change for the snapshot held is applied');
  t.equal(held()?.seq, 2);
  t.same(held()?.snapshot, v2);
  runtime.onMessage({ type: 'snapshot-change', change: { ...change12, fromSeq: 5, seq: 6 } });
  t.same(sent.at(-1), { type: 'resync', seq: 2 }, 'a gap: asks again, saying what it holds');
  t.equal(held()?.seq, 2, 'and keeps what it holds meanwhile');
  runtime.onMessage({ type: 'snapshot', snapshot: clone(v1), seq: 9 });
  runtime.onMessage({ type: 'snapshot-change', change: { fromSeq: 9, seq: 10 } as unknown as SnapshotChange });
  t.same(sent.at(-1), { type: 'resync', seq: 9 }, 'a malformed change: the whole snapshot is asked for');
  t.equal(held()?.seq, 9);
});
