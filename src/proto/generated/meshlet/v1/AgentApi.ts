// Original file: proto/meshlet/v1/agent.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { AgentMessage as _meshlet_v1_AgentMessage, AgentMessage__Output as _meshlet_v1_AgentMessage__Output } from '../../meshlet/v1/AgentMessage.js';
import type { ControllerMessage as _meshlet_v1_ControllerMessage, ControllerMessage__Output as _meshlet_v1_ControllerMessage__Output } from '../../meshlet/v1/ControllerMessage.js';
import type { SignRequest as _meshlet_v1_SignRequest, SignRequest__Output as _meshlet_v1_SignRequest__Output } from '../../meshlet/v1/SignRequest.js';
import type { SignResponse as _meshlet_v1_SignResponse, SignResponse__Output as _meshlet_v1_SignResponse__Output } from '../../meshlet/v1/SignResponse.js';

/**
 * Served by the controller on :15012 (TLS, no client certificate: agents authenticate by token).
 */
export interface AgentApiClient extends grpc.Client {
  /**
   * Signs a workload CSR, only for an identity of a workload scheduled on the caller's node.
   */
  SignCertificate(argument: _meshlet_v1_SignRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  SignCertificate(argument: _meshlet_v1_SignRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  SignCertificate(argument: _meshlet_v1_SignRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  SignCertificate(argument: _meshlet_v1_SignRequest, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  /**
   * Signs a workload CSR, only for an identity of a workload scheduled on the caller's node.
   */
  signCertificate(argument: _meshlet_v1_SignRequest, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  signCertificate(argument: _meshlet_v1_SignRequest, metadata: grpc.Metadata, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  signCertificate(argument: _meshlet_v1_SignRequest, options: grpc.CallOptions, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  signCertificate(argument: _meshlet_v1_SignRequest, callback: grpc.requestCallback<_meshlet_v1_SignResponse__Output>): grpc.ClientUnaryCall;
  
  /**
   * The config stream. The agent opens it with a Hello; the controller answers with a Snapshot
   * (or, to an agent that can apply them, a SnapshotDelta from the version the agent last
   * acknowledged) whenever the agent's node needs a new one; the agent answers each push with an
   * Ack or a Nack carrying its version. The controller never sends a second push before the
   * first is answered: states that arrive meanwhile are coalesced, and only the newest is sent.
   */
  StreamConfig(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_v1_AgentMessage, _meshlet_v1_ControllerMessage__Output>;
  StreamConfig(options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_v1_AgentMessage, _meshlet_v1_ControllerMessage__Output>;
  /**
   * The config stream. The agent opens it with a Hello; the controller answers with a Snapshot
   * (or, to an agent that can apply them, a SnapshotDelta from the version the agent last
   * acknowledged) whenever the agent's node needs a new one; the agent answers each push with an
   * Ack or a Nack carrying its version. The controller never sends a second push before the
   * first is answered: states that arrive meanwhile are coalesced, and only the newest is sent.
   */
  streamConfig(metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_v1_AgentMessage, _meshlet_v1_ControllerMessage__Output>;
  streamConfig(options?: grpc.CallOptions): grpc.ClientDuplexStream<_meshlet_v1_AgentMessage, _meshlet_v1_ControllerMessage__Output>;
  
}

/**
 * Served by the controller on :15012 (TLS, no client certificate: agents authenticate by token).
 */
export interface AgentApiHandlers extends grpc.UntypedServiceImplementation {
  /**
   * Signs a workload CSR, only for an identity of a workload scheduled on the caller's node.
   */
  SignCertificate: grpc.handleUnaryCall<_meshlet_v1_SignRequest__Output, _meshlet_v1_SignResponse>;
  
  /**
   * The config stream. The agent opens it with a Hello; the controller answers with a Snapshot
   * (or, to an agent that can apply them, a SnapshotDelta from the version the agent last
   * acknowledged) whenever the agent's node needs a new one; the agent answers each push with an
   * Ack or a Nack carrying its version. The controller never sends a second push before the
   * first is answered: states that arrive meanwhile are coalesced, and only the newest is sent.
   */
  StreamConfig: grpc.handleBidiStreamingCall<_meshlet_v1_AgentMessage__Output, _meshlet_v1_ControllerMessage>;
  
}

export interface AgentApiDefinition extends grpc.ServiceDefinition {
  SignCertificate: MethodDefinition<_meshlet_v1_SignRequest, _meshlet_v1_SignResponse, _meshlet_v1_SignRequest__Output, _meshlet_v1_SignResponse__Output>
  StreamConfig: MethodDefinition<_meshlet_v1_AgentMessage, _meshlet_v1_ControllerMessage, _meshlet_v1_AgentMessage__Output, _meshlet_v1_ControllerMessage__Output>
}
