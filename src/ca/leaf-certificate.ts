/**
 * Workload certificates (X.509-SVIDs): a CSR is checked, then a short-lived leaf is issued with
 * the SPIFFE ID as its only name.
 */
import forge from 'node-forge';
import { MeshletError } from '../mesh/errors.js';
import { parseSpiffeId } from '../mesh/identity.js';
import { MIN_RSA_BITS, nodeRsaSigner, SAN_URI, uriSubjectAltNames } from '../mesh/x509.js';
import { randomSerialHex, validity } from './certificate-fields.js';
import type { RootCa } from './root-certificate.js';

/** A certificate the CA issued. */
export interface IssuedCertificate {
  /** The leaf alone. */
  readonly certificatePem: string;
  /** The leaf, then any intermediates (not the root): what a TLS endpoint presents. */
  readonly chainPem: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Serial number, lowercase hex. */
  readonly serial: string;
}

/** What to issue. */
export interface LeafRequest {
  readonly identity: string;
  readonly ttlSeconds: number;
  readonly trustDomain: string;
  readonly now: Date;
  /** Intermediates between the signer and the root, PEM, leaf-side first ('' for none). */
  readonly intermediatesPem: string;
}

/** Longest TTL a leaf may ask for: a year. Leaves are meant to live hours, not years. */
export const MAX_LEAF_TTL_SECONDS = 365 * 24 * 3600;

/**
 * Largest RSA modulus a CSR may carry. Agents make 2048-bit keys; 4096 leaves room for an
 * operator's choice. The bound is what keeps a signature check cheap: node-forge verifies in
 * JavaScript, and an 8192-bit modulus with a huge exponent blocked the controller for seconds.
 */
export const MAX_RSA_BITS = 4096;

/**
 * The one RSA public exponent accepted (F4, what every key generator uses): a large exponent
 * makes the signature check cost grow with its size.
 */
export const RSA_PUBLIC_EXPONENT = 65537;

/**
 * Longest CSR PEM accepted: a 4096-bit CSR with its one SAN is under 2 KiB; 16 KiB is far above
 * it and bounds what a caller makes the CA base64-decode and parse.
 */
export const MAX_CSR_PEM_LENGTH = 16 * 1024;

/** Signature algorithms a CSR may use: MD5 and SHA-1 prove nothing against a chosen collision. */
const CSR_SIGNATURE_ALGORITHMS: ReadonlySet<string> = new Set(['sha256WithRSAEncryption', 'sha384WithRSAEncryption', 'sha512WithRSAEncryption']);

function certError(message: string, cause?: unknown): MeshletError {
  return new MeshletError('MESHLET_ERR_CERT', message, cause === undefined ? {} : { cause });
}

/** Checks the request and the CSR; returns the CSR's public key. Throws MESHLET_ERR_CERT. */
function checkRequest(csrPem: string, req: LeafRequest): forge.pki.rsa.PublicKey {
  const id = parseSpiffeId(req.identity);
  if (id.trustDomain !== req.trustDomain) {
    throw certError(`identity ${req.identity} is outside this CA's trust domain ${req.trustDomain}`);
  }
  if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds < 1 || req.ttlSeconds > MAX_LEAF_TTL_SECONDS) {
    throw certError(`ttlSeconds must be an integer 1..${MAX_LEAF_TTL_SECONDS}, got ${req.ttlSeconds}`);
  }
  const csr = parseCsr(csrPem, req.identity);
  // The key is checked before the signature: verifying costs what the key makes it cost.
  const publicKey = checkedPublicKey(csr, req.identity);
  const algorithm = forge.pki.oids[csr.signatureOid ?? ''];
  if (typeof algorithm !== 'string' || !CSR_SIGNATURE_ALGORITHMS.has(algorithm)) {
    throw certError(`CSR for ${req.identity} is signed with ${algorithm ?? csr.signatureOid ?? 'no algorithm'}; sign it with ${[...CSR_SIGNATURE_ALGORITHMS].join(', ')}`);
  }
  let verified: boolean;
  try {
    verified = csr.verify();
  } catch (err) {
    throw certError(`CSR for ${req.identity} cannot be verified: ${(err as Error).message}`, err);
  }
  if (!verified) throw certError(`CSR for ${req.identity} has an invalid signature`);
  const requested = uriSubjectAltNames(extensionRequest(csr));
  if (requested.length !== 1 || requested[0] !== req.identity) {
    const asked = requested.length === 0 ? 'no URI name' : requested.join(', ');
    throw certError(`CSR asks for ${asked}, not the identity being issued, ${req.identity}`);
  }
  return publicKey;
}

