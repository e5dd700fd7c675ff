/**
 * `meshlet agent`: runs a node agent. Controller mode (`--controller`) takes snapshots and
 * certificates from the controller; static mode (`--config DIR`) reads the mesh from a
 * directory of YAML and signs certificates with a CA kept in `--state-dir`.
 */
import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { sdNotify } from '../ops/sd-notify.js';
import { Command, Option } from 'commander';
import type { Logger } from 'pino';
import { AdminServer } from '../agent/admin/server.js';
import { newAdminToken, writeAdminToken } from '../agent/admin/token.js';
import { Agent, type CaptureRules } from '../agent/agent.js';
import { loadAgentConfig, type AgentConfig } from '../agent/config.js';
import type { ControllerClient } from '../agent/control/client.js';
import type { SourceInfo } from '../agent/admin/views.js';
import type { CertificateSigner } from '../agent/identity/manager.js';
import { LogLevels } from '../agent/admin/log-levels.js';
import { PrometheusServer } from '../ops/prometheus-server.js';
import { SnapshotStore } from '../agent/control/snapshot-store.js';
import { CertificateAuthority } from '../ca/authority.js';
import { IptablesManager } from '../iptables/manager.js';
import { DEFAULT_RETURN_PATH } from '../iptables/return-path.js';
import { sourcePreservation } from '../agent/proxy/upstream-dial.js';
import { EXIT_USAGE, MeshletError } from '../mesh/errors.js';
import type { NodeSnapshot } from '../mesh/types.js';
import { createRootLogger } from '../ops/root-logger.js';
import { PACKAGE_VERSION } from '../ops/package-version.js';
import { startIdleTrim } from '../ops/idle-trim.js';
import { loadStaticSnapshot, StaticSnapshotWatcher } from './static-source.js';

/** Adds `meshlet agent`. */
export function registerAgentCommand(program: Command): void {
  program
    .command('agent')
    .description('run the node agent: capture, mTLS tunnels, policy for every meshed workload on this node')
    .option('--node <name>', 'this node\'s name, as in the Node object and pods\' spec.nodeName (env MESHLET_NODE)')
    .option('--config <dir>', 'static mode: directory of mesh YAML, watched for changes (env MESHLET_CONFIG_DIR)')
    .option('--controller <host:port>', 'controller mode: the controller\'s agent API, e.g. meshlet-controller.meshlet-system.svc:15012 (env MESHLET_CONTROLLER)')
    .option('--controller-ca <file>', 'with --controller: CA bundle the controller certificate must chain to (env MESHLET_CONTROLLER_CA)')
    .option('--join-token-file <file>', 'with --controller: this node\'s join token (systemd hosts)')
    .option('--kube-token-file <file>', 'with --controller: a projected ServiceAccount token with audience "meshlet" (Kubernetes)')
    .option('--state-dir <dir>', 'state directory (default /var/lib/meshlet): controller mode keeps the last good snapshot in <dir>/agent-snapshot.json (0600) for restarts while the controller is down; static mode keeps the mesh CA in <dir>/ca (env MESHLET_STATE_DIR)', undefined)
    .option('--trust-domain <name>', 'SPIFFE trust domain', undefined)
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .option('--outbound-port <port>', 'outbound capture port (default 15001)')
    .option('--inbound-port <port>', 'inbound plaintext capture port (default 15006)')
    .option('--tunnel-port <port>', 'mTLS tunnel port (default 15008)')
    .option('--readiness-port <port>', 'readiness port serving /healthz/ready (default 15021)')
    .option('--bind <address>', 'address for the listeners (default 0.0.0.0, plus :: when IPv6 is available)')
    .option('--admin-port <port>', 'admin API port, on loopback only (default 15000)')
    .option('--admin-address <address>', 'loopback address of the admin API (default 127.0.0.1; only 127.0.0.0/8 or ::1)')
    .option('--admin-token-file <file>', 'where the agent writes the admin API token at start, mode 0600 (default /run/meshlet/admin-token; env MESHLET_ADMIN_TOKEN_FILE)')
    .option('--metrics-port <port>', 'Prometheus /metrics port (default 15020)')
    .option('--access-log <mode>', 'one JSON line per closed connection and per HTTP request: on (default), off, or sample:<ratio> (failures always logged) (env MESHLET_ACCESS_LOG)')
    .option('--l7 <mode>', 'on (default): HTTP Service ports (declared by appProtocol or port name, or detected) are proxied request by request; off: every connection is opaque TCP (env MESHLET_L7)')
    .option('--protocol-detection-timeout <ms>', 'how long the agent waits for a client\'s first bytes on a Service port that declares no protocol before treating it as opaque TCP (default 200, max 10000) (env MESHLET_PROTOCOL_DETECTION_TIMEOUT)')
    .option('--no-iptables', 'do not apply capture rules (they are managed elsewhere)')
    .option('--preserve-source <mode>', "on (default; off with --no-iptables): workloads see their clients' addresses, not the agent's (IP_TRANSPARENT, needs CAP_NET_ADMIN; falls back to the agent's address when refused; L7-terminated requests keep the agent's address); off: always the agent's address (env MESHLET_PRESERVE_SOURCE)")
    .option('--drain-seconds <seconds>', 'on SIGTERM, how long connections may finish before the rest are closed (default 20)')
    .option('--cert-ttl <seconds>', 'workload certificate lifetime (default 86400)')
    .option('--workers <n>', 'data-path worker processes sharing the listeners (SO_REUSEPORT): auto (default: one per core) or 1..64; 1 runs the data path in the agent process (env MESHLET_WORKERS)')
    .option('--handover-socket <path>', 'unix socket of the upgrade handover: a new agent started beside this one takes its listening sockets over there, so no connection is refused (default <state-dir>/agent-handover.sock) (env MESHLET_HANDOVER_SOCKET)')
    .option('--failure-mode <mode>', 'while the agent is down: closed (default: rules stay, meshed traffic is refused) or open (rules lifted at shutdown: traffic flows unmeshed, no policy) (env MESHLET_FAILURE_MODE)')
    .action(async (opts: Record<string, unknown>) => {
      await runAgent(opts);
    });
}

