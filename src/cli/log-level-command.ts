/**
 * `meshlet log-level LEVEL [--component NAME]`: changes the agent's log levels at run time
 * through `POST /logging` (all components, or one), then prints the levels in force.
 */
import type { Command } from 'commander';
import { RUNTIME_LEVELS } from '../agent/admin/log-levels.js';
import { MeshletError } from '../mesh/errors.js';
import { adminClientFor, adminOptions, answerError, asObject, processIo, runAdminAction, withUsageExits, type AdminFlags, type AdminIo } from './admin-client.js';
import { renderTable } from './table.js';

/** Flags of `log-level`. */
export interface LogLevelOptions extends AdminFlags {
  readonly component?: string;
}

/** Adds `meshlet log-level`. */
export function registerLogLevelCommand(program: Command, io: AdminIo = processIo): void {
  adminOptions(withUsageExits(program.command('log-level'), io))
    .description("change this node's agent log level at run time (all components, or one)")
    .argument('<level>', RUNTIME_LEVELS.join('|'))
    .option('--component <name>', 'only this component (access, identity, inbound, outbound, tunnel-client, tunnel-server, config, admin, metrics)')
    .action((level: string, opts: LogLevelOptions) => runAdminAction(io, 'log-level', () => logLevel(io, level, opts)));
}

/** Runs `log-level LEVEL`; answers the exit code. */
export async function logLevel(io: AdminIo, level: string, opts: LogLevelOptions): Promise<number> {
  // Checked here too, so a typo is a usage error before anything is sent.
  if (!RUNTIME_LEVELS.includes(level)) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `level ${JSON.stringify(level)}: must be one of ${RUNTIME_LEVELS.join(', ')}`);
  }
  const client = adminClientFor(opts);
  const answer = await client.post('/logging', opts.component === undefined ? { level } : { level, component: opts.component });
  if (answer.status === 400) {
    // The agent names what it refused (an unknown component); nothing changed.
    const msg = (answer.body as { error?: unknown } | null)?.error;
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--component ${JSON.stringify(opts.component ?? '')}: the agent refused it: ${String(msg)}`);
  }
  if (answer.status !== 200) throw answerError('/logging', answer);
  const levels = asObject('/logging', answer.body);
  const components = asObject('/logging', levels['components'] ?? {});
  const rows = [['(root)', String(levels['root'])], ...Object.entries(components).map(([name, l]) => [name, String(l)])];
  io.stdout(renderTable(['COMPONENT', 'LEVEL'], rows));
  return 0;
}
