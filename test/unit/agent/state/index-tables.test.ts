/**
 * A WorkloadIndex derived from the previous one (`WorkloadIndex.derive`, `index-tables.ts`)
 * answers every lookup the data path uses as the index built from the whole snapshot does:
 * generated sequences of changes (workloads and Services added, changed and removed, local
 * workloads, refused addresses, node addresses, routes, AuthorizationPolicies, opaque ports,
 * TrafficPolicies, zones), each step derived from the step before (never from a fresh build),
 * compared lookup by lookup with a build of the same snapshot. Snapshots are made as the
 * agent's held view makes them: sorted lists sharing every unchanged entry.
 */
import t from 'tap';
import fc from 'fast-check';
import { WorkloadIndex } from '../../../../src/agent/state/workload-index.js';
import { sortedListChange } from '../../../../src/agent/state/list-changes.js';
import type { WorkloadInfo } from '../../../../src/mesh/types.js';
import { lookups, Model, opArb, PORTS, SERVICE_NAMES, uidOf } from './snapshot-model.js';

t.test('derived indexes answer every lookup as an index built from the whole snapshot (generated change sequences)', async (t) => {
  let steps = 0;
  let derived = 0;
  fc.assert(
    fc.property(fc.array(opArb, { minLength: 1, maxLength: 12 }), fc.array(fc.array(opArb, { minLength: 1, maxLength: 3 }), { minLength: 1, maxLength: 25 }), (setup, changes) => {
      const model = new Model();
      for (const o of setup) model.apply(o);
      let index = new WorkloadIndex(model.snapshot('v0'));
      // Half the runs first ask for protocols, so the endpoint table is derived too.
      index.targetPortProtocol({ uid: uidOf(0) }, 8080);
      changes.forEach((step, i) => {
        for (const o of step) model.apply(o);
        const snapshot = model.snapshot(`v${i + 1}`);
        index = WorkloadIndex.derive(index, snapshot);
        steps += 1;
        if (index.derived) derived += 1;
        const full = new WorkloadIndex(snapshot);
        t.same(lookups(index), lookups(full), `step ${i + 1}`);
        // A route backend's Service port: what a table of every Service port by Service and port (OutboundHttp's, before) held.
        const table = new Map(full.serviceEntries.map((e) => [e.key, e] as const));
        t.same(SERVICE_NAMES.flatMap((k) => PORTS.map((p) => index.servicePort(k, p))), SERVICE_NAMES.flatMap((k) => PORTS.map((p) => table.get(`${k}|${p}`))), `step ${i + 1}: servicePort`);
        if (i % 2 === 0) index.targetPortProtocol({ uid: uidOf(1) }, 8080);
      });
    }),
    { seed: 1717, numRuns: 200 },
  );
  t.ok(steps > 1000, `${steps} steps compared`);
  t.ok(derived > steps / 2, `most steps derived (${derived} of ${steps}): the test exercises the derive, not only its fallback`);
});

t.test('long runs fold the layered tables and stay equal', async (t) => {
  const model = new Model();
  let index = new WorkloadIndex(model.snapshot('v0'));
  const ops = fc.sample(fc.array(opArb, { minLength: 1, maxLength: 2 }), { seed: 4242, numRuns: 600 });
  let derived = 0;
  ops.forEach((step, i) => {
    for (const o of step) if (o.op !== 'node-address' && o.op !== 'routes' && o.op !== 'policies') model.apply(o);
    index = WorkloadIndex.derive(index, model.snapshot(`v${i + 1}`));
    if (index.derived) derived += 1;
  });
  t.same(lookups(index), lookups(new WorkloadIndex(index.snapshot)));
  t.ok(derived > 500, `derived ${derived} of 600 in a row (past the overlay's 64-key fold)`);
});

t.test('the previous index is left as it was', async (t) => {
  const model = new Model();
  for (let s = 0; s < 6; s++) model.apply({ op: 'workload', slot: s, node: s < 3 ? 'node1' : 'node2', address: s, identity: s % 3, local: true });
  model.apply({ op: 'service', slot: 0, vip: 0, members: [0, 1, 3], ports: 2, opaque: false, policy: 1, plain: true });
  const before = new WorkloadIndex(model.snapshot('v1'));
  const expected = lookups(before);
  model.apply({ op: 'drop-workload', slot: 0 });
  model.apply({ op: 'workload', slot: 7, node: 'node1', address: 9, identity: 3, local: true });
  model.apply({ op: 'service', slot: 0, vip: 1, members: [1, 7], ports: 1, opaque: true, policy: 2, plain: false });
  const after = WorkloadIndex.derive(before, model.snapshot('v2'));
  t.equal(after.derived, true);
  t.same(lookups(before), expected, 'v1 lookups unchanged after v2 was derived');
  t.not(after.byUid.get(uidOf(0)), before.byUid.get(uidOf(0)));
});

