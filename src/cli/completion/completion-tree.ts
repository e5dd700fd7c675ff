/**
 * The command tree as the completion scripts need it, read from commander's own objects through
 * its `Help` class (what `--help` lists: hidden commands and options stay hidden). Every script
 * is generated from this, so a command or an option added anywhere is completed at once.
 */
import type { Command } from 'commander';

/** One option of a command. */
export interface CompletionOption {
  /** `-o`, `--output`: every spelling. */
  readonly flags: readonly string[];
  readonly description: string;
  /** It takes a value (`--node <name>`, `--sample [ratio]`). */
  readonly takesValue: boolean;
  /** The values it accepts, when commander knows them (`.choices([...])`). */
  readonly choices: readonly string[];
}

/** One command, its options and its subcommands. */
export interface CompletionNode {
  /** `['meshlet', 'iptables', 'verify']`. */
  readonly path: readonly string[];
  readonly description: string;
  readonly options: readonly CompletionOption[];
  readonly subcommands: readonly CompletionNode[];
}

/**
 * Names and flags end up in shell code unquoted; commander accepts any string, so anything but
 * letters, digits, `-` and `_` is refused here rather than written into a script.
 */
const SAFE_WORD = /^-{0,2}[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** The tree under `cmd`. Throws naming a command or option whose name is not a plain word. */
export function completionTree(cmd: Command, parent: readonly string[] = []): CompletionNode {
  const path = [...parent, checked(cmd.name(), 'command')];
  const help = cmd.createHelp();
  const options = help.visibleOptions(cmd).map((o) => {
    const flags = [o.short, o.long].filter((f): f is string => f !== undefined).map((f) => checked(f, 'option'));
    const choices = (o.argChoices ?? []).map((c) => checked(c, 'option value'));
    return { flags, description: oneLine(o.description), takesValue: o.required || o.optional, choices };
  });
  const subcommands = help.visibleCommands(cmd).map((c) => completionTree(c, path));
  return { path, description: oneLine(cmd.description()), options, subcommands };
}

/** Every node of the tree, the root first (depth-first). */
export function allNodes(root: CompletionNode): CompletionNode[] {
  return [root, ...root.subcommands.flatMap(allNodes)];
}

/** The words of `node`'s name as one key: `meshlet iptables verify`. */
export function pathKey(node: CompletionNode): string {
  return node.path.join(' ');
}

/** The last word of `node`'s path. */
export function nameOf(node: CompletionNode): string {
  return node.path[node.path.length - 1] ?? '';
}

/** Flags of `node` that take a value (their next word is that value, not a command). */
export function valueFlags(node: CompletionNode): string[] {
  return node.options.filter((o) => o.takesValue).flatMap((o) => o.flags);
}

function checked(word: string, what: string): string {
  if (!SAFE_WORD.test(word)) throw new Error(`completion: the ${what} ${JSON.stringify(word)} is not a plain word; it cannot be written into a shell script`);
  return word;
}

function oneLine(text: string): string {
  return text.replace(/\s+/g, ' ').trim();
}
