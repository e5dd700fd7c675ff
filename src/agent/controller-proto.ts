/**
 * The agent API's client constructor, loaded from `proto/meshlet/v1/agent.proto` at run time.
 * The path is found from this module's own URL, so it works from `dist/`.
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../proto/generated/agent.js';

/** dist/src/agent/ -> the repository root's proto/. */
const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

/**
 * How the .proto is turned into JavaScript objects. These must match the flags of
 * `scripts/gen-proto.mjs` and the controller's copy in
 * `src/controller/agent-api/agent-api-proto.ts` (the agent may not import the controller).
 */
export const PROTO_LOADER_OPTIONS: Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

/** The generated client constructor of `meshlet.v1.AgentApi`. */
export type AgentApiClientConstructor = ProtoGrpcType['meshlet']['v1']['AgentApi'];

let cached: AgentApiClientConstructor | undefined;

/** The `meshlet.v1.AgentApi` client constructor (loaded once). */
export function agentApiClientConstructor(): AgentApiClientConstructor {
  if (cached === undefined) {
    const proto = loadPackageDefinition(loadSync('meshlet/v1/agent.proto', PROTO_LOADER_OPTIONS)) as unknown as ProtoGrpcType;
    cached = proto.meshlet.v1.AgentApi;
  }
  return cached;
}
