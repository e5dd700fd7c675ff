/**
 * Workload certificate issuing: the certificate profile, the validity window, and every CSR the
 * CA must refuse.
 */
import t from 'tap';
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { CLOCK_SKEW_MS, randomSerialHex } from '../../../src/ca/certificate-fields.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { certificateInfo, createCsr } from '../../../src/mesh/x509.js';
import { newCa, newKey } from './ca-fixture.js';

const ID_A = 'spiffe://cluster.local/ns/demo/sa/a';
const ID_B = 'spiffe://cluster.local/ns/demo/sa/b';

/** Runs `fn`, returning the error it throws (or undefined). */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

t.test('an issued certificate has the X.509-SVID profile', async (t) => {
  const now = new Date('2030-05-01T12:00:00.000Z');
  const ca = await newCa(t, { now: () => now });
  const key = await newKey();
  const issued = ca.sign(createCsr({ identity: ID_A, privateKeyPem: key }), { identity: ID_A, ttlSeconds: 3600 });
  t.equal(issued.chainPem, issued.certificatePem, 'no intermediates: the chain is the leaf');

  const x509 = new X509Certificate(issued.certificatePem);
  t.equal(x509.subjectAltName, `URI:${ID_A}`, 'the SPIFFE ID is the only name');
  t.notOk(x509.ca, 'CA:false');
  t.ok(x509.verify(new X509Certificate(ca.trustBundlePem).publicKey), 'signed by the root');
  t.ok(x509.checkPrivateKey(await import('node:crypto').then((c) => c.createPrivateKey(key))), 'for the CSR key');
  t.same(x509.keyUsage?.sort(), ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'], 'extKeyUsage serverAuth+clientAuth');

  const cert = forge.pki.certificateFromPem(issued.certificatePem);
  t.same(cert.subject.attributes, [], 'empty subject');
  const ext = (name: string): Record<string, unknown> => cert.getExtension(name) as Record<string, unknown>;
  t.same([ext('subjectAltName')['critical'], ext('basicConstraints')['critical'], ext('basicConstraints')['cA']], [true, true, false]);
  t.same([ext('keyUsage')['digitalSignature'], ext('keyUsage')['keyEncipherment'], ext('keyUsage')['keyCertSign'], ext('keyUsage')['critical']], [true, true, false, true]);
  const rootSki = (forge.pki.certificateFromPem(ca.trustBundlePem).getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier: string }).subjectKeyIdentifier;
  t.ok(forge.util.bytesToHex((ext('authorityKeyIdentifier')['value'] as string) ?? '').includes(rootSki), 'an authority key identifier pointing at the root key');

  t.equal(issued.notBefore.getTime(), now.getTime() - CLOCK_SKEW_MS, 'notBefore = now - 5 min');
  t.equal(issued.notAfter.getTime(), now.getTime() + 3600_000, 'notAfter = now + ttl');
  const info = certificateInfo(issued.chainPem);
  t.same(info, { serial: issued.serial, notBefore: issued.notBefore, notAfter: issued.notAfter, identities: [ID_A] }, 'certificateInfo agrees');
  t.match(issued.serial, /^(00[89a-f][0-9a-f]{31}|[1-7][0-9a-f]{31}|0[1-9a-f][0-9a-f]{30})$/, 'a positive 128-bit serial, minimally encoded');
});

t.test('the default TTL is 24 h, and a leaf never outlives the root', async (t) => {
  let now = new Date();
  const ca = await newCa(t, { now: () => now });
  const csr = createCsr({ identity: ID_A, privateKeyPem: await newKey() });
  const day = ca.sign(csr, { identity: ID_A });
  t.equal(day.notAfter.getTime() - day.notBefore.getTime(), 86_400_000 + CLOCK_SKEW_MS);
  now = new Date(ca.root.notAfter.getTime() - 3600_000);
  const capped = ca.sign(csr, { identity: ID_A, ttlSeconds: 86_400 });
  t.equal(capped.notAfter.getTime(), ca.root.notAfter.getTime(), 'capped at the root notAfter');
});

