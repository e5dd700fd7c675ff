/**
 * `meshlet lab`: build, inspect, enter and remove network-namespace labs on this host.
 *
 *   meshlet lab up [--name demo] [--nodes 2] [--topology FILE.yaml] [--no-agents] [--detach]
 *   meshlet lab down [--name demo]
 *   meshlet lab exec <pod-or-node> -- <command...>
 *   meshlet lab status [--name demo] [-o text|json|yaml]
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { constants } from 'node:os';
import type { Command, CommanderError } from 'commander';
import type { Logger } from 'pino';
import {
  DEFAULT_LAB_BASE_DIR,
  Lab,
  defaultLabTopology,
  listLabDirs,
  listLabNetns,
  readLabRecord,
  readTopologyFile,
  validateLabTopology,
  withLab,
  type LabOptions,
  type LabTopology,
} from '../lab/index.js';
import { describeLab, downLabByName, isPodMeshed, labsWithNamespaces, staleLabs } from '../lab/lab-admin.js';
import { EXIT_USAGE, MeshletError } from '../mesh/errors.js';
import { processIo } from './admin-client.js';
import { formatOutput, outputOptions, parseOutputFormat, type OutputFlags } from './output.js';
import { Progress, progressSink, type ProgressSink } from './progress.js';

/** What `meshlet lab` needs from its caller; every field has a default. */
export interface LabCommandDeps {
  /** A line for the user (default: stdout). */
  readonly print?: (line: string) => void;
  /** A line of diagnostics (default: stderr). */
  readonly printError?: (line: string) => void;
  /** Sets the process exit code (default: `process.exitCode = code`). */
  readonly setExitCode?: (code: number) => void;
  /** Root logger; the lab makes its child once. */
  readonly logger?: Logger;
  /** Parent of lab directories (default `/run/meshlet/lab`). */
  readonly baseDir?: string;
  /** Where `lab up` shows its progress (default: stderr when it is a terminal, else nowhere). */
  readonly progress?: ProgressSink;
}

interface Io {
  readonly print: (line: string) => void;
  readonly printError: (line: string) => void;
  readonly setExitCode: (code: number) => void;
  readonly logger: Logger | undefined;
  readonly baseDir: string;
  readonly progress: ProgressSink | undefined;
}

interface UpFlags {
  name?: string;
  nodes: string;
  topology?: string;
  agents: boolean;
  detach?: boolean;
  keepLogs?: boolean;
  readyTimeout?: string;
}

/** Runs an action; a MeshletError becomes one clear line on stderr and exit code 1. */
function guarded<A extends unknown[]>(io: Io, fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      io.printError(`meshlet lab: ${err instanceof Error ? err.message : String(err)}`);
      io.setExitCode(err instanceof UsageError ? EXIT_USAGE : 1);
    }
  };
}

/** A problem with the command line or the topology: exit 64, nothing was touched. */
class UsageError extends MeshletError {}

function loadTopology(flags: UpFlags): LabTopology {
  try {
    if (flags.topology !== undefined) return readTopologyFile(flags.topology, flags.name);
    const topology = defaultLabTopology({ name: flags.name ?? 'demo', nodes: Number(flags.nodes) });
    validateLabTopology(topology, 'meshlet lab up');
    return topology;
  } catch (err) {
    const e = err as MeshletError;
    throw new UsageError(e.code ?? 'MESHLET_ERR_LAB', e.message, { cause: err });
  }
}

async function up(io: Io, flags: UpFlags): Promise<void> {
  const topology = loadTopology(flags);
  const readyTimeout = flags.readyTimeout === undefined ? undefined : Number(flags.readyTimeout);
  if (readyTimeout !== undefined && !(Number.isInteger(readyTimeout) && readyTimeout > 0)) {
    throw new UsageError('MESHLET_ERR_LAB', `--ready-timeout must be a positive number of milliseconds, got ${JSON.stringify(flags.readyTimeout)}`);
  }
  const progress = new Progress(io.progress);
  const options: LabOptions = {
    onStep: (step) => progress.step(step),
    agents: flags.agents,
    baseDir: io.baseDir,
    keepLogs: flags.keepLogs === true,
    ...(io.logger === undefined ? {} : { logger: io.logger }),
    ...(readyTimeout === undefined ? {} : { readyTimeoutMs: readyTimeout }),
  };
  if (flags.detach === true) {
    const lab = await upOrFail(progress, () => Lab.up(topology, { ...options, detach: true }));
    progress.finish(true);
    for (const line of describeLab(lab.plan, lab.dir, agentPids(lab))) io.print(line);
    io.print(`detached; remove it with: meshlet lab down --name ${lab.name}`);
    return;
  }
  await upOrFail(progress, () => withLab(topology, options, async (lab, signal) => {
    progress.finish(true);
    for (const line of describeLab(lab.plan, lab.dir, agentPids(lab))) io.print(line);
    io.print(`enter a namespace with: meshlet lab exec <pod-or-node> -- <command...>   (Ctrl-C tears the lab down)`);
    // Bounded by the operator: Ctrl-C (or SIGTERM) aborts the signal and withLab cleans up.
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
  }));
}

