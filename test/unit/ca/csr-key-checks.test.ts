/**
 * Issue 9, finding 6: the CSR's key is checked (RSA, 2048..4096-bit modulus, exponent 65537,
 * bounded PEM, a SHA-2 signature) before its signature is verified, so a hostile CSR cannot make
 * node-forge spend seconds of the controller's event loop; every refusal is MESHLET_ERR_CERT,
 * which the agent API answers with INVALID_ARGUMENT (not INTERNAL).
 */
import t from 'tap';
import { status } from '@grpc/grpc-js';
import forge from 'node-forge';
import { MAX_CSR_PEM_LENGTH, MAX_RSA_BITS } from '../../../src/ca/leaf-certificate.js';
import { toServiceError } from '../../../src/controller/agent-api/grpc-status.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { createCsr } from '../../../src/mesh/x509.js';
import { newCa, newKey } from './ca-fixture.js';

const ID = 'spiffe://cluster.local/ns/demo/sa/a';

/** A random odd integer of exactly `bits` bits (top bit set): a modulus nobody has the key of. */
function hugeInteger(bits: number): forge.jsbn.BigInteger {
  const bytes = forge.random.getBytesSync(bits / 8);
  const hex = forge.util.bytesToHex(bytes).replace(/^./, '8').replace(/.$/, '1');
  return new forge.jsbn.BigInteger(hex, 16);
}

/**
 * A CSR for `identity` claiming the public key (n, e), signed with `signingKeyPem` (whose key it
 * does not carry: the check must refuse it before any signature is looked at).
 */
function csrWithKey(n: forge.jsbn.BigInteger, e: forge.jsbn.BigInteger, signingKeyPem: string, md: forge.md.MessageDigest = forge.md.sha256.create()): string {
  const signer = forge.pki.privateKeyFromPem(signingKeyPem);
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forge.pki.setRsaPublicKey(n, e);
  csr.setAttributes([{ name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: 6, value: ID }] }] }]);
  csr.sign(signer, md);
  return forge.pki.certificationRequestToPem(csr);
}

/** Counts calls of `verify` on every CSR forge parses while the test runs. */
function spyOnVerify(t: { teardown(fn: () => void): void }): { calls: number } {
  const seen = { calls: 0 };
  const original = forge.pki.certificationRequestFromPem;
  forge.pki.certificationRequestFromPem = (pem, computeHash, strict) => {
    const csr = original(pem, computeHash, strict);
    const verify = csr.verify.bind(csr);
    csr.verify = () => {
      seen.calls++;
      return verify();
    };
    return csr;
  };
  t.teardown(() => {
    forge.pki.certificationRequestFromPem = original;
  });
  return seen;
}

function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

t.test('an 8192-bit modulus with an 8192-bit exponent is refused without verifying the signature', async (t) => {
  const ca = await newCa(t);
  const key = await newKey();
  const pem = csrWithKey(hugeInteger(8192), hugeInteger(8192), key);
  const verify = spyOnVerify(t);
  const err = thrown(() => ca.sign(pem, { identity: ID }));
  t.equal(isMeshletError(err, 'MESHLET_ERR_CERT'), true, `MESHLET_ERR_CERT, got ${String(err)}`);
  t.match((err as Error).message, /RSA key of 2048 to 4096 bits, got 8192/);
  t.equal(verify.calls, 0, 'csr.verify() never ran');
  const answered = toServiceError(err);
  t.equal(answered.code, status.INVALID_ARGUMENT, 'the agent is told INVALID_ARGUMENT');
  t.same(answered.metadata?.get('x-meshlet-error-code'), ['MESHLET_ERR_CERT']);
});

t.test('a 2048-bit modulus with a huge exponent is refused before verify', async (t) => {
  const ca = await newCa(t);
  const key = await newKey();
  const n = forge.pki.privateKeyFromPem(key).n;
  const verify = spyOnVerify(t);
  for (const [what, e] of [
    ['an 8192-bit exponent', hugeInteger(8192)],
    ['exponent 3', new forge.jsbn.BigInteger('3', 10)],
    ['exponent 2^32+65537', new forge.jsbn.BigInteger('100010001', 16)],
  ] as const) {
    const err = thrown(() => ca.sign(csrWithKey(n, e, key), { identity: ID }));
    t.equal(isMeshletError(err, 'MESHLET_ERR_CERT'), true, `${what}: MESHLET_ERR_CERT`);
    t.match((err as Error).message, /public exponent 65537/, what);
  }
  t.equal(verify.calls, 0, 'csr.verify() never ran');
});

t.test('a modulus just past the bound, and one below the minimum, are refused before verify', async (t) => {
  const ca = await newCa(t);
  const key = await newKey();
  const verify = spyOnVerify(t);
  const e = new forge.jsbn.BigInteger('65537', 10);
  for (const bits of [MAX_RSA_BITS + 8, 1024]) {
    const err = thrown(() => ca.sign(csrWithKey(hugeInteger(bits), e, key), { identity: ID }));
    t.equal(isMeshletError(err, 'MESHLET_ERR_CERT'), true, `${bits} bits: MESHLET_ERR_CERT`);
    t.match((err as Error).message, new RegExp(`got ${bits}$`));
  }
  t.equal(verify.calls, 0);
});

t.test('an oversized PEM is refused before it is parsed', async (t) => {
  const ca = await newCa(t);
  const key = await newKey();
  const pem = createCsr({ identity: ID, privateKeyPem: key });
  const padded = pem + '\n'.repeat(MAX_CSR_PEM_LENGTH);
  const err = thrown(() => ca.sign(padded, { identity: ID }));
  t.equal(isMeshletError(err, 'MESHLET_ERR_CERT'), true);
  t.match((err as Error).message, /more than the 16384 accepted/);
});

t.test('a CSR signed with SHA-1 is refused; a good CSR still verifies once and is issued', async (t) => {
  const ca = await newCa(t);
  const key = await newKey();
  const pub = forge.pki.privateKeyFromPem(key);
  const verify = spyOnVerify(t);
  const sha1 = thrown(() => ca.sign(csrWithKey(pub.n, pub.e, key, forge.md.sha1.create()), { identity: ID }));
  t.equal(isMeshletError(sha1, 'MESHLET_ERR_CERT'), true);
  t.match((sha1 as Error).message, /signed with sha1WithRSAEncryption/);
  t.equal(verify.calls, 0);
  const issued = ca.sign(createCsr({ identity: ID, privateKeyPem: key }), { identity: ID });
  t.match(issued.certificatePem, /^-----BEGIN CERTIFICATE-----/);
  t.equal(verify.calls, 1, 'verified once');
});
