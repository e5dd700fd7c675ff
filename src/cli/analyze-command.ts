/**
 * `meshlet analyze DIR`: the problems of a directory of mesh YAML as a whole (analyze.ts),
 * offline, with stable codes, `-o json` and an exit code for CI: 0 no error (warnings and
 * notes may be printed), 1 an error-level finding, 64 YAML the registry refuses (every problem
 * listed, as `policy check` and static mode report them).
 */
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { EXIT_USAGE, MeshletError } from '../mesh/errors.js';
import { processIo, withUsageExits, type AdminIo } from './admin-client.js';
import { analyzeMesh, formatAnalyzeFinding, type AnalyzeFinding } from './analyze.js';
import { readMeshState } from './policy-check.js';
import { parseOutputFormat } from './proxy-config-command.js';

/** Flags of `analyze`. */
export interface AnalyzeFlags {
  readonly trustDomain?: string;
  readonly output: string;
}

/** Adds `meshlet analyze`. */
export function registerAnalyzeCommand(program: Command, io: AdminIo = processIo): void {
  withUsageExits(program.command('analyze'), io)
    .description('the problems of a directory of mesh YAML as a whole (codes MA001-MA009, docs/sre-cli.md); exit 1 on an error')
    .argument('<dir>', 'a directory of mesh YAML (as static mode and the controller\'s registry read it)')
    .option('--trust-domain <td>', 'SPIFFE trust domain (default cluster.local)')
    .option('-o, --output <format>', 'table, json or yaml', 'table')
    .action(async (dir: string, flags: AnalyzeFlags) => {
      try {
        io.exit(await analyze(io, dir, flags));
      } catch (err) {
        io.stderr(`meshlet analyze: ${(err as Error).message}\n`);
        io.exit(err instanceof MeshletError && err.code === 'MESHLET_ERR_CONFIG_INVALID' ? EXIT_USAGE : 1);
      }
    });
}

/** The findings of `dir`; throws a MeshletError listing every YAML problem. */
export async function analyzeDirectory(dir: string, trustDomain: string | undefined): Promise<AnalyzeFinding[]> {
  const { objects, state } = await readMeshState(dir, trustDomain);
  return analyzeMesh(state, objects);
}

/** Runs `analyze DIR`; answers the exit code. */
export async function analyze(io: AdminIo, dir: string, flags: AnalyzeFlags): Promise<number> {
  const format = parseOutputFormat(flags.output);
  let findings: AnalyzeFinding[];
  try {
    findings = await analyzeDirectory(dir, flags.trustDomain);
  } catch (err) {
    if (!(err instanceof MeshletError) || err.code === 'MESHLET_ERR_CONFIG_INVALID') throw err;
    io.stderr(`meshlet analyze: ${err.details.length > 1 ? `${err.details.length} problems:\n${err.details.map((d) => `  - ${d}`).join('\n')}` : err.message}\n`);
    return EXIT_USAGE;
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  if (format === 'json') io.stdout(`${JSON.stringify(findings, null, 2)}\n`);
  else if (format === 'yaml') io.stdout(stringify(findings));
  else {
    for (const f of findings) io.stdout(`${formatAnalyzeFinding(f)}\n`);
    io.stdout(findings.length === 0 ? 'no problems found\n' : `${errors} ${errors === 1 ? 'error' : 'errors'}, ${findings.length - errors} other finding${findings.length - errors === 1 ? '' : 's'}\n`);
  }
  return errors > 0 ? 1 : 0;
}