/** Runs `up`; if it fails, the step under way is marked failed before the error is printed. */
async function upOrFail<T>(progress: Progress, up: () => Promise<T>): Promise<T> {
  try {
    return await up();
  } catch (err) {
    progress.finish(false);
    throw err;
  }
}

function agentPids(lab: Lab): Record<string, number | null> {
  return Object.fromEntries(lab.plan.nodes.map((n) => [n.name, lab.agentPid(n.name) ?? null]));
}

async function down(io: Io, flags: { name: string; keepLogs?: boolean; stale?: boolean }): Promise<void> {
  if (flags.stale === true) {
    const stale = await staleLabs(io.baseDir);
    for (const name of stale) {
      const removed = await downLabByName(name, { baseDir: io.baseDir });
      io.print(`lab ${name}: stale (its owner is gone), removed ${removed.length} namespaces`);
    }
    if (stale.length === 0) io.print('no stale lab');
    return;
  }
  const removed = await downLabByName(flags.name, { baseDir: io.baseDir, keepLogs: flags.keepLogs === true });
  io.print(removed.length === 0 ? `lab ${flags.name}: nothing was up` : `lab ${flags.name}: removed ${removed.length} namespaces`);
}

/** One lab as `lab status -o json|yaml` shows it. */
export type LabStatusView =
  | { readonly name: string; readonly up: false; readonly orphanNamespaces: number }
  | {
      readonly name: string;
      readonly up: true;
      readonly dir: string;
      readonly detached: boolean;
      readonly nodes: ReadonlyArray<{ name: string; address: string; podCidr: string; netns: string; agentPid: number | null }>;
      readonly pods: ReadonlyArray<{ name: string; namespace: string; address: string; node: string; serviceAccount: string; meshed: boolean }>;
      readonly services: ReadonlyArray<{ name: string; namespace: string; vip: string; ports: ReadonlyArray<{ port: number; targetPort: number; appProtocol?: string }> }>;
      readonly namespaces: { readonly present: number; readonly expected: number };
    };

async function labStatus(baseDir: string, name: string): Promise<LabStatusView> {
  const stored = readLabRecord(baseDir, name);
  const present = await listLabNetns(name);
  if (stored === undefined) return { name, up: false, orphanNamespaces: present.length };
  const { plan, record } = stored;
  return {
    name,
    up: true,
    dir: stored.paths.dir,
    detached: record.detached,
    nodes: plan.nodes.map((n) => ({ name: n.name, address: n.address, podCidr: n.podCidr, netns: n.netns, agentPid: record.agents[n.name] ?? null })),
    pods: plan.pods.map((p) => ({ name: p.name, namespace: p.namespace, address: p.address, node: p.node, serviceAccount: p.serviceAccount, meshed: isPodMeshed(plan, p) })),
    services: plan.services.map((sv) => ({
      name: sv.name,
      namespace: sv.namespace,
      vip: sv.vip,
      ports: sv.ports.map((p) => ({ port: p.port, targetPort: p.targetPort, ...(p.appProtocol === undefined ? {} : { appProtocol: p.appProtocol }) })),
    })),
    namespaces: { present: present.length, expected: 1 + plan.nodes.length + plan.pods.length },
  };
}

async function status(io: Io, flags: { name?: string } & OutputFlags): Promise<void> {
  const format = parseOutputFormat('lab status', flags.output ?? 'text');
  const names = flags.name !== undefined ? [flags.name] : [...new Set([...listLabDirs(io.baseDir), ...(await labsWithNamespaces())])].sort();
  const labs: LabStatusView[] = [];
  for (const name of names) labs.push(await labStatus(io.baseDir, name));
  const text = (): string => {
    if (labs.length === 0) return 'no lab is up';
    const lines: string[] = [];
    for (const lab of labs) {
      if (!lab.up) {
        lines.push(lab.orphanNamespaces === 0 ? `lab ${lab.name}: not up` : `lab ${lab.name}: ${lab.orphanNamespaces} orphan namespaces without a lab directory (meshlet lab down --name ${lab.name})`);
        continue;
      }
      const stored = readLabRecord(io.baseDir, lab.name);
      if (stored !== undefined) lines.push(...describeLab(stored.plan, lab.dir, Object.fromEntries(lab.nodes.map((n) => [n.name, n.agentPid]))));
      const { present, expected } = lab.namespaces;
      lines.push(`  namespaces present: ${present}/${expected}${present === expected ? '' : ' (incomplete: run meshlet lab down, then up)'}`);
    }
    return lines.join('\n');
  };
  io.print(formatOutput({ format }, { labs }, text).replace(/\n$/, ''));
}

