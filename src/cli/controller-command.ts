/**
 * `meshlet controller`: builds the mesh state from a YAML directory or the Kubernetes API,
 * pushes per-node snapshots to agents over gRPC and signs their workload certificates.
 */
import { Command, Option } from 'commander';
import { loadControllerConfig, type ControllerConfig } from '../controller/config.js';
import { EXIT_USAGE, MeshletError } from '../mesh/errors.js';
import { createRootLogger } from '../ops/root-logger.js';

/** Adds `meshlet controller`. */
export function registerControllerCommand(program: Command): void {
  program
    .command('controller')
    .description('run the cluster controller: registry -> per-node snapshots over gRPC (:15012), certificate authority')
    .option('--registry <dir>', 'directory of mesh YAML, watched (env MESHLET_REGISTRY_DIR)')
    .option('--kubernetes', 'read the mesh from the Kubernetes API (in-cluster, or --kubeconfig)')
    .option('--kubeconfig <file>', 'kubeconfig file for --kubernetes')
    .option('--listen <ip:port>', 'agent API address (default 0.0.0.0:15012; env MESHLET_LISTEN)')
    .option('--metrics-port <port>', 'Prometheus /metrics port, plain HTTP on the --listen address (default 15014; env MESHLET_METRICS_PORT)')
    .option('--debug-port <port>', 'debug port on 127.0.0.1 for meshlet proxy-status (default 15013; env MESHLET_DEBUG_PORT)')
    .option('--state-dir <dir>', 'state directory; the generated CA lives in <dir>/ca (default /var/lib/meshlet-controller)')
    .option('--ca-cert <file>', 'operator-provided CA certificate (a root, or an intermediate followed by its chain)')
    .option('--ca-key <file>', 'its private key')
    .option('--ca-bundle <file>', 'the roots, when --ca-cert is an intermediate')
    .option('--ca-secret', 'keep the generated CA in the Kubernetes Secret meshlet-system/meshlet-ca (with --kubernetes)')
    .option('--trust-domain <name>', 'SPIFFE trust domain (default cluster.local)')
    .option('--join-tokens <file>', 'join-token hashes agents authenticate with (see meshlet join-token create)')
    .option('--no-kubernetes-auth', 'do not accept Kubernetes ServiceAccount tokens (on by default with --kubernetes)')
    .option('--no-leader-elect', 'serve without holding the meshlet-system/meshlet-controller Lease (on by default with --kubernetes; needs POD_NAME)')
    .option('--cert-ttl <seconds>', 'workload certificate lifetime (default 86400; agents renew at half-life)')
    .option('--debounce-ms <ms>', 'quiet time that turns a burst of registry events into one version (default 100)')
    .option('--server-name <name...>', 'extra DNS names or IPs for the controller serving certificate')
    .addOption(new Option('--log-level <level>', 'log level').choices(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']))
    .action(async (opts: Record<string, unknown>) => {
      await runController(opts);
    });
}

async function runController(opts: Record<string, unknown>): Promise<void> {
  const flags = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  // commander's --no-kubernetes-auth sets kubernetesAuth: true by default; only "false" is a choice.
  if (flags['kubernetesAuth'] === true) delete flags['kubernetesAuth'];
  if (flags['leaderElect'] === true) delete flags['leaderElect'];
  let config: ControllerConfig;
  try {
    config = loadControllerConfig(flags, process.env);
  } catch (err) {
    process.stderr.write(`meshlet controller: ${(err as Error).message}\n`);
    process.exit(EXIT_USAGE);
  }
  const logger = createRootLogger(config.logLevel as 'info', { component: 'controller' });
  // Loaded here, not at the top: the Kubernetes client costs ~130 MiB and ~1 s at load, and
  // every other meshlet command (the agent above all) must not pay for it.
  const { Controller } = await import('../controller/controller.js');
  const controller = new Controller(config, logger, process.env, () => {
    logger.fatal('leadership lost: exiting so this replica restarts as a standby');
    process.exit(1);
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals): void => {
    signals += 1;
    if (signals > 1) process.exit(1);
    logger.info({ signal }, 'shutdown requested');
    void controller.close().then(() => process.exit(0));
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
  try {
    await controller.start();
  } catch (err) {
    const e = err as MeshletError;
    logger.fatal({ err: e.message, code: e.code, problems: e.details }, 'controller failed to start');
    // Bad input (config files, CA files, the registry) is a usage error; anything else is not.
    process.exit(e instanceof MeshletError && /CONFIG_INVALID|YAML_PARSE|OBJECT_INVALID|OBJECT_CONFLICT|CA$/.test(e.code) ? EXIT_USAGE : 1);
  }
}
