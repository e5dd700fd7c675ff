/**
 * The kubeconfig of a CLI command that reads a cluster (`meshlet analyze --kubernetes`), found
 * as kubectl finds it: `--kubeconfig FILE`, else `$KUBECONFIG` (a list of files, merged), else
 * `~/.kube/config`, else the pod's service account when run in a pod; `--context NAME` picks a
 * context other than the current one. Every failure is a MeshletError naming what is wrong.
 */
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';
import { MeshletError } from '../mesh/errors.js';

/** Flags of a command that reaches a cluster. */
export interface KubeFlags {
  readonly kubeconfig?: string;
  readonly context?: string;
}

/**
 * Whether a kubeconfig is there to be used, as {@link cliKubeConfig} looks for one (a flag,
 * `$KUBECONFIG`, `~/.kube/config`, or a pod's service account). `--node` goes to the local
 * agent of a systemd host when there is none.
 */
export function kubeConfigAvailable(flags: KubeFlags): boolean {
  const fromEnv = process.env['KUBECONFIG'] !== undefined && process.env['KUBECONFIG'] !== '';
  const inPod = (process.env['KUBERNETES_SERVICE_HOST'] ?? '') !== '';
  return flags.kubeconfig !== undefined || flags.context !== undefined || fromEnv || inPod || existsSync(join(homedir(), '.kube', 'config'));
}

/**
 * How long a websocket to the API (exec, port-forward: `--node`) may take to open. client-node
 * sets no bound, so an API server (or a proxy before it) that accepts the connection and never
 * answers the upgrade would hold the command, and its process, until TCP gave up. 15 s, as the
 * exec's own answer bound (`node-access/pod-token.ts`).
 */
export const WEBSOCKET_HANDSHAKE_TIMEOUT_MS = 15_000;

/**
 * Bounds the opening handshake of every websocket `kc` opens (client-node passes the options
 * of `applyToHTTPSOptions` to the `ws` client, whose `handshakeTimeout` fails the connection
 * with "Opening handshake has timed out"). Returns `kc`.
 */
export function boundWebSocketHandshake(kc: KubeConfig, timeoutMs: number = WEBSOCKET_HANDSHAKE_TIMEOUT_MS): KubeConfig {
  const apply = kc.applyToHTTPSOptions.bind(kc);
  kc.applyToHTTPSOptions = async (opts) => {
    await apply(opts);
    (opts as { handshakeTimeout?: number }).handshakeTimeout = timeoutMs;
  };
  return kc;
}

/** The kubeconfig `flags` name, with its context chosen and checked; its websockets' handshakes bounded. */
export function cliKubeConfig(flags: KubeFlags): KubeConfig {
  const kc = new KubeConfig();
  const where = flags.kubeconfig ?? (process.env['KUBECONFIG'] !== undefined && process.env['KUBECONFIG'] !== '' ? `$KUBECONFIG (${process.env['KUBECONFIG']})` : '~/.kube/config or the in-cluster service account');
  if (!kubeConfigAvailable(flags)) {
    // client-node would fall back to http://localhost:8080, and the command would hang on it.
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', 'no kubeconfig: no --kubeconfig, no $KUBECONFIG, no ~/.kube/config, and not in a pod');
  }
  try {
    if (flags.kubeconfig !== undefined) kc.loadFromFile(flags.kubeconfig);
    else kc.loadFromDefault();
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `kubeconfig ${where} cannot be used: ${(err as Error).message}`, { cause: err });
  }
  if (flags.context !== undefined) {
    const names = kc.getContexts().map((c) => c.name);
    if (!names.includes(flags.context)) {
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--context ${JSON.stringify(flags.context)} is not in kubeconfig ${where}${names.length === 0 ? ', which has no context' : `; its contexts: ${names.join(', ')}`}`);
    }
    kc.setCurrentContext(flags.context);
  }
  if (kc.getCurrentCluster() === null) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `kubeconfig ${where} has no current context with a cluster: pass --kubeconfig FILE or --context NAME`);
  }
  return boundWebSocketHandshake(kc);
}
