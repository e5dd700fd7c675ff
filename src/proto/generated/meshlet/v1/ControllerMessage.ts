// Original file: proto/meshlet/v1/agent.proto

import type { Snapshot as _meshlet_v1_Snapshot, Snapshot__Output as _meshlet_v1_Snapshot__Output } from '../../meshlet/v1/Snapshot.js';
import type { SnapshotDelta as _meshlet_v1_SnapshotDelta, SnapshotDelta__Output as _meshlet_v1_SnapshotDelta__Output } from '../../meshlet/v1/SnapshotDelta.js';

/**
 * What the controller sends on the config stream.
 */
export interface ControllerMessage {
  'snapshot'?: (_meshlet_v1_Snapshot | null);
  'delta'?: (_meshlet_v1_SnapshotDelta | null);
  'message'?: "snapshot"|"delta";
}

/**
 * What the controller sends on the config stream.
 */
export interface ControllerMessage__Output {
  'snapshot'?: (_meshlet_v1_Snapshot__Output | null);
  'delta'?: (_meshlet_v1_SnapshotDelta__Output | null);
  'message'?: "snapshot"|"delta";
}
