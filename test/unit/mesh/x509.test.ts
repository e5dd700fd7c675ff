/**
 * X.509 helpers: CSRs carry the SPIFFE ID, certificateInfo reads issued certificates (and the
 * leaf of a chain), bad input is MESHLET_ERR_CERT.
 */
import t from 'tap';
import { generateKeyPairSync } from 'node:crypto';
import forge from 'node-forge';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { certificateInfo, createCsr, nodeRsaSigner } from '../../../src/mesh/x509.js';
import { issue, newCa } from '../ca/ca-fixture.js';
import { thrown } from './fixture.js';

const ID = 'spiffe://cluster.local/ns/demo/sa/web';

function rsaKey(bits: number): string {
  return generateKeyPairSync('rsa', { modulusLength: bits, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).privateKey;
}

t.test('createCsr makes a signed CSR with the SPIFFE ID as its only SAN', async (t) => {
  const key = rsaKey(2048);
  const pem = createCsr({ identity: ID, privateKeyPem: key });
  t.match(pem, /^-----BEGIN CERTIFICATE REQUEST-----/);
  const csr = forge.pki.certificationRequestFromPem(pem);
  t.ok(csr.verify(), 'signature verifies');
  const attr = csr.getAttribute({ name: 'extensionRequest' }) as unknown as { extensions: { name: string; altNames: { type: number; value: string }[] }[] };
  t.same(attr.extensions.map((e) => [e.name, e.altNames]), [['subjectAltName', [{ type: 6, value: ID }]]]);
  t.same(csr.subject.attributes, [], 'empty subject');
  const pub = forge.pki.publicKeyToPem(csr.publicKey as forge.pki.rsa.PublicKey);
  const { createPublicKey } = await import('node:crypto');
  t.equal(pub.replace(/\r/g, ''), createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString(), 'for the given key');
  const pkcs1 = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs1', format: 'pem' } }).privateKey;
  t.ok(forge.pki.certificationRequestFromPem(createCsr({ identity: ID, privateKeyPem: pkcs1 })).verify(), 'PKCS#1 keys work too');
});

t.test('createCsr refuses bad identities and keys', async (t) => {
  const cases: [string, () => unknown, RegExp][] = [
    ['not a SPIFFE ID', () => createCsr({ identity: 'web', privateKeyPem: rsaKey(2048) }), /invalid SPIFFE ID "web"/],
    ['not a key', () => createCsr({ identity: ID, privateKeyPem: 'nope' }), /CSR private key is not a readable PEM private key/],
    ['small RSA', () => createCsr({ identity: ID, privateKeyPem: rsaKey(1024) }), /must be RSA of at least 2048 bits, got rsa 1024/],
    [
      'EC key',
      () => createCsr({ identity: ID, privateKeyPem: generateKeyPairSync('ec', { namedCurve: 'P-256', publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } }).privateKey }),
      /must be RSA .* got ec/,
    ],
  ];
  for (const [name, run, match] of cases) {
    const err = thrown(run);
    t.ok(isMeshletError(err, 'MESHLET_ERR_CERT'), `${name}: MESHLET_ERR_CERT`);
    t.match((err as Error).message, match, name);
  }
});

t.test('certificateInfo reads the leaf of a chain', async (t) => {
  const ca = await newCa(t);
  const creds = await issue(ca, ID, 600);
  const info = certificateInfo(`${creds.chainPem}${ca.trustBundlePem}`);
  t.same(info.identities, [ID], 'the leaf, not the root that follows it');
  t.equal(info.notAfter.getTime() - info.notBefore.getTime(), 600_000 + 300_000);
  t.match(info.serial, /^[0-9a-f]+$/);
  t.same(certificateInfo(ca.trustBundlePem).identities, ['spiffe://cluster.local'], 'the root names its trust domain');
  const err = thrown(() => certificateInfo('-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n'));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CERT'));
});

t.test('nodeRsaSigner signs exactly as forge would, and refuses other digests', async (t) => {
  const pem = rsaKey(2048);
  const { createPrivateKey } = await import('node:crypto');
  const signer = nodeRsaSigner(createPrivateKey(pem));
  const digest = (): forge.md.MessageDigest => forge.md.sha256.create().update('meshlet');
  t.equal(signer.sign(digest()), forge.pki.privateKeyFromPem(pem).sign(digest()), 'PKCS#1 v1.5 is deterministic: same bytes');
  const err = thrown(() => signer.sign(forge.md.sha1.create().update('x')));
  t.ok(isMeshletError(err, 'MESHLET_ERR_CERT'));
});
