/**
 * `meshlet log-level [LEVEL] [--component NAME]`: without LEVEL, prints the agent's log levels
 * in force (`GET /logging`); with it, changes them at run time through `POST /logging` (all
 * components, or one), then prints the levels in force.
 */
import type { Command } from 'commander';
import { RUNTIME_LEVELS } from '../agent/admin/log-levels.js';
import { MeshletError } from '../mesh/errors.js';
import { adminOptions, answerError, asObject, processIo, runAdminAction, withUsageExits } from './admin-client.js';
import { nodeOptions, withAdmin, type NodeFlags } from './admin-session.js';
import { formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { renderTable } from './table.js';

/** Flags of `log-level`. */
export interface LogLevelOptions extends NodeFlags, OutputFlags {
  readonly component?: string;
}

/** Adds `meshlet log-level`. */
export function registerLogLevelCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = nodeOptions(adminOptions(withUsageExits(program.command('log-level'), io)))
    .description("show this node's (or --node NAME's) agent log levels, or change them at run time (all components, or one)")
    .argument('[level]', `${RUNTIME_LEVELS.join('|')}; without it, only show the levels in force`)
    .option('--component <name>', 'only this component (access, identity, inbound, outbound, tunnel-client, tunnel-server, config, admin, metrics)');
  outputOptions(cmd, 'log-level', { text: 'a table of components and levels' })
    .action((level: string | undefined, opts: LogLevelOptions) => runAdminAction(io, 'log-level', () => logLevel(io, level, opts)));
}

/** Runs `log-level [LEVEL]`; answers the exit code. */
export async function logLevel(io: OutputIo, level: string | undefined, opts: LogLevelOptions): Promise<number> {
  const ctx = outputContext(io, 'log-level', opts);
  // Checked here too, so a typo is a usage error before anything is sent.
  if (level !== undefined && !RUNTIME_LEVELS.includes(level)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `level ${JSON.stringify(level)}: must be one of ${RUNTIME_LEVELS.join(', ')}`);
  }
  if (level === undefined && opts.component !== undefined) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', '--component: only with a LEVEL to set (without one, every level is shown)');
  const body = opts.component === undefined ? { level } : { level, component: opts.component };
  const answer = await withAdmin(opts, (s) => (level === undefined ? s.client.get('/logging') : s.client.post('/logging', body)));
  if (answer.status === 400) {
    // The agent names what it refused (an unknown component); nothing changed.
    const msg = (answer.body as { error?: unknown } | null)?.error;
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--component ${JSON.stringify(opts.component ?? '')}: the agent refused it: ${String(msg)}`);
  }
  if (answer.status !== 200) throw answerError('/logging', answer);
  const levels = asObject('/logging', answer.body);
  const components = asObject('/logging', levels['components'] ?? {});
  const rows = [['(root)', String(levels['root'])], ...Object.entries(components).map(([name, l]) => [name, String(l)])];
  io.stdout(formatOutput(ctx, levels, () => renderTable(['COMPONENT', 'LEVEL'], rows, { maxWidth: ctx.width })));
  return 0;
}
