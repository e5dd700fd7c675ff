/**
 * The join token authenticator: a node's token admits that node only; every refusal says why
 * without the token; the file is reloaded when it changes, and a bad edit (or a deleted file)
 * keeps the previous tokens.
 */
import t from 'tap';
import { mkdtemp, rm, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { JoinTokenAuthenticator } from '../../../../src/controller/auth/join-token-authenticator.js';
import { createJoinToken, revokeJoinTokens } from '../../../../src/controller/auth/join-token-edit.js';
import { generateJoinToken, hashJoinToken } from '../../../../src/controller/auth/join-token-file.js';
import { isMeshletError } from '../../../../src/mesh/errors.js';
import { captureLogs } from './auth-fixtures.js';

type T = { teardown(fn: () => unknown): void };

async function setup(t: T, text?: string): Promise<{ file: string; auth: JoinTokenAuthenticator; logs: ReturnType<typeof captureLogs> }> {
  const dir = await mkdtemp(join(tmpdir(), 'meshlet-jta-'));
  t.teardown(() => rm(dir, { recursive: true, force: true }));
  const file = join(dir, 'join-tokens.yaml');
  if (text !== undefined) await writeFile(file, text);
  const logs = captureLogs();
  const auth = new JoinTokenAuthenticator({ file, logger: logs.logger });
  t.teardown(() => auth.close());
  return { file, auth, logs };
}

/** The error `authenticate` throws, or 'accepted'. */
async function outcome(auth: JoinTokenAuthenticator, authorization: string | undefined, node: string | undefined): Promise<string> {
  try {
    const p = await auth.authenticate({ ...(authorization === undefined ? {} : { authorization }), ...(node === undefined ? {} : { node }) });
    return `accepted ${p.node} ${p.method}`;
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_UNAUTHENTICATED')) return err.message;
    throw err;
  }
}

/** Polls `check` every 25 ms for up to 3 s (fs events and the 100 ms debounce). */
async function eventually(check: () => Promise<boolean>): Promise<boolean> {
  for (let i = 0; i < 120; i++) {
    if (await check()) return true;
    await sleep(25);
  }
  return false;
}

const tokenA = generateJoinToken();
const tokenA2 = generateJoinToken();
const tokenB = generateJoinToken();
const FILE = `tokens:
  - { node: node-a, sha256: ${hashJoinToken(tokenA)} }
  - { node: node-a, sha256: ${hashJoinToken(tokenA2)} }
  - { node: node-b, sha256: ${hashJoinToken(tokenB)} }
`;

t.test('a node\'s token admits that node, and only it', async (t) => {
  const { auth, logs } = await setup(t, FILE);
  t.same(await auth.start(), { tokens: 3, nodes: 2 });
  t.equal(await outcome(auth, `Bearer ${tokenA}`, 'node-a'), 'accepted node-a join-token');
  t.equal(await outcome(auth, `bearer  ${tokenA2} `, 'node-a'), 'accepted node-a join-token', 'both of a rotating node\'s tokens work');
  t.equal(await outcome(auth, `Bearer ${tokenB}`, 'node-a'), 'the join token is not valid for node "node-a"', 'another node\'s token');
  t.equal(await outcome(auth, `Bearer ${tokenA}`, 'node-c'), 'the join token is not valid for node "node-c"', 'an unknown node');
  t.equal(await outcome(auth, `Bearer ${generateJoinToken()}`, 'node-a'), 'the join token is not valid for node "node-a"', 'an unknown token');
  t.match(await outcome(auth, `Bearer ${tokenA}`, undefined), /^no x-meshlet-node metadata/);
  t.match(await outcome(auth, undefined, 'node-a'), /^no authorization metadata/);
  t.match(await outcome(auth, `Basic ${tokenA}`, 'node-a'), /not a single "Bearer <token>" credential/);
  t.match(await outcome(auth, 'Bearer a b', 'node-a'), /not a single "Bearer <token>" credential/);
  t.match(await outcome(auth, 'Bearer tok"en', 'node-a'), /characters outside the token alphabet/);
  t.match(await outcome(auth, `Bearer ${'x'.repeat(9000)}`, 'node-a'), /longer than 8192 characters/);
  const refusals = logs.lines.filter((l) => l.msg === 'join token refused');
  t.same(refusals.map((l) => l['node']), ['node-a', 'node-c', 'node-a'], 'each refusal is logged with the node');
  for (const tok of [tokenA, tokenA2, tokenB]) t.notOk(logs.text().includes(tok), 'no token in the logs');
});

t.test('no error message ever contains the token', async (t) => {
  const { auth } = await setup(t, FILE);
  await auth.start();
  for (const [authorization, node] of [[`Bearer ${tokenB}`, 'node-a'], [`Bearer ${tokenA}`, undefined], [`Token ${tokenA}`, 'node-a']] as const) {
    const message = await outcome(auth, authorization, node);
    t.notOk(message.includes(tokenA) || message.includes(tokenB), message);
  }
});

t.test('edits are picked up; a bad edit or a deleted file keeps the previous tokens', async (t) => {
  const { file, auth, logs } = await setup(t, FILE);
  await auth.start();
  const created = await createJoinToken(file, { node: 'node-c' });
  t.ok(await eventually(async () => (await outcome(auth, `Bearer ${created.token}`, 'node-c')).startsWith('accepted')), 'a created token works without a restart');
  await revokeJoinTokens(file, { node: 'node-b' });
  t.ok(await eventually(async () => !(await outcome(auth, `Bearer ${tokenB}`, 'node-b')).startsWith('accepted')), 'a revoked token stops working');

  await writeFile(file, 'tokens:\n  - { node: node-a }\n');
  t.ok(await eventually(async () => logs.lines.some((l) => l.msg?.startsWith('join token file rejected') === true)), 'the bad edit is logged');
  const rejected = logs.lines.find((l) => l.msg?.startsWith('join token file rejected') === true);
  t.match(rejected?.['problems'], [/join-tokens\.yaml:2: tokens\[0\]: "sha256" is required/], 'with its line');
  t.equal(await outcome(auth, `Bearer ${tokenA}`, 'node-a'), 'accepted node-a join-token', 'the previous tokens stay');
  t.equal(await outcome(auth, `Bearer ${created.token}`, 'node-c'), 'accepted node-c join-token');

  await unlink(file);
  t.notOk(await auth.reload(), 'a deleted file is not applied');
  t.equal(await outcome(auth, `Bearer ${tokenA}`, 'node-a'), 'accepted node-a join-token', 'and changes nothing');
  auth.close();
  auth.close();
  // Closed for good, and twice is as good as once: a valid file written now is not applied.
  await writeFile(file, `tokens:\n  - { node: node-c, sha256: ${created.entry.sha256} }\n`);
  t.equal(await auth.reload(), false, 'a closed authenticator reloads nothing');
  t.equal(await outcome(auth, `Bearer ${tokenA}`, 'node-a'), 'accepted node-a join-token', 'the tokens in force stay');
});

t.test('start refuses a missing or invalid file', async (t) => {
  const missing = await setup(t);
  await t.rejects(missing.auth.start(), { code: 'MESHLET_ERR_CONFIG_INVALID', message: /join token file .*join-tokens\.yaml cannot be read/ });
  const bad = await setup(t, `tokens:\n  - { node: a, sha256: ${tokenA} }\n`);
  const err = await bad.auth.start().catch((e: unknown) => e);
  t.ok(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'));
  t.match((err as Error).message, /join-tokens\.yaml:2: tokens\[0\]\.sha256: must be the 64 hex characters/);
  t.notOk((err as Error).message.includes(tokenA), 'a pasted token is not echoed');
});
