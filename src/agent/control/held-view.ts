/**
 * The cluster view an agent holds between pushes, keyed, so a `SnapshotDelta` from the
 * controller is applied in proportion to the change (issue 17): decode the delta's bytes, apply
 * it to the held view of its `from_version`, and make the node's snapshot from the result, the
 * same `NodeSnapshot` a full snapshot of that version decodes to. The view keeps its lists
 * sorted and the node's local workloads, so the snapshot costs the change too (no sort of the
 * view, and local workloads that come as a change cost the change). Pure: a push and the held
 * view in, the new snapshot and view out (or an error naming what is wrong, the held view
 * untouched).
 */
import { MeshletError } from '../../mesh/errors.js';
import type { SnapshotExpectations } from '../../mesh/snapshot-wire/decode.js';
import {
  applyDeltaTracked,
  decodeDelta,
  heldLocalOf,
  keyedView,
  nodeSnapshotOfChange,
  nodeSnapshotWhole,
  type HeldLocal,
  type KeyedClusterView,
} from '../../mesh/snapshot-wire/delta.js';
import { clusterViewOfSnapshot } from '../../mesh/snapshot-wire/encode.js';
import type { NodeSnapshot } from '../../mesh/types.js';
import type { SnapshotDelta__Output } from '../../proto/generated/meshlet/v1/SnapshotDelta.js';

/** A version, its keyed cluster view and the node's local workloads in it. */
export interface HeldView {
  readonly version: string;
  readonly view: KeyedClusterView;
  readonly local: HeldLocal;
}

/** The held view after a full snapshot (O(view), as the decode before it). */
export function heldViewOfSnapshot(snapshot: NodeSnapshot): HeldView {
  return { version: snapshot.version, view: keyedView(clusterViewOfSnapshot(snapshot)), local: heldLocalOf(snapshot.localWorkloads) };
}

/** What a delta push gives: the snapshot to run on, and the view to hold once it is in use. */
export interface AppliedDelta {
  readonly snapshot: NodeSnapshot;
  readonly held: HeldView;
}

/**
 * Applies the delta push `wire` to `held`. Throws MESHLET_ERR_CONTROLLER when the agent holds no
 * view or another version than `from_version` (a gap), when the bytes are not a delta or say
 * other versions than the message, when the delta or the node part would be refused in a full
 * snapshot, or when the local workloads' change does not fit the held set (a removed uid not
 * held, an added one held already, not in the view or on another node); each means the agent
 * asks for a full snapshot (a NACK with resync).
 */
export function applyDeltaPush(wire: SnapshotDelta__Output, held: HeldView | undefined, expected: SnapshotExpectations): AppliedDelta {
  const head = `delta ${JSON.stringify(wire.fromVersion)} -> ${JSON.stringify(wire.version)}`;
  if (held === undefined || held.version !== wire.fromVersion) {
    const holds = held === undefined ? 'no cluster view' : `version ${JSON.stringify(held.version)}`;
    throw new MeshletError('MESHLET_ERR_CONTROLLER', `${head} does not apply: the agent holds ${holds} (a gap in versions: a full snapshot is needed)`);
  }
  if (wire.version === '') throw new MeshletError('MESHLET_ERR_CONTROLLER', `${head} is invalid: version: must be a non-empty string`);
  if (!wire.localWorkloadsAsChange && wire.localWorkloadUidsAdded.length + wire.localWorkloadUidsRemoved.length > 0) {
    throw new MeshletError('MESHLET_ERR_CONTROLLER', `${head} is invalid: localWorkloadUidsAdded and localWorkloadUidsRemoved must be empty unless localWorkloadsAsChange is set`);
  }
  const delta = decodeDelta(wire.clusterEncoding, wire.clusterDelta);
  if (delta.fromVersion !== wire.fromVersion || delta.toVersion !== wire.version) {
    throw new MeshletError(
      'MESHLET_ERR_CONTROLLER',
      `${head} is invalid: its bytes are the delta ${JSON.stringify(delta.fromVersion)} -> ${JSON.stringify(delta.toVersion)}`,
    );
  }
  const { view, changed } = applyDeltaTracked(held.view, held.version, delta);
  const made = wire.localWorkloadsAsChange
    ? nodeSnapshotOfChange(view, changed.workloads, held.local, wire.version, wire, expected)
    : nodeSnapshotWhole(view, wire.version, wire, expected);
  return { snapshot: made.snapshot, held: { version: wire.version, view, local: made.local } };
}