async function exec(io: Io, target: string, command: string[], flags: { name: string }): Promise<void> {
  const stored = readLabRecord(io.baseDir, flags.name);
  if (stored === undefined) throw new UsageError('MESHLET_ERR_LAB', `lab ${flags.name} is not up (no ${io.baseDir}/${flags.name}/lab.json)`);
  const member = [...stored.plan.pods, ...stored.plan.nodes].find((m) => m.name === target);
  const netns = target === 'fabric' ? stored.plan.fabricNetns : member?.netns;
  if (netns === undefined) throw new UsageError('MESHLET_ERR_LAB', `lab ${flags.name} has no pod or node ${JSON.stringify(target)}`);
  const [cmd, ...args] = command;
  if (cmd === undefined) throw new UsageError('MESHLET_ERR_LAB', 'no command given: meshlet lab exec <pod-or-node> -- <command...>');
  const child = spawn('ip', ['netns', 'exec', netns, cmd, ...args], { stdio: 'inherit' });
  // Ctrl-C reaches the child through the terminal; this process only waits for it.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  try {
    const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
    io.setExitCode(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)));
  } finally {
    process.off('SIGINT', ignore);
  }
}

/**
 * Adds `meshlet lab` with its subcommands `up`, `down`, `exec` and `status` to `program`.
 * Returns the `lab` command.
 */
export function registerLabCommand(program: Command, deps: LabCommandDeps = {}): Command {
  const io: Io = {
    print: deps.print ?? ((line) => process.stdout.write(`${line}\n`)),
    printError: deps.printError ?? ((line) => process.stderr.write(`${line}\n`)),
    setExitCode: deps.setExitCode ?? ((code) => (process.exitCode = code)),
    logger: deps.logger,
    baseDir: deps.baseDir ?? DEFAULT_LAB_BASE_DIR,
    progress: 'progress' in deps ? deps.progress : progressSink(processIo),
  };
  const lab = program
    .command('lab')
    .description('network-namespace labs on this host: nodes with agents, pods, Services (root)')
    // A usage error (unknown option, bad -o) is printed through io and exits 64 as elsewhere;
    // set before the subcommands, which inherit both.
    .configureOutput({ writeOut: (text) => io.print(text.replace(/\n$/, '')), writeErr: (text) => io.printError(text.replace(/\n$/, '')) })
    .exitOverride((err: CommanderError) => {
      const code = err.exitCode === 0 ? 0 : EXIT_USAGE;
      if (deps.setExitCode === undefined) process.exit(code);
      io.setExitCode(code);
      throw err;
    });
  lab
    .command('up')
    .description('build a lab (default: 2 nodes, meshed namespace demo with client and server, non-meshed legacy) and keep it up until Ctrl-C')
    .option('--name <name>', 'lab name, [a-z0-9]{1,8} (default demo, or the topology file\'s name)')
    .option('--nodes <count>', 'node count of the built-in topology', '2')
    .option('--topology <file>', 'a topology YAML file instead of the built-in one (see docs/lab.md)')
    .option('--no-agents', 'build the network only, start no agent')
    .option('--detach', 'return once the lab is up and leave it running (remove it with lab down)')
    .option('--keep-logs', 'keep logs/ when the lab goes down')
    .option('--ready-timeout <ms>', 'how long each agent may take to be ready (default 20000)')
    .action(guarded(io, (flags: UpFlags) => up(io, flags)));
  lab
    .command('down')
    .description('remove a lab: stop its processes, delete its namespaces and directory')
    .option('--name <name>', 'lab name', 'demo')
    .option('--keep-logs', 'keep logs/')
    .option('--stale', 'instead: remove every lab left behind by a killed run (owner gone, not detached)')
    .action(guarded(io, (flags: { name: string; keepLogs?: boolean; stale?: boolean }) => down(io, flags)));
  lab
    .command('exec')
    .description('run a command inside a pod, node or fabric namespace of a lab (stdio inherited, exit code passed through)')
    .argument('<pod-or-node>', 'pod or node name (or fabric)')
    .argument('[command...]', 'the command, after --')
    .option('--name <name>', 'lab name', 'demo')
    .action(guarded(io, (target: string, command: string[], flags: { name: string }) => exec(io, target, command, flags)));
  const labStatusCmd = lab
    .command('status')
    .description('show the labs that are up, with their addresses')
    .option('--name <name>', 'only this lab');
  outputOptions(labStatusCmd, 'lab status', { text: 'lines per lab: nodes, pods, Services' })
    .action(guarded(io, (flags: { name?: string } & OutputFlags) => status(io, flags)));
  return lab;
}
