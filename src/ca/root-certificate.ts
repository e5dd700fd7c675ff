/**
 * The root CA certificate: made once, self-signed, and checked every time it is loaded.
 */
import { generateKeyPair, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import forge from 'node-forge';
import { MeshletError } from '../mesh/errors.js';
import { forgePublicKey, MIN_RSA_BITS, nodeRsaSigner, rsaPrivateKey, SAN_URI, uriSubjectAltNames } from '../mesh/x509.js';
import type { CaMaterial } from './ca-store.js';
import { randomSerialHex, validity } from './certificate-fields.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/**
 * Root lifetime: 10 years. Rotating a root means re-issuing every certificate and re-trusting
 * every agent, so it is rare by design; leaves are short-lived instead.
 */
export const ROOT_TTL_MS = 10 * 365 * 24 * 3600 * 1000;

/** X.520 caps a commonName at 64 characters; a long trust domain is cut there (the SAN has it whole). */
const MAX_COMMON_NAME = 64;

/** A loaded root: the parsed certificate, its key, and its PEM. */
export interface RootCa {
  readonly certificate: forge.pki.Certificate;
  readonly certificatePem: string;
  readonly key: KeyObject;
}

/** Creates a new RSA 2048 key and a self-signed root certificate for `trustDomain`. */
export async function createRootMaterial(trustDomain: string, now: Date): Promise<CaMaterial> {
  const { privateKey } = await generateKeyPairAsync('rsa', {
    modulusLength: MIN_RSA_BITS,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const key = rsaPrivateKey(privateKey, 'new CA key');
  const cert = forge.pki.createCertificate();
  cert.version = 2; // v3: extensions need it
  cert.serialNumber = randomSerialHex();
  const { notBefore, notAfter } = validity(now, ROOT_TTL_MS);
  cert.validity.notBefore = notBefore;
  cert.validity.notAfter = notAfter;
  const subject = [
    { shortName: 'O', value: 'meshlet' },
    { shortName: 'CN', value: `meshlet root CA ${trustDomain}`.slice(0, MAX_COMMON_NAME) },
  ];
  cert.setSubject(subject);
  cert.setIssuer(subject);
  cert.publicKey = forgePublicKey(key);
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'subjectAltName', altNames: [{ type: SAN_URI, value: `spiffe://${trustDomain}` }] },
  ]);
  cert.sign(nodeRsaSigner(key), forge.md.sha256.create());
  return { certificatePem: forge.pki.certificateToPem(cert), privateKeyPem: privateKey };
}

/**
 * Checks stored material and returns the usable root. Throws MESHLET_ERR_CA naming the file when
 * the certificate or key is unreadable, they do not belong together, the certificate is not a
 * CA, it has expired, or it was made for another trust domain. Never repairs anything: a new
 * root would silently invalidate every certificate already issued.
 */
export function loadRoot(material: CaMaterial, names: { certificate: string; key: string }, trustDomain: string, now: Date): RootCa {
  const fail = (what: string, cause?: unknown): MeshletError =>
    new MeshletError('MESHLET_ERR_CA', what, cause === undefined ? {} : { cause });
  let x509: X509Certificate;
  let certificate: forge.pki.Certificate;
  try {
    x509 = new X509Certificate(material.certificatePem);
    certificate = forge.pki.certificateFromPem(material.certificatePem);
  } catch (err) {
    throw fail(`${names.certificate} is not a readable PEM RSA certificate: ${(err as Error).message}`, err);
  }
  let key: KeyObject;
  try {
    key = rsaPrivateKey(material.privateKeyPem, names.key);
  } catch (err) {
    throw fail(`${names.key} is not a usable CA key: ${(err as Error).message}`, err);
  }
  if (!x509.checkPrivateKey(key)) throw fail(`${names.key} does not match the certificate ${names.certificate}`);
  if (!x509.ca) throw fail(`${names.certificate} is not a CA certificate (basicConstraints CA:false or absent)`);
  const notAfter = certificate.validity.notAfter;
  if (notAfter <= now) throw fail(`${names.certificate} expired on ${notAfter.toISOString()}`);
  const domains = uriSubjectAltNames(certificate.extensions).filter((u) => u.startsWith('spiffe://'));
  if (domains.length > 0 && !domains.includes(`spiffe://${trustDomain}`)) {
    throw fail(`${names.certificate} is the root of ${domains.join(', ')}, not of trust domain ${trustDomain}`);
  }
  return { certificate, certificatePem: material.certificatePem, key };
}