/** The CSR, parsed; throws MESHLET_ERR_CERT for anything too long or unreadable. */
function parseCsr(csrPem: string, identity: string): forge.pki.CertificateSigningRequest {
  if (csrPem.length > MAX_CSR_PEM_LENGTH) {
    throw certError(`CSR for ${identity} is ${csrPem.length} characters long, more than the ${MAX_CSR_PEM_LENGTH} accepted`);
  }
  try {
    return forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw certError(`CSR for ${identity} is not a readable PEM RSA certificate request: ${(err as Error).message}`, err);
  }
}

/**
 * The CSR's RSA key when its modulus is MIN_RSA_BITS..MAX_RSA_BITS bits and its exponent is
 * RSA_PUBLIC_EXPONENT; throws MESHLET_ERR_CERT otherwise. Cheap: no modular arithmetic.
 */
function checkedPublicKey(csr: forge.pki.CertificateSigningRequest, identity: string): forge.pki.rsa.PublicKey {
  const key = csr.publicKey as Partial<forge.pki.rsa.PublicKey> | null;
  if (key === null || typeof key.n?.bitLength !== 'function' || typeof key.e?.bitLength !== 'function') {
    throw certError(`CSR for ${identity} must carry an RSA public key`);
  }
  const bits = key.n.bitLength();
  if (bits < MIN_RSA_BITS || bits > MAX_RSA_BITS) {
    throw certError(`CSR for ${identity} must carry an RSA key of ${MIN_RSA_BITS} to ${MAX_RSA_BITS} bits, got ${bits}`);
  }
  if (key.e.bitLength() > 32 || key.e.intValue() !== RSA_PUBLIC_EXPONENT) {
    throw certError(`CSR for ${identity} must carry an RSA key with public exponent ${RSA_PUBLIC_EXPONENT}`);
  }
  return key as forge.pki.rsa.PublicKey;
}

function extensionRequest(csr: forge.pki.CertificateSigningRequest): unknown[] {
  const attr: unknown = csr.getAttribute({ name: 'extensionRequest' });
  if (attr === null || typeof attr !== 'object' || !('extensions' in attr)) return [];
  return Array.isArray(attr.extensions) ? (attr.extensions as unknown[]) : [];
}

/** The issuer's key identifier: its own SKI extension when it has one (RFC 5280, 4.2.1.1). */
function subjectKeyId(issuer: forge.pki.Certificate): string {
  const ext: unknown = issuer.getExtension('subjectKeyIdentifier');
  if (ext !== null && typeof ext === 'object' && 'subjectKeyIdentifier' in ext && typeof ext.subjectKeyIdentifier === 'string') {
    return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  }
  return issuer.generateSubjectKeyIdentifier().getBytes();
}

/** Issues a leaf for a checked CSR, signed by `root`. Throws MESHLET_ERR_CERT. */
export function issueLeaf(root: RootCa, csrPem: string, req: LeafRequest): IssuedCertificate {
  const publicKey = checkRequest(csrPem, req);
  const cert = forge.pki.createCertificate();
  cert.version = 2;
  cert.serialNumber = randomSerialHex();
  const { notBefore, notAfter } = validity(req.now, req.ttlSeconds * 1000, root.certificate.validity.notAfter);
  if (notAfter <= req.now) throw certError(`the CA certificate expires at ${notAfter.toISOString()}: no certificate can be issued`);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  // Empty subject: the SPIFFE ID is the identity, carried in a critical SAN (X.509-SVID spec).
  cert.setSubject([]);
  cert.setIssuer(root.certificate.subject.attributes);
  cert.publicKey = publicKey;
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true, clientAuth: true },
    { name: 'subjectAltName', altNames: [{ type: SAN_URI, value: req.identity }], critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: subjectKeyId(root.certificate) },
  ]);
  cert.sign(nodeRsaSigner(root.key), forge.md.sha256.create());
  const certificatePem = forge.pki.certificateToPem(cert);
  return {
    certificatePem,
    chainPem: certificatePem + req.intermediatesPem,
    notBefore,
    notAfter,
    serial: cert.serialNumber.toLowerCase(),
  };
}
