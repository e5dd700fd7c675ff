/**
 * Deltas on the config stream, by properties over generated change sequences (fast-check, fixed
 * seed), through the real path: the controller's ConfigStream decides full or delta and encodes
 * it (ViewHistory), the agent API's protobuf serializers carry it, the agent's ControllerStream
 * decodes and applies it (held-view.ts). Generated schedules publish states faster than the agent
 * answers (coalescing: deltas from a version several back), make the agent lose its view (a
 * gap) and corrupt deltas in transit; every snapshot the agent applies equals its decode of a
 * full snapshot of the same version, and the stream always ends on the newest.
 */
import t from 'tap';
import fc from 'fast-check';
import { computeSnapshot, type ClusterState } from '../../../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../../../src/mesh/snapshot-wire/encode.js';
import type { ControllerMessage } from '../../../src/proto/generated/meshlet/v1/ControllerMessage.js';
import { makePki, TRUST_DOMAIN } from '../controller/agent-api/harness.js';
import { applyChange, change, modelOf, stateOf, type Change } from '../mesh/snapshot-wire/delta-fixture.js';
import { ConfigLoopback } from './config-loopback.js';

const SEED = 1717;
const pki = await makePki(t);

/** One step of a schedule. */
type Step =
  | { readonly op: 'publish'; readonly changes: readonly Change[] }
  | { readonly op: 'settle' }
  | { readonly op: 'lose-view' }
  | { readonly op: 'corrupt-next'; readonly how: Corruption };

const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: fc.record({ op: fc.constant('publish' as const), changes: fc.array(change, { minLength: 1, maxLength: 3 }) }) },
  { weight: 3, arbitrary: fc.constant({ op: 'settle' as const }) },
  { weight: 1, arbitrary: fc.constant({ op: 'lose-view' as const }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('corrupt-next' as const), how: fc.constantFrom<Corruption>('flip', 'from', 'local-removed', 'local-added') }) },
);

const schedule = fc.record({
  initial: fc.array(change, { minLength: 3, maxLength: 25 }),
  steps: fc.array(step, { minLength: 3, maxLength: 14 }),
  node: fc.constantFrom('node-a', 'node-b', 'node-c'),
  bases: fc.constantFrom(1, 4),
});

/** How a delta is corrupted in transit. */
type Corruption = 'flip' | 'from' | 'local-removed' | 'local-added';

/**
 * A delta message with one byte of its delta flipped, claiming another base version, or (when
 * its local workloads come as a change) removing a uid the agent does not hold or adding one
 * that is not in the view.
 */
function corrupt(m: ControllerMessage, how: Corruption): ControllerMessage {
  if (m.delta === undefined || m.delta === null) return m;
  if (how === 'from') return { delta: { ...m.delta, fromVersion: `${String(m.delta.fromVersion)}-other` } };
  if (how === 'local-removed') return { delta: { ...m.delta, localWorkloadUidsRemoved: [...(m.delta.localWorkloadUidsRemoved ?? []), 'Pod/ns0/never-held'] } };
  if (how === 'local-added') return { delta: { ...m.delta, localWorkloadUidsAdded: [...(m.delta.localWorkloadUidsAdded ?? []), 'Pod/ns0/not-in-the-view'] } };
  const bytes = Buffer.from(m.delta.clusterDelta as Uint8Array);
  // Past the 10-byte gzip header, whose mtime and OS bytes decode whatever they hold.
  const at = 10 + ((bytes.length - 18) >> 1);
  bytes[at] = (bytes[at] ?? 0) ^ 0x5a;
  return { delta: { ...m.delta, clusterDelta: bytes } };
}

const totals = { runs: 0, deltas: 0, fulls: 0, resyncs: 0, applied: 0, localChanges: 0, localResyncs: 0 };

