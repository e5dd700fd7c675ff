/**
 * The agent API's client constructor, from the .proto loaded by `src/proto/load.ts` (shared
 * with the controller, so both ends map messages the same way).
 */
import type { ProtoGrpcType } from '../../proto/generated/agent.js';
import { agentApiProto } from '../../proto/load.js';

/** The generated client constructor of `meshlet.v1.AgentApi`. */
export type AgentApiClientConstructor = ProtoGrpcType['meshlet']['v1']['AgentApi'];

/** The `meshlet.v1.AgentApi` client constructor. */
export function agentApiClientConstructor(): AgentApiClientConstructor {
  return agentApiProto().meshlet.v1.AgentApi;
}
