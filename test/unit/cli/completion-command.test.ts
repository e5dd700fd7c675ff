/**
 * `meshlet completion bash|zsh|fish`: the scripts name every command and option of the real
 * command tree (walked here through commander's own lists, not through the generator's tree),
 * the shells accept them (`bash -n`, `zsh -n`, `fish -n`), they complete what they should when
 * run (bash and fish for real, zsh with its completion builtins stubbed), and a name or a
 * description that could break out of the shell's quoting is refused or kept inert.
 */
import t from 'tap';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command, Option } from 'commander';
import { completionScript, registerCompletionCommand, type CompletionShell } from '../../../src/cli/completion-command.js';
import { completionTree } from '../../../src/cli/completion/completion-tree.js';
import { buildProgram } from '../../../src/cli/program.js';

const work = mkdtempSync(join(tmpdir(), 'meshlet-completion-'));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** The shell's path, or undefined when it is not installed (bash always is: the test fails without it). */
function shell(name: string): string | undefined {
  const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}
const ZSH = shell('zsh');
/** zsh's completion builtins, replaced by ones that print what they were given. */
const ZSH_STUBS = 'compdef() { :; }; _describe() { print -rl -- "${(@P)4}"; }; compadd() { print -rl -- "${(@P)2}"; }; _files() { print FILES; }';
const FISH = shell('fish');

function save(name: string, text: string): string {
  const file = join(work, name);
  writeFileSync(file, text);
  return file;
}

