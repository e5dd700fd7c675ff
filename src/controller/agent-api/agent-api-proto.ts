/**
 * The agent API's gRPC service definition, loaded from `proto/meshlet/v1/agent.proto` at run
 * time. The path is found from this module's own URL, so it works from `dist/` in a checkout and
 * in an installed package alike (the `proto/` folder ships beside `dist/`).
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition, type ServiceDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import type { ProtoGrpcType } from '../../proto/generated/agent.js';
import type { AgentApiDefinition } from '../../proto/generated/meshlet/v1/AgentApi.js';

/** dist/src/controller/agent-api/ -> the repository root's proto/. */
const PROTO_DIR = fileURLToPath(new URL('../../../../proto/', import.meta.url));

/**
 * How the .proto is turned into JavaScript objects. These must match the flags of
 * `scripts/gen-proto.mjs` (the generated types describe exactly these objects), and the agent's
 * copy in `src/agent/controller-proto.ts`.
 */
export const PROTO_LOADER_OPTIONS: Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

let cached: AgentApiDefinition | undefined;

/** The `meshlet.v1.AgentApi` service definition (loaded once). */
export function agentApiService(): AgentApiDefinition & ServiceDefinition {
  if (cached === undefined) {
    const packageDefinition = loadSync('meshlet/v1/agent.proto', PROTO_LOADER_OPTIONS);
    const proto = loadPackageDefinition(packageDefinition) as unknown as ProtoGrpcType;
    cached = proto.meshlet.v1.AgentApi.service;
  }
  return cached;
}
