/**
 * `meshlet version`: this CLI's version, and the versions of the node's agent (its admin API)
 * and of the controller (its loopback debug port) when they answer, as `kubectl version` shows
 * client and server. `--client` asks nobody.
 */
import type { Command } from 'commander';
import { PACKAGE_VERSION } from '../ops/package-version.js';
import { adminClientFor, adminOptions, asObject, processIo, runAdminAction, withUsageExits, type AdminFlags } from './admin-client.js';
import { formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { DEFAULT_CONTROLLER_DEBUG, fetchProxyStatus } from './proxy-status-command.js';

/** Flags of `version`. */
export interface VersionOptions extends AdminFlags, OutputFlags {
  readonly controller: string;
  readonly client?: boolean;
}

/** One component's answer: its version, or why there is none. */
export type ComponentVersion = { readonly version: string; readonly runtime?: string; readonly node?: string } | { readonly error: string };

/** What `version` prints with `-o json`. */
export interface VersionView {
  readonly client: { readonly version: string; readonly runtime: string };
  readonly agent?: ComponentVersion;
  readonly controller?: ComponentVersion;
}

/** Adds `meshlet version`. */
export function registerVersionCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = adminOptions(withUsageExits(program.command('version'), io))
    .description("this CLI's version, and those of the node's agent and of the controller when they answer")
    .option('--client', 'this CLI only; ask nobody')
    .option('--controller <address>', "the controller's debug port (its --debug-port, on its loopback)", DEFAULT_CONTROLLER_DEBUG);
  outputOptions(cmd, 'version', { text: 'one line per component' })
    .action((opts: VersionOptions) => runAdminAction(io, 'version', () => version(io, opts)));
}

/** Runs `version`; answers the exit code: 1 when the agent or the controller did not answer. */
export async function version(io: OutputIo, opts: VersionOptions): Promise<number> {
  const ctx = outputContext(io, 'version', opts);
  const view: VersionView = {
    client: { version: PACKAGE_VERSION, runtime: process.version },
    ...(opts.client === true ? {} : { agent: await agentVersion(opts), controller: await controllerVersion(opts.controller) }),
  };
  io.stdout(formatOutput(ctx, view, () => {
    let out = `client      ${view.client.version} (Node.js ${view.client.runtime})\n`;
    if (view.agent !== undefined) out += `agent       ${describe(view.agent)}\n`;
    if (view.controller !== undefined) out += `controller  ${describe(view.controller)}\n`;
    return out;
  }));
  return [view.agent, view.controller].some((c) => c !== undefined && 'error' in c) ? 1 : 0;
}

function describe(c: ComponentVersion): string {
  if ('error' in c) return `not reachable: ${c.error}`;
  const extra = [c.node === undefined ? undefined : `node ${c.node}`, c.runtime === undefined ? undefined : `Node.js ${c.runtime}`].filter((x) => x !== undefined);
  return extra.length === 0 ? c.version : `${c.version} (${extra.join(', ')})`;
}

async function agentVersion(opts: AdminFlags): Promise<ComponentVersion> {
  try {
    const answer = await adminClientFor(opts).get('/version');
    if (answer.status !== 200) return { error: `/version answered ${answer.status}` };
    const body = asObject('/version', answer.body);
    const v = body['agentVersion'];
    return {
      version: typeof v === 'string' ? v : 'unknown',
      ...(typeof body['runtime'] === 'string' ? { runtime: body['runtime'] } : {}),
      ...(typeof body['node'] === 'string' ? { node: body['node'] } : {}),
    };
  } catch (err) {
    return { error: (err as Error).message };
  }
}

async function controllerVersion(address: string): Promise<ComponentVersion> {
  try {
    const view = await fetchProxyStatus(address);
    return { version: view.controller.meshletVersion ?? 'unknown' };
  } catch (err) {
    return { error: (err as Error).message };
  }
}