function run(cmd: string, args: readonly string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

const program = await buildProgram(undefined);
const scripts = Object.fromEntries((['bash', 'zsh', 'fish'] as const).map((s) => [s, completionScript(s, program)])) as Record<CompletionShell, string>;

interface Visible { path: string; subcommands: string[]; flags: string[] }
/** Every command and its visible option flags, from commander's raw lists. */
function walk(cmd: Command, parent: string[] = []): Visible[] {
  const path = [...parent, cmd.name()];
  const visible = (c: Command): boolean => (c as unknown as { _hidden?: boolean })._hidden !== true;
  const subcommands = cmd.commands.filter(visible);
  const flags = cmd.options.filter((o) => !o.hidden).flatMap((o) => [o.short, o.long]).filter((f): f is string => f !== undefined);
  return [{ path: path.join(' '), subcommands: subcommands.map((c) => c.name()), flags }, ...subcommands.flatMap((c) => walk(c, path))];
}
const commands = walk(program);

/** The words a bash `case` branch of `fn` echoes for `key`. */
function bashCase(fn: string, key: string): string[] {
  const body = scripts.bash.slice(scripts.bash.indexOf(`${fn}() {`));
  const m = new RegExp(`^    '${key}'\\) echo '([^']*)' ;;$`, 'm').exec(body.slice(0, body.indexOf('\n}\n')));
  return m?.[1]?.split(' ') ?? [];
}

t.test('every command and every option of the real tree is in each script', async (t) => {
  t.ok(commands.length > 20, `the tree was walked (${commands.length} commands)`);
  const options = commands.flatMap((c) => c.flags);
  t.ok(options.length > 100, `with their options (${options.length})`);
  for (const c of commands) {
    t.same(bashCase('_meshlet_subcommands', c.path).filter((w) => w !== 'help').sort(), [...c.subcommands].sort(), `bash: subcommands of ${c.path}`);
    const offered = bashCase('_meshlet_options', c.path);
    for (const f of c.flags) t.ok(offered.includes(f), `bash: ${c.path} ${f}`);
    for (const s of c.subcommands) {
      t.match(scripts.zsh, `'${s}:`, `zsh: ${c.path} ${s}`);
      t.match(scripts.fish, new RegExp(`-n '__meshlet_at \\\\'${c.path}\\\\'' -f -a ${s} -d `), `fish: ${c.path} ${s}`);
    }
    for (const f of c.flags) {
      t.match(scripts.zsh, `'${f}:`, `zsh: ${c.path} ${f}`);
      const spelled = f.startsWith('--') ? `-l ${f.slice(2)}` : `-s ${f.slice(1)}`;
      t.match(scripts.fish, new RegExp(`-n '__meshlet_at \\\\'${c.path}\\\\''[^\\n]* ${spelled}[ \\n]`), `fish: ${c.path} ${f}`);
    }
  }
  t.ok(commands.some((c) => c.path === 'meshlet completion'), 'the completion command completes itself');
});

t.test('under CI every shell is there (scripts/setup-host.mjs installs them): a skip would hide a broken script', { skip: process.env['CI'] === 'true' ? false : 'not CI' }, async (t) => {
  t.not(ZSH, undefined, 'zsh is installed');
  t.not(FISH, undefined, 'fish is installed');
});

t.test('bash, zsh and fish accept the scripts', async (t) => {
  t.equal(spawnSync('bash', ['-n', save('meshlet.bash', scripts.bash)]).status, 0, 'bash -n');
  if (ZSH === undefined) t.comment('zsh is not installed: zsh -n NOT RUN');
  else t.equal(spawnSync(ZSH, ['-n', save('meshlet.zsh', scripts.zsh)]).status, 0, 'zsh -n');
  if (FISH === undefined) t.comment('fish is not installed: fish -n NOT RUN');
  else t.equal(spawnSync(FISH, ['-n', save('meshlet.fish', scripts.fish)]).status, 0, 'fish -n');
});

/** What the bash script offers for `words` (the last one being completed). */
function bashComplete(script: string, ...words: string[]): string[] {
  const file = save('run.bash', script);
  const quoted = words.map((w) => `'${w}'`).join(' ');
  const out = run('bash', ['-c', `source ${file}; COMP_WORDS=(${quoted}); COMP_CWORD=${words.length - 1}; _${words[0]?.replace(/-/g, '_')}; printf '%s\\n' "\${COMPREPLY[@]}"`]);
  return out.split('\n').filter((l) => l !== '');
}

t.test('bash completes subcommands, options, choices, and skips option values', async (t) => {
  t.same(bashComplete(scripts.bash, 'meshlet', 'ipt'), ['iptables']);
  t.same(bashComplete(scripts.bash, 'meshlet', 'iptables', ''), ['print', 'apply', 'verify', 'clean', 'help']);
  t.same(bashComplete(scripts.bash, 'meshlet', 'iptables', 'apply', '--ba'), ['--backend']);
  t.same(bashComplete(scripts.bash, 'meshlet', 'check', '-o', ''), ['text', 'json', 'yaml', 'table']);
  t.same(bashComplete(scripts.bash, 'meshlet', 'agent', '--log-level', 'w'), ['warn']);
  t.same(bashComplete(scripts.bash, 'meshlet', 'agent', '--node', 'iptables', '--no-ipt'), ['--no-iptables'], 'a value that looks like a command stays a value');
  t.same(bashComplete(scripts.bash, 'meshlet', 'agent', '--node', ''), [], 'a free value: nothing offered (bash falls back to files)');
});

t.test('fish completes subcommands with descriptions, and choices', { skip: FISH === undefined ? 'fish is not installed' : false }, async (t) => {
  const file = save('run.fish', scripts.fish);
  const complete = (line: string): string[] => run(FISH as string, ['-c', `source ${file}; complete -C ${JSON.stringify(line)}`]).split('\n').filter((l) => l !== '');
  t.same(complete('meshlet ipt'), ["iptables\tmeshlet's nat capture rules in this node's network namespace"]);
  t.same(complete('meshlet iptables ').map((l) => l.split('\t')[0]), ['apply', 'clean', 'help', 'print', 'verify']);
  t.same(complete('meshlet check -o ').map((l) => l.split('\t')[0]), ['json', 'table', 'text', 'yaml']);
});

t.test('zsh offers subcommands, options and choices (completion builtins stubbed)', { skip: ZSH === undefined ? 'zsh is not installed' : false }, async (t) => {
  const file = save('run.zsh', scripts.zsh);
  const complete = (...words: string[]): string[] => {
    const list = words.map((w) => `'${w}'`).join(' ');
    const out = run(ZSH as string, ['-f', '-c', `${ZSH_STUBS}; source ${file}; words=(${list}); CURRENT=${words.length}; PREFIX=${JSON.stringify(words[words.length - 1])}; _meshlet`]);
    return out.split('\n').filter((l) => l !== '');
  };
  t.same(complete('meshlet', 'iptables', '').map((l) => l.split(':')[0]), ['print', 'apply', 'verify', 'clean', 'help']);
  t.ok(complete('meshlet', 'iptables', 'apply', '-').includes('--backend:iptables flavour: auto, nft or legacy (default: auto, detected)'), 'options with their descriptions');
  t.same(complete('meshlet', 'check', '-o', ''), ['text', 'json', 'yaml', 'table']);
  t.same(complete('meshlet', 'agent', '--node', ''), ['FILES'], 'a free value: files');
});

t.test('names that could break out of a script are refused; descriptions stay inert text', async (t) => {
  const evil = new Command('meshlet');
  evil.command('ok').description("it's \"quoted\", $(touch pwned) `touch pwned2` \\ and ; echo x");
  for (const s of ['bash', 'zsh', 'fish'] as const) t.doesNotThrow(() => completionScript(s, evil), `${s}: a hostile description is written`);
  const pwned = join(work, 'pwned');
  const marker = `$(touch ${pwned}) \`touch ${pwned}\``;
  const hostile = new Command('meshlet');
  hostile.command('ok').description(`it's ${marker}`).addOption(new Option('--mode <m>', `a 'mode' ${marker}`).choices(['a', 'b']));
  if (FISH !== undefined) {
    const file = save('hostile.fish', completionScript('fish', hostile));
    const out = run(FISH, ['-c', `source ${file}; complete -C 'meshlet '; complete -C 'meshlet ok --'`]);
    t.match(out, `ok\tit's ${marker}`, 'fish shows the description as written');
  }
  if (ZSH !== undefined) {
    const file = save('hostile.zsh', completionScript('zsh', hostile));
    t.equal(spawnSync(ZSH, ['-n', file]).status, 0, 'zsh parses it');
    const out = run(ZSH, ['-f', '-c', `${ZSH_STUBS}; source ${file}; words=(meshlet ''); CURRENT=2; PREFIX=''; _meshlet; words=(meshlet ok -); CURRENT=3; PREFIX=-; _meshlet`]);
    t.match(out, `ok:it's ${marker}`, 'zsh shows the description as written');
    t.match(out, `--mode:a 'mode' ${marker}`, 'and the option\'s');
  }
  t.equal(spawnSync('bash', ['-c', `source ${save('hostile.bash', completionScript('bash', hostile))}`]).status, 0, 'bash sources it');
  t.equal(spawnSync('test', ['-e', pwned]).status, 1, 'nothing in a description was run');
  const badName = new Command('meshlet');
  badName.command("x';rm");
  t.throws(() => completionTree(badName), /the command "x';rm" is not a plain word/);
  const badChoice = new Command('meshlet');
  badChoice.addOption(new Option('--mode <m>').choices(['a b']));
  t.throws(() => completionTree(badChoice), /the option value "a b" is not a plain word/);
});

t.test('meshlet completion SHELL prints the script; another shell is a usage error (64)', async (t) => {
  const io = { out: '', err: '', code: 0 };
  const cli = new Command('meshlet');
  cli.command('status').option('--admin <address>');
  registerCompletionCommand(cli, { stdout: (s) => void (io.out += s), stderr: (s) => void (io.err += s), exit: (c) => void (io.code = c) });
  await cli.parseAsync(['node', 'meshlet', 'completion', 'bash']);
  t.match(io.out, /^complete -o default -F _meshlet meshlet$/m);
  t.match(io.out, /'meshlet status'\) echo '--admin -h --help' ;;/);
  await t.rejects(cli.parseAsync(['node', 'meshlet', 'completion', 'tcsh']));
  t.equal(io.code, 64);
  t.match(io.err, /'tcsh' is invalid for argument 'shell'\. Allowed choices are bash, zsh, fish/);
});
