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
  let csr: forge.pki.CertificateSigningRequest;
  try {
    csr = forge.pki.certificationRequestFromPem(csrPem);
  } catch (err) {
    throw certError(`CSR for ${req.identity} is not a readable PEM RSA certificate request: ${(err as Error).message}`, err);
  }
  if (!csr.verify()) throw certError(`CSR for ${req.identity} has an invalid signature`);
  const publicKey = csr.publicKey as forge.pki.rsa.PublicKey | null;
  if (publicKey === null || publicKey.n.bitLength() < MIN_RSA_BITS) {
    throw certError(`CSR for ${req.identity} must carry an RSA key of at least ${MIN_RSA_BITS} bits`);
  }
  const requested = uriSubjectAltNames(extensionRequest(csr));
  if (requested.length !== 1 || requested[0] !== req.identity) {
    const asked = requested.length === 0 ? 'no URI name' : requested.join(', ');
    throw certError(`CSR asks for ${asked}, not the identity being issued, ${req.identity}`);
  }
  return publicKey;
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
