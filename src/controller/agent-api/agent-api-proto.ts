/**
 * The agent API's gRPC service definition, from the .proto loaded by `src/proto/load.ts`
 * (shared with the agent, so both ends map messages the same way).
 */
import type { ServiceDefinition } from '@grpc/grpc-js';
import type { AgentApiDefinition } from '../../proto/generated/meshlet/v1/AgentApi.js';
import { agentApiProto } from '../../proto/load.js';

/** The `meshlet.v1.AgentApi` service definition. */
export function agentApiService(): AgentApiDefinition & ServiceDefinition {
  return agentApiProto().meshlet.v1.AgentApi.service;
}
