/**
 * A running lab: namespaces built from a topology, one agent per node, helpers to run
 * commands in pods and nodes, and an idempotent teardown. Build one with {@link Lab.up}, or
 * better with `withLab`, which also tears it down on exceptions, signals and exit.
 *
 * @module
 */

import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { parseAllDocuments, stringify } from 'yaml';
import { MeshletError } from '../mesh/errors.js';
import type { LabPlan } from './addressing.js';
import { planLab } from './addressing.js';
import { AgentProcess, type AgentCommand, type AgentExit } from './agent-process.js';
import { runCommand, type CommandResult, type RunCommandOptions } from './host-command.js';
import { buildLabNetwork } from './lab-builder.js';
import { createLabDir, labPaths, writeFileAtomic, writeLabConfig, writeLabRecord, type LabPaths } from './lab-files.js';
import {
  controllerInfo,
  controllerProcess,
  defaultControllerCommand,
  writeJoinTokens,
  type ControllerContext,
  type LabControllerInfo,
} from './lab-controller.js';
import { removeLabNetns, removeLabNetnsSync } from './netns-cleanup.js';
import { DEFAULT_LAB_BASE_DIR, type LabTopology } from './topology.js';

/** What an agent command is built from. */
export interface AgentContext {
  readonly node: string;
  readonly netns: string;
  readonly nodeAddress: string;
  readonly labDir: string;
  readonly configDir: string;
  readonly stateDir: string;
  readonly logFile: string;
  /** Where this node's agent writes its admin token (one per node: the lab's agents share one filesystem). */
  readonly adminTokenFile: string;
  /**
   * This node's agent's own state directory in controller mode (its persisted snapshot,
   * `agent-snapshot.json`): one per node, never the host's /var/lib/meshlet.
   */
  readonly agentStateDir: string;
  /** Set when the lab runs a controller: the agent joins it instead of reading `config/`. */
  readonly controller?: LabControllerInfo;
}

/** Options of {@link Lab.up}. */
export interface LabOptions {
  /** Start one agent per node (default true); `false` builds the network only. */
  readonly agents?: boolean;
  /**
   * Run a controller in the fabric namespace (default false): it reads `config/` as its YAML
   * registry, and the agents join it with per-node join tokens instead of reading `config/`.
   */
  readonly controller?: boolean;
  /** The controller command (default {@link defaultControllerCommand}). */
  readonly controllerCommand?: (ctx: ControllerContext) => AgentCommand;
  /** The agent command run inside the node's namespace (default {@link defaultAgentCommand}). */
  readonly agentCommand?: (node: string, ctx: AgentContext) => AgentCommand;
  /** How long each agent may take to print its readiness line (default 20 s). */
  readonly readyTimeoutMs?: number;
  /** SIGTERM-to-SIGKILL grace when stopping agents (default 5 s). */
  readonly stopGraceMs?: number;
  /** Parent of lab directories (default `/run/meshlet/lab`). */
  readonly baseDir?: string;
  /** Keep `logs/` (and config) after `down` (default false: the whole directory goes). */
  readonly keepLogs?: boolean;
  /** Let this process exit while the agents run on (`meshlet lab up --detach`). */
  readonly detach?: boolean;
  readonly logger?: Logger;
  /** Told each long step of {@link Lab.up} as it starts (`meshlet lab up`'s progress line). */
  readonly onStep?: (step: string) => void;
}

/** Options of {@link Lab.spawn}. */
export interface LabSpawnOptions {
  readonly stdio?: StdioOptions;
  readonly env?: NodeJS.ProcessEnv;
}

/** Default bound of agent readiness: an agent starts in about a second; a loaded CI machine was seen past 20 s. */
const DEFAULT_READY_TIMEOUT_MS = 60_000;
/** Agents drain for a while on SIGTERM; a lab does not need to wait long. */
const DEFAULT_STOP_GRACE_MS = 5_000;