t.test('doubt builds from the whole snapshot', async (t) => {
  const model = new Model();
  for (let s = 0; s < 4; s++) model.apply({ op: 'workload', slot: s, node: 'node1', address: s, identity: 0, local: true });
  const base = model.snapshot('v1');
  const index = new WorkloadIndex(base);
  t.equal(WorkloadIndex.derive(index, { ...base, version: 'v2' }).derived, true, 'an unchanged snapshot derives');
  t.equal(WorkloadIndex.derive(undefined, base).derived, false, 'nothing to derive from');
  const copied = { ...base, version: 'v2', workloads: base.workloads.map((w) => ({ ...w })), localWorkloads: base.localWorkloads.map((w) => ({ ...w })) };
  t.equal(WorkloadIndex.derive(index, copied).derived, true, 'a few new objects (under the change bound) still derive');
  const reversed = { ...base, version: 'v2', workloads: [...base.workloads].reverse().map((w) => ({ ...w })) };
  const fromReversed = WorkloadIndex.derive(index, reversed);
  t.equal(fromReversed.derived, false, 'a list out of key order is built whole');
  t.same(lookups(fromReversed), lookups(new WorkloadIndex(reversed)));
  t.equal(WorkloadIndex.derive(index, { ...base, version: 'v2', nodeAddress: '198.18.0.99' }).derived, false, 'another node address: another address policy');
  t.equal(WorkloadIndex.derive(index, { ...base, version: 'v2' }, { allowLoopback: true }).derived, false, 'other options');
  const dup = { ...base, version: 'v2', workloads: [...base.workloads, { ...(base.workloads[0] as WorkloadInfo), uid: 'Pod/demo/zz' }] };
  const fromDup = WorkloadIndex.derive(index, dup);
  t.equal(fromDup.derived, false, 'an address held twice is built whole (the last one wins there)');
  t.same(lookups(fromDup), lookups(new WorkloadIndex(dup)));
  t.equal(WorkloadIndex.derive(fromDup, { ...dup, version: 'v3' }).derived, false, 'and an index with an address twice is never derived from');
});

t.test('sortedListChange: by reference, bounded, sortedness checked where the lists differ', async (t) => {
  const k = (x: { k: string }): string => x.k;
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => ({ k: x })) as [{ k: string }, { k: string }, { k: string }, { k: string }];
  const b2 = { k: 'b' };
  t.same(sortedListChange([a, b, c], [a, b2, c, d], k, 10), { removed: [b], added: [b2, d] });
  t.same(sortedListChange([a, b, c], [b, c], k, 10), { removed: [a], added: [] });
  t.equal(sortedListChange([a, b, c], [a, d, b2, c], k, 10), undefined, 'out of order where they differ');
  t.equal(sortedListChange([a, b], [a, b, b], k, 10), undefined, 'a key twice');
  t.equal(sortedListChange([a, b, c, d], [{ k: 'a' }, { k: 'b' }, { k: 'c' }, { k: 'd' }], k, 3), undefined, 'past the bound');
  const same = [a, b];
  t.same(sortedListChange(same, same, k, 0), { removed: [], added: [] });
});

t.test('a derived index does not hold its predecessor (a chain would keep every earlier snapshot alive)', async (t) => {
  const model = new Model();
  for (let s = 0; s < 4; s++) model.apply({ op: 'workload', slot: s, node: 'node1', address: -1, identity: 0, local: true });
  const first = new WorkloadIndex(model.snapshot('v1'));
  model.apply({ op: 'workload', slot: 5, node: 'node1', address: -1, identity: 1, local: false });
  const second = WorkloadIndex.derive(first, model.snapshot('v2'));
  t.equal(second.derived, true);
  t.not(second.serviceEntriesChangedSince(first), undefined, 'it still knows what changed since its predecessor');
  // Every object reachable from the derived index by strong references (a WeakRef is not followed).
  const seen = new Set<unknown>();
  const stack: unknown[] = [second];
  while (stack.length > 0 && seen.size < 100_000) {
    const v = stack.pop();
    if (typeof v !== 'object' || v === null || seen.has(v) || v instanceof WeakRef) continue;
    seen.add(v);
    if (v instanceof Map) for (const [k, x] of v) stack.push(k, x);
    else if (v instanceof Set) for (const x of v) stack.push(x);
    else for (const key of Reflect.ownKeys(v)) stack.push((v as Record<string | symbol, unknown>)[key]);
  }
  t.ok(seen.size > 10, `${seen.size} objects reachable`);
  t.equal(seen.has(first), false, 'the previous index is not among them');
});
