/**
 * What the agent does after a delta push, beyond the `NodeSnapshot` (`delta-size.ts` measures up
 * to it): the steps of `Agent.install` for controller-scale's one-pod change, each timed alone
 * at the scale given, on node1 (issue 17, "the agent's tables from a delta"):
 *
 * - the lookup tables (`WorkloadIndex`), made from the whole snapshot and derived from the
 *   previous ones with the changed keys;
 * - the persisted snapshot's text (`encodeStoredSnapshot`: the view gzipped), per push before,
 *   coalesced after;
 * - the hand-over to a data-path worker: the message's structured clone (`v8.serialize` /
 *   `deserialize`, what `fork`'s `serialization: 'advanced'` does) with the whole snapshot and
 *   with the change, and the worker's own tables;
 * - the data plane's passes over the Service ports per new index (`balancersToRebuild`,
 *   `BalancerRegistry.apply`, `OutlierRegistry.apply`, `requestService`'s endpoint table at the
 *   first inbound request), over every port for an index built whole ("before") and over the
 *   changed ports for a derived one ("after"), and the certificates' wanted set.
 *
 *   node dist/bench/agent-tables.js [--agents 50] [--pods 5000] [--services 500] [--repeat 15]
 *
 * Pure computation in this process: no sockets, no files.
 */
import { cpus, loadavg, release } from 'node:os';
import { deserialize, serialize } from 'node:v8';
import { applyDeltaPush, heldViewOfSnapshot } from '../src/agent/control/held-view.js';
import { encodeStoredSnapshot } from '../src/agent/control/snapshot-store.js';
import { sniForIdentity } from '../src/agent/identity/sni.js';
import { balancersToRebuild } from '../src/agent/policy/balancer-policy.js';
import { WorkloadIndex } from '../src/agent/state/workload-index.js';
import { computeSnapshot } from '../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../src/mesh/snapshot-wire/encode.js';
import { diffView, encodeDelta, localWorkloadsChange } from '../src/mesh/snapshot-wire/delta.js';
import type { NodeSnapshot } from '../src/mesh/types.js';
import type { SnapshotDelta__Output } from '../src/proto/generated/meshlet/v1/SnapshotDelta.js';
import { applySnapshotChange, snapshotChange } from '../src/agent/workers/snapshot-change.js';
import { BalancerRegistry } from '../src/agent/policy/balancer.js';
import { requestService } from '../src/agent/http/inbound-http.js';
import { OutlierRegistry, type OutlierTimers } from '../src/agent/proxy/outlier-registry.js';
import { clusterState, nodeName, timed, timedEach } from './delta-cluster.js';

const args = new Map<string, number>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), Number(process.argv[i + 1]));
const SCALE = { agents: args.get('agents') ?? 50, pods: args.get('pods') ?? 5000, services: args.get('services') ?? 500 };
const REPEAT = Math.max(1, Math.min(101, args.get('repeat') ?? 15));
const TD = 'cluster.local';
/** The bench's addresses are in 198.18.0.0/15, which the address policy accepts: no host addresses needed. */
const INDEX_OPTIONS = { nodeAddresses: [] };

/** The outlier registry's timer is never armed here: the bench times `apply` alone. */
const NO_TIMERS: OutlierTimers = { set: () => undefined, clear: () => undefined };
const ENDPOINT = { address: '198.18.0.1', port: 8080 };

const ms = (t: { p50: number; min: number }): { p50: number; min: number } => ({ p50: t.p50, min: t.min });