/** The repository root, from this file's place (`dist/src/lab/lab.js`). */
export const REPO_ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * `node <repo>/dist/src/cli/main.js agent --node N` with `--config C --state-dir S` (static
 * mode), or `--controller A --controller-ca F --join-token-file T --state-dir <node's own>` when
 * the lab has a controller; `--admin-token-file` in the lab directory, one per node.
 */
export function defaultAgentCommand(node: string, ctx: AgentContext): AgentCommand {
  const source =
    ctx.controller === undefined
      ? ['--config', ctx.configDir, '--state-dir', ctx.stateDir]
      : ['--controller', ctx.controller.address, '--controller-ca', ctx.controller.caFile, '--join-token-file', ctx.controller.tokenFile, '--state-dir', ctx.agentStateDir];
  return {
    command: process.execPath,
    args: [
      join(REPO_ROOT, 'dist/src/cli/main.js'), 'agent', '--node', node, ...source, '--admin-token-file', ctx.adminTokenFile,
      // One handover socket per node: the lab's agents share one filesystem (and, in static mode, one state directory).
      '--handover-socket', join(ctx.labDir, 'handover', `${node}.sock`),
      '--log-level', 'info',
    ],
  };
}

/** A lab that is up. */
export class Lab {
  readonly name: string;
  private readonly agents = new Map<string, AgentProcess>();
  private controller: AgentProcess | undefined;
  private readonly tracked = new Set<ChildProcess>();
  private readonly log: Logger | undefined;
  private downPromise: Promise<void> | undefined;
  private readonly createdAt = new Date().toISOString();

  private constructor(
    readonly plan: LabPlan,
    readonly topology: LabTopology,
    readonly paths: LabPaths,
    private readonly options: LabOptions,
  ) {
    this.name = plan.lab;
    this.log = options.logger?.child({ component: 'lab', lab: plan.lab });
  }

  /**
   * Builds a lab: validates the topology (nothing is touched when it is invalid), removes a
   * stale lab of the same name, builds the namespaces, writes `config/` and starts the agents.
   * A failure part-way tears down what was made and throws `MESHLET_ERR_LAB`.
   */
  static async up(topology: LabTopology, options: LabOptions = {}): Promise<Lab> {
    const plan = planLab(topology);
    const paths = labPaths(options.baseDir ?? DEFAULT_LAB_BASE_DIR, plan.lab);
    const lab = new Lab(plan, topology, paths, options);
    const stale = await removeLabNetns(plan.lab);
    if (stale.length > 0) lab.log?.warn({ namespaces: stale }, 'removed a stale lab of the same name');
    createLabDir(paths);
    try {
      writeLabConfig(paths, plan);
      lab.writeRecord();
      options.onStep?.(`building the network: ${plan.nodes.length} nodes, ${plan.pods.length} pods`);
      await buildLabNetwork(plan);
      if (options.controller === true) {
        writeJoinTokens(paths, plan);
        options.onStep?.('starting the controller');
        await lab.startController();
      }
      if (options.agents !== false) {
        // One after the other: the agents share state/ and the first one creates the mesh CA.
        for (const [i, node] of plan.nodes.entries()) {
          options.onStep?.(`starting the agent of ${node.name} (${i + 1}/${plan.nodes.length}) and waiting until it is ready`);
          await lab.startAgent(node.name);
        }
      }
    } catch (err) {
      await lab.down({ keepLogs: options.keepLogs ?? false }).catch(() => undefined);
      throw err;
    }
    lab.log?.info({ nodes: plan.nodes.length, pods: plan.pods.length }, 'lab up');
    return lab;
  }

  /** The lab's directory. */
  get dir(): string {
    return this.paths.dir;
  }

