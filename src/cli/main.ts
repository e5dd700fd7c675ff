#!/usr/bin/env node
/**
 * The `meshlet` command: wires the parts together. Nothing here is logic of its own.
 */
import { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { registerAgentCommand } from './agent-command.js';
import { registerControllerCommand } from './controller-command.js';
import { registerDemoCommand } from './demo-command.js';
import { registerIptablesCommand } from './iptables-command.js';
import { registerJoinTokenCommand } from './join-token-command.js';
import { registerLabCommand } from './lab-command.js';
import { registerLogLevelCommand } from './log-level-command.js';
import { registerPolicyCommand } from './policy-command.js';
import { registerProxyConfigCommand } from './proxy-config-command.js';
import { registerStatusCommand } from './status-command.js';
import { createRootLogger } from '../ops/root-logger.js';

const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

const program = new Command('meshlet')
  .description('meshlet: a service mesh with one shared proxy per host')
  .version(pkg.version)
  .showHelpAfterError();

registerAgentCommand(program);
registerControllerCommand(program);
registerJoinTokenCommand(program);
registerIptablesCommand(program, { createLogger: (level) => createRootLogger(level) });
registerStatusCommand(program);
registerProxyConfigCommand(program);
registerLogLevelCommand(program);
registerPolicyCommand(program);
registerLabCommand(program);
registerDemoCommand(program);

await program.parseAsync(process.argv);
