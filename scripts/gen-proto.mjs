#!/usr/bin/env node
// Regenerates the TypeScript types of the agent <-> controller API (`proto/meshlet/v1/*.proto`)
// into `src/proto/generated/` with @grpc/proto-loader's `proto-loader-gen-types`. The generated
// files are never edited by hand: change the .proto, run `node scripts/gen-proto.mjs`, commit both.
// `--out DIR` (relative to the repository root) writes elsewhere: a unit test regenerates into a
// temporary directory and compares, so a .proto changed without regenerating fails the tests.
//
// The flags must match the options both ends load the .proto with at run time
// (`PROTO_LOADER_OPTIONS` in src/proto/load.ts): the types describe the objects that loader
// produces.
import { spawnSync } from 'node:child_process';
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const protoDir = join(root, 'proto');
const outFlag = process.argv.indexOf('--out');
const outRel = outFlag === -1 ? 'src/proto/generated' : process.argv[outFlag + 1];
if (outRel === undefined || outRel === '') {
  console.error('usage: node scripts/gen-proto.mjs [--out DIR]');
  process.exit(64);
}
const outDir = resolve(root, outRel);
// The output directory is emptied first: never let that be the checkout or one of its parents.
if (relative(outDir, root) === '' || !relative(outDir, root).startsWith('..')) {
  console.error(`refusing to write into ${outDir}: it holds the repository`);
  process.exit(64);
}
const protos = readdirSync(join(protoDir, 'meshlet/v1'))
  .filter((f) => f.endsWith('.proto'))
  .sort()
  .map((f) => `meshlet/v1/${f}`);

rmSync(outDir, { recursive: true, force: true });
const args = [
  '--longs=Number',
  '--enums=String',
  '--defaults',
  '--oneofs',
  '--includeComments',
  '--grpcLib=@grpc/grpc-js',
  // nodenext ESM: relative imports need their .js extension.
  '--importFileExtension=.js',
  // Relative paths (run from the repo root), so the generated "Original file" comments do not
  // depend on where the checkout lives.
  '-I', 'proto',
  '-O', relative(root, outDir),
  ...protos,
];
const bin = join(root, 'node_modules/@grpc/proto-loader/build/bin/proto-loader-gen-types.js');
const run = spawnSync(process.execPath, [bin, ...args], { stdio: 'inherit', cwd: root });
if (run.status !== 0) {
  console.error(`proto-loader-gen-types failed (exit ${run.status})`);
  process.exit(1);
}
console.log(`generated ${outDir} from ${protos.join(', ')}`);
