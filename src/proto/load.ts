/**
 * Loads the agent API's .proto at run time, for both ends (the agent's client and the
 * controller's server), so the two can never disagree on how messages map to objects. The
 * path is found from this module's own URL, so it works from `dist/` in a checkout and in an
 * installed package alike (the `proto/` folder ships beside `dist/`). Hand-written; the
 * generated types are in `generated/`.
 */
import { fileURLToPath } from 'node:url';
import { loadPackageDefinition } from '@grpc/grpc-js';
import { loadSync, type Options } from '@grpc/proto-loader';
import type { ProtoGrpcType } from './generated/agent.js';

/** dist/src/proto/ -> the repository root's proto/. */
const PROTO_DIR = fileURLToPath(new URL('../../../proto/', import.meta.url));

/**
 * How the .proto is turned into JavaScript objects. These must match the flags of
 * `scripts/gen-proto.mjs`: the generated types describe exactly these objects.
 */
export const PROTO_LOADER_OPTIONS: Options = Object.freeze({
  keepCase: false,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

let cached: ProtoGrpcType | undefined;

/** The loaded `meshlet.v1` package (loaded once). */
export function agentApiProto(): ProtoGrpcType {
  cached ??= loadPackageDefinition(loadSync('meshlet/v1/agent.proto', PROTO_LOADER_OPTIONS)) as unknown as ProtoGrpcType;
  return cached;
}
