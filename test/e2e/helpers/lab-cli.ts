/**
 * `meshlet lab` alone, for tests that run the CLI as a process without depending on the
 * wiring in `src/cli/main.ts`: `node lab-cli.js lab up --detach ...`.
 *
 * @module
 */

import { Command } from 'commander';
import { registerLabCommand } from '../../../src/cli/lab-command.js';

const program = new Command('meshlet').exitOverride((err) => process.exit(err.exitCode === 1 ? 64 : err.exitCode));
registerLabCommand(program);
await program.parseAsync(process.argv);