/** node1's snapshots of v1 (a full decode) and v2 (the delta push applied to the held view of v1). */
function snapshots(): { before: NodeSnapshot; after: NodeSnapshot } {
  const from = clusterState(SCALE, new Set());
  const to = clusterState(SCALE, new Set([0]));
  const me = nodeName(0);
  const expected = { node: me, trustDomain: TD };
  const encoded = encodeDelta(diffView(from, to, 'v1', 'v2'));
  const s1 = computeSnapshot(from, me, 'v1');
  const s2 = computeSnapshot(to, me, 'v2');
  const before = decodeSnapshot(snapshotToWire(encodeClusterView(from, 'v1'), s1), expected);
  const change = localWorkloadsChange(s1.localWorkloads.map((w) => w.uid), s2.localWorkloads.map((w) => w.uid));
  const wire: SnapshotDelta__Output = {
    version: 'v2', fromVersion: 'v1', clusterEncoding: encoded.encoding, clusterDelta: Buffer.from(encoded.bytes), node: me, nodeAddress: s2.nodeAddress,
    trustBundlePem: '', publishedAtMs: 0, localWorkloadUids: [], localWorkloadsAsChange: true, ...change,
  };
  const held = heldViewOfSnapshot(before);
  return { before, after: applyDeltaPush(wire, held, expected).snapshot };
}

function main(): void {
  const { before, after } = snapshots();
  const prev = new WorkloadIndex(before, INDEX_OPTIONS);
  const full = timed(REPEAT, () => new WorkloadIndex(after, INDEX_OPTIONS));
  const next = full.result;
  const store = timed(Math.min(REPEAT, 5), () => encodeStoredSnapshot(after, new Date(0)));
  const message = { type: 'snapshot', snapshot: after };
  const ser = timed(REPEAT, () => serialize(message));
  const de = timed(REPEAT, () => deserialize(ser.result) as unknown);
  const balancers = timed(REPEAT, () => balancersToRebuild(prev, next));
  // Each pass as it was: a walk over every Service port. The balancers' walk over the derived
  // index (only the changed ports' balancers told; `forget([])` makes the registry walk them
  // all, as every apply did before), the outliers' and the endpoint table's over a whole build.
  const derivedNext = WorkloadIndex.derive(prev, after, INDEX_OPTIONS);
  const registry = timedEach(REPEAT, () => {
    const r = new BalancerRegistry();
    r.apply(prev);
    r.forget([]);
    return r;
  }, (r) => r.apply(derivedNext));
  const outliers = timedEach(REPEAT, () => {
    const r = new OutlierRegistry({ now: () => 0, timers: NO_TIMERS });
    r.apply(prev);
    return r;
  }, (r) => r.apply(next));
  const endpointServices = timedEach(REPEAT, () => new WorkloadIndex(after, INDEX_OPTIONS), (index) => requestService(index, ENDPOINT, undefined, ''));
  const wanted = timed(REPEAT, () => new Map([...next.localIdentities].map((id) => [sniForIdentity(id), id])));
  const firstLocal = after.localWorkloads[0];
  const protocols = timedEach(REPEAT, () => new WorkloadIndex(after, INDEX_OPTIONS), (index) => (firstLocal === undefined ? 'detect' : index.targetPortProtocol(firstLocal, 8080)));
  const after_ = afterSteps(prev, before, after);
  const report = {
    machine: { cores: cpus().length, kernel: release(), node: process.version, loadavg: loadavg().map((l) => Number(l.toFixed(2))) },
    scale: { ...SCALE, workloads: after.workloads.length, services: after.services.length, localWorkloads: after.localWorkloads.length, localIdentities: next.localIdentities.size, repeat: REPEAT },
    change: 'one pod of node1 moves to the next Service (controller-scale.ts, change 0)',
    before: {
      indexFromSnapshotMs: ms(full),
      storeEncodeMs: ms(store),
      storeBytes: store.result.length,
      workerMessageBytes: ser.result.length,
      workerSerializeMs: ms(ser),
      workerDeserializeMs: ms(de),
      balancersToRebuildMs: ms(balancers),
      balancerRegistryApplyMs: ms(registry),
      outlierRegistryApplyMs: ms(outliers),
      requestServiceFirstLookupMs: ms(endpointServices),
      certificatesWantedMs: ms(wanted),
      targetProtocolsFirstLookupMs: ms(protocols),
    },
    after: after_,
  };
  console.log(JSON.stringify(report, null, 2));
}

