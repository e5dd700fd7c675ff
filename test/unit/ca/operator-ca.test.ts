/**
 * Operator-provided CA material (`--ca-cert`, `--ca-key`, `--ca-bundle`): a root, an
 * intermediate, a two-level chain; every flaw refused naming the file; leaves issued under an
 * intermediate verify against the root alone, over a real node:tls handshake.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import { connect, createServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { CertificateAuthority, type FromFilesOptions } from '../../../src/ca/authority.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { spiffeIdsFromSubjectAltName } from '../../../src/mesh/identity.js';
import { createCsr } from '../../../src/mesh/x509.js';
import { newKey, silentLogger, tempDir, type Teardown } from './ca-fixture.js';
import { keyPool, makeCaCert, writeCaFiles } from './operator-ca-fixture.js';

const ID = 'spiffe://cluster.local/ns/demo/sa/web';
const PEER_ID = 'spiffe://cluster.local/ns/demo/sa/peer';
const HOUR = 3600_000;

// Five distinct keys: two roots, two intermediates and a stranger must not share one, or a
// signature by the wrong CA would verify.
const [rootKey, otherRootKey, intKey, int2Key, strangerKey] = (await keyPool(5)) as [string, string, string, string, string];
const root = makeCaCert({ cn: 'org root', keyPem: rootKey });
const otherRoot = makeCaCert({ cn: 'other root', keyPem: otherRootKey });
const intermediate = makeCaCert({ cn: 'mesh intermediate', keyPem: intKey, issuer: root });

async function load(t: Teardown, files: { cert: string; key: string; bundle?: string }, extra: Partial<FromFilesOptions> = {}): Promise<CertificateAuthority> {
  const paths = await writeCaFiles(await tempDir(t), files);
  return CertificateAuthority.fromFiles({ ...paths, trustDomain: 'cluster.local', logger: silentLogger, ...extra });
}

async function refusal(t: Teardown, files: { cert: string; key: string; bundle?: string }): Promise<string> {
  try {
    await load(t, files);
  } catch (err) {
    if (isMeshletError(err, 'MESHLET_ERR_CA')) return err.message;
    throw err;
  }
  throw new Error('the material was accepted');
}

async function issue(ca: CertificateAuthority, identity: string): Promise<{ keyPem: string; chainPem: string }> {
  const keyPem = await newKey();
  return { keyPem, chainPem: ca.sign(createCsr({ identity, privateKeyPem: keyPem }), { identity }).chainPem };
}

function pemCount(pem: string): number {
  return pem.match(/BEGIN CERTIFICATE/g)?.length ?? 0;
}

t.test('an operator root signs, and is the trust bundle', async (t) => {
  const ca = await load(t, { cert: root.certPem, key: root.keyPem });
  t.equal(ca.signerKind, 'root');
  t.equal(ca.intermediatesPem, '');
  t.equal(new X509Certificate(ca.trustBundlePem).fingerprint256, new X509Certificate(root.certPem).fingerprint256);
  const { chainPem } = await issue(ca, ID);
  t.equal(pemCount(chainPem), 1, 'the chain is the leaf alone');
  t.ok(new X509Certificate(chainPem).verify(new X509Certificate(root.certPem).publicKey), 'the leaf verifies with the root key');
});

t.test('a root with a bundle: the bundle (which must hold it) is what peers trust', async (t) => {
  const ca = await load(t, { cert: root.certPem, key: root.keyPem, bundle: root.certPem + otherRoot.certPem });
  t.equal(pemCount(ca.trustBundlePem), 2, 'both roots are trusted (a root rotation)');
  t.match(await refusal(t, { cert: root.certPem, key: root.keyPem, bundle: otherRoot.certPem }), /is a root but .*roots\.pem does not hold it/);
});

t.test('an intermediate: chains carry it, the bundle is the root', async (t) => {
  const ca = await load(t, { cert: intermediate.certPem, key: intermediate.keyPem, bundle: root.certPem });
  t.equal(ca.signerKind, 'intermediate');
  t.equal(pemCount(ca.trustBundlePem), 1);
  t.equal(new X509Certificate(ca.trustBundlePem).subject, new X509Certificate(root.certPem).subject, 'trust bundle = the root');
  const { chainPem } = await issue(ca, ID);
  const certs = chainPem.match(/-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g) ?? [];
  t.equal(certs.length, 2, 'leaf + intermediate');
  const [leaf, inter] = certs.map((pem) => new X509Certificate(pem)) as [X509Certificate, X509Certificate];
  t.ok(leaf.verify(inter.publicKey), 'the leaf is signed by the intermediate');
  t.equal(inter.fingerprint256, new X509Certificate(intermediate.certPem).fingerprint256);
});

t.test('a two-level chain file (a root at its end is dropped) presents both intermediates', async (t) => {
  const lower = makeCaCert({ cn: 'lower intermediate', keyPem: int2Key, issuer: intermediate });
  const ca = await load(t, { cert: lower.certPem + intermediate.certPem + root.certPem, key: lower.keyPem, bundle: root.certPem });
  t.equal(pemCount(ca.intermediatesPem), 2, 'lower + upper, not the root');
  const { chainPem } = await issue(ca, ID);
  t.equal(pemCount(chainPem), 3);
});

t.test('a leaf under an intermediate verifies with node:tls against the root alone', async (t) => {
  const ca = await load(t, { cert: intermediate.certPem, key: intermediate.keyPem, bundle: root.certPem });
  const server = await issue(ca, ID);
  const client = await issue(ca, PEER_ID);
  const result = await mutualTls(t, server, client, root.certPem);
  t.same(result, { serverSaw: [PEER_ID], clientSaw: [ID] }, 'both sides verified the other to the root and read its SPIFFE ID');
});

t.test('refused: a key that does not match the certificate', async (t) => {
  t.match(await refusal(t, { cert: intermediate.certPem, key: strangerKey, bundle: root.certPem }), /ca\.key does not match the certificate .*ca\.crt/);
});

t.test('refused: a certificate that is not a CA, or may not sign certificates', async (t) => {
  const notCa = makeCaCert({ cn: 'server', keyPem: intKey, issuer: root, ca: false });
  t.match(await refusal(t, { cert: notCa.certPem, key: notCa.keyPem, bundle: root.certPem }), /is not a CA certificate/);
  const noSign = makeCaCert({ cn: 'no sign', keyPem: intKey, issuer: root, keyCertSign: false });
  t.match(await refusal(t, { cert: noSign.certPem, key: noSign.keyPem, bundle: root.certPem }), /certificate 1 in .*ca\.crt \(.*CN=no sign\) may not sign certificates \(keyUsage lacks keyCertSign\)/);
});

t.test('refused: expired or not yet valid certificates, the signer\'s or the root\'s', async (t) => {
  const expired = makeCaCert({ cn: 'old', keyPem: intKey, issuer: root, notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - HOUR) });
  t.match(await refusal(t, { cert: expired.certPem, key: expired.keyPem, bundle: root.certPem }), /expired on/);
  const future = makeCaCert({ cn: 'future', keyPem: intKey, issuer: root, notBefore: new Date(Date.now() + 24 * HOUR) });
  t.match(await refusal(t, { cert: future.certPem, key: future.keyPem, bundle: root.certPem }), /CN=future\) is not valid before/);
  const oldRoot = makeCaCert({ cn: 'old root', keyPem: rootKey, notBefore: new Date(Date.now() - 48 * HOUR), notAfter: new Date(Date.now() - HOUR) });
  const underOld = makeCaCert({ cn: 'under old', keyPem: intKey, issuer: oldRoot });
  t.match(await refusal(t, { cert: underOld.certPem, key: underOld.keyPem, bundle: oldRoot.certPem }), /certificate 1 in .*roots\.pem .*expired on/);
});

t.test('refused: a chain that does not verify to the bundle, or has a broken link', async (t) => {
  t.match(
    await refusal(t, { cert: intermediate.certPem, key: intermediate.keyPem, bundle: otherRoot.certPem }),
    /the chain does not verify to a root in .*roots\.pem: no root there signed .*CN=mesh intermediate/,
  );
  // Same subject as the real root, another key: names match, the signature does not.
  const impostor = makeCaCert({ cn: 'org root', keyPem: strangerKey });
  t.match(await refusal(t, { cert: intermediate.certPem, key: intermediate.keyPem, bundle: impostor.certPem }), /does not verify to a root/);
  const unrelated = makeCaCert({ cn: 'unrelated', keyPem: int2Key, issuer: otherRoot });
  t.match(
    await refusal(t, { cert: intermediate.certPem + unrelated.certPem, key: intermediate.keyPem, bundle: root.certPem }),
    /certificate 1 in .*CN=mesh intermediate\) is not signed by the next one, certificate 2/,
  );
  t.match(await refusal(t, { cert: intermediate.certPem, key: intermediate.keyPem }), /is an intermediate: give the roots above it in a bundle \(--ca-bundle\)/);
  t.match(await refusal(t, { cert: intermediate.certPem, key: intermediate.keyPem, bundle: intermediate.certPem }), /is not a root \(not self-signed\)/);
});

t.test('refused: a path length the chain breaks; another trust domain; unreadable files', async (t) => {
  const leafOnlyRoot = makeCaCert({ cn: 'strict root', keyPem: otherRootKey, pathLen: 0 });
  const under = makeCaCert({ cn: 'under strict', keyPem: intKey, issuer: leafOnlyRoot });
  t.match(await refusal(t, { cert: under.certPem, key: under.keyPem, bundle: leafOnlyRoot.certPem }), /allows 0 CA certificate\(s\) below it \(pathLenConstraint\), the chain has 1/);
  const foreign = makeCaCert({ cn: 'foreign', keyPem: intKey, issuer: root, trustDomain: 'example.org' });
  t.match(await refusal(t, { cert: foreign.certPem, key: foreign.keyPem, bundle: root.certPem }), /is the root of spiffe:\/\/example\.org, not of trust domain cluster\.local/);
  t.match(await refusal(t, { cert: 'not a certificate', key: root.keyPem }), /holds no PEM certificate|not a readable/);
  const dir = await tempDir(t);
  await t.rejects(
    CertificateAuthority.fromFiles({ certFile: `${dir}/missing.crt`, keyFile: `${dir}/missing.key`, trustDomain: 'cluster.local', logger: silentLogger }),
    { code: 'MESHLET_ERR_CA', message: /missing\.crt cannot be read/ },
  );
});

t.test('a leaf never outlives a root that expires before the intermediate', async (t) => {
  const shortRoot = makeCaCert({ cn: 'short root', keyPem: otherRootKey, notAfter: new Date(Date.now() + 2 * HOUR) });
  const longInt = makeCaCert({ cn: 'long int', keyPem: intKey, issuer: shortRoot, notAfter: new Date(Date.now() + 365 * 24 * HOUR) });
  const ca = await load(t, { cert: longInt.certPem, key: longInt.keyPem, bundle: shortRoot.certPem });
  const key = await newKey();
  const issued = ca.sign(createCsr({ identity: ID, privateKeyPem: key }), { identity: ID, ttlSeconds: 86_400 });
  t.ok(issued.notAfter <= shortRoot.cert.validity.notAfter, `notAfter ${issued.notAfter.toISOString()} is not past the root's`);
  t.ok(issued.notAfter.getTime() > Date.now() + HOUR, 'and is still close to it');
});

/** A mutual TLS handshake; each side trusts `rootPem` only and reports the peer's SPIFFE IDs. */
async function mutualTls(
  t: Teardown,
  server: { keyPem: string; chainPem: string },
  client: { keyPem: string; chainPem: string },
  rootPem: string,
): Promise<{ serverSaw: string[]; clientSaw: string[] } | string> {
  const ids = (s: TLSSocket): string[] => spiffeIdsFromSubjectAltName(s.getPeerCertificate().subjectaltname ?? '');
  const srv = createServer({ key: server.keyPem, cert: server.chainPem, ca: rootPem, requestCert: true, rejectUnauthorized: true });
  const serverSaw = new Promise<string[]>((resolve) => srv.on('secureConnection', (s) => { resolve(ids(s)); s.end('ok'); }));
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  t.teardown(() => srv.close());
  const { port } = srv.address() as AddressInfo;
  const clientSaw = new Promise<string[] | string>((resolve) => {
    const socket = connect({
      host: '127.0.0.1',
      port,
      key: client.keyPem,
      cert: client.chainPem,
      ca: rootPem,
      checkServerIdentity: (_h, cert) => (spiffeIdsFromSubjectAltName(cert.subjectaltname ?? '').includes(ID) ? undefined : new Error('wrong id')),
    });
    t.teardown(() => socket.destroy());
    socket.on('secureConnect', () => resolve(ids(socket)));
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((resolve) => (timer = setTimeout(() => resolve('timeout'), 5000)));
  t.teardown(() => clearTimeout(timer));
  const c = await Promise.race([clientSaw, timeout]);
  if (typeof c === 'string') return c;
  const s = await Promise.race([serverSaw, timeout]);
  return typeof s === 'string' ? s : { serverSaw: s, clientSaw: c };
}
