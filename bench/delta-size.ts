/**
 * What a one-pod change costs as a full cluster view and as a delta (issue 17, part 1: the
 * delta format is not on the wire yet). Builds the cluster `bench/controller-scale.ts` builds
 * (same nodes, namespaces, Services and pods), makes its change (one pod moves to the next
 * Service), and reports the bytes of the full view and of the delta, raw and gzipped, and the
 * time of each step on the controller (diff, encode) and on an agent (decode, apply, the
 * snapshot from the applied view), beside a full snapshot's decode; and the whole agent step
 * (`applyDeltaPush`: decode, apply, the node's snapshot) with node1's local workloads whole and
 * as the change of its set, with the protobuf size of each `SnapshotDelta` message. A
 * measurement, not a test.
 *
 *   node dist/bench/delta-size.js [--agents 50] [--pods 5000] [--services 500] [--repeat 15]
 *
 * Pure computation in this process: no sockets, no files.
 */
import { gunzipSync } from 'node:zlib';
import { cpus, release } from 'node:os';
import type { ClusterState } from '../src/mesh/cluster-state.js';
import { computeSnapshot } from '../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire } from '../src/mesh/snapshot-wire/encode.js';
import { applyDeltaPush, heldViewOfSnapshot } from '../src/agent/control/held-view.js';
import { agentApiService } from '../src/controller/agent-api/agent-api-proto.js';
import { applyDelta, decodeDelta, DELTA_SECTIONS, diffView, encodeDelta, keyedView, localWorkloadsChange, nodeSnapshotOfView } from '../src/mesh/snapshot-wire/delta.js';
import type { SnapshotDelta__Output } from '../src/proto/generated/meshlet/v1/SnapshotDelta.js';
import { clusterState as buildCluster, nodeName as node, timed } from './delta-cluster.js';

const args = new Map<string, number>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), Number(process.argv[i + 1]));
const AGENTS = args.get('agents') ?? 50;
const PODS = args.get('pods') ?? 5000;
const SERVICES = args.get('services') ?? 500;
const REPEAT = Math.max(1, Math.min(101, args.get('repeat') ?? 15));
const TD = 'cluster.local';
const SCALE = { agents: AGENTS, pods: PODS, services: SERVICES };

/** controller-scale's cluster; `moved` pods sit one Service further. */
const clusterState = (moved: ReadonlySet<number>): ClusterState => buildCluster(SCALE, moved);

/** Median and minimum of `REPEAT` runs of `fn`, in ms. */
const time = <T>(fn: () => T): { result: T; p50: number; min: number } => timed(REPEAT, fn);

function main(): void {
  const from = clusterState(new Set());
  // controller-scale's first change: pod 0 moves to the next Service (and namespace).
  const to = clusterState(new Set([0]));
  const me = node(0);
  const expected = { node: me, trustDomain: TD };

  const fullEncode = time(() => encodeClusterView(to, 'v2'));
  const fullWire = snapshotToWire(fullEncode.result, computeSnapshot(to, me, 'v2'));
  const fullDecode = time(() => decodeSnapshot(fullWire, expected));

  const diff = time(() => diffView(from, to, 'v1', 'v2'));
  const delta = diff.result;
  const encode = time(() => encodeDelta(delta));
  const encoded = encode.result;
  const decode = time(() => decodeDelta(encoded.encoding, encoded.bytes));
  // The agent's view of v1, as it holds it after a full snapshot.
  const held = keyedView(clusterViewOfSnapshot(decodeSnapshot(snapshotToWire(encodeClusterView(from, 'v1'), computeSnapshot(from, me, 'v1')), expected)));
  const apply = time(() => applyDelta(held, 'v1', decode.result));
  const snapshot = time(() => nodeSnapshotOfView(apply.result, 'v2', fullWire, expected));
  const push = agentPush(from, to, me, encoded.encoding, encoded.bytes);

  const report = {
    machine: { cores: cpus().length, kernel: release(), node: process.version },
    scale: { agents: AGENTS, pods: PODS, services: SERVICES, workloads: to.workloads.length, repeat: REPEAT },
    change: 'one pod moves to the next Service (controller-scale.ts, change 0)',
    fullView: {
      jsonBytes: gunzipSync(fullEncode.result.bytes).length,
      gzipBytes: fullEncode.result.bytes.length,
      encodeMs: { p50: fullEncode.p50, min: fullEncode.min },
      agentDecodeMs: { p50: fullDecode.p50, min: fullDecode.min },
    },
    delta: {
      entries: Object.fromEntries(DELTA_SECTIONS.map((s) => [s, { upserted: delta[s].upserted.length, removed: delta[s].removed.length }]).filter(([, v]) => (v as { upserted: number; removed: number }).upserted + (v as { upserted: number; removed: number }).removed > 0)),
      jsonBytes: gunzipSync(encoded.bytes).length,
      gzipBytes: encoded.bytes.length,
      controllerDiffMs: { p50: diff.p50, min: diff.min },
      controllerEncodeMs: { p50: encode.p50, min: encode.min },
      agentDecodeMs: { p50: decode.p50, min: decode.min },
      agentApplyMs: { p50: apply.p50, min: apply.min },
      agentSnapshotOfViewMs: { p50: snapshot.p50, min: snapshot.min },
    },
    agentPush: push,
  };
  console.log(JSON.stringify(report, null, 2));
}

/**
 * `node`'s `SnapshotDelta` from v1 to v2 with its local workloads whole and as the change of its
 * set: the protobuf size of each, and `applyDeltaPush` on the agent's held view of v1 for each.
 */
function agentPush(from: ClusterState, to: ClusterState, node: string, encoding: string, bytes: Uint8Array): Record<string, unknown> {
  const expected = { node, trustDomain: TD };
  const before = computeSnapshot(from, node, 'v1');
  const after = computeSnapshot(to, node, 'v2');
  const base = { version: 'v2', fromVersion: 'v1', clusterEncoding: encoding, clusterDelta: Buffer.from(bytes), node, nodeAddress: after.nodeAddress, trustBundlePem: '', publishedAtMs: 0 };
  const whole: SnapshotDelta__Output = { ...base, localWorkloadUids: after.localWorkloads.map((w) => w.uid), localWorkloadsAsChange: false, localWorkloadUidsAdded: [], localWorkloadUidsRemoved: [] };
  const change = localWorkloadsChange(before.localWorkloads.map((w) => w.uid), whole.localWorkloadUids);
  const asChange: SnapshotDelta__Output = { ...base, localWorkloadUids: [], localWorkloadsAsChange: true, ...change };
  const serialize = agentApiService().StreamConfig.responseSerialize;
  const held = heldViewOfSnapshot(decodeSnapshot(snapshotToWire(encodeClusterView(from, 'v1'), before), expected));
  const wholeMs = time(() => applyDeltaPush(whole, held, expected));
  const changeMs = time(() => applyDeltaPush(asChange, held, expected));
  return {
    localWorkloads: after.localWorkloads.length,
    localChange: { added: change.localWorkloadUidsAdded.length, removed: change.localWorkloadUidsRemoved.length },
    messageBytesWhole: serialize({ delta: whole }).length,
    messageBytesAsChange: serialize({ delta: asChange }).length,
    applyDeltaPushMsWhole: { p50: wholeMs.p50, min: wholeMs.min },
    applyDeltaPushMsAsChange: { p50: changeMs.p50, min: changeMs.min },
  };
}

main();
