/**
 * The admin token: random, written 0600 atomically, checked in constant time.
 */
import * as crypto from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { checkBearer, newAdminToken, writeAdminToken } from '../../../src/agent/admin/token.js';
import { isMeshletError } from '../../../src/mesh/errors.js';

t.test('a token is 32 random bytes in hex', async (t) => {
  const a = newAdminToken();
  t.match(a, /^[0-9a-f]{64}$/);
  t.not(newAdminToken(), a);
});

t.test('written atomically, mode 0600, in a 0700 directory it creates; replaced at the next start', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'meshlet-token-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  const file = join(base, 'run', 'meshlet', 'admin-token');
  const first = newAdminToken();
  await writeAdminToken(file, first);
  t.equal(readFileSync(file, 'utf8'), `${first}\n`);
  t.equal(statSync(file).mode & 0o777, 0o600);
  t.equal(statSync(join(base, 'run', 'meshlet')).mode & 0o777, 0o700);
  t.equal(statSync(file).uid, process.getuid?.());
  writeFileSync(file, 'loose', { mode: 0o644 });
  const second = newAdminToken();
  await writeAdminToken(file, second);
  t.equal(readFileSync(file, 'utf8'), `${second}\n`, 'the next start replaces it');
  t.equal(statSync(file).mode & 0o777, 0o600, 'with the mode set again');
});

t.test('a file that cannot be written is a configuration error naming the flag and file', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'meshlet-token-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  writeFileSync(join(base, 'not-a-dir'), '');
  const err = await writeAdminToken(join(base, 'not-a-dir', 'admin-token'), newAdminToken()).then(() => undefined, (e: unknown) => e);
  t.equal(isMeshletError(err, 'MESHLET_ERR_CONFIG_INVALID'), true);
  t.match((err as Error).message, /--admin-token-file=".*not-a-dir\/admin-token": cannot write the admin token/);
});

t.test('checkBearer: missing, wrong, right', async (t) => {
  const token = newAdminToken();
  t.equal(checkBearer(undefined, token), 'missing');
  t.equal(checkBearer('', token), 'missing');
  t.equal(checkBearer(`Bearer ${token}`, token), 'ok');
  t.equal(checkBearer(`bearer ${token}`, token), 'ok');
  t.equal(checkBearer(`Bearer ${token} `, token), 'ok');
  t.equal(checkBearer(`Bearer ${token.toUpperCase()}`, token), 'wrong', 'exact bytes');
  t.equal(checkBearer(token, token), 'wrong', 'no scheme');
  t.equal(checkBearer(`Basic ${token}`, token), 'wrong');
  t.equal(checkBearer(`Bearer ${token.slice(1)}`, token), 'wrong');
  t.equal(checkBearer(`Bearer ${token}${token}`, token), 'wrong');
  t.equal(checkBearer(`Bearer ${token} ${token}`, token), 'wrong');
});

t.test('checkBearer compares with timingSafeEqual whatever the length presented', async (t) => {
  const calls: Array<[number, number]> = [];
  const watched = (a: Buffer, b: Buffer): boolean => {
    calls.push([a.byteLength, b.byteLength]);
    return crypto.timingSafeEqual(a, b);
  };
  const check = (header: string, token: string) => checkBearer(header, token, watched);
  const token = newAdminToken();
  t.equal(check(`Bearer x`, token), 'wrong');
  t.equal(check(`Bearer ${'f'.repeat(64)}`, token), 'wrong');
  t.equal(check(`Bearer ${token}`, token), 'ok');
  t.same(calls, [[32, 32], [32, 32], [32, 32]], 'one constant-time comparison of two digests per check');
});
