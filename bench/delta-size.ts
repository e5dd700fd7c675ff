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
import { stringify } from 'yaml';
import { buildClusterState, type ClusterState } from '../src/mesh/cluster-state.js';
import { parseObjects } from '../src/mesh/objects/parse.js';
import { computeSnapshot } from '../src/mesh/snapshot.js';
import { clusterViewOfSnapshot, decodeSnapshot, encodeClusterView, snapshotToWire } from '../src/mesh/snapshot-wire/encode.js';
import { applyDeltaPush, heldViewOfSnapshot } from '../src/agent/control/held-view.js';
import { agentApiService } from '../src/controller/agent-api/agent-api-proto.js';
import { applyDelta, decodeDelta, DELTA_SECTIONS, diffView, encodeDelta, keyedView, localWorkloadsChange, nodeSnapshotOfView } from '../src/mesh/snapshot-wire/delta.js';
import type { SnapshotDelta__Output } from '../src/proto/generated/meshlet/v1/SnapshotDelta.js';
import { addressPlan } from './controller-scale/address-plan.js';

const args = new Map<string, number>();
for (let i = 2; i + 1 < process.argv.length; i += 2) args.set((process.argv[i] as string).replace(/^--/, ''), Number(process.argv[i + 1]));
const AGENTS = args.get('agents') ?? 50;
const PODS = args.get('pods') ?? 5000;
const SERVICES = args.get('services') ?? 500;
const REPEAT = Math.max(1, Math.min(101, args.get('repeat') ?? 15));
const NAMESPACES = 10;
const TD = 'cluster.local';

const node = (i: number): string => `node${i + 1}`;
/** controller-scale's addresses, all in 198.18.0.0/15. */
const PLAN = addressPlan({ agents: AGENTS, pods: PODS, services: SERVICES });

/** The objects of controller-scale's registry; `moved` pods sit one Service further. */
function clusterState(moved: ReadonlySet<number>): ClusterState {
  const docs: unknown[] = [];
  for (let n = 0; n < NAMESPACES; n++) docs.push({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}`, labels: { 'meshlet.io/mesh': 'enabled' } } });
  for (let i = 0; i < AGENTS; i++) docs.push({ apiVersion: 'v1', kind: 'Node', metadata: { name: node(i) }, status: { addresses: [{ type: 'InternalIP', address: PLAN.node(i) }] } });
  for (let s = 0; s < SERVICES; s++) {
    docs.push({
      apiVersion: 'v1',
      kind: 'Service',
      metadata: { name: `svc${s}`, namespace: `ns${s % NAMESPACES}` },
      spec: { clusterIP: PLAN.service(s), selector: { app: `svc${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
    });
  }
  const perNode = Math.ceil(PODS / AGENTS);
  for (let p = 0; p < PODS; p++) {
    const n = Math.floor(p / perNode);
    const svc = (p + (moved.has(p) ? 1 : 0)) % SERVICES;
    docs.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod${p}`, namespace: `ns${svc % NAMESPACES}`, labels: { app: `svc${svc}` } },
      spec: { nodeName: node(n), serviceAccountName: `sa${svc}`, containers: [{ name: 'app', image: 'bench' }] },
      status: { podIP: PLAN.pod(p), podIPs: [{ ip: PLAN.pod(p) }] },
    });
  }
  return buildClusterState(parseObjects(docs.map((d) => stringify(d)).join('---\n'), 'delta-size'));
}

/** Median and minimum of `REPEAT` runs of `fn`, in ms. */
function time<T>(fn: () => T): { result: T; p50: number; min: number } {
  const runs: number[] = [];
  let result: T | undefined;
  for (let i = 0; i < REPEAT; i++) {
    const start = process.hrtime.bigint();
    result = fn();
    runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  runs.sort((a, b) => a - b);
  const round = (v: number): number => Number(v.toFixed(2));
  return { result: result as T, p50: round(runs[Math.floor(runs.length / 2)] ?? NaN), min: round(runs[0] ?? NaN) };
}

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
