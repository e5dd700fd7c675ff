/**
 * One agent's work, alone on a core: decoding a full snapshot, and decoding and applying the
 * delta push of a one-pod change (as the controller makes it), with the push's protobuf size.
 *
 * @module
 */

import { applyDeltaPush, heldViewOfSnapshot } from '../../src/agent/control/held-view.js';
import { agentApiService } from '../../src/controller/agent-api/agent-api-proto.js';
import type { ClusterState } from '../../src/mesh/cluster-types.js';
import { computeSnapshot } from '../../src/mesh/snapshot.js';
import { diffView, encodeDelta, localWorkloadsChange } from '../../src/mesh/snapshot-wire/delta.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../../src/mesh/snapshot-wire/encode.js';

/** p50 and minimum of some runs, in ms. */
export interface Timing {
  readonly p50: number;
  readonly min: number;
}

/** The element at quantile `q` of an ascending list (NaN when empty). */
export function quantile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

function timed(runs: number, fn: () => void, digits: number): Timing {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    fn();
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  ms.sort((a, b) => a - b);
  return { p50: Number(quantile(ms, 0.5).toFixed(digits)), min: Number((ms[0] ?? NaN).toFixed(digits)) };
}

/** A full snapshot of `state` for `node`: its sizes and one agent's decode of it. */
export function fullSnapshotWork(state: ClusterState, node: string, runs: number): { sharedBytesGzip: number; perNodeWireBytes: number; localWorkloads: number; jsonBytes: number; decodeMs: Timing } {
  const shared = encodeClusterView(state, 'size');
  const part = computeSnapshot(state, node, 'size');
  const wire = snapshotToWire(shared, part);
  return {
    sharedBytesGzip: shared.bytes.length,
    perNodeWireBytes: wire.cluster.length + Buffer.byteLength(JSON.stringify({ ...wire, cluster: undefined })),
    localWorkloads: wire.localWorkloadUids.length,
    jsonBytes: Buffer.byteLength(JSON.stringify(part)),
    decodeMs: timed(runs, () => decodeSnapshot(wire, { node, trustDomain: 'cluster.local' }), 1),
  };
}

/**
 * The delta push `node` gets for a change from `before` to `after` (its local workloads as the
 * change of its set, as the controller sends them to an agent that lists the capability), its
 * protobuf size, and the time to decode, validate and apply it and make the node's snapshot
 * (`applyDeltaPush`).
 */
export function oneChangeWork(before: ClusterState, after: ClusterState, node: string, trustBundlePem: string, runs: number): { messageBytes: number; deltaBytesGzip: number; decodeMs: Timing } {
  const encoded = encodeDelta(diffView(before, after, 'a', 'b'));
  const part = computeSnapshot(after, node, 'b');
  const beforeLocal = computeSnapshot(before, node, 'a').localWorkloads.map((w) => w.uid);
  const delta = {
    version: 'b',
    fromVersion: 'a',
    clusterEncoding: encoded.encoding,
    clusterDelta: Buffer.from(encoded.bytes),
    node,
    nodeAddress: part.nodeAddress,
    localWorkloadUids: [],
    localWorkloadsAsChange: true,
    ...localWorkloadsChange(beforeLocal, part.localWorkloads.map((w) => w.uid)),
    trustBundlePem,
    publishedAtMs: Date.now(),
  };
  const messageBytes = agentApiService().StreamConfig.responseSerialize({ delta }).length;
  const expected = { node, trustDomain: 'cluster.local' };
  const held = heldViewOfSnapshot(decodeSnapshot(snapshotToWire(encodeClusterView(before, 'a'), computeSnapshot(before, node, 'a')), expected));
  return { messageBytes, deltaBytesGzip: encoded.bytes.length, decodeMs: timed(runs, () => applyDeltaPush(delta, held, expected), 2) };
}
