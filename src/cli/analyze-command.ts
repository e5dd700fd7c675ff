/**
 * `meshlet analyze DIR | --kubernetes`: the problems of the mesh's configuration as a whole
 * (analyze.ts), offline from a directory of mesh YAML or live from a cluster's API (read once,
 * as the controller reads it), with stable codes, `-o json` and an exit code for CI: 0 no error
 * (warnings and notes may be printed), 1 an error-level finding, 64 YAML the registry refuses
 * (every problem listed, as `policy check` and static mode report them) or bad flags. Live, an
 * object the controller leaves out for failing validation is a finding (MA010) rather than a
 * refusal: the cluster is what it is.
 */
import type { Command } from 'commander';
import type { KubeConfig } from '@kubernetes/client-node';
import { pino } from 'pino';
import { KubernetesSource } from '../controller/registry/kubernetes-source.js';
import { buildClusterState } from '../mesh/cluster-state.js';
import { EXIT_USAGE, MeshletError } from '../mesh/errors.js';
import { processIo, withUsageExits } from './admin-client.js';
import { analyzeMesh, formatAnalyzeFinding, type AnalyzeFinding } from './analyze.js';
import { formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { cliKubeConfig, type KubeFlags } from './kube-config.js';
import { readMeshState } from './policy-check.js';

/** Flags of `analyze`. */
export interface AnalyzeFlags extends OutputFlags, KubeFlags {
  readonly trustDomain?: string;
  readonly kubernetes?: boolean;
  /** How long the first list of every resource may take (`--timeout`, seconds). */
  readonly timeout?: string;
}

/** Default of `--timeout`: the first list of every resource of a large cluster. */
const DEFAULT_LIST_TIMEOUT_S = 60;

/** Adds `meshlet analyze`. */
export function registerAnalyzeCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = withUsageExits(program.command('analyze'), io)
    .description('the problems of the mesh\'s configuration as a whole, from a directory of mesh YAML or live from a cluster (codes MA001-MA010, docs/sre-cli.md); exit 1 on an error')
    .argument('[dir]', 'a directory of mesh YAML (as static mode and the controller\'s registry read it)')
    .option('--kubernetes', 'read the mesh from a cluster\'s API instead of a directory (kubeconfig as kubectl finds it)')
    .option('--kubeconfig <file>', 'with --kubernetes: this kubeconfig (default $KUBECONFIG, ~/.kube/config, or the pod\'s service account)')
    .option('--context <name>', 'with --kubernetes: this kubeconfig context instead of the current one')
    .option('--timeout <seconds>', `with --kubernetes: how long listing every resource may take (default ${DEFAULT_LIST_TIMEOUT_S})`)
    .option('--trust-domain <td>', 'SPIFFE trust domain (default cluster.local)');
  outputOptions(cmd, 'analyze', { text: 'one line per finding, then the counts' })
    .action(async (dir: string | undefined, flags: AnalyzeFlags) => {
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

/**
 * The findings of the cluster `kubeConfig` reaches: every resource the controller reads, listed
 * once (through the controller's own source, so the objects are exactly the controller's),
 * then closed. Objects left out for failing validation are MA010 findings.
 */
export async function analyzeKubernetes(kubeConfig: KubeConfig, trustDomain: string | undefined, syncTimeoutMs: number): Promise<AnalyzeFinding[]> {
  const source = new KubernetesSource({ kubeConfig, logger: pino({ level: 'silent' }), syncTimeoutMs });
  try {
    await source.start();
    const contents = source.contents();
    if (contents === undefined) throw new MeshletError('MESHLET_ERR_REGISTRY', 'the cluster\'s resources were not all listed');
    const findings = analyzeMesh(buildClusterState(contents.objects, { trustDomain }), contents.objects);
    const invalid = source.invalidObjects().map((o): AnalyzeFinding => ({ code: 'MA010', severity: 'error', object: describeRaw(o.raw), message: `left out of the mesh by the controller: ${o.problems.join('; ')}` }));
    return sortFindings([...findings, ...invalid]);
  } finally {
    await source.close();
  }
}

/** `Kind namespace/name` of a raw Kubernetes object, as far as it says. */
function describeRaw(raw: unknown): string {
  const o = (raw ?? {}) as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown } };
  const kind = typeof o.kind === 'string' ? o.kind : 'object';
  const name = typeof o.metadata?.name === 'string' ? o.metadata.name : '(no name)';
  return typeof o.metadata?.namespace === 'string' ? `${kind} ${o.metadata.namespace}/${name}` : `${kind} ${name}`;
}

const SEVERITY_ORDER = ['error', 'warning', 'info'];

/** Errors first, then warnings, then notes; the order within a severity kept. */
function sortFindings(findings: AnalyzeFinding[]): AnalyzeFinding[] {
  return findings.map((f, i) => ({ f, i })).sort((a, b) => SEVERITY_ORDER.indexOf(a.f.severity) - SEVERITY_ORDER.indexOf(b.f.severity) || a.i - b.i).map((x) => x.f);
}

/** `--timeout` in milliseconds; a usage error when it is not a positive number of seconds. */
function listTimeoutMs(raw: string | undefined): number {
  if (raw === undefined) return DEFAULT_LIST_TIMEOUT_S * 1000;
  const s = Number(raw);
  if (!/^\d+(\.\d+)?$/.test(raw) || !(s > 0) || s > 3600) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--timeout must be seconds between 0 and 3600, got ${JSON.stringify(raw)}`);
  return s * 1000;
}

/** Runs `analyze DIR` or `analyze --kubernetes`; answers the exit code. */
export async function analyze(io: OutputIo, dir: string | undefined, flags: AnalyzeFlags): Promise<number> {
  const ctx = outputContext(io, 'analyze', flags);
  const live = flags.kubernetes === true;
  if (live === (dir !== undefined)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', live ? 'give a directory or --kubernetes, not both' : 'give a directory of mesh YAML, or --kubernetes to read a cluster');
  if (!live && (flags.kubeconfig !== undefined || flags.context !== undefined || flags.timeout !== undefined)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--kubeconfig, --context and --timeout go with --kubernetes');
  }
  let findings: AnalyzeFinding[];
  if (live) {
    const timeoutMs = listTimeoutMs(flags.timeout);
    findings = await analyzeKubernetes(cliKubeConfig(flags), flags.trustDomain, timeoutMs);
  } else {
    try {
      findings = await analyzeDirectory(dir as string, flags.trustDomain);
    } catch (err) {
      if (!(err instanceof MeshletError) || err.code === 'MESHLET_ERR_CONFIG_INVALID') throw err;
      io.stderr(`meshlet analyze: ${err.details.length > 1 ? `${err.details.length} problems:\n${err.details.map((d) => `  - ${d}`).join('\n')}` : err.message}\n`);
      return EXIT_USAGE;
    }
  }
  const errors = findings.filter((f) => f.severity === 'error').length;
  io.stdout(formatOutput(ctx, findings, () => {
    const lines = findings.map((f) => `${formatAnalyzeFinding(f)}\n`).join('');
    return lines + (findings.length === 0 ? 'no problems found\n' : `${errors} ${errors === 1 ? 'error' : 'errors'}, ${findings.length - errors} other finding${findings.length - errors === 1 ? '' : 's'}\n`);
  }));
  return errors > 0 ? 1 : 0;
}
