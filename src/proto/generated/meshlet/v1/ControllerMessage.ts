// Original file: proto/meshlet/v1/agent.proto

import type { Snapshot as _meshlet_v1_Snapshot, Snapshot__Output as _meshlet_v1_Snapshot__Output } from '../../meshlet/v1/Snapshot.js';

/**
 * What the controller sends on the config stream.
 */
export interface ControllerMessage {
  'snapshot'?: (_meshlet_v1_Snapshot | null);
  'message'?: "snapshot";
}

/**
 * What the controller sends on the config stream.
 */
export interface ControllerMessage__Output {
  'snapshot'?: (_meshlet_v1_Snapshot__Output | null);
  'message'?: "snapshot";
}
