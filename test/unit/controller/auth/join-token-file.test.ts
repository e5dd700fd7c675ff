/**
 * The join token file: hashing, parsing (every problem named with its line, a pasted token
 * never echoed), and edits (create appends under a lock keeping comments, revoke removes).
 */
import t from 'tap';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createJoinToken, readJoinTokenFile, revokeJoinTokens } from '../../../../src/controller/auth/join-token-edit.js';
import { generateJoinToken, hashJoinToken, JOIN_TOKEN_PREFIX, parseJoinTokens } from '../../../../src/controller/auth/join-token-file.js';
import { isMeshletError, type MeshletError } from '../../../../src/mesh/errors.js';

const HASH_A = 'a'.repeat(64);
const HASH_B = 'b'.repeat(64);

async function tempFile(t: { teardown(fn: () => unknown): void }): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-jt-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  return join(dir, 'join-tokens.yaml');
}

function problems(text: string): string[] {
  try {
    parseJoinTokens(text, 'tokens.yaml');
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID')) return [...err.details];
    throw err;
  }
  return [];
}

t.test('tokens are 256 random bits with a prefix; the file stores their SHA-256', async (t) => {
  const a = generateJoinToken();
  const b = generateJoinToken();
  t.match(a, /^mjt_[A-Za-z0-9_-]{43}$/);
  t.ok(a.startsWith(JOIN_TOKEN_PREFIX));
  t.not(a, b);
  t.equal(hashJoinToken('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad', 'SHA-256 of the UTF-8 token');
});

t.test('a valid file: entries with their lines, hashes lowercased', async (t) => {
  const text = ['# join tokens', 'tokens:', `  - node: node1`, `    sha256: ${HASH_A.toUpperCase()}`, `    created: "2025-01-01T00:00:00Z"`, `  - { node: vm-2.rack3, sha256: ${HASH_B}, description: db VM }`, ''].join('\n');
  const { entries } = parseJoinTokens(text, 'tokens.yaml');
  t.same(entries, [
    { node: 'node1', sha256: HASH_A, line: 3, created: '2025-01-01T00:00:00Z' },
    { node: 'vm-2.rack3', sha256: HASH_B, line: 6, description: 'db VM' },
  ]);
  t.same(parseJoinTokens('', 'x').entries, [], 'an empty file has no tokens');
  t.same(parseJoinTokens('tokens: []\n', 'x').entries, []);
  t.same(parseJoinTokens('tokens:\n', 'x').entries, []);
});

t.test('an invalid file names every problem with its line', async (t) => {
  const pasted = generateJoinToken();
  const text = [
    'tokens:', //                              1
    '  - node: node1', //                      2
    `    sha256: ${pasted}`, //                3  the token itself, pasted by mistake
    '  - node: Bad_Node', //                   4
    `    sha256: ${HASH_A}`, //                5
    `  - sha256: ${HASH_B}`, //                6  no node
    '  - node: node3', //                      7
    `    sha256: ${HASH_B}`, //                8
    '    expires: tomorrow', //                9  unknown field
    '  - node: node4', //                      10
    `    sha256: ${HASH_B}`, //                11 duplicate hash (of line 7's entry? it was refused: no)
    'extra: 1', //                             12
  ].join('\n');
  const found = problems(text);
  t.same(found, [
    'tokens.yaml:12: unknown field "extra": the file has only "tokens"',
    'tokens.yaml:3: tokens[0].sha256: must be the 64 hex characters of the token\'s SHA-256, got 47 characters',
    'tokens.yaml:4: tokens[1].node: "Bad_Node" is not a valid node name (RFC 1123 subdomain)',
    'tokens.yaml:6: tokens[2]: "node" is required',
    'tokens.yaml:9: tokens[3]: unknown field "expires" (allowed: node, sha256, created, description)',
  ]);
  t.notOk(found.join('\n').includes(pasted), 'the pasted token is not echoed');
  const dup = problems(`tokens:\n  - { node: a, sha256: ${HASH_A} }\n  - { node: b, sha256: ${HASH_A} }\n`);
  t.same(dup, ['tokens.yaml:3: tokens[1]: the same token hash is already listed at line 2; a token belongs to one entry']);
  t.match(problems('tokens: [unclosed\n')[0], /^tokens\.yaml:\d+: YAML syntax error/);
  t.same(problems('- a\n- b\n'), ['tokens.yaml:1: the file must be a mapping with a "tokens" list']);
  t.same(problems('tokens: {}\n'), ['tokens.yaml:1: "tokens" must be a list of { node, sha256 }']);
  t.same(problems('tokens:\n  - { node: a, sha256: 5 }\n'), ['tokens.yaml:2: tokens[0].sha256: must be a string']);
  try {
    parseJoinTokens(text, 'tokens.yaml');
  } catch (err) {
    t.match((err as MeshletError).message, /^join token file tokens\.yaml is invalid: tokens\.yaml:12:/, 'the message names the file and the first problem');
  }
});

t.test('create: appends a hash under a lock, keeps comments, makes the file 0600', async (t) => {
  const file = await tempFile(t);
  const first = await createJoinToken(file, { node: 'node1', now: new Date('2025-02-03T04:05:06.000Z') });
  t.equal(first.entry.sha256, hashJoinToken(first.token));
  t.equal((await stat(file)).mode & 0o777, 0o600, 'a new file is 0600');
  const text = await readFile(file, 'utf8');
  t.notOk(text.includes(first.token), 'the token itself is never written');
  t.match(text, /created: 2025-02-03T04:05:06.000Z/);

  await writeFile(file, `# managed by ops\n${text}`);
  await chmod(file, 0o644);
  const all = await Promise.all([1, 2, 3, 4].map((i) => createJoinToken(file, { node: `node${i}`, description: `host ${i}` })));
  const { entries } = await readJoinTokenFile(file);
  t.equal(entries.length, 5, 'concurrent creates lose nothing');
  t.same(new Set(entries.map((e) => e.sha256)), new Set([first, ...all].map((c) => c.entry.sha256)));
  t.match(await readFile(file, 'utf8'), /^# managed by ops\n/, 'comments are kept');
  t.equal((await stat(file)).mode & 0o777, 0o644, 'an existing file keeps its mode');
  await t.rejects(createJoinToken(file, { node: 'Not A Node' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /not a valid node name/ });
});

t.test('create refuses to touch an invalid file', async (t) => {
  const file = await tempFile(t);
  await writeFile(file, 'tokens:\n  - { node: a }\n');
  await t.rejects(createJoinToken(file, { node: 'a' }), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /"sha256" is required/ });
  t.equal(await readFile(file, 'utf8'), 'tokens:\n  - { node: a }\n', 'unchanged');
});

t.test('revoke: all of a node\'s tokens, or one by hash prefix', async (t) => {
  const file = await tempFile(t);
  const a1 = await createJoinToken(file, { node: 'a' });
  const a2 = await createJoinToken(file, { node: 'a' });
  const b = await createJoinToken(file, { node: 'b' });
  const one = await revokeJoinTokens(file, { node: 'a', sha256Prefix: a1.entry.sha256.slice(0, 12).toUpperCase() });
  t.same(one.map((e) => e.sha256), [a1.entry.sha256]);
  t.same((await readJoinTokenFile(file)).entries.map((e) => e.sha256), [a2.entry.sha256, b.entry.sha256]);
  t.same(await revokeJoinTokens(file, { node: 'a', sha256Prefix: b.entry.sha256.slice(0, 8) }), [], 'another node\'s hash matches nothing');
  await t.rejects(revokeJoinTokens(file, { node: 'a', sha256Prefix: 'abc' }), { message: /8 to 64 hex characters/ });
  const all = await revokeJoinTokens(file, { node: 'a' });
  t.same(all.map((e) => e.sha256), [a2.entry.sha256]);
  t.same((await readJoinTokenFile(file)).entries.map((e) => e.node), ['b']);
  t.same(await revokeJoinTokens(`${file}.missing`, { node: 'a' }), [], 'a missing file has nothing to revoke');
});
