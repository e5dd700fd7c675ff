/**
 * The CA's storage: first-run creation, reloading, refusing broken material, and several
 * processes racing on one empty directory.
 */
import t from 'tap';
import { spawn } from 'node:child_process';
import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createHash, X509Certificate } from 'node:crypto';
import { pino } from 'pino';
import forge from 'node-forge';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { silentLogger, tempDir } from './ca-fixture.js';

const TD = 'cluster.local';

function load(dir: string, trustDomain = TD, lockTimeoutMs?: number): Promise<CertificateAuthority> {
  return CertificateAuthority.loadOrCreate({ dir, trustDomain, logger: silentLogger, lockTimeoutMs });
}

t.test('first run creates a root with the documented profile and file modes', async (t) => {
  const dir = await tempDir(t);
  const ca = await load(dir);
  t.equal((await stat(join(dir, 'ca.crt'))).mode & 0o777, 0o644, 'ca.crt is 0644');
  t.equal((await stat(join(dir, 'ca.key'))).mode & 0o777, 0o600, 'ca.key is 0600');
  t.equal(await readFile(join(dir, 'ca.crt'), 'utf8'), ca.trustBundlePem, 'trust bundle is the root file');
  await t.rejects(stat(join(dir, 'ca.lock')), 'the lock is gone');

  const x509 = new X509Certificate(ca.trustBundlePem);
  t.ok(x509.ca, 'CA:true');
  t.equal(x509.subject, 'O=meshlet\nCN=meshlet root CA cluster.local');
  t.equal(x509.subjectAltName, 'URI:spiffe://cluster.local');
  t.ok(x509.verify(x509.publicKey), 'self-signed');
  t.equal(x509.publicKey.asymmetricKeyDetails?.modulusLength, 2048, 'RSA 2048');
  const cert = forge.pki.certificateFromPem(ca.trustBundlePem);
  const bc = cert.getExtension('basicConstraints') as { cA: boolean; critical: boolean };
  t.same([bc.cA, bc.critical], [true, true], 'basicConstraints CA:true, critical');
  const ku = cert.getExtension('keyUsage') as Record<string, boolean>;
  t.same([ku['keyCertSign'], ku['cRLSign'], ku['critical'], ku['digitalSignature']], [true, true, true, false], 'keyCertSign+cRLSign, critical');
  const years = (cert.validity.notAfter.getTime() - cert.validity.notBefore.getTime()) / (365 * 86_400_000);
  t.ok(Math.abs(years - 10) < 0.01, `valid 10 years (found ${years.toFixed(3)}, wanted 10 ± 0.01)`);
  t.equal(ca.root.serial, cert.serialNumber.toLowerCase());
});

t.test('a second start loads the same root', async (t) => {
  const dir = await tempDir(t);
  const first = await load(dir);
  const second = await load(dir);
  t.equal(second.trustBundlePem, first.trustBundlePem);
  t.equal(second.root.serial, first.root.serial);
});

t.test('broken material is refused, named, and left as it was', async (t) => {
  const cases: { name: string; damage: (dir: string, other: string) => Promise<void>; match: RegExp }[] = [
    { name: 'corrupt certificate', damage: (d) => writeFile(join(d, 'ca.crt'), 'not a certificate\n'), match: /ca\.crt is not a readable PEM/ },
    { name: 'corrupt key', damage: (d) => writeFile(join(d, 'ca.key'), '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n'), match: /ca\.key is not a usable CA key/ },
    {
      name: 'key of another CA',
      damage: async (d, o) => writeFile(join(d, 'ca.key'), await readFile(join(o, 'ca.key'))),
      match: /ca\.key does not match the certificate .*ca\.crt/,
    },
    { name: 'missing certificate', damage: (d) => unlink(join(d, 'ca.crt')), match: /incomplete: .*ca\.crt is missing/ },
  ];
  const other = await tempDir(t);
  await load(other);
  for (const c of cases) {
    const dir = await tempDir(t);
    await load(dir);
    await c.damage(dir, other);
    const before = await Promise.all(['ca.crt', 'ca.key'].map((f) => readFile(join(dir, f), 'utf8').catch(() => 'absent')));
    const err = await load(dir).then(() => undefined, (e: unknown) => e);
    t.ok(isMeshletError(err, 'MESHLET_ERR_CA'), `${c.name}: MESHLET_ERR_CA`);
    t.match((err as Error).message, c.match, `${c.name}: names the file`);
    const after = await Promise.all(['ca.crt', 'ca.key'].map((f) => readFile(join(dir, f), 'utf8').catch(() => 'absent')));
    t.same(after, before, `${c.name}: nothing was replaced`);
  }
});

t.test('a root of another trust domain is refused', async (t) => {
  const dir = await tempDir(t);
  await load(dir, 'example.org');
  const err = await load(dir, TD).then(() => undefined, (e: unknown) => e);
  t.ok(isMeshletError(err, 'MESHLET_ERR_CA'));
  t.match((err as Error).message, /root of spiffe:\/\/example\.org, not of trust domain cluster\.local/);
});

t.test('a lock left by a crashed creator ends in a bounded wait and a clear error', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'ca.lock'), '999999 2020-01-01T00:00:00.000Z\n');
  const started = Date.now();
  const err = await load(dir, TD, 300).then(() => undefined, (e: unknown) => e);
  t.ok(isMeshletError(err, 'MESHLET_ERR_CA'));
  t.match((err as Error).message, /timed out after 300 ms waiting for the CA lock .*ca\.lock \(held by pid and time: 999999 /);
  t.ok(Date.now() - started < 5000, 'gave up in time');
});

/** Starts a separate node process that loads the CA from `dir` and prints what it got. */
function childLoad(dir: string): Promise<{ sha: string; created: boolean }> {
  const authority = new URL('../../../src/ca/authority.js', import.meta.url).href;
  const code = `
    import { createHash } from 'node:crypto';
    const { CertificateAuthority } = await import(${JSON.stringify(authority)});
    let created = false;
    const logger = { child() { return logger; }, info(fields) { created = fields.created; } };
    const ca = await CertificateAuthority.loadOrCreate({ dir: process.argv[1], trustDomain: 'cluster.local', logger });
    console.log(JSON.stringify({ sha: createHash('sha256').update(ca.trustBundlePem).digest('hex'), created }));`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', code, dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.on('close', (status) => {
      clearTimeout(timer);
      if (status === 0) resolve(JSON.parse(out) as { sha: string; created: boolean });
      else reject(new Error(`child exited ${status}: ${out}`));
    });
  });
}

const sha256 = (text: string | Buffer): string => createHash('sha256').update(text).digest('hex');

t.test('processes starting at once on one empty directory end with one root', async (t) => {
  const dir = await tempDir(t);
  const results = await Promise.all([childLoad(dir), childLoad(dir), childLoad(dir)]);
  t.equal(new Set(results.map((r) => r.sha)).size, 1, 'every process has the same root');
  t.equal(results[0]?.sha, sha256(await readFile(join(dir, 'ca.crt'))), 'and it is the one on disk');
  t.equal(results.filter((r) => r.created).length, 1, 'exactly one process created it');
});

t.test('concurrent calls in one process end with one root', async (t) => {
  const dir = await tempDir(t);
  const created: boolean[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => created.push((JSON.parse(line) as { created: boolean }).created) });
  const start = (): Promise<CertificateAuthority> => CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const cas = await Promise.all([start(), start(), start()]);
  t.equal(new Set(cas.map((ca) => ca.trustBundlePem)).size, 1, 'every call has the same root');
  t.same(created.filter(Boolean), [true], 'exactly one call created it');
});
