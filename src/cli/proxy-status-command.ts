/**
 * `meshlet proxy-status`: every agent the controller knows, the snapshot version it was sent,
 * the one it acknowledged or refused (with the agent's reason), and when it connected, read
 * from the controller's debug port (127.0.0.1:15013; `kubectl -n meshlet-system port-forward
 * deploy/meshlet-controller 15013` reaches the leader's from a workstation).
 */
import { Option, type Command } from 'commander';
import { MeshletError } from '../mesh/errors.js';
import type { ProxyStatusRow, ProxyStatusView } from '../controller/proxy-status.js';
import { processIo, runAdminAction, withUsageExits, type AdminIo } from './admin-client.js';
import { renderTable } from './table.js';

/** The controller's debug address by default (its `--debug-port`, loopback). */
export const DEFAULT_CONTROLLER_DEBUG = '127.0.0.1:15013';
const REQUEST_TIMEOUT_MS = 5_000;

/** Flags of `proxy-status`. */
export interface ProxyStatusOptions {
  readonly controller: string;
  readonly output: 'text' | 'json';
}

/** Adds `meshlet proxy-status`. */
export function registerProxyStatusCommand(program: Command, io: AdminIo = processIo): void {
  withUsageExits(program.command('proxy-status'), io)
    .description("every agent the controller knows: the snapshot version sent, acknowledged or refused (and why), connected since")
    .option('--controller <address>', "the controller's debug port (its --debug-port, on its loopback)", DEFAULT_CONTROLLER_DEBUG)
    .addOption(new Option('-o, --output <format>', 'text: a table; json: the controller\'s answer').choices(['text', 'json']).default('text'))
    .action((opts: ProxyStatusOptions) => runAdminAction(io, 'proxy-status', () => proxyStatus(io, opts)));
}

/** Runs `proxy-status`; answers the exit code: 0, or 1 when an agent refused (NACKed) a snapshot. */
export async function proxyStatus(io: AdminIo, opts: ProxyStatusOptions): Promise<number> {
  const view = await fetchProxyStatus(opts.controller);
  if (opts.output === 'json') {
    io.stdout(`${JSON.stringify(view, null, 2)}\n`);
  } else {
    io.stdout(`controller: ${view.controller.role}, state version ${view.controller.version ?? '(none yet)'}\n`);
    if (view.agents.length === 0) io.stdout('no agent has connected to this controller\n');
    else io.stdout(renderTable(['NODE', 'STATE', 'AGENT', 'SENT', 'ACKED', 'CONNECTED SINCE'], view.agents.map(row)));
    // Reasons are long (the agent's error): one whole line each, under the table.
    for (const a of view.agents) {
      if (a.state === 'NACKED') io.stdout(`${a.node} refused version ${a.nackedVersion ?? '?'}: ${a.nackReason ?? '(no reason given)'}\n`);
    }
  }
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
  return [a.node, a.state, a.agentVersion === '' ? '-' : a.agentVersion, a.sentVersion ?? '-', a.ackedVersion ?? '-', a.connectedSince ?? '-'];
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