/**
 * The same steps after this work: the index derived from the one in force, the workers handed
 * the change (made, cloned, applied to the worker's copy, the worker's index derived from its
 * own), balancers from the changed Service ports, the protocol table derived. The persisted
 * snapshot is saved coalesced (at most once per max(5 s, 10 x its encode)): nothing per push.
 */
function afterSteps(prev: WorkloadIndex, before: NodeSnapshot, after: NodeSnapshot): Record<string, unknown> {
  const firstLocal = after.localWorkloads[0];
  // A running agent has answered protocol lookups before: its endpoint table exists and is derived.
  if (firstLocal !== undefined) prev.targetPortProtocol(firstLocal, 8080);
  // And inbound requests: its endpoint -> Services table exists and is derived.
  requestService(prev, ENDPOINT, undefined, '');
  const derive = timed(REPEAT, () => WorkloadIndex.derive(prev, after, INDEX_OPTIONS));
  const next = derive.result;
  // The primary hands the workers the list changes its own derive found (no second walk).
  const change = timed(REPEAT, () => snapshotChange(before, after, 1, 2, next.listChangesSince(prev)));
  if (change.result === undefined) throw new Error('no change: the lists are not shared or not in key order');
  const message = { type: 'snapshot-change', change: change.result };
  const ser = timed(REPEAT, () => serialize(message));
  const de = timed(REPEAT, () => deserialize(ser.result) as typeof message);
  const workerBefore = deserialize(serialize(before)) as NodeSnapshot;
  const workerPrev = new WorkloadIndex(workerBefore, INDEX_OPTIONS);
  if (firstLocal !== undefined) workerPrev.targetPortProtocol(firstLocal, 8080);
  const apply = timed(REPEAT, () => applySnapshotChange(workerBefore, de.result.change));
  const workerDerive = timed(REPEAT, () => WorkloadIndex.derive(workerPrev, apply.result.snapshot, INDEX_OPTIONS, apply.result.lists));
  const balancers = timed(REPEAT, () => balancersToRebuild(prev, next));
  const protocols = timedEach(REPEAT, () => WorkloadIndex.derive(prev, after, INDEX_OPTIONS), (index) => (firstLocal === undefined ? 'detect' : index.targetPortProtocol(firstLocal, 8080)));
  const identitiesChanged = next.localIdentities !== prev.localIdentities;
  // The data plane's passes with the index derived from the one they applied: the changed Service ports.
  const registry = timedEach(REPEAT, () => {
    const r = new BalancerRegistry();
    r.apply(prev);
    return r;
  }, (r) => r.apply(next));
  const outliers = timedEach(REPEAT, () => {
    const r = new OutlierRegistry({ now: () => 0, timers: NO_TIMERS });
    r.apply(prev);
    return r;
  }, (r) => r.apply(next));
  const endpointServices = timedEach(REPEAT, () => WorkloadIndex.derive(prev, after, INDEX_OPTIONS), (index) => requestService(index, ENDPOINT, undefined, ''));
  const wanted = timed(REPEAT, () => (identitiesChanged ? new Map([...next.localIdentities].map((id) => [sniForIdentity(id), id])) : undefined));
  return {
    indexDerived: next.derived,
    workerIndexDerived: workerDerive.result.derived,
    indexDerivedMs: ms(derive),
    storeEncodeMsPerPush: 0,
    workerChangeMs: ms(change),
    workerMessageBytes: ser.result.length,
    workerSerializeMs: ms(ser),
    workerDeserializeMs: ms(de),
    workerApplyChangeMs: ms(apply),
    workerIndexDerivedMs: ms(workerDerive),
    balancersToRebuildMs: ms(balancers),
    localIdentitiesChanged: identitiesChanged,
    certificatesWantedMs: ms(wanted),
    targetProtocolsFirstLookupMs: ms(protocols),
    balancerRegistryApplyMs: ms(registry),
    outlierRegistryApplyMs: ms(outliers),
    requestServiceFirstLookupMs: ms(endpointServices),
  };
}

main();
