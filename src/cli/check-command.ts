/**
 * `meshlet check`: ✔/✖ lines, exit 1 when anything fails (`linkerd check`). Without flags, the
 * installed mesh from this node: its agent (through the admin API, as `status` reads it) and,
 * through the controller's debug port, the controller and every agent it knows. With `--pre`,
 * what the host needs before an agent runs on it; that reads the host and changes nothing on
 * it: the nat probe runs in a scratch network namespace the check makes and removes. With
 * `--pre --kubernetes`, what the cluster needs before the install (check-cluster.ts).
 */
import { execFile } from 'node:child_process';
import net from 'node:net';
import { promisify } from 'node:util';
import type { Command } from 'commander';
import { createCommandRunner } from '../iptables/runner.js';
import { MeshletError } from '../mesh/errors.js';
import { adminClientFor, adminOptions, DEFAULT_ADMIN, processIo, runAdminAction, withUsageExits, type AdminFlags } from './admin-client.js';
import { clusterPreChecks, clusterProbes, type ClusterProbes } from './check-cluster.js';
import { preInstallChecks, type CheckResult, type PreProbes } from './check-pre.js';
import { cliKubeConfig, type KubeFlags } from './kube-config.js';
import { checkMark, formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { DEFAULT_CONTROLLER_DEBUG, fetchProxyStatus } from './proxy-status-command.js';
import { Progress, progressSink } from './progress.js';
import { nodeChecks, readStatusInput } from './status-command.js';

const run = promisify(execFile);
/** Scratch namespaces are `meshlet-check-<pid>`; one left by a killed check is removed by the next. */
const SCRATCH_PREFIX = 'meshlet-check-';

/** Flags of `check`. */
export interface CheckOptions extends Partial<AdminFlags>, OutputFlags, KubeFlags {
  readonly pre?: boolean;
  /** With `pre`: the cluster (through the kubeconfig) instead of this host. */
  readonly kubernetes?: boolean;
  /** The controller's debug port; unset: the default, and a warning (not a failure) when it does not answer. */
  readonly controller?: string;
}

/** Adds `meshlet check`. */
export function registerCheckCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = adminOptions(withUsageExits(program.command('check'), io))
    .description("check the mesh from this node: its agent (snapshot, certificates, capture rules, controller link, ready) and the controller (every agent on the version in force); --pre: this host before installing (runtime, root, iptables, nat, ports); --pre --kubernetes: the cluster before installing (version, RBAC, CRDs)")
    .option('--pre', 'what the host needs before an agent runs on it')
    .option('--kubernetes', 'with --pre: what the cluster needs before the install (Kubernetes version, RBAC, CRDs), through the kubeconfig')
    .option('--kubeconfig <file>', 'with --kubernetes: this kubeconfig (default $KUBECONFIG, ~/.kube/config, or the pod\'s service account)')
    .option('--context <name>', 'with --kubernetes: this kubeconfig context instead of the current one')
    .option('--controller <address>', `the controller's debug port (default ${DEFAULT_CONTROLLER_DEBUG}; not answering is a failure only when given)`);
  outputOptions(cmd, 'check', { text: 'one ✔/✖ line per check, then a verdict' })
    .action((opts: CheckOptions) => runAdminAction(io, 'check', () => check(io, opts, hostProbes())));
}

/** Runs `check`; answers the exit code: 1 when a check failed. */
export async function check(io: OutputIo, opts: CheckOptions, probes: PreProbes, cluster: (opts: CheckOptions) => ClusterProbes = (o) => clusterProbes(cliKubeConfig(o))): Promise<number> {
  const ctx = outputContext(io, 'check', opts);
  if (opts.pre !== true && opts.controller !== undefined && !/\S/.test(opts.controller)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--controller: empty');
  }
  if (opts.kubernetes === true && opts.pre !== true) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--kubernetes goes with --pre (the installed mesh is checked from a node: meshlet check there)');
  }
  if (opts.kubernetes !== true && (opts.kubeconfig !== undefined || opts.context !== undefined)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--kubeconfig and --context go with --kubernetes');
  }
  // On a terminal, the step under way on stderr (erased once done: the results follow).
  const progress = new Progress(progressSink(io, opts.color), { transient: true });
  let results: CheckResult[];
  try {
    if (opts.pre !== true) results = await meshChecks(opts, progress);
    else if (opts.kubernetes === true) {
      const api = cluster(opts);
      progress.step('checking the cluster: Kubernetes version, RBAC, CRDs');
      results = await clusterPreChecks(api);
    } else {
      progress.step('checking this host: kernel, iptables, ports');
      results = await preInstallChecks(probes);
    }
  } finally {
    progress.finish(true);
  }
  io.stdout(formatOutput(ctx, results, () => render(results, ctx.color)));
  return results.some((r) => r.outcome === 'fail') ? 1 : 0;
}

/** The ✔/✖ lines, then a verdict; the marks coloured when `color` (a terminal). */
export function render(results: readonly CheckResult[], color = false): string {
  const lines = results.map((r) => `${checkMark(r.outcome, color)} ${r.name}: ${r.detail}${r.hint === undefined || r.outcome === 'ok' ? '' : `\n    ${r.hint}`}`);
  const failed = results.filter((r) => r.outcome === 'fail').length;
  lines.push(failed === 0 ? `Status check results are ${checkMark('ok', color)}` : `Status check results are ${checkMark('fail', color)} (${failed} failed)`);
  return `${lines.join('\n')}\n`;
}

