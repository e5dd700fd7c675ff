/**
 * Serving certificates for meshlet's own servers (the controller's gRPC port): the server's
 * SPIFFE ID plus the DNS names and addresses clients dial, for TLS server authentication only.
 */
import { isIP } from 'node:net';
import forge from 'node-forge';
import { MeshletError } from '../mesh/errors.js';
import { parseSpiffeId } from '../mesh/identity.js';
import { isDnsSubdomain } from '../mesh/validate/formats.js';
import { MIN_RSA_BITS, nodeRsaSigner, SAN_URI } from '../mesh/x509.js';
import { randomSerialHex, validity } from './certificate-fields.js';
import type { IssuedCertificate } from './leaf-certificate.js';
import { MAX_LEAF_TTL_SECONDS } from './leaf-certificate.js';
import type { RootCa } from './root-certificate.js';

/** subjectAltName types (RFC 5280 GeneralName): dNSName [2], iPAddress [7]. */
const SAN_DNS = 2;
const SAN_IP = 7;

/** What to put in a serving certificate. */
export interface ServerLeafRequest {
  /** The server's SPIFFE ID, in the CA's trust domain. */
  readonly identity: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly ttlSeconds: number;
  /** The server's RSA public key, SPKI PEM. */
  readonly publicKeyPem: string;
  readonly trustDomain: string;
  readonly now: Date;
  /** The signing intermediate and any above it, PEM ('' when a root signs). */
  readonly intermediatesPem: string;
}

function certError(message: string): MeshletError {
  return new MeshletError('MESHLET_ERR_CERT', message);
}

/** Checks every name; throws MESHLET_ERR_CERT listing the bad ones. */
function checkRequest(req: ServerLeafRequest): forge.pki.rsa.PublicKey {
  if (parseSpiffeId(req.identity).trustDomain !== req.trustDomain) {
    throw certError(`identity ${req.identity} is outside this CA's trust domain ${req.trustDomain}`);
  }
  const bad = [
    ...req.dnsNames.filter((n) => !isDnsSubdomain(n)).map((n) => `DNS name ${JSON.stringify(n)}`),
    ...req.ipAddresses.filter((a) => isIP(a) === 0).map((a) => `IP address ${JSON.stringify(a)}`),
  ];
  if (bad.length > 0) throw certError(`serving certificate for ${req.identity}: invalid ${bad.join(', ')}`);
  if (!Number.isInteger(req.ttlSeconds) || req.ttlSeconds < 1 || req.ttlSeconds > MAX_LEAF_TTL_SECONDS) {
    throw certError(`ttlSeconds must be an integer 1..${MAX_LEAF_TTL_SECONDS}, got ${req.ttlSeconds}`);
  }
  let key: forge.pki.rsa.PublicKey;
  try {
    key = forge.pki.publicKeyFromPem(req.publicKeyPem);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CERT', `serving key for ${req.identity} is not an RSA public key PEM`, { cause: err });
  }
  if (key.n.bitLength() < MIN_RSA_BITS) throw certError(`serving key for ${req.identity} has fewer than ${MIN_RSA_BITS} bits`);
  return key;
}

/** The issuer's key identifier: its SKI extension when it has one (RFC 5280, 4.2.1.1). */
function issuerKeyId(issuer: forge.pki.Certificate): string {
  const ext = issuer.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: unknown } | null;
  if (typeof ext?.subjectKeyIdentifier === 'string') return forge.util.hexToBytes(ext.subjectKeyIdentifier);
  return issuer.generateSubjectKeyIdentifier().getBytes();
}

/** Issues a serving certificate signed by `signer`. Throws MESHLET_ERR_CERT. */
export function issueServerLeaf(signer: RootCa, req: ServerLeafRequest): IssuedCertificate {
  const publicKey = checkRequest(req);
  const cert = forge.pki.createCertificate();
  cert.version = 2;
  cert.serialNumber = randomSerialHex();
  const { notBefore, notAfter } = validity(req.now, req.ttlSeconds * 1000, signer.certificate.validity.notAfter);
  if (notAfter <= req.now) throw certError(`the CA certificate expires at ${notAfter.toISOString()}: no certificate can be issued`);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  // Empty subject like the workload certificates: every name is in the (critical) SAN, which is
  // where TLS clients look (RFC 6125); a CN would be a second, unchecked place for a name.
  cert.setSubject([]);
  cert.setIssuer(signer.certificate.subject.attributes);
  cert.publicKey = publicKey;
  const altNames = [
    { type: SAN_URI, value: req.identity },
    ...req.dnsNames.map((value) => ({ type: SAN_DNS, value })),
    ...req.ipAddresses.map((ip) => ({ type: SAN_IP, ip })),
  ];
  cert.setExtensions([
    { name: 'basicConstraints', cA: false, critical: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: issuerKeyId(signer.certificate) },
  ]);
  cert.sign(nodeRsaSigner(signer.key), forge.md.sha256.create());
  const certificatePem = forge.pki.certificateToPem(cert);
  return { certificatePem, chainPem: certificatePem + req.intermediatesPem, notBefore, notAfter, serial: cert.serialNumber.toLowerCase() };
}
