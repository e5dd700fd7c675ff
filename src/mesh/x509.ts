/**
 * Pure X.509 helpers on node-forge: building CSRs, reading certificates, and a signer that lets
 * forge structures be signed by a Node.js key.
 *
 * node-forge builds and parses the ASN.1, but its RSA signing is plain JavaScript (about 30 ms
 * for a 2048-bit key, blocking the event loop); Node's native RSA takes well under 1 ms. So forge's
 * `sign(key, md)` is given {@link nodeRsaSigner}, which signs the digest forge computed with
 * Node's crypto. Keys are RSA because forge only reads RSA keys.
 */
import { constants, createPrivateKey, createPublicKey, privateEncrypt, type KeyObject } from 'node:crypto';
import forge from 'node-forge';
import { MeshletError } from './errors.js';
import { parseSpiffeId } from './identity.js';
import { isFields } from './validate/values.js';

/** What the agent and the CA read from a certificate. */
export interface CertificateInfo {
  /** Serial number, lowercase hex. */
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** SPIFFE IDs among the URI subjectAltNames. */
  readonly identities: string[];
}

/** Smallest RSA modulus meshlet accepts or makes (NIST SP 800-57: 2048 bits until 2030). */
export const MIN_RSA_BITS = 2048;

/** subjectAltName type for a URI (RFC 5280 GeneralName uniformResourceIdentifier [6]). */
export const SAN_URI = 6;

/** DER prefix of a PKCS#1 v1.5 DigestInfo for SHA-256 (RFC 8017, section 9.2, note 1). */
const SHA256_DIGEST_INFO = Buffer.from('3031300d060960864801650304020105000420', 'hex');

/**
 * A forge-compatible private key whose `sign(md)` runs in Node's crypto: forge hands it the
 * SHA-256 digest, it returns the PKCS#1 v1.5 signature (private-key "encryption" of the
 * DigestInfo is exactly that scheme).
 */
export function nodeRsaSigner(key: KeyObject): forge.pki.rsa.PrivateKey {
  const signer = {
    sign(md: forge.md.MessageDigest): string {
      if (md.algorithm !== 'sha256') throw new MeshletError('MESHLET_ERR_CERT', `unsupported digest ${md.algorithm}`);
      const digest = Buffer.from(md.digest().getBytes(), 'binary');
      const info = Buffer.concat([SHA256_DIGEST_INFO, digest]);
      return privateEncrypt({ key, padding: constants.RSA_PKCS1_PADDING }, info).toString('binary');
    },
  };
  // forge only calls sign() on the key it is given; the rest of its RSA key shape is unused.
  return signer as unknown as forge.pki.rsa.PrivateKey;
}

/** Reads an RSA private key PEM (PKCS#8 or PKCS#1); throws MESHLET_ERR_CERT when it is not one. */
export function rsaPrivateKey(privateKeyPem: string, what = 'private key'): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(privateKeyPem);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CERT', `${what} is not a readable PEM private key`, { cause: err });
  }
  const bits = key.asymmetricKeyDetails?.modulusLength ?? 0;
  if (key.asymmetricKeyType !== 'rsa' || bits < MIN_RSA_BITS) {
    throw new MeshletError(
      'MESHLET_ERR_CERT',
      `${what} must be RSA of at least ${MIN_RSA_BITS} bits, got ${key.asymmetricKeyType ?? 'unknown'} ${bits}`,
    );
  }
  return key;
}

/** The forge public key of a Node private key. */
export function forgePublicKey(key: KeyObject): forge.pki.rsa.PublicKey {
  const pem = createPublicKey(key).export({ type: 'spki', format: 'pem' }).toString();
  return forge.pki.publicKeyFromPem(pem);
}

/**
 * A PEM certificate signing request for `identity` (a SPIFFE ID), carrying the ID as its only
 * subjectAltName (an extensionRequest attribute), signed with the RSA private key.
 */
export function createCsr({ identity, privateKeyPem }: { identity: string; privateKeyPem: string }): string {
  parseSpiffeId(identity);
  const key = rsaPrivateKey(privateKeyPem, 'CSR private key');
  const csr = forge.pki.createCertificationRequest();
  csr.publicKey = forgePublicKey(key);
  csr.setSubject([]);
  csr.setAttributes([
    { name: 'extensionRequest', extensions: [{ name: 'subjectAltName', altNames: [{ type: SAN_URI, value: identity }] }] },
  ]);
  csr.sign(nodeRsaSigner(key), forge.md.sha256.create());
  return forge.pki.certificationRequestToPem(csr);
}

/** The URI subjectAltNames of a certificate or a CSR's extension list. */
export function uriSubjectAltNames(extensions: readonly unknown[]): string[] {
  const out: string[] = [];
  for (const ext of extensions) {
    if (!isFields(ext) || ext['name'] !== 'subjectAltName' || !Array.isArray(ext['altNames'])) continue;
    for (const alt of ext['altNames'] as unknown[]) {
      if (isFields(alt) && alt['type'] === SAN_URI && typeof alt['value'] === 'string') out.push(alt['value']);
    }
  }
  return out;
}

/**
 * Serial, validity and SPIFFE IDs of the first certificate in `pem` (a chain is read leaf
 * first). Throws MESHLET_ERR_CERT when it is not a readable RSA certificate.
 */
export function certificateInfo(pem: string): CertificateInfo {
  let cert: forge.pki.Certificate;
  try {
    cert = forge.pki.certificateFromPem(pem);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CERT', `not a readable PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  return {
    serial: cert.serialNumber.toLowerCase(),
    notBefore: cert.validity.notBefore,
    notAfter: cert.validity.notAfter,
    identities: uriSubjectAltNames(cert.extensions).filter((uri) => uri.startsWith('spiffe://')),
  };
}
