/**
 * The cluster-view delta (issue 17, part 1), by properties over generated clusters and
 * generated change sequences (fast-check, fixed seed): applying the deltas from the first view
 * gives the last view, and the agent's state after decoding and applying them equals its
 * decode of a full snapshot of the last view; a delta for another version is refused and
 * nothing changes. Plus: a one-pod change at 5,000 pods is a few entries.
 */
import t from 'tap';
import fc from 'fast-check';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { computeSnapshot, type ClusterState } from '../../../../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, nodeZones, snapshotToWire, type SnapshotWire } from '../../../../src/mesh/snapshot-wire/encode.js';
import {
  applyDelta,
  applyDeltaTracked,
  decodeDelta,
  DELTA_SECTIONS,
  diffView,
  encodeDelta,
  heldLocalOf,
  keyedView,
  localWorkloadsChange,
  nodeSnapshotOfChange,
  nodeSnapshotWhole,
  sortedView,
  viewOfKeyed,
  type ClusterDelta,
  type KeyedClusterView,
} from '../../../../src/mesh/snapshot-wire/delta.js';
import type { ClusterView } from '../../../../src/mesh/snapshot-wire/types.js';
import { largeClusterState } from '../../controller/agent-api/large-cluster.js';
import { thrown } from '../fixture.js';
import { change, modelOf, applyChange, stateOf } from './delta-fixture.js';

const TD = 'cluster.local';
const NODES = ['node-a', 'node-b', 'node-c'];
/** Fixed, so a failure reproduces; fast-check prints the counterexample. */
const SEED = 1717;

function fullWire(state: ClusterState, node: string, version: string): SnapshotWire {
  return snapshotToWire(encodeClusterView(state, version), computeSnapshot(state, node, version));
}

/** The states of a generated run: the first view, then one per change batch. */
const run = fc.record({
  initial: fc.array(change, { minLength: 3, maxLength: 30 }),
  steps: fc.array(fc.array(change, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 6 }),
});

function statesOf(r: { initial: readonly Parameters<typeof applyChange>[1][]; steps: readonly (readonly Parameters<typeof applyChange>[1][])[] }): ClusterState[] {
  let model = modelOf(r.initial);
  const states = [stateOf(model)];
  for (const step of r.steps) {
    model = step.reduce(applyChange, model);
    states.push(stateOf(model));
  }
  return states;
}

/** The keyed view's maps as (unsorted) lists: what its kept lists must equal once sorted. */
function mapsAsLists(k: KeyedClusterView): ClusterView {
  return {
    trustDomain: k.trustDomain,
    workloads: [...k.workloads.values()],
    services: [...k.services.values()],
    routes: [...k.routes.values()],
    routePolicies: [...k.routePolicies.values()],
    authorizationPolicies: [...k.authorizationPolicies.values()],
    telemetry: [...k.telemetry.values()],
    nodeZones: k.nodeZones,
  };
}

const entryCount = (d: ClusterDelta): number => DELTA_SECTIONS.reduce((n, s) => n + d[s].upserted.length + d[s].removed.length, 0);

t.test('generated views: the generator makes routes, policies, endpoints and zones', async (t) => {
  // The properties below mean little if the generated views are empty: check they are not.
  const seen = { routes: 0, routePolicies: 0, authz: 0, telemetry: 0, endpoints: 0, zones: 0, trafficPolicies: 0 };
  fc.assert(
    fc.property(run, (r) => {
      for (const s of statesOf(r)) {
        seen.routes += s.routes.length;
        seen.routePolicies += s.routePolicies.length;
        seen.authz += s.authorizationPolicies.length;
        seen.telemetry += s.telemetry.length;
        seen.endpoints += s.services.reduce((n, svc) => n + svc.endpoints.length, 0);
        seen.zones += Object.keys(nodeZones(s)).length;
        seen.trafficPolicies += s.services.filter((svc) => svc.trafficPolicy !== undefined).length;
      }
    }),
    { seed: SEED, numRuns: 40 },
  );
  for (const [what, n] of Object.entries(seen)) t.ok(n > 0, `${what}: ${n}`);
});