/** This package's version, for the admin API. */


/** Prints a configuration error and exits with EX_USAGE: nothing has been bound or applied yet. */
function usageExit(err: unknown): never {
  const e = err as MeshletError;
  process.stderr.write(`meshlet agent: ${e.message}\n`);
  if (e instanceof MeshletError && e.details.length > 0 && !e.message.includes(e.details[0] as string)) {
    for (const d of e.details) process.stderr.write(`  ${d}\n`);
  }
  process.exit(EXIT_USAGE);
}

async function runAgent(opts: Record<string, unknown>): Promise<void> {
  const flags = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  if (flags['iptables'] === true) delete flags['iptables'];
  // The library default is 1 (in-process); the command's is one worker per core.
  if (flags['workers'] === undefined && process.env['MESHLET_WORKERS'] === undefined) flags['workers'] = 'auto';
  let config: AgentConfig;
  let snapshot: NodeSnapshot | undefined;
  let controllerCaPem = '';
  // A new token at every start, written before any port is bound (admin-token.ts).
  const adminToken = newAdminToken();
  try {
    config = loadAgentConfig(flags, process.env);
    await writeAdminToken(config.adminTokenFile, adminToken);
    if (config.controller === undefined) snapshot = await loadStaticSnapshot(config.configDir, config.node, config.trustDomain);
    else controllerCaPem = readControllerCa(config.controller.caFile);
  } catch (err) {
    usageExit(err);
  }
  const logger = createRootLogger(config.logLevel as 'info', { node: config.node });
  const logLevels = new LogLevels(logger);
  // The process's freed malloc memory goes back to the kernel when it goes idle (idle-trim.ts).
  startIdleTrim();
  if (config.controller !== undefined) await runWithController(config, controllerCaPem, logLevels, adminToken);
  else await runStatic(config, snapshot as NodeSnapshot, logLevels, adminToken);
}

