/**
 * `meshlet completion bash|zsh|fish`: prints a completion script generated from the command
 * tree this CLI runs (`program.ts`), so it names every command and option there is, and no other.
 */
import { Argument, type Command } from 'commander';
import { processIo, withUsageExits, type AdminIo } from './admin-client.js';
import { bashScript } from './completion/bash-script.js';
import { completionTree, type CompletionNode } from './completion/completion-tree.js';
import { fishScript } from './completion/fish-script.js';
import { zshScript } from './completion/zsh-script.js';

/** The shells a script is made for. */
export const COMPLETION_SHELLS = ['bash', 'zsh', 'fish'] as const;
export type CompletionShell = (typeof COMPLETION_SHELLS)[number];

const GENERATORS: Readonly<Record<CompletionShell, (root: CompletionNode) => string>> = { bash: bashScript, zsh: zshScript, fish: fishScript };

/** The script for `shell`, from the tree under `root`. */
export function completionScript(shell: CompletionShell, root: Command): string {
  return GENERATORS[shell](completionTree(root));
}

const INSTALL_HELP = `
Load the completions in the current shell:
  bash   source <(meshlet completion bash)
  zsh    source <(meshlet completion zsh)      (after compinit)
  fish   meshlet completion fish | source

Load them in every new shell:
  bash   meshlet completion bash > ~/.local/share/bash-completion/completions/meshlet
  zsh    meshlet completion zsh > "\${fpath[1]}/_meshlet"
  fish   meshlet completion fish > ~/.config/fish/completions/meshlet.fish`;

/** Adds `meshlet completion`. */
export function registerCompletionCommand(program: Command, io: AdminIo = processIo): void {
  withUsageExits(program.command('completion'), io)
    .description('print the shell completion script for bash, zsh or fish')
    .addArgument(new Argument('<shell>', 'bash, zsh or fish').choices(COMPLETION_SHELLS))
    .addHelpText('after', INSTALL_HELP)
    .action((shell: CompletionShell) => io.stdout(completionScript(shell, rootOf(program))));
}

function rootOf(cmd: Command): Command {
  let root = cmd;
  while (root.parent !== null) root = root.parent;
  return root;
}
