/**
 * The agent's side of a delta push (`held-view.ts`): a good delta gives the full snapshot's
 * decode; each way a push cannot be applied (no view, another held version, bytes of another
 * delta, not a delta, bad entries, a bad node part, local workloads as a change that does not
 * fit the held set) is refused by name and the held view is left as it was.
 */
import t, { type Test } from 'tap';
import { applyDeltaPush, heldViewOfSnapshot, type HeldView } from '../../../src/agent/control/held-view.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { computeSnapshot, type ClusterState } from '../../../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../../../src/mesh/snapshot-wire/encode.js';
import { diffView, encodeDelta, localWorkloadsChange, viewOfKeyed } from '../../../src/mesh/snapshot-wire/delta.js';
import { buildClusterState } from '../../../src/mesh/cluster-state.js';
import type { SnapshotDelta__Output } from '../../../src/proto/generated/meshlet/v1/SnapshotDelta.js';
import { largeClusterObjects, largeClusterState } from '../controller/agent-api/large-cluster.js';
import { thrown } from '../mesh/fixture.js';

const TD = 'cluster.local';
const NODE = 'node-1';
const expected = { node: NODE, trustDomain: TD };
const from = largeClusterState({ nodes: 3, pods: 60, services: 6 });
const moved = from.workloads[7]!;
const to: ClusterState = { ...from, workloads: from.workloads.map((w) => (w === moved ? { ...w, labels: { ...w.labels, rev: 'r2' } } : w)) };

function full(state: ClusterState, version: string): ReturnType<typeof decodeSnapshot> {
  return decodeSnapshot(snapshotToWire(encodeClusterView(state, version), computeSnapshot(state, NODE, version)), expected);
}

function push(delta = diffView(from, to, 'v1', 'v2'), extra: Partial<SnapshotDelta__Output> = {}): SnapshotDelta__Output {
  const encoded = encodeDelta(delta);
  const part = computeSnapshot(to, NODE, 'v2');
  return {
    version: 'v2',
    fromVersion: 'v1',
    clusterEncoding: encoded.encoding,
    clusterDelta: Buffer.from(encoded.bytes),
    node: NODE,
    nodeAddress: part.nodeAddress,
    localWorkloadUids: part.localWorkloads.map((w) => w.uid),
    trustBundlePem: '',
    publishedAtMs: 0,
    localWorkloadsAsChange: false,
    localWorkloadUidsAdded: [],
    localWorkloadUidsRemoved: [],
    ...extra,
  };
}

const held = (): HeldView => heldViewOfSnapshot(full(from, 'v1'));

t.test('a delta push gives what a full snapshot of its version decodes to', async (t) => {
  const h = held();
  const applied = applyDeltaPush(push(), h, expected);
  t.strictSame(applied.snapshot, full(to, 'v2'));
  t.equal(applied.held.version, 'v2');
  t.equal(h.version, 'v1', 'the held view is a new one; the old one is kept');
});

/** `fn` throws MESHLET_ERR_CONTROLLER matching `message`, and `h` still lists the v1 view. */
function refused(t: Test, h: HeldView, fn: () => unknown, message: string | RegExp): void {
  const before = JSON.stringify(viewOfKeyed(h.view));
  const err = thrown(fn);
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), 'MESHLET_ERR_CONTROLLER');
  t.match((err as Error).message, message);
  t.equal(JSON.stringify(viewOfKeyed(h.view)), before, 'the held view is unchanged');
  t.equal(h.version, 'v1');
}

t.test('a push the agent cannot apply is refused by name, the held view untouched', async (t) => {
  const h = held();
  t.equal(thrown(() => applyDeltaPush(push(), undefined, expected)) instanceof Error, true, 'no view: refused');
  t.match((thrown(() => applyDeltaPush(push(), undefined, expected)) as Error).message, 'the agent holds no cluster view (a gap in versions: a full snapshot is needed)');
  refused(t, h, () => applyDeltaPush(push(undefined, { fromVersion: 'v0' }), h, expected), 'delta "v0" -> "v2" does not apply: the agent holds version "v1" (a gap in versions');
  refused(t, h, () => applyDeltaPush(push(diffView(from, to, 'v1', 'v3')), h, expected), 'is invalid: its bytes are the delta "v1" -> "v3"');
  refused(t, h, () => applyDeltaPush(push(undefined, { version: '' }), h, expected), 'version: must be a non-empty string');
  refused(t, h, () => applyDeltaPush(push(undefined, { clusterEncoding: 'meshlet.cluster.v1+json+gzip' }), h, expected), 'delta is invalid: encoding "meshlet.cluster.v1+json+gzip"');
  refused(t, h, () => applyDeltaPush(push(undefined, { clusterDelta: Buffer.from('not gzip') }), h, expected), 'delta is invalid');
  const bad = { ...moved, addresses: ['10.0.0.999'] };
  const badTo = { ...from, workloads: from.workloads.map((w) => (w === moved ? bad : w)) };
  refused(t, h, () => applyDeltaPush(push(diffView(from, badTo, 'v1', 'v2')), h, expected), '"10.0.0.999"');
  refused(t, h, () => applyDeltaPush(push(undefined, { node: 'node-2' }), h, expected), `is not this agent's node "${NODE}"`);
  refused(t, h, () => applyDeltaPush(push(undefined, { localWorkloadUids: ['Pod/ns0/nope'] }), h, expected), 'localWorkloadUids[0]: "Pod/ns0/nope" is not a workload of the cluster view');
});

