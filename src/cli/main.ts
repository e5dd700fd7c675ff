#!/usr/bin/env node
/**
 * The `meshlet` command: wires the parts together. Nothing here is logic of its own.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { createRootLogger } from '../ops/root-logger.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('meshlet')
  .description('meshlet: a service mesh with one shared proxy per host')
  .version(pkg.version)
  .showHelpAfterError();

/**
 * Each command's module, imported only when it is registered. A daemon (`meshlet agent`,
 * `meshlet controller`) registers its own command alone, so a node agent does not carry the
 * lab, policy, demo and admin-client modules (and what they import) for as long as it runs:
 * 7 MiB of its resident memory (docs/performance.md, "Memory per process").
 */
const COMMANDS: ReadonlyArray<readonly [string, (program: Command) => Promise<unknown>]> = [
  ['agent', async (p) => (await import('./agent-command.js')).registerAgentCommand(p)],
  ['controller', async (p) => (await import('./controller-command.js')).registerControllerCommand(p)],
  ['join-token', async (p) => (await import('./join-token-command.js')).registerJoinTokenCommand(p)],
  ['iptables', async (p) => (await import('./iptables-command.js')).registerIptablesCommand(p, { createLogger: (level) => createRootLogger(level) })],
  ['status', async (p) => (await import('./status-command.js')).registerStatusCommand(p)],
  ['proxy-config', async (p) => (await import('./proxy-config-command.js')).registerProxyConfigCommand(p)],
  ['log-level', async (p) => (await import('./log-level-command.js')).registerLogLevelCommand(p)],
  ['proxy-status', async (p) => (await import('./proxy-status-command.js')).registerProxyStatusCommand(p)],
  ['version', async (p) => (await import('./version-command.js')).registerVersionCommand(p)],
  ['check', async (p) => (await import('./check-command.js')).registerCheckCommand(p)],
  ['analyze', async (p) => (await import('./analyze-command.js')).registerAnalyzeCommand(p)],
  ['tap', async (p) => (await import('./tap-command.js')).registerTapCommand(p)],
  ['top', async (p) => (await import('./top-command.js')).registerTopCommand(p)],
  ['policy', async (p) => (await import('./policy-command.js')).registerPolicyCommand(p)],
  ['lab', async (p) => (await import('./lab-command.js')).registerLabCommand(p)],
  ['demo', async (p) => (await import('./demo-command.js')).registerDemoCommand(p)],
];
const DAEMONS = new Set(['agent', 'controller']);

const first = process.argv[2];
for (const [name, register] of COMMANDS) if (first === undefined || !DAEMONS.has(first) || name === first) await register(program);

await program.parseAsync(process.argv);
