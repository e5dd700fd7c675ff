/**
 * `meshlet join-token create|list|revoke` in-process: the token is printed once and never
 * written to the token file, `--out` writes it 0600, list shows hash prefixes, revoke removes,
 * bad input exits 64. (The command lives in src/cli; it is tested here beside its logic.)
 */
import t from 'tap';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import { registerJoinTokenCommand } from '../../../../src/cli/join-token-command.js';
import { hashJoinToken } from '../../../../src/controller/auth/join-token-file.js';

/** Runs `meshlet join-token ...args`; returns what it printed and its exit code. */
async function run(args: string[]): Promise<{ stdout: string; stderr: string; code: number | undefined }> {
  let stdout = '';
  let stderr = '';
  let code: number | undefined;
  const program = new Command('meshlet').exitOverride();
  registerJoinTokenCommand(program, { stdout: (s) => (stdout += s), stderr: (s) => (stderr += s), exit: (c) => (code = c) });
  await program.parseAsync(['node', 'meshlet', 'join-token', ...args]);
  return { stdout, stderr, code };
}

async function dir(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'meshlet-jtc-'));
  t.teardown(() => rm(d, { recursive: true, force: true }));
  return d;
}

t.test('create prints the token once; the file gets its hash; --out writes it 0600', async (t) => {
  const d = await dir(t);
  const tokens = join(d, 'join-tokens.yaml');
  const out = join(d, 'agent-token');
  const r = await run(['create', '--node', 'vm-1', '--tokens', tokens, '--out', out, '--description', 'db host']);
  t.equal(r.code, 0);
  const token = r.stdout.trim();
  t.match(token, /^mjt_[A-Za-z0-9_-]{43}$/, 'stdout is the token alone');
  const file = await readFile(tokens, 'utf8');
  t.ok(file.includes(hashJoinToken(token)), 'the file has its hash');
  t.notOk(file.includes(token), 'not the token');
  t.match(r.stderr, new RegExp(`added a join token for node vm-1 .*sha256 ${hashJoinToken(token).slice(0, 16)}`));
  t.equal(await readFile(out, 'utf8'), `${token}\n`);
  t.equal((await stat(out)).mode & 0o777, 0o600);

  const second = await run(['create', '--node', 'vm-2', '--tokens', tokens]);
  const list = await run(['list', '--tokens', tokens]);
  t.equal(list.code, 0);
  const lines = list.stdout.trim().split('\n');
  t.match(lines[0], /^NODE\s+SHA256\s+CREATED\s+DESCRIPTION$/);
  t.match(lines[1], new RegExp(`^vm-1\\s+${hashJoinToken(token).slice(0, 16)}\\s+\\d{4}-\\d\\d-\\d\\dT\\S+\\s+db host$`));
  t.match(lines[2], new RegExp(`^vm-2\\s+${hashJoinToken(second.stdout.trim()).slice(0, 16)}\\s`));
  t.notOk(list.stdout.includes(token), 'list never shows a token');
});

t.test('revoke removes a node\'s tokens; nothing to revoke exits 1', async (t) => {
  const d = await dir(t);
  const tokens = join(d, 'join-tokens.yaml');
  const a = (await run(['create', '--node', 'a', '--tokens', tokens])).stdout.trim();
  await run(['create', '--node', 'b', '--tokens', tokens]);
  const r = await run(['revoke', '--node', 'a', '--tokens', tokens, '--sha256', hashJoinToken(a).slice(0, 10)]);
  t.same([r.code, r.stdout], [0, `revoked a ${hashJoinToken(a).slice(0, 16)}\n`]);
  const again = await run(['revoke', '--node', 'a', '--tokens', tokens]);
  t.equal(again.code, 1);
  t.match(again.stderr, /no token of node a in .*; nothing changed/);
});

t.test('bad input exits 64 naming the problem', async (t) => {
  const d = await dir(t);
  const tokens = join(d, 'join-tokens.yaml');
  const badNode = await run(['create', '--node', 'Bad Node', '--tokens', tokens]);
  t.equal(badNode.code, 64);
  t.match(badNode.stderr, /--node "Bad Node" is not a valid node name/);
  t.equal(badNode.stdout, '', 'no token printed');
  await writeFile(tokens, 'tokens:\n  - { node: a }\n  - { node: b, sha256: x }\n');
  const badFile = await run(['create', '--node', 'c', '--tokens', tokens]);
  t.equal(badFile.code, 64);
  t.match(badFile.stderr, /join-tokens\.yaml:2: tokens\[0\]: "sha256" is required\n {2}.*join-tokens\.yaml:3: tokens\[1\]\.sha256/);
  const shortPrefix = await run(['revoke', '--node', 'a', '--tokens', tokens, '--sha256', 'ab']);
  t.equal(shortPrefix.code, 64);
});