t.test('the deltas of a generated sequence, applied from the first view, give the last view', async (t) => {
  let runs = 0;
  let entries = 0;
  fc.assert(
    fc.property(run, (r) => {
      const states = statesOf(r);
      let held: KeyedClusterView = keyedView(states[0]!);
      states.slice(1).forEach((to, i) => {
        const delta = diffView(states[i]!, to, `v${i}`, `v${i + 1}`);
        entries += entryCount(delta);
        held = applyDelta(held, `v${i}`, delta);
      });
      const last = states[states.length - 1]!;
      const got = viewOfKeyed(held);
      // Against the built state itself, list by list, not against another keyed view.
      t.strictSame(got.workloads, last.workloads);
      t.strictSame(got.services, last.services);
      t.strictSame(got.routes, last.routes);
      t.strictSame(got.routePolicies, last.routePolicies);
      t.strictSame(got.authorizationPolicies, last.authorizationPolicies);
      t.strictSame(got.telemetry, last.telemetry);
      t.strictSame(got.nodeZones, nodeZones(last));
      runs += 1;
    }),
    { seed: SEED, numRuns: 60 },
  );
  t.equal(runs, 60, 'every generated run checked');
  t.ok(entries > 0, `${entries} delta entries applied`);
});

t.test("an agent's state after decoding and applying the deltas equals its decode of a full snapshot, at every step", async (t) => {
  // Each step's node part comes whole or as the change of the local set (generated per step),
  // as a controller sends it to an agent without or with the capability; pods scheduled to and
  // removed from the node and node address changes are among the generated changes.
  let runs = 0;
  const seen = { asChange: 0, added: 0, removed: 0, addressChanged: 0, localChanged: 0 };
  fc.assert(
    fc.property(run, fc.constantFrom(...NODES), fc.array(fc.boolean(), { minLength: 6, maxLength: 6 }), (r, node, modes) => {
      const states = statesOf(r);
      const expected = { node, trustDomain: TD };
      // The agent starts from a full snapshot, as it does on connecting.
      const first = decodeSnapshot(fullWire(states[0]!, node, 'v0'), expected);
      let held = keyedView(clusterViewOfSnapshot(first));
      let local = heldLocalOf(first.localWorkloads);
      let before = fullWire(states[0]!, node, 'v0');
      states.slice(1).forEach((to, i) => {
        const version = `v${i + 1}`;
        const encoded = encodeDelta(diffView(states[i]!, to, `v${i}`, version));
        const applied = applyDeltaTracked(held, `v${i}`, decodeDelta(encoded.encoding, encoded.bytes));
        const full = fullWire(to, node, version);
        const asChange = modes[i] === true;
        let made;
        if (asChange) {
          const change = localWorkloadsChange(before.localWorkloadUids, full.localWorkloadUids);
          seen.asChange += 1;
          seen.added += change.localWorkloadUidsAdded.length;
          seen.removed += change.localWorkloadUidsRemoved.length;
          const changedLocal = [...applied.changed.workloads].some((uid) => local.byUid.has(uid));
          if (changedLocal) seen.localChanged += 1;
          made = nodeSnapshotOfChange(applied.view, applied.changed.workloads, local, version, { ...full, localWorkloadUids: [], ...change }, expected);
        } else {
          made = nodeSnapshotWhole(applied.view, version, full, expected);
        }
        if (full.nodeAddress !== before.nodeAddress) seen.addressChanged += 1;
        t.strictSame(made.snapshot, decodeSnapshot(full, expected), `${version} (${asChange ? 'local workloads as a change' : 'whole'})`);
        // The kept lists are the keyed maps' entries, sorted.
        t.strictSame(viewOfKeyed(applied.view), sortedView(mapsAsLists(applied.view)), `${version}: the kept lists are the maps' entries, sorted`);
        held = applied.view;
        local = made.local;
        before = full;
      });
      runs += 1;
    }),
    { seed: SEED, numRuns: 80 },
  );
  t.equal(runs, 80, 'every generated run checked');
  // The property means little unless the node part really changed: check it did.
  for (const [what, n] of Object.entries(seen)) t.ok(n > 0, `${what}: ${n}`);
});

t.test('a delta encodes and decodes to itself, and an unchanged view gives an empty delta', async (t) => {
  fc.assert(
    fc.property(run, (r) => {
      const states = statesOf(r);
      const delta = diffView(states[0]!, states[1]!, 'v0', 'v1');
      const encoded = encodeDelta(delta);
      t.strictSame(decodeDelta(encoded.encoding, encoded.bytes), JSON.parse(JSON.stringify(delta)));
      t.equal(entryCount(diffView(states[1]!, states[1]!, 'v1', 'v2')), 0, 'no entry for an unchanged view');
    }),
    { seed: SEED, numRuns: 30 },
  );
});

