/**
 * `meshlet join-token create|list|revoke`: manages the controller's join token file. A token
 * is printed once, when it is made; the file keeps only its SHA-256.
 */
import type { Command, CommanderError } from 'commander';
import { createJoinToken, readJoinTokenFile, revokeJoinTokens, writeAtomic } from '../controller/auth/join-token-edit.js';
import { EXIT_USAGE, isMeshletError } from '../mesh/errors.js';
import { formatOutput, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { renderTable } from './table.js';

/** Where the command writes and how it exits; tests pass their own. */
export interface JoinTokenIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  readonly exit: (code: number) => void;
}

const processIo: JoinTokenIo = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  exit: (code) => {
    process.exitCode = code;
  },
};

/** How many hex characters of a hash `list` shows and `revoke --sha256` needs at least (8). */
const SHOWN_HASH = 16;

/** Adds `meshlet join-token`. */
export function registerJoinTokenCommand(program: Command, io: JoinTokenIo & OutputIo = processIo): void {
  const cmd = program
    .command('join-token')
    .description('join tokens that let agents outside Kubernetes authenticate to the controller')
    // Usage errors (unknown option, bad -o) go to io and exit 64; the subcommands inherit both.
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr })
    .exitOverride((err: CommanderError) => {
      const code = err.exitCode === 0 ? 0 : EXIT_USAGE;
      if (io === processIo) process.exit(code);
      io.exit(code);
      throw err;
    });
  cmd
    .command('create')
    .description('make a token for a node, add its hash to the token file, print the token once')
    .requiredOption('--node <name>', 'the node the token is for')
    .requiredOption('--tokens <file>', 'the controller\'s token file (--join-tokens); created when missing')
    .option('--out <file>', 'also write the token to this file (mode 0600), for the agent\'s --join-token-file')
    .option('--description <text>', 'a note kept beside the hash (which host, who asked)')
    .action((opts: { node: string; tokens: string; out?: string; description?: string }) => run(io, () => create(io, opts)));
  const listCmd = cmd
    .command('list')
    .description('list the tokens in the file: node, hash prefix, creation time, description')
    .requiredOption('--tokens <file>', 'the controller\'s token file');
  outputOptions(listCmd, 'join-token list', { text: 'a table (hash prefixes)' })
    .action((opts: { tokens: string } & OutputFlags) => run(io, () => list(io, opts.tokens, opts)));
  cmd
    .command('revoke')
    .description('remove a node\'s tokens (all, or the one whose hash starts with --sha256)')
    .requiredOption('--node <name>', 'the node')
    .requiredOption('--tokens <file>', 'the controller\'s token file')
    .option('--sha256 <prefix>', 'revoke only this token: at least 8 hex characters of its hash, as list shows')
    .action((opts: { node: string; tokens: string; sha256?: string }) => run(io, () => revoke(io, opts)));
}

/** Runs an action; a MeshletError is a usage problem (exit 64), anything else a failure (1). */
async function run(io: JoinTokenIo, action: () => Promise<number>): Promise<void> {
  try {
    io.exit(await action());
  } catch (err) {
    io.stderr(`meshlet join-token: ${(err as Error).message}\n`);
    if (isMeshletError(err)) for (const d of err.details.slice(1)) io.stderr(`  ${d}\n`);
    io.exit(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID') ? EXIT_USAGE : 1);
  }
}

async function create(io: JoinTokenIo, opts: { node: string; tokens: string; out?: string; description?: string }): Promise<number> {
  const { token, entry } = await createJoinToken(opts.tokens, { node: opts.node, description: opts.description });
  io.stdout(`${token}\n`);
  io.stderr(`added a join token for node ${entry.node} to ${opts.tokens} (sha256 ${entry.sha256.slice(0, SHOWN_HASH)}); it is not shown again\n`);
  if (opts.out !== undefined) {
    await writeAtomic(opts.out, `${token}\n`, 0o600);
    io.stderr(`wrote the token to ${opts.out} (mode 0600)\n`);
  }
  return 0;
}

/** `list`: the table shows hash prefixes (what `revoke --sha256` takes); JSON and YAML the whole hashes (never a token: the file has none). */
async function list(io: OutputIo, file: string, flags: OutputFlags): Promise<number> {
  const ctx = outputContext(io, 'join-token list', flags);
  const { entries } = await readJoinTokenFile(file);
  const view = { tokens: entries.map((e) => ({ node: e.node, sha256: e.sha256, created: e.created ?? null, description: e.description ?? null })) };
  io.stdout(formatOutput(ctx, view, () =>
    renderTable(['NODE', 'SHA256', 'CREATED', 'DESCRIPTION'], entries.map((e) => [e.node, e.sha256.slice(0, SHOWN_HASH), e.created ?? '-', e.description ?? '']), { maxWidth: ctx.width }),
  ));
  return 0;
}

async function revoke(io: JoinTokenIo, opts: { node: string; tokens: string; sha256?: string }): Promise<number> {
  const removed = await revokeJoinTokens(opts.tokens, { node: opts.node, sha256Prefix: opts.sha256 });
  if (removed.length === 0) {
    io.stderr(`no token of node ${opts.node}${opts.sha256 === undefined ? '' : ` with hash ${opts.sha256}...`} in ${opts.tokens}; nothing changed\n`);
    return 1;
  }
  for (const e of removed) io.stdout(`revoked ${e.node} ${e.sha256.slice(0, SHOWN_HASH)}\n`);
  return 0;
}
