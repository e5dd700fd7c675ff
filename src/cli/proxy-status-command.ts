/**
 * `meshlet proxy-status`: every agent the controller knows, the snapshot version it was sent,
 * the one it acknowledged or refused (with the agent's reason), how many pushes were deltas, full
 * snapshots and resyncs, and when it connected, read
 * from the controller's debug port (127.0.0.1:15013; `kubectl -n meshlet-system port-forward
 * deploy/meshlet-controller 15013` reaches the leader's from a workstation).
 */
import type { Command } from 'commander';
import { MeshletError } from '../mesh/errors.js';
import type { ProxyStatusRow, ProxyStatusView } from '../controller/proxy-status.js';
import { processIo, runAdminAction, withUsageExits } from './admin-client.js';
import { formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { renderTable } from './table.js';

/** The controller's debug address by default (its `--debug-port`, loopback). */
export const DEFAULT_CONTROLLER_DEBUG = '127.0.0.1:15013';
const REQUEST_TIMEOUT_MS = 5_000;

/** Flags of `proxy-status`. */
export interface ProxyStatusOptions extends OutputFlags {
  readonly controller: string;
}

/** Adds `meshlet proxy-status`. */
export function registerProxyStatusCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = withUsageExits(program.command('proxy-status'), io)
    .description("every agent the controller knows: the snapshot version sent, acknowledged or refused (and why), pushes as deltas, full snapshots and resyncs, connected since")
    .option('--controller <address>', "the controller's debug port (its --debug-port, on its loopback)", DEFAULT_CONTROLLER_DEBUG);
  outputOptions(cmd, 'proxy-status', { text: 'a table, then each refusal\'s reason' })
    .action((opts: ProxyStatusOptions) => runAdminAction(io, 'proxy-status', () => proxyStatus(io, opts)));
}

/** Runs `proxy-status`; answers the exit code: 0, or 1 when an agent refused (NACKed) a snapshot. */
export async function proxyStatus(io: OutputIo, opts: ProxyStatusOptions): Promise<number> {
  const ctx = outputContext(io, 'proxy-status', opts);
  const view = await fetchProxyStatus(opts.controller);
  io.stdout(formatOutput(ctx, view, () => {
    let out = `controller: ${view.controller.role}, state version ${view.controller.version ?? '(none yet)'}\n`;
    if (view.agents.length === 0) out += 'no agent has connected to this controller\n';
    else out += renderTable(['NODE', 'STATE', 'AGENT', 'SENT', 'ACKED', 'DELTAS', 'FULL', 'RESYNCS', 'CONNECTED SINCE'], view.agents.map(row), { maxWidth: ctx.width });
    // Reasons are long (the agent's error): one whole line each, under the table.
    for (const a of view.agents) {
      if (a.state === 'NACKED') out += `${a.node} refused version ${a.nackedVersion ?? '?'}: ${a.nackReason ?? '(no reason given)'}\n`;
    }
    return out;
  }));
  return view.agents.some((a) => a.state === 'NACKED') ? 1 : 0;
}

/** The controller's `/debug/proxy-status` at `address` (`--controller`), checked. */
export async function fetchProxyStatus(address: string): Promise<ProxyStatusView> {
  const url = `${controllerUrl(address)}/debug/proxy-status`;
  let res: Response;
  try {
    res = await fetch(url, { signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS) });
  } catch (err) {
    throw new MeshletError(
      'MESHLET_ERR_ADMIN_UNREACHABLE',
      `the controller's debug port ${address} did not answer (${(err as Error).message}); it listens on the controller's loopback only: on Kubernetes run \`kubectl -n meshlet-system port-forward deploy/meshlet-controller 15013\` first`,
      { cause: err },
    );
  }
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}`);
  return parseView(await res.json());
}

function row(a: ProxyStatusRow): string[] {
  const count = (n: number | undefined): string => (typeof n === 'number' ? String(n) : '-');
  return [a.node, a.state, a.agentVersion === '' ? '-' : a.agentVersion, a.sentVersion ?? '-', a.ackedVersion ?? '-', count(a.deltas), count(a.fullSnapshots), count(a.resyncs), a.connectedSince ?? '-'];
}

/** `HOST:PORT`, `PORT` or an http:// URL; a clear error otherwise. */
function controllerUrl(value: string): string {
  const text = /^\d+$/.test(value) ? `127.0.0.1:${value}` : value;
  let url: URL;
  try {
    url = new URL(text.includes('://') ? text : `http://${text}`);
  } catch {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--controller ${JSON.stringify(value)}: not an address (want HOST:PORT, e.g. ${DEFAULT_CONTROLLER_DEBUG})`);
  }
  if (url.protocol !== 'http:' || url.port === '' || url.pathname !== '/') {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--controller ${JSON.stringify(value)}: want HOST:PORT (plain HTTP, no path), e.g. ${DEFAULT_CONTROLLER_DEBUG}`);
  }
  return `http://${url.host}`;
}

/** Checks the controller's answer before printing it (another version may answer otherwise). */
function parseView(body: unknown): ProxyStatusView {
  const bad = (): Error => new Error('/debug/proxy-status: unexpected answer; is the controller the same version as this CLI?');
  if (body === null || typeof body !== 'object') throw bad();
  const { controller, agents } = body as { controller?: unknown; agents?: unknown };
  if (controller === null || typeof controller !== 'object' || typeof (controller as { role?: unknown }).role !== 'string') throw bad();
  if (!Array.isArray(agents) || !agents.every((a) => a !== null && typeof a === 'object' && typeof (a as { node?: unknown }).node === 'string' && typeof (a as { state?: unknown }).state === 'string')) throw bad();
  return body as ProxyStatusView;
}