t.test('generated schedules: every snapshot the agent applies equals its full decode, and it ends on the newest', async (t) => {
  await fc.assert(
    fc.asyncProperty(schedule, async (s) => {
      const loop = new ConfigLoopback(s.node, TRUST_DOMAIN, pki.tls.trustBundlePem, { deltaBases: s.bases });
      const states = new Map<string, ClusterState>();
      let model = modelOf(s.initial);
      let n = 0;
      const publish = (): void => {
        const version = `v${++n}`;
        const state = stateOf(model);
        states.set(version, state);
        loop.publish(state, version);
      };
      publish();
      for (const st of s.steps) {
        if (st.op === 'publish') {
          model = st.changes.reduce(applyChange, model);
          publish();
        } else if (st.op === 'settle') await loop.settle();
        else if (st.op === 'lose-view') loop.heldView = undefined;
        else {
          const how = st.how;
          loop.tamper = (m) => {
            if (m.delta === undefined || m.delta === null) return m;
            // The local-workload corruptions need a delta whose local workloads are a change.
            if (how.startsWith('local-') && m.delta.localWorkloadsAsChange !== true) return m;
            loop.tamper = undefined;
            return corrupt(m, how);
          };
        }
      }
      await loop.settle();
      const expected = { node: s.node, trustDomain: TRUST_DOMAIN };
      for (const { snapshot } of loop.applied) {
        const state = states.get(snapshot.version) as ClusterState;
        const full = snapshotToWire(encodeClusterView(state, snapshot.version), computeSnapshot(state, s.node, snapshot.version));
        t.strictSame(snapshot, decodeSnapshot(full, expected), `${snapshot.version} equals its full decode`);
      }
      t.equal(loop.held, `v${n}`, 'the agent ends on the newest version');
      t.equal(loop.applied.at(-1)?.snapshot.version, `v${n}`, 'and runs on it');
      totals.runs += 1;
      totals.applied += loop.applied.length;
      totals.deltas += loop.applied.filter((a) => a.meta.delta).length;
      totals.fulls += loop.applied.filter((a) => !a.meta.delta).length;
      totals.resyncs += loop.stats.resyncs;
      totals.localChanges += loop.received.filter((m) => m.delta?.localWorkloadsAsChange === true).length;
      totals.localResyncs += loop.answers.filter((a) => a.nack?.resync === true && /localWorkloadUids(Added|Removed)\[/.test(a.nack.reason ?? '')).length;
    }),
    { seed: SEED, numRuns: 80 },
  );
  t.equal(totals.runs, 80, 'every generated schedule checked');
  // The property means little unless the schedules made each path happen.
  t.ok(totals.deltas > totals.runs, `${totals.deltas} snapshots applied from deltas`);
  t.ok(totals.fulls > totals.runs, `${totals.fulls} full snapshots (first ones and resyncs)`);
  t.ok(totals.resyncs > 0, `${totals.resyncs} resyncs after a gap or a corrupt delta`);
  t.ok(totals.localChanges > totals.runs, `${totals.localChanges} deltas carried the local workloads as a change`);
  t.ok(totals.localResyncs > 0, `${totals.localResyncs} resyncs after a local-workload change that did not fit`);
});

t.test('an agent that asks for full snapshots only never gets a delta', async (t) => {
  await fc.assert(
    fc.asyncProperty(fc.array(fc.array(change, { minLength: 1, maxLength: 3 }), { minLength: 2, maxLength: 6 }), async (steps) => {
      const loop = new ConfigLoopback('node-a', TRUST_DOMAIN, pki.tls.trustBundlePem, { deltas: false });
      let model = modelOf([]);
      loop.publish(stateOf(model), 'v0');
      for (const [i, changes] of steps.entries()) {
        await loop.settle();
        model = changes.reduce(applyChange, model);
        loop.publish(stateOf(model), `v${i + 1}`);
      }
      await loop.settle();
      t.equal(loop.received.filter((m) => m.message !== 'snapshot').length, 0, 'only Snapshot messages');
      t.equal(loop.stats.deltasSent, 0, 'the controller counted no delta');
      t.equal(loop.held, `v${steps.length}`, 'and the agent is on the newest');
    }),
    { seed: SEED, numRuns: 15 },
  );
});

/** Pods 0..9 on `node` (index into the fixture's nodes), plus changes. */
function podsOn(node: number, count: number): Change[] {
  return Array.from({ length: count }, (_, id) => ({ kind: 'pod' as const, id, spec: { ns: 0, app: id % 4, node, sa: 0, optOut: false } }));
}

t.test('an agent with the capability gets its local workloads as the change of its set; one without gets them whole', async (t) => {
  for (const capabilities of [true, false]) {
    const loop = new ConfigLoopback('node-a', TRUST_DOMAIN, pki.tls.trustBundlePem, { capabilities });
    let model = modelOf(podsOn(0, 10));
    loop.publish(stateOf(model), 'v1');
    await loop.settle();
    // One pod scheduled away from node-a, one to it, one removed.
    const steps: Change[][] = [
      [{ kind: 'pod', id: 3, spec: { ns: 0, app: 3, node: 1, sa: 0, optOut: false } }],
      [{ kind: 'pod', id: 12, spec: { ns: 1, app: 1, node: 0, sa: 0, optOut: false } }],
      [{ kind: 'pod', id: 5, spec: null }],
    ];
    for (const [i, changes] of steps.entries()) {
      model = changes.reduce(applyChange, model);
      loop.publish(stateOf(model), `v${i + 2}`);
      await loop.settle();
    }
    const deltas = loop.received.flatMap((m) => (m.delta ? [m.delta] : []));
    t.equal(deltas.length, 3, 'three deltas');
    if (capabilities) {
      t.strictSame(deltas.map((d) => d.localWorkloadsAsChange), [true, true, true]);
      t.strictSame(deltas.map((d) => d.localWorkloadUids), [[], [], []], 'no whole list');
      t.strictSame(deltas.map((d) => [d.localWorkloadUidsAdded, d.localWorkloadUidsRemoved]), [[[], ['Pod/ns0/p3']], [['Pod/ns1/p12'], []], [[], ['Pod/ns0/p5']]]);
    } else {
      t.strictSame(deltas.map((d) => d.localWorkloadsAsChange), [false, false, false]);
      t.strictSame(deltas.map((d) => d.localWorkloadUids?.length), [9, 10, 9], 'the whole list each time');
    }
    const expected = { node: 'node-a', trustDomain: TRUST_DOMAIN };
    const last = stateOf(model);
    t.strictSame(loop.applied.at(-1)?.snapshot, decodeSnapshot(snapshotToWire(encodeClusterView(last, 'v4'), computeSnapshot(last, 'node-a', 'v4')), expected), 'the agent runs on the full decode of v4');
  }
});

t.test('a local-workload change that does not fit is NACKed with resync, answered with a full snapshot', async (t) => {
  const loop = new ConfigLoopback('node-a', TRUST_DOMAIN, pki.tls.trustBundlePem);
  let model = modelOf(podsOn(0, 6));
  loop.publish(stateOf(model), 'v1');
  await loop.settle();
  // A pod of node-b named as added to node-a: a workload of the view, on another node.
  model = applyChange(model, { kind: 'pod', id: 20, spec: { ns: 0, app: 1, node: 1, sa: 0, optOut: false } });
  loop.tamper = (m) => (m.delta ? { delta: { ...m.delta, localWorkloadUidsAdded: ['Pod/ns0/p20'] } } : m);
  loop.publish(stateOf(model), 'v2');
  await loop.settle();
  const nack = loop.answers.find((a) => a.nack)?.nack;
  t.equal(nack?.resync, true, 'NACK with resync');
  t.match(nack?.reason, 'localWorkloadUidsAdded[0]: "Pod/ns0/p20" runs on node "node-b", not "node-a"');
  const kinds = loop.received.map((m) => m.message);
  t.strictSame(kinds.slice(kinds.indexOf('delta')), ['delta', 'snapshot'], 'answered with a full snapshot');
  t.equal(loop.stats.resyncs, 1);
  t.equal(loop.held, 'v2', 'the agent is on v2');
  t.strictSame(loop.applied.filter((a) => a.meta.delta).length, 0, 'the refused delta was never applied');
  t.strictSame(loop.applied.at(-1)?.snapshot.version, 'v2', 'the full snapshot of v2 was');
});