t.test('a delta from another version than the one held is refused, and the held view is unchanged', async (t) => {
  let refused = 0;
  fc.assert(
    fc.property(run, fc.constantFrom('v0-old', 'v2', 'v1', ''), (r, held) => {
      const states = statesOf(r);
      const view = keyedView(states[0]!);
      const before = JSON.stringify(viewOfKeyed(view));
      const sizes = [view.workloads.size, view.services.size, view.addressOwners.size];
      const err = thrown(() => applyDelta(view, held, diffView(states[0]!, states[1]!, 'v0', 'v1')));
      t.ok(isMeshletError(err, 'MESHLET_ERR_CONTROLLER'), 'MESHLET_ERR_CONTROLLER');
      t.match((err as Error).message, `delta "v0" -> "v1" does not apply to the held version ${JSON.stringify(held)} (a gap in versions: a full snapshot is needed)`);
      t.equal(JSON.stringify(viewOfKeyed(view)), before, 'the held view is unchanged');
      t.same([view.workloads.size, view.services.size, view.addressOwners.size], sizes);
      refused += 1;
    }),
    { seed: SEED, numRuns: 20 },
  );
  t.equal(refused, 20);
});

t.test('at 5,000 pods and 500 Services, a one-pod change is a few entries, not the view', async (t) => {
  const from = largeClusterState({ nodes: 50, pods: 5000, services: 500 });
  const moved = from.workloads[1234]!;
  // The pod gets another app label: it leaves one Service and joins another.
  const changed = { ...moved, labels: { ...moved.labels, app: 'app-0' } };
  const service = from.services.find((s) => s.endpoints.some((e) => e.workload === moved.uid))!;
  const services = from.services.map((s) => (s === service ? { ...s, endpoints: s.endpoints.filter((e) => e.workload !== moved.uid) } : s));
  const to = { ...from, workloads: from.workloads.map((w) => (w === moved ? changed : w)), services };
  const delta = diffView(from, to, 'v1', 'v2');
  t.equal(delta.workloads.upserted.length, 1, 'the pod');
  t.equal(delta.endpoints.upserted.length, 1, "its old Service's endpoints");
  t.equal(entryCount(delta), 2, 'nothing else');
  t.equal(delta.nodeZones, undefined, 'zones unchanged: not sent');
  const encoded = encodeDelta(delta);
  const full = encodeClusterView(to, 'v2');
  t.ok(encoded.bytes.length * 50 < full.bytes.length, `${encoded.bytes.length} bytes against ${full.bytes.length} for the full view`);
  const applied = applyDelta(keyedView(from), 'v1', decodeDelta(encoded.encoding, encoded.bytes));
  t.strictSame(viewOfKeyed(applied).services, to.services);
  t.strictSame(applied.workloads.get(moved.uid), changed);
});

t.test('a long run of deltas, past the layered maps\' folds, still gives the last view', async (t) => {
  // 500 pods: the maps fold their overlay past 64 changed keys; 150 pods change here, each
  // getting a new label and a new address (the address indexes change too).
  let state: ClusterState = largeClusterState({ nodes: 5, pods: 500, services: 50 });
  let held = keyedView(state);
  const overlay = (m: unknown): number => (m as { overlay: Map<unknown, unknown> }).overlay.size;
  let largest = 0;
  for (let i = 0; i < 150; i++) {
    const target = state.workloads[(i * 7) % state.workloads.length]!;
    const changed = { ...target, labels: { ...target.labels, rev: `r${i}` }, addresses: [`198.18.200.${i + 1}`] };
    const next = { ...state, workloads: state.workloads.map((w) => (w === target ? changed : w)) };
    held = applyDelta(held, `v${i}`, diffView(state, next, `v${i}`, `v${i + 1}`));
    largest = Math.max(largest, overlay(held.workloads));
    state = next;
  }
  t.ok(largest > 0, `the overlay grew (to ${largest} keys)`);
  t.ok(overlay(held.workloads) < 150, `and was folded (${overlay(held.workloads)} keys now)`);
  t.ok(overlay(held.addressOwners) < 300, `the address index folded too (${overlay(held.addressOwners)} keys)`);
  t.strictSame(viewOfKeyed(held).workloads, state.workloads);
  const fresh = keyedView(state);
  t.strictSame([...held.addressOwners].sort(), [...fresh.addressOwners].sort(), 'the address index');
  t.strictSame([...held.canonicalAddresses].sort(), [...fresh.canonicalAddresses].sort(), 'the canonical address counts');
  t.strictSame([...held.nodeAddresses].sort(), [...fresh.nodeAddresses].sort(), 'the node address counts');
});