  /** Address of a pod. */
  podAddress(pod: string): string {
    const p = this.plan.pods.find((x) => x.name === pod);
    if (p === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} has no pod ${JSON.stringify(pod)}`);
    return p.address;
  }

  /** Fabric address (InternalIP) of a node. */
  nodeAddress(node: string): string {
    const n = this.plan.nodes.find((x) => x.name === node);
    if (n === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} has no node ${JSON.stringify(node)}`);
    return n.address;
  }

  /** VIP of a Service. */
  serviceVip(namespace: string, name: string): string {
    const s = this.plan.services.find((x) => x.namespace === namespace && x.name === name);
    if (s === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} has no service ${namespace}/${name}`);
    return s.vip;
  }

  /**
   * Network namespace of a pod or a node; `fabric` names the namespace of the bridge (for
   * `tcpdump -i br0`; the name is reserved, no pod or node can take it).
   */
  netnsOf(podOrNode: string): string {
    if (podOrNode === 'fabric') return this.plan.fabricNetns;
    const m = this.plan.pods.find((p) => p.name === podOrNode) ?? this.plan.nodes.find((n) => n.name === podOrNode);
    if (m === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} has no pod or node ${JSON.stringify(podOrNode)}`);
    return m.netns;
  }

  /** Runs a command inside a pod or node namespace to completion (bounded, default 60 s). */
  exec(podOrNode: string, command: string, args: readonly string[], opts: RunCommandOptions = {}): Promise<CommandResult> {
    return runCommand('ip', ['netns', 'exec', this.netnsOf(podOrNode), command, ...args], opts);
  }

  /** Runs `node SCRIPT ARGS` inside a pod or node namespace to completion. */
  runNode(podOrNode: string, scriptPath: string, args: readonly string[] = [], opts: RunCommandOptions = {}): Promise<CommandResult> {
    return this.exec(podOrNode, process.execPath, [scriptPath, ...args], opts);
  }

  /** Starts a command inside a pod or node namespace; it is killed at `down` if still running. */
  spawn(podOrNode: string, command: string, args: readonly string[], opts: LabSpawnOptions = {}): ChildProcess {
    const child = spawn('ip', ['netns', 'exec', this.netnsOf(podOrNode), command, ...args], {
      stdio: opts.stdio ?? ['ignore', 'pipe', 'pipe'],
      env: opts.env ?? process.env,
    });
    this.tracked.add(child);
    child.once('exit', () => this.tracked.delete(child));
    child.once('error', () => this.tracked.delete(child));
    return child;
  }

  /** Starts `node SCRIPT ARGS` inside a pod or node namespace (tracked like {@link spawn}). */
  spawnNode(podOrNode: string, scriptPath: string, args: readonly string[] = [], opts: LabSpawnOptions = {}): ChildProcess {
    return this.spawn(podOrNode, process.execPath, [scriptPath, ...args], opts);
  }

  /** Starts (or restarts) a node's agent and waits until it is ready. */
  async startAgent(node: string): Promise<void> {
    let agent = this.agents.get(node);
    if (agent === undefined) {
      agent = this.newAgentProcess(node);
      this.agents.set(node, agent);
    }
    await agent.start(this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, this.options.detach ?? false);
    this.log?.info({ node, pid: agent.pid }, 'agent ready');
    this.writeRecord();
  }

  /**
   * Upgrades a node's agent in place, as a DaemonSet rollout with `maxSurge: 1` does: starts a
   * second agent on the node, which takes the running one's listening sockets over (the
   * handover socket) and serves them once ready; then SIGTERMs the old one, which has stopped
   * accepting and drains its connections (up to its drain deadline). Resolves once the new
   * agent is ready, with both pids and `oldExited`, which resolves when the old one has exited
   * (SIGKILL after `oldExitMs`), as a rollout moves to the next node while the old pod drains.
   */
  async upgradeAgent(node: string, oldExitMs = 60_000): Promise<{ readonly oldPid: number; readonly newPid: number; readonly oldExited: Promise<AgentExit> }> {
    const old = this.agentOf(node);
    const oldPid = old.pid;
    if (oldPid === undefined) throw new MeshletError('MESHLET_ERR_LAB', `agent of node ${node} is not running: nothing to upgrade`);
    const next = this.newAgentProcess(node);
    try {
      await next.start(this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, this.options.detach ?? false);
    } catch (err) {
      // The old agent serves on (its handover was never confirmed): leave nothing of the new one.
      await next.kill();
      throw err;
    }
    this.agents.set(node, next);
    this.writeRecord();
    this.log?.info({ node, oldPid, newPid: next.pid }, 'agent upgraded; the old one drains');
    return { oldPid, newPid: next.pid as number, oldExited: old.stop('SIGTERM', oldExitMs) };
  }

  private newAgentProcess(node: string): AgentProcess {
    const n = this.plan.nodes.find((x) => x.name === node);
    if (n === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} has no node ${JSON.stringify(node)}`);
    mkdirSync(join(this.paths.dir, 'handover'), { recursive: true, mode: 0o700 });
    const logFile = join(this.paths.logsDir, `${node}.log`);
    const ctx: AgentContext = {
      node,
      netns: n.netns,
      nodeAddress: n.address,
      labDir: this.paths.dir,
      configDir: this.paths.configDir,
      stateDir: this.paths.stateDir,
      logFile,
      adminTokenFile: this.adminTokenFile(node),
      agentStateDir: this.agentStateDir(node),
      ...(this.options.controller === true ? { controller: controllerInfo(this.paths, node) } : {}),
    };
    return new AgentProcess(node, n.netns, (this.options.agentCommand ?? defaultAgentCommand)(node, ctx), logFile);
  }

  /** Stops a node's agent with `signal` (SIGKILL after the grace) and resolves when it exited. */
  async stopAgent(node: string, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.agentOf(node).stop(signal, this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
    this.writeRecord();
  }

  /** SIGKILLs a node's agent and resolves when it exited. */
  async killAgent(node: string): Promise<void> {
    await this.agentOf(node).kill();
    this.writeRecord();
  }

  /**
   * The file a node's agent writes its admin token to (`meshlet status --admin-token-file`),
   * in the lab directory: each agent has its own, as each node of a cluster has its own /run.
   */
  adminTokenFile(node: string): string {
    this.nodeAddress(node);
    return join(this.paths.dir, 'admin', `${node}.token`);
  }

  /**
   * A node's agent state directory in controller mode: its persisted snapshot
   * (`agent-snapshot.json`) survives `stopAgent`/`killAgent` and `startAgent`, as
   * /var/lib/meshlet does on a node. Delete the file to start an agent without it.
   */
  agentStateDir(node: string): string {
    this.nodeAddress(node);
    return join(this.paths.stateDir, 'agents', node);
  }

  /** Pid of a node's running agent, if any. */
  agentPid(node: string): number | undefined {
    return this.agents.get(node)?.pid;
  }

  /** Everything the node's agent has logged so far ('' before it started). */
  agentLog(node: string): string {
    this.nodeAddress(node);
    try {
      return readFileSync(join(this.paths.logsDir, `${node}.log`), 'utf8');
    } catch {
      return '';
    }
  }

  /** Starts (or restarts) the lab's controller and waits until it is ready. */
  async startController(): Promise<void> {
    if (this.options.controller !== true) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} was built without a controller`);
    this.controller ??= controllerProcess(this.plan, this.paths, this.options.controllerCommand ?? ((ctx) => defaultControllerCommand(REPO_ROOT, ctx)));
    await this.controller.start(this.options.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS, this.options.detach ?? false);
    this.log?.info({ pid: this.controller.pid }, 'controller ready');
  }

  /** Stops the controller with `signal` (SIGKILL after the grace); resolves when it exited. */
  async stopController(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.controller?.stop(signal, this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS);
  }

  /** Everything the controller has logged so far. */
  controllerLog(): string {
    try {
      return readFileSync(join(this.paths.logsDir, 'controller.log'), 'utf8');
    } catch {
      return '';
    }
  }

  /**
   * Sets the labels of a Kubernetes namespace in `config/namespaces.yaml` (what `kubectl label
   * namespace` does in a cluster): `meshlet.io/mesh: enabled` enrolls its pods at run time.
   */
  setNamespaceLabels(namespace: string, labels: Readonly<Record<string, string>>): void {
    const file = join(this.paths.configDir, 'namespaces.yaml');
    const docs = parseAllDocuments(readFileSync(file, 'utf8')).map((d) => d.toJS() as { metadata?: { name?: string; labels?: Record<string, string> } });
    const target = docs.find((d) => d.metadata?.name === namespace);
    if (target?.metadata === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name} has no namespace ${JSON.stringify(namespace)}`);
    target.metadata.labels = { ...labels };
    writeFileAtomic(this.paths.configDir, 'namespaces.yaml', docs.map((d) => stringify(d)).join('---\n'));
  }

  /** Writes (atomically) an extra YAML file into `config/`, e.g. a policy a test applies. */
  writeConfig(fileName: string, yamlText: string): void {
    if (!/^[a-z0-9][a-z0-9._-]*\.ya?ml$/i.test(fileName)) {
      throw new MeshletError('MESHLET_ERR_LAB', `config file name ${JSON.stringify(fileName)} must be a plain *.yaml name`);
    }
    writeFileAtomic(this.paths.configDir, fileName, yamlText);
  }

  /**
   * Tears the lab down: agents (SIGTERM, SIGKILL after the grace), tracked processes, every
   * `ml-<lab>-*` namespace, and the lab directory (only `lab.json` when keeping logs).
   * Idempotent: later calls return the first call's promise.
   */
  down(opts: { keepLogs?: boolean } = {}): Promise<void> {
    this.downPromise ??= this.doDown(opts.keepLogs ?? this.options.keepLogs ?? false);
    return this.downPromise;
  }

  private async doDown(keepLogs: boolean): Promise<void> {
    const grace = this.options.stopGraceMs ?? DEFAULT_STOP_GRACE_MS;
    await Promise.all([...this.agents.values()].map((a) => a.stop('SIGTERM', grace)));
    await this.controller?.stop('SIGTERM', grace);
    for (const child of this.tracked) child.kill('SIGKILL');
    try {
      await removeLabNetns(this.name);
    } finally {
      rmSync(keepLogs ? this.paths.record : this.paths.dir, { recursive: true, force: true });
      this.log?.info({ keepLogs }, 'lab down');
    }
  }

  /**
   * Synchronous last-chance teardown for a process `exit` handler: SIGKILL everything, delete
   * the namespaces and the directory. Never throws.
   */
  downSync(): void {
    for (const agent of this.agents.values()) {
      const pid = agent.pid;
      if (pid !== undefined) killQuietly(pid);
    }
    const controllerPid = this.controller?.pid;
    if (controllerPid !== undefined) killQuietly(controllerPid);
    for (const child of this.tracked) if (child.pid !== undefined) killQuietly(child.pid);
    removeLabNetnsSync(this.name);
    rmSync(this.options.keepLogs === true ? this.paths.record : this.paths.dir, { recursive: true, force: true });
  }

  private agentOf(node: string): AgentProcess {
    const agent = this.agents.get(node);
    if (agent === undefined) throw new MeshletError('MESHLET_ERR_LAB', `lab ${this.name}: node ${JSON.stringify(node)} has no agent`);
    return agent;
  }

  private writeRecord(): void {
    if (this.downPromise !== undefined) return;
    const agents: Record<string, number | null> = {};
    for (const n of this.plan.nodes) agents[n.name] = this.agents.get(n.name)?.pid ?? null;
    writeLabRecord(this.paths, {
      name: this.name,
      createdAt: this.createdAt,
      ownerPid: process.pid,
      detached: this.options.detach ?? false,
      topology: this.topology,
      plan: this.plan,
      agents,
    });
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}
