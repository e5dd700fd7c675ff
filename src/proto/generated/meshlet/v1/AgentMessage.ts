// Original file: proto/meshlet/v1/agent.proto

import type { Hello as _meshlet_v1_Hello, Hello__Output as _meshlet_v1_Hello__Output } from '../../meshlet/v1/Hello.js';
import type { Ack as _meshlet_v1_Ack, Ack__Output as _meshlet_v1_Ack__Output } from '../../meshlet/v1/Ack.js';
import type { Nack as _meshlet_v1_Nack, Nack__Output as _meshlet_v1_Nack__Output } from '../../meshlet/v1/Nack.js';

/**
 * What an agent sends on the config stream.
 */
export interface AgentMessage {
  'hello'?: (_meshlet_v1_Hello | null);
  'ack'?: (_meshlet_v1_Ack | null);
  'nack'?: (_meshlet_v1_Nack | null);
  'message'?: "hello"|"ack"|"nack";
}

/**
 * What an agent sends on the config stream.
 */
export interface AgentMessage__Output {
  'hello'?: (_meshlet_v1_Hello__Output | null);
  'ack'?: (_meshlet_v1_Ack__Output | null);
  'nack'?: (_meshlet_v1_Nack__Output | null);
  'message'?: "hello"|"ack"|"nack";
}
