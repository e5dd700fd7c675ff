/**
 * How an SRE command reaches the agent it asks: this host's (`--admin`, the default), or
 * another node's with `--node NAME` (docs/sre-cli.md, "Reaching another node"). On Kubernetes
 * the node's agent pod is found through the kubeconfig (as kubectl finds it, `--kubeconfig`,
 * `--context`), its admin port is port-forwarded for the command's lifetime, and its token is
 * read in the pod (or taken from `--admin-token-file`). Without a kubeconfig, NAME must be this
 * host (a systemd node): its local port. The route is decided by a pure function; the session
 * hides which it was from the commands, which only ask and close.
 */
import { hostname } from 'node:os';
import type { Command } from 'commander';
import { isDnsSubdomain } from '../mesh/validate/formats.js';
import { MeshletError } from '../mesh/errors.js';
import { AdminClient, AdminUnreachableError, localEndpoint, readAdminToken, type AdminEndpoint, type AdminFlags } from './admin-client.js';
import { cliKubeConfig, kubeConfigAvailable, type KubeFlags } from './kube-config.js';
import { findAgentPod, nodeAgentError } from './node-access/agent-pod.js';
import { PodPortForward } from './node-access/pod-port-forward.js';
import { readPodToken } from './node-access/pod-token.js';

/** The flags of a command that can reach another node. */
export interface NodeFlags extends AdminFlags, KubeFlags {
  readonly node?: string;
}

/** An open way to one agent's admin API; {@link close} when the command is done. */
export interface AdminSession extends AdminEndpoint {
  readonly client: AdminClient;
  close(): Promise<void>;
}

/**
 * Adds `--node`, `--kubeconfig` and `--context`. With `--node`, `--admin` and
 * `--admin-token-file` count only when given (flag or environment), not by their defaults:
 * through Kubernetes the port comes from the agent pod (`--admin` is refused), and a token file
 * given means "use this copy, no exec"; on a systemd host they say where its agent is, as
 * without `--node`.
 */
export function nodeOptions(cmd: Command): Command {
  return cmd
    .option('--node <name>', "another node's agent: through the kubeconfig, a port-forward to its agent pod (Kubernetes); without a kubeconfig, NAME must be this host (systemd)")
    .option('--kubeconfig <file>', 'with --node: this kubeconfig (default $KUBECONFIG, ~/.kube/config, or the pod\'s service account)')
    .option('--context <name>', 'with --node: this kubeconfig context instead of the current one')
    .hook('preAction', (_root, action) => {
      if (action.getOptionValue('node') === undefined) return;
      for (const key of ['admin', 'adminTokenFile']) {
        if (action.getOptionValueSource(key) === 'default') action.setOptionValueWithSource(key, undefined, 'default');
      }
    });
}

/** How `--node NAME` is reached. */
export type NodeRoute = 'local' | 'kubernetes';

/**
 * Decides the route of `--node`: through Kubernetes whenever a kubeconfig is there; without
 * one, only this host (by its name or its short name) is reachable, on its local port. Pure.
 * @throws MESHLET_ERR_CONFIG_INVALID for a name that is not a node name; MESHLET_ERR_NODE_AGENT
 *   for another host without a kubeconfig.
 */
export function nodeRoute(node: string, host: string, kubeconfig: boolean): NodeRoute {
  if (!isDnsSubdomain(node)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--node ${JSON.stringify(node)}: not a node name (lowercase letters, digits, '-' and '.', at most 253)`);
  if (kubeconfig) return 'kubernetes';
  const self = host.toLowerCase(); // node names are lowercase; host names need not be
  if (node === self || node === self.split('.')[0]) return 'local';
  throw nodeAgentError(`--node ${node}: no kubeconfig (no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, not in a pod), and ${node} is not this host (${host}): on a systemd node, run the command there (ssh ${node})`);
}

/**
 * Opens the way to the agent `flags` name.
 * @throws MESHLET_ERR_CONFIG_INVALID for flags that do not go together; MESHLET_ERR_NODE_AGENT
 *   when the node's agent cannot be found or reached.
 */
export async function openAdmin(flags: NodeFlags): Promise<AdminSession> {
  const node = flags.node;
  if (node === undefined) {
    if (flags.kubeconfig !== undefined || flags.context !== undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--kubeconfig and --context go with --node');
    return session(localEndpoint(flags));
  }
  if (nodeRoute(node, hostname(), kubeConfigAvailable(flags)) === 'local') {
    const local = localEndpoint(flags);
    return session({ ...local, label: `node ${node} (this host, ${local.label})` });
  }
  if (flags.admin !== undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--admin ${JSON.stringify(flags.admin)} and --node ${node} do not go together: through Kubernetes the admin port comes from the node's agent pod`);
  const kc = cliKubeConfig(flags);
  const pod = await findAgentPod(kc, node);
  const token = flags.adminTokenFile !== undefined ? readAdminToken(flags.adminTokenFile) : await readPodToken(kc, pod);
  const forward = await PodPortForward.open(kc, pod.namespace, pod.name, pod.admin.port);
  const endpoint: AdminEndpoint = {
    url: forward.url,
    token,
    label: `node ${node} (pod ${pod.namespace}/${pod.name})`,
    // The kubelet's reason when it gave one; else the agent itself did not answer in the pod.
    explain: (err) => forward.lastFailure() ?? new AdminUnreachableError(`${err.message}, through the port-forward to ${forward.target} (kubectl -n ${pod.namespace} logs ${pod.name} says whether the agent is serving)`, { cause: err, remote: true }),
  };
  return session(endpoint, () => forward.close());
}

function session(endpoint: AdminEndpoint, close: () => Promise<void> = async () => undefined): AdminSession {
  return { ...endpoint, client: new AdminClient(endpoint), close };
}

/** Runs `use` with a session for `flags`, closing it after, whatever happens. */
export async function withAdmin<T>(flags: NodeFlags, use: (session: AdminSession) => Promise<T>): Promise<T> {
  const s = await openAdmin(flags);
  try {
    return await use(s);
  } finally {
    await s.close();
  }
}
