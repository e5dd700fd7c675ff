/**
 * `meshlet policy check DIR`: the AuthorizationPolicies of a directory of mesh YAML linted
 * against the mesh the directory describes (`policy-lint.ts`), offline. The directory is read
 * as static mode and the controller's YAML registry read it, so a YAML problem is reported as
 * they report it (file, object, field) and exits 64 before any lint runs.
 *
 * Exit codes: 0 no error (warnings may be printed), 1 an error-level finding, 64 bad YAML or
 * objects that conflict.
 */
import { readMeshDirectory } from '../controller/registry/yaml-directory.js';
import { buildClusterState } from '../mesh/cluster-state.js';
import type { ClusterState } from '../mesh/cluster-types.js';
import { EXIT_USAGE, MeshletError } from '../mesh/errors.js';
import { problemsError } from '../mesh/objects/report.js';
import type { AuthorizationPolicyObject, MeshObject } from '../mesh/types.js';
import { formatOutput, outputContext, type OutputFlags, type OutputIo } from './output.js';
import { formatFinding, lintPolicies, type PolicyFinding } from './policy-lint.js';

/** Flags of `policy check`. */
export interface CheckFlags extends OutputFlags {
  readonly trustDomain?: string;
}

/**
 * The objects of a directory of mesh YAML, read as static mode and the controller's registry read
 * it, and the cluster state built from them; throws a MeshletError listing every YAML problem.
 */
export async function readMeshState(dir: string, trustDomain: string | undefined): Promise<{ objects: readonly MeshObject[]; state: ClusterState }> {
  const read = await readMeshDirectory(dir);
  const problems = [...read.problems, ...read.vanished.map((path) => ({ kind: 'syntax' as const, text: `${path}: removed while the directory was read` }))];
  if (problems.length > 0) throw problemsError(problems);
  return { objects: read.objects, state: buildClusterState(read.objects, { trustDomain }) };
}

/** The findings of `dir`; throws a MeshletError listing every YAML problem or conflict. */
export async function checkDirectory(dir: string, trustDomain: string | undefined): Promise<{ policies: number; findings: PolicyFinding[] }> {
  const { objects, state } = await readMeshState(dir, trustDomain);
  const policies = objects.filter((o: MeshObject): o is AuthorizationPolicyObject => o.kind === 'AuthorizationPolicy');
  return { policies: policies.length, findings: lintPolicies({ policies, workloads: state.workloads, services: state.services, trustDomain: state.trustDomain }) };
}

/** Runs `policy check DIR`; answers the exit code. */
export async function policyCheck(io: OutputIo, dir: string, flags: CheckFlags): Promise<number> {
  const ctx = outputContext(io, 'policy check', flags);
  let result;
  try {
    result = await checkDirectory(dir, flags.trustDomain);
  } catch (err) {
    if (!(err instanceof MeshletError)) throw err;
    // Every line, not the message's first 20: fixing a directory takes them all.
    io.stderr(`meshlet policy check: ${err.details.length > 1 ? `${err.details.length} problems:\n${err.details.map((d) => `  - ${d}`).join('\n')}` : err.message}\n`);
    return EXIT_USAGE;
  }
  const errors = result.findings.filter((f) => f.severity === 'error').length;
  const warnings = result.findings.length - errors;
  // JSON and YAML carry the text's summary too: the number of policies checked is not in the findings.
  const view = { policies: result.policies, errors, warnings, findings: result.findings };
  io.stdout(formatOutput(ctx, view, () => {
    const lines = result.findings.map((f) => `${formatFinding(f)}\n`).join('');
    return `${lines}${result.policies} AuthorizationPolicies checked: ${errors} ${errors === 1 ? 'error' : 'errors'}, ${warnings} ${warnings === 1 ? 'warning' : 'warnings'}\n`;
  }));
  return errors > 0 ? 1 : 0;
}