function readControllerCa(file: string): string {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--controller-ca=${JSON.stringify(file)}: cannot be read: ${(err as Error).message}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--controller-ca=${JSON.stringify(file)}: no PEM certificate in it`);
  }
  return pem;
}

/** Static mode: the snapshot from a YAML directory, certificates from a CA in the state dir. */
async function runStatic(config: AgentConfig, snapshot: NodeSnapshot, logLevels: LogLevels, adminToken: string): Promise<void> {
  const logger = logLevels.root;
  const ca = await CertificateAuthority.loadOrCreate({ dir: join(config.stateDir, 'ca'), trustDomain: config.trustDomain, logger });
  const signer: CertificateSigner = {
    sign: async (csrPem, identity) => {
      const issued = ca.sign(csrPem, { identity, ttlSeconds: config.certTtlSeconds });
      return { chainPem: issued.chainPem, trustBundlePem: ca.trustBundlePem };
    },
  };
  const capture = config.manageIptables ? await iptablesCapture(config, logger) : null;
  const handedOver = new HandedOver();
  const agent = new Agent({ config, logger, signer, capture, logLevels, handover: true, onHandedOver: () => handedOver.run() });
  await agent.start();
  handedOver.agent = agent;
  const watcher = new StaticSnapshotWatcher({
    dir: config.configDir,
    node: config.node,
    trustDomain: config.trustDomain,
    logger: logLevels.child('config'),
    initialVersion: snapshot.version,
    onSnapshot: (s) => void agent.applySnapshot(s).catch((err: Error) => logger.error({ err: err.message }, 'snapshot not fully applied; the agent retries')),
  });
  watcher.start();
  handedOver.add(() => watcher.close());
  const stop = installSignalHandlers(agent, () => watcher.close(), logger);
  announceServing(agent, logger);
  await startOpsServers(agent, config, logLevels, stop, adminToken, handedOver);
  try {
    await agent.applySnapshot(snapshot);
  } catch (err) {
    logger.error({ err: (err as Error).message, code: (err as MeshletError).code }, 'first snapshot not fully applied; the agent retries');
  }
}

/**
 * Controller mode: snapshots pushed by the controller (ACKed once in use; bad ones NACKed by
 * the client, keeping the last good one), certificates signed by it. While it is unreachable
 * the agent keeps serving with what it has and reconnects with backoff.
 */
async function runWithController(config: AgentConfig, caPem: string, logLevels: LogLevels, adminToken: string): Promise<void> {
  const logger = logLevels.root;
  const endpoint = config.controller as NonNullable<AgentConfig['controller']>;
  let agent: Agent | undefined;
  // Loaded here, not at the top: grpc-js and protobufjs are about 8 MiB of a static-mode
  // agent's memory that it never uses (docs/performance.md, memory at rest).
  const { ControllerClient } = await import('../agent/control/client.js');
  const client = new ControllerClient({
    address: endpoint.address,
    caPem,
    node: config.node,
    // Re-read at every connect: a rotated token file takes effect without a restart.
    credentials: async () => (await readFile(endpoint.token.file, 'utf8')).trim(),
    trustDomain: config.trustDomain,
    logger,
    onSnapshot: async (s) => {
      if (agent === undefined) throw new MeshletError('MESHLET_ERR_CLOSED', 'agent not started yet');
      // In use as soon as the tables are swapped; certificates and rules follow (and retry).
      agent.applySnapshot(s).catch((err: Error) => logger.error({ err: err.message }, 'snapshot not fully applied; the agent retries'));
    },
    // Back after an outage: certificates that failed meanwhile are asked for again at once.
    onConnected: () => agent?.retryNow(),
  });
  const capture = config.manageIptables ? await iptablesCapture(config, logger) : null;
  // The last good snapshot, so a restart while the controller is down knows which workloads are
  // meshed (their traffic is then refused, never passed in plaintext). Keys are never stored.
  const snapshotStore = new SnapshotStore({
    dir: config.stateDir,
    logger: logLevels.child('snapshot-store'),
    onFailure: (operation) => agent?.metrics.snapshotStoreFailed(operation),
  });
  const handedOver = new HandedOver();
  handedOver.add(() => void client.close());
  agent = new Agent({ config, logger, signer: client, capture, logLevels, snapshotStore, handover: true, onHandedOver: () => handedOver.run() });
  await agent.start();
  handedOver.agent = agent;
  const stop = installSignalHandlers(agent, () => void client.close(), logger);
  announceServing(agent, logger);
  await startOpsServers(agent, config, logLevels, stop, adminToken, handedOver, client);
  client.start();
}

/** The admin API (loopback only) and /metrics, each on its own port. */
async function startOpsServers(agent: Agent, config: AgentConfig, logLevels: LogLevels, quit: () => void, token: string, handedOver: HandedOver, client?: ControllerClient): Promise<void> {
  const source: SourceInfo = {
    agentVersion: PACKAGE_VERSION,
    ...(client === undefined || config.controller === undefined
      ? {}
      : {
          controller: () => ({
            address: (config.controller as NonNullable<AgentConfig['controller']>).address,
            connected: client.connected,
            ...(client.lastError === undefined ? {} : { lastError: client.lastError.message }),
          }),
        }),
  };
  const admin = new AdminServer({ agent, logger: logLevels.child('admin'), quit, source, token });
  const metrics = new PrometheusServer(agent.metrics.registry, logLevels.child('metrics'));
  // The agent's sockets (SO_REUSEPORT; taken over from the old agent in an upgrade).
  const adminBound = await admin.start(agent.opsListener('admin'), config.adminAddress);
  const metricsBound = await metrics.startOn(agent.opsListener('metrics'));
  handedOver.add(() => admin.close());
  handedOver.add(() => metrics.close());
  logLevels.root.info({ admin: adminBound, adminTokenFile: config.adminTokenFile, metrics: metricsBound }, 'admin and metrics bound');
}

async function iptablesCapture(config: AgentConfig, logger: Logger): Promise<CaptureRules> {
  // The return path goes with the capture rules only where the agent can use it.
  const returnPath = sourcePreservation(config.preserveSource).active ? { returnPath: DEFAULT_RETURN_PATH } : {};
  const manager = await IptablesManager.create({ logger, ...returnPath });
  const spec = (workloadIps: readonly string[]) => ({
    workloadIps,
    outboundPort: config.ports.outbound,
    inboundPort: config.ports.inbound,
    tunnelPort: config.ports.tunnel,
  });
  // What was last applied: verify compares the kernel with that.
  let applied: readonly string[] = [];
  return {
    apply: async (addresses) => {
      await manager.apply(spec(addresses));
      applied = addresses;
    },
    clean: () => manager.clean(),
    verify: async () => {
      const report = await manager.verify(spec(applied));
      return { inSync: report.inSync, detail: report };
    },
  };
}

/**
 * What stops once a new agent has taken this one's listeners over (an upgrade): the sources of
 * snapshots and the ops servers. The process then drains and waits for its SIGTERM (a Kubernetes
 * container that exited on its own would be restarted, and take the listeners back).
 */
class HandedOver {
  private readonly steps: (() => void)[] = [];
  agent: Agent | undefined;

  add(step: () => void): void {
    this.steps.push(step);
  }

  run(): void {
    for (const step of this.steps.splice(0)) step();
    // Under systemd (a `systemctl reload` upgrade) the new process is the service's main one
    // now: this one exits once drained. Elsewhere (a Kubernetes pod, the lab) it waits for its
    // SIGTERM: a container that exited on its own would be restarted and take the sockets back.
    if (process.env['NOTIFY_SOCKET'] !== undefined) void this.agent?.drain().then(() => process.exit(0));
    else setInterval(() => undefined, 1 << 30);
  }
}

/**
 * Tells systemd (`Type=notify`) once the listeners are served: `READY=1` ends the start (the
 * snapshot and certificates may come later: a controller down at boot must not fail the unit),
 * and `MAINPID` makes a process started by a `systemctl reload` the service's main one. SIGHUP
 * (`ExecReload`) starts a successor: the same command, from the files on disk now (an upgraded
 * package), which takes this agent's listeners over; this one then drains and exits.
 */
function announceServing(agent: Agent, logger: Logger): void {
  void agent.serving.then(() => {
    if (sdNotify(`MAINPID=${process.pid}\nREADY=1`)) logger.info({ pid: process.pid }, 'systemd told: ready, main process');
  });
  let successor: ChildProcess | undefined;
  process.on('SIGHUP', () => {
    if (agent.handedOff || (successor !== undefined && successor.exitCode === null)) {
      logger.warn('SIGHUP: an upgrade is already under way or done; ignored');
      return;
    }
    successor = spawn(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: 'inherit', env: process.env });
    successor.unref();
    successor.once('exit', (code, signal) => {
      if (!agent.handedOff) logger.error({ code, signal }, 'SIGHUP: the successor agent exited before it took the listeners over; this agent serves on');
    });
    logger.info({ successorPid: successor.pid }, 'SIGHUP: started a successor agent; it takes the listeners over once ready');
  });
}

/**
 * SIGTERM/SIGINT start a drain; a second signal exits at once. Returns the same stop for
 * `POST /quitquitquit`.
 */
function installSignalHandlers(agent: Agent, stopSource: () => void, logger: Logger): () => void {
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    logger.info({ signal }, 'shutdown requested');
    stopSource();
    void agent.drain().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  return () => onSignal('SIGTERM');
}