t.test('serials are random and positive', async (t) => {
  const serials = new Set(Array.from({ length: 2000 }, () => randomSerialHex()));
  t.equal(serials.size, 2000, 'no repeats');
  for (const s of serials) {
    const der = Buffer.from(s, 'hex');
    if (der[0] === 0 ? (der[1] ?? 0) < 0x80 : (der[0] ?? 0) >= 0x80) t.fail(`bad serial encoding ${s}`);
  }
  t.ok([...serials].some((s) => s.startsWith('00')), 'high-bit serials get a 00 byte');
});

t.test('the CA refuses bad requests with MESHLET_ERR_CERT', async (t) => {
  const ca = await newCa(t);
  const key = await newKey();
  const csrA = createCsr({ identity: ID_A, privateKeyPem: key });
  const cases: { name: string; run: () => unknown; match: RegExp }[] = [
    { name: 'a CSR for A presented as B', run: () => ca.sign(csrA, { identity: ID_B }), match: /CSR asks for spiffe:\/\/cluster\.local\/ns\/demo\/sa\/a, not the identity being issued, spiffe:\/\/cluster\.local\/ns\/demo\/sa\/b/ },
    { name: 'another trust domain', run: () => ca.sign(csrA, { identity: 'spiffe://other.org/ns/demo/sa/a' }), match: /outside this CA's trust domain cluster\.local/ },
    { name: 'not a SPIFFE ID', run: () => ca.sign(csrA, { identity: 'https://x/ns/a/sa/b' }), match: /invalid SPIFFE ID "https:\/\/x\/ns\/a\/sa\/b"/ },
    { name: 'garbage CSR', run: () => ca.sign('hello', { identity: ID_A }), match: /not a readable PEM RSA certificate request/ },
    { name: 'zero TTL', run: () => ca.sign(csrA, { identity: ID_A, ttlSeconds: 0 }), match: /ttlSeconds must be an integer/ },
    { name: 'tampered CSR', run: () => ca.sign(tamper(csrA), { identity: ID_B }), match: /invalid signature/ },
    { name: 'CSR without a SPIFFE name', run: () => ca.sign(csrWithout(key), { identity: ID_A }), match: /CSR asks for no URI name/ },
  ];
  for (const c of cases) {
    const err = thrown(c.run);
    t.ok(isMeshletError(err, 'MESHLET_ERR_CERT'), `${c.name}: MESHLET_ERR_CERT`);
    t.match((err as Error | undefined)?.message, c.match, `${c.name}: says why`);
  }
});

/** The CSR with its SAN changed to ID_B after signing: the signature no longer matches. */
function tamper(csrPem: string): string {
  const csr = forge.pki.certificationRequestFromPem(csrPem);
  const signature: unknown = csr.signature;
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: ID_B }] }] }]);
  // Re-encode the request info with the new SAN but keep the old signature.
  (csr as unknown as { certificationRequestInfo: unknown }).certificationRequestInfo = null;
  csr.signature = signature;
  return forge.pki.certificationRequestToPem(csr);
}

/** A properly signed CSR that carries no subjectAltName at all. */
function csrWithout(keyPem: string): string {
  const key = forge.pki.privateKeyFromPem(keyPem);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(key.n, key.e);
  csr.setSubject([{ shortName: 'CN', value: 'a' }]);
  csr.sign(key, forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

t.test('a CSR whose signature is shorter than its modulus is MESHLET_ERR_CERT, not forge\'s Error (found by fuzzing)', async (t) => {
  // The fuzzer flipped a byte of a CSR's modulus: the key stayed in the allowed size, the
  // 256-byte signature no longer fit it, and forge's verify threw "Encrypted message length is
  // invalid." as a bare Error, which the agent API answered with INTERNAL.
  const ca = await newCa(t);
  const signer = forge.pki.privateKeyFromPem(await newKey());
  const modulus = new forge.jsbn.BigInteger(`c${'5'.repeat(766)}1`, 16); // 3072 bits, odd
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(modulus, new forge.jsbn.BigInteger('65537'));
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: ID_A }] }] }]);
  csr.sign(signer, forge.md.sha256.create());
  const err = thrown(() => ca.sign(forge.pki.certificationRequestToPem(csr), { identity: ID_A }));
  t.equal(isMeshletError(err) ? err.code : `${(err as Error | undefined)?.constructor.name}: ${(err as Error | undefined)?.message}`, 'MESHLET_ERR_CERT');
});
