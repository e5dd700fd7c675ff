/**
 * The `meshlet` command tree: the root command and every subcommand's module. `main.ts` runs
 * it; `meshlet completion` and its test read the same tree, so the completion scripts cannot
 * drift from the commands.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { createRootLogger } from '../ops/root-logger.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * Each command's module, imported only when it is registered. A daemon (`meshlet agent`,
 * `meshlet controller`) registers its own command alone, so a node agent does not carry the
 * lab, policy, demo and admin-client modules (and what they import) for as long as it runs:
 * 7 MiB of its resident memory (docs/performance.md, "Memory per process"). Any other named
 * command is registered alone too, so `meshlet log-level info` does not load the lab, the
 * Kubernetes client and the rest first; `completion`, no command and an unknown one get the
 * whole tree (completion scripts, the command list, "did you mean").
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
  ['completion', async (p) => (await import('./completion-command.js')).registerCompletionCommand(p)],
];
/** Commands that need the whole tree to do their work. */
const WHOLE_TREE = new Set(['completion']);

/**
 * The root command with its subcommands registered: the one `first` (the first argument)
 * names, or all of them (no command, an unknown one, or one that reads the tree).
 */
export async function buildProgram(first: string | undefined): Promise<Command> {
  const program = new Command('meshlet')
    .description('meshlet: a service mesh with one shared proxy per host')
    .version(pkg.version)
    .showHelpAfterError();
  const alone = first !== undefined && !WHOLE_TREE.has(first) && COMMANDS.some(([name]) => name === first) ? first : undefined;
  for (const [name, register] of COMMANDS) if (alone === undefined || name === alone) await register(program);
  return program;
}