/** The installed mesh, seen from this node: its agent, then the controller and every agent. */
export async function meshChecks(opts: CheckOptions, progress: Progress = new Progress(undefined)): Promise<CheckResult[]> {
  const results: CheckResult[] = [];
  progress.step(`asking this node's agent (${opts.admin ?? DEFAULT_ADMIN})`);
  try {
    const { base, input } = await readStatusInput(adminClientFor(opts as AdminFlags));
    results.push({ name: 'agent', outcome: 'ok', detail: `answers at ${base}` });
    for (const c of nodeChecks(input)) {
      results.push(c.ok ? { name: c.name, outcome: 'ok', detail: c.detail } : { name: c.name, outcome: 'fail', detail: c.detail, hint: HINTS[c.name] ?? 'meshlet status shows the node' });
    }
  } catch (err) {
    results.push({ name: 'agent', outcome: 'fail', detail: (err as Error).message, hint: 'run on the node as root (the admin API is on its loopback, the token root-only), or pass --admin/--admin-token-file' });
  }
  let view;
  progress.step(`asking the controller (${opts.controller ?? DEFAULT_CONTROLLER_DEBUG})`);
  try {
    view = await fetchProxyStatus(opts.controller ?? DEFAULT_CONTROLLER_DEBUG);
  } catch (err) {
    results.push(
      opts.controller === undefined
        ? { name: 'controller', outcome: 'warn', detail: `not checked: ${(err as Error).message}`, hint: 'pass --controller HOST:PORT (its debug port) to check the controller and every agent' }
        : { name: 'controller', outcome: 'fail', detail: (err as Error).message, hint: 'is the controller running? kubectl -n meshlet-system get pods; its log says why it stopped' },
    );
    return results;
  }
  const c = view.controller;
  results.push(
    c.role === 'standby'
      ? { name: 'controller', outcome: 'fail', detail: 'this replica is a standby: it serves no agent', hint: 'reach the leader (the ready replica): kubectl -n meshlet-system get pods, then port-forward to that pod' }
      : { name: 'controller', outcome: 'ok', detail: `${c.role}, state version ${c.version ?? '(none yet)'}${c.meshletVersion === undefined ? '' : `, meshlet ${c.meshletVersion}`}` },
  );
  if (view.agents.length === 0) results.push({ name: 'agents', outcome: 'warn', detail: 'no agent has connected to this controller' });
  for (const a of view.agents) {
    const name = `agent ${a.node}`;
    if (a.state === 'SYNCED') results.push({ name, outcome: 'ok', detail: `on ${a.ackedVersion ?? '?'}` });
    else if (a.state === 'STALE') results.push({ name, outcome: 'warn', detail: `sent ${a.sentVersion ?? '-'}, acknowledged ${a.ackedVersion ?? '-'}: not on the version in force yet` });
    else if (a.state === 'NACKED') results.push({ name, outcome: 'fail', detail: `refused ${a.nackedVersion ?? '?'}: ${a.nackReason ?? ''}`, hint: "the agent's log and meshlet status on that node say more" });
    else results.push({ name, outcome: 'fail', detail: 'not connected to the controller', hint: 'is the agent running on that node? kubectl -n meshlet-system get pods -o wide' });
  }
  return results;
}

/** What to do about a failed node check. */
const HINTS: Readonly<Record<string, string>> = {
  snapshot: 'static mode: check --config; controller mode: see the controller link',
  certificates: 'rotation is failing: the agent cannot reach the controller, or the controller refuses it (its log says why)',
  'capture rules': 'GET /iptables on the admin API lists what differs; the agent restores its rules at its next check (60 s) or restart',
  'controller link': 'the agent keeps serving with what it holds; check the controller (meshlet check --controller) and the network to it',
  ready: 'meshlet status shows what is pending',
};

/** The real host's probes. */
export function hostProbes(): PreProbes {
  return {
    nodeVersion: process.version,
    uid: process.getuid?.(),
    host: createCommandRunner({ timeoutMs: 15_000 }),
    tryNat,
    tryBind,
  };
}

function tryBind(port: number, host: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/** Loads a nat REDIRECT rule with `restore` in a scratch netns, then removes the netns. */
async function tryNat(restore: string): Promise<string | undefined> {
  await removeStaleScratch();
  const name = `${SCRATCH_PREFIX}${process.pid}`;
  try {
    await run('ip', ['netns', 'add', name], { timeout: 10_000 });
  } catch (err) {
    return `cannot make a scratch network namespace: ${firstLine(err)}`;
  }
  try {
    const rules = ['*nat', ':MESHLET_CHECK - [0:0]', '-A MESHLET_CHECK -p tcp -j REDIRECT --to-ports 15001', 'COMMIT', ''].join('\n');
    const result = await createCommandRunner({ netns: name, timeoutMs: 15_000 }).run(restore, ['--noflush'], { stdin: rules });
    return result.code === 0 ? undefined : `${restore} exited ${result.code}: ${result.stderr.trim().split('\n')[0] ?? ''}`;
  } finally {
    await run('ip', ['netns', 'delete', name], { timeout: 10_000 }).catch(() => undefined);
  }
}

/** Scratch namespaces of checks whose process is gone (killed mid-check). */
async function removeStaleScratch(): Promise<void> {
  let names: string[];
  try {
    names = (await run('ip', ['netns', 'list'], { timeout: 10_000 })).stdout.split('\n').map((l) => l.split(' ')[0] ?? '');
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.startsWith(SCRATCH_PREFIX)) continue;
    const pid = Number(name.slice(SCRATCH_PREFIX.length));
    if (!Number.isInteger(pid) || pid === process.pid || alive(pid)) continue;
    await run('ip', ['netns', 'delete', name], { timeout: 10_000 }).catch(() => undefined);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function firstLine(err: unknown): string {
  const e = err as { stderr?: string; message?: string };
  return (e.stderr?.trim() || e.message || String(err)).split('\n')[0] ?? '';
}
