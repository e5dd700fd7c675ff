import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { Ack as _meshlet_v1_Ack, Ack__Output as _meshlet_v1_Ack__Output } from './meshlet/v1/Ack.js';
import type { AgentApiClient as _meshlet_v1_AgentApiClient, AgentApiDefinition as _meshlet_v1_AgentApiDefinition } from './meshlet/v1/AgentApi.js';
import type { AgentMessage as _meshlet_v1_AgentMessage, AgentMessage__Output as _meshlet_v1_AgentMessage__Output } from './meshlet/v1/AgentMessage.js';
import type { ControllerMessage as _meshlet_v1_ControllerMessage, ControllerMessage__Output as _meshlet_v1_ControllerMessage__Output } from './meshlet/v1/ControllerMessage.js';
import type { Hello as _meshlet_v1_Hello, Hello__Output as _meshlet_v1_Hello__Output } from './meshlet/v1/Hello.js';
import type { Nack as _meshlet_v1_Nack, Nack__Output as _meshlet_v1_Nack__Output } from './meshlet/v1/Nack.js';
import type { SignRequest as _meshlet_v1_SignRequest, SignRequest__Output as _meshlet_v1_SignRequest__Output } from './meshlet/v1/SignRequest.js';
import type { SignResponse as _meshlet_v1_SignResponse, SignResponse__Output as _meshlet_v1_SignResponse__Output } from './meshlet/v1/SignResponse.js';
import type { Snapshot as _meshlet_v1_Snapshot, Snapshot__Output as _meshlet_v1_Snapshot__Output } from './meshlet/v1/Snapshot.js';
import type { SnapshotDelta as _meshlet_v1_SnapshotDelta, SnapshotDelta__Output as _meshlet_v1_SnapshotDelta__Output } from './meshlet/v1/SnapshotDelta.js';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  meshlet: {
    v1: {
      Ack: MessageTypeDefinition<_meshlet_v1_Ack, _meshlet_v1_Ack__Output>
      /**
       * Served by the controller on :15012 (TLS, no client certificate: agents authenticate by token).
       */
      AgentApi: SubtypeConstructor<typeof grpc.Client, _meshlet_v1_AgentApiClient> & { service: _meshlet_v1_AgentApiDefinition }
      AgentMessage: MessageTypeDefinition<_meshlet_v1_AgentMessage, _meshlet_v1_AgentMessage__Output>
      ControllerMessage: MessageTypeDefinition<_meshlet_v1_ControllerMessage, _meshlet_v1_ControllerMessage__Output>
      Hello: MessageTypeDefinition<_meshlet_v1_Hello, _meshlet_v1_Hello__Output>
      Nack: MessageTypeDefinition<_meshlet_v1_Nack, _meshlet_v1_Nack__Output>
      SignRequest: MessageTypeDefinition<_meshlet_v1_SignRequest, _meshlet_v1_SignRequest__Output>
      SignResponse: MessageTypeDefinition<_meshlet_v1_SignResponse, _meshlet_v1_SignResponse__Output>
      Snapshot: MessageTypeDefinition<_meshlet_v1_Snapshot, _meshlet_v1_Snapshot__Output>
      SnapshotDelta: MessageTypeDefinition<_meshlet_v1_SnapshotDelta, _meshlet_v1_SnapshotDelta__Output>
    }
  }
}