// The local workloads as the change of the held set (an agent that lists the capability).
const objects = largeClusterObjects({ nodes: 3, pods: 60, services: 6 });
/** `objects` with the pods named in `moves` scheduled to another node, or removed (null). */
function rescheduled(moves: Readonly<Record<string, string | null>>): ClusterState {
  const out = objects.flatMap((o) => {
    if (o.kind !== 'Pod' || !(`Pod/${o.namespace}/${o.name}` in moves)) return [o];
    const node = moves[`Pod/${o.namespace}/${o.name}`];
    return node === null || node === undefined ? [] : [{ ...o, nodeName: node }];
  });
  return buildClusterState(out);
}
const localOf = (state: ClusterState, node = NODE): string[] => state.workloads.filter((w) => w.node === node).map((w) => w.uid);
const leaving = localOf(from)[2]!;
const arriving = localOf(from, 'node-0')[3]!;
const elsewhere = localOf(from, 'node-2')[1]!;
const changedTo = rescheduled({ [leaving]: 'node-2', [arriving]: NODE });

/** The push from `from` (v1) to `next` (v2) with the local workloads as the change; `extra` tampers. */
function changePush(next: ClusterState, extra: Partial<SnapshotDelta__Output> = {}): SnapshotDelta__Output {
  return push(diffView(from, next, 'v1', 'v2'), {
    localWorkloadUids: [],
    localWorkloadsAsChange: true,
    ...localWorkloadsChange(localOf(from), localOf(next)),
    nodeAddress: computeSnapshot(next, NODE, 'v2').nodeAddress,
    ...extra,
  });
}

t.test('local workloads as a change: pods scheduled to and away from the node give the full decode', async (t) => {
  const h = held();
  const wire = changePush(changedTo);
  t.strictSame(wire.localWorkloadUidsAdded, [arriving], 'one added');
  t.strictSame(wire.localWorkloadUidsRemoved, [leaving], 'one removed');
  const applied = applyDeltaPush(wire, h, expected);
  t.strictSame(applied.snapshot, full(changedTo, 'v2'));
  t.strictSame(applied.held.local.list.map((w) => w.uid), localOf(changedTo), 'the held local set is the new one, in uid order');
  t.strictSame(h.local.list.map((w) => w.uid), localOf(from), 'the old held set is untouched');
  // A local workload relabelled in place (same uid) comes with no change of the set: the new entry.
  const relabelled = applyDeltaPush(changePush(to), h, expected);
  t.strictSame(relabelled.snapshot, full(to, 'v2'));
  t.equal(relabelled.snapshot.localWorkloads.length, localOf(to).length);
});

t.test('local workloads as a change that does not fit the held set: refused by name (a NACK with resync)', async (t) => {
  const h = held();
  const localBefore = JSON.stringify(h.local.list);
  const check = (wire: SnapshotDelta__Output, message: string): void => {
    refused(t, h, () => applyDeltaPush(wire, h, expected), message);
    t.equal(JSON.stringify(h.local.list), localBefore, 'the held local workloads are unchanged');
  };
  check(changePush(to, { localWorkloadUidsRemoved: ['Pod/team-0/never-held'] }), 'localWorkloadUidsRemoved[0]: "Pod/team-0/never-held" is not a local workload the agent holds');
  check(changePush(to, { localWorkloadUidsRemoved: [elsewhere] }), `localWorkloadUidsRemoved[0]: ${JSON.stringify(elsewhere)} is not a local workload the agent holds`);
  check(changePush(changedTo, { localWorkloadUidsRemoved: [leaving, leaving] }), `localWorkloadUidsRemoved[1]: ${JSON.stringify(leaving)} appears twice`);
  check(changePush(to, { localWorkloadUidsAdded: [elsewhere] }), `localWorkloadUidsAdded[0]: ${JSON.stringify(elsewhere)} runs on node "node-2", not "${NODE}"`);
  check(changePush(to, { localWorkloadUidsAdded: ['Pod/team-0/nope'] }), 'localWorkloadUidsAdded[0]: "Pod/team-0/nope" is not a workload of the cluster view');
  check(changePush(to, { localWorkloadUidsAdded: [localOf(from)[0]!] }), `localWorkloadUidsAdded[0]: ${JSON.stringify(localOf(from)[0])} is a local workload the agent holds already`);
  check(changePush(changedTo, { localWorkloadUidsAdded: [arriving, arriving] }), `localWorkloadUidsAdded[1]: ${JSON.stringify(arriving)} is a local workload the agent holds already`);
  check(changePush(to, { localWorkloadUids: [localOf(from)[0]!] }), 'localWorkloadUids: must be empty when the local workloads come as a change (1 given)');
  check(push(undefined, { localWorkloadUidsAdded: [arriving] }), 'localWorkloadUidsAdded and localWorkloadUidsRemoved must be empty unless localWorkloadsAsChange is set');
  // The delta moves or removes a held local workload, and the change does not say so.
  check(changePush(changedTo, { localWorkloadUidsRemoved: [] }), `${JSON.stringify(leaving)} is held as a local workload, but now runs on node "node-2", not "${NODE}"`);
  check(changePush(rescheduled({ [leaving]: null }), { localWorkloadUidsRemoved: [] }), `${JSON.stringify(leaving)} is held as a local workload, but the delta removed it from the cluster view`);
});
