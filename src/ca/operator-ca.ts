/**
 * An operator-provided CA: a root, or an intermediate under the organisation's own root, given
 * as certificate and key files. Everything is checked before the controller signs anything:
 * a CA that issues certificates no peer can verify would break every connection at renewal.
 */
import { X509Certificate } from 'node:crypto';
import forge from 'node-forge';
import { MeshletError } from '../mesh/errors.js';
import { loadRoot, type RootCa } from './root-certificate.js';

/** What the CA signs with and what it hands out, once checked. */
export interface SigningMaterial {
  /** The certificate that signs leaves, with its key. */
  readonly signer: RootCa;
  /** `root` when the signer is self-signed, else `intermediate`. */
  readonly kind: 'root' | 'intermediate';
  /**
   * What a peer needs between a leaf and the root, PEM: the signing intermediate, then any
   * above it; '' when the signer is the root.
   */
  readonly intermediatesPem: string;
  /** The roots peers trust. */
  readonly trustBundlePem: string;
  /** The earliest notAfter along the chain, root included: no leaf may outlive it. */
  readonly notAfter: Date;
}

/** Operator material as read from its files. */
export interface OperatorCaInput {
  /** The signing certificate first, then any intermediates above it (a root at the end is ignored). */
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** The roots; required when the signing certificate is an intermediate. */
  readonly bundlePem?: string | undefined;
  /** How errors name the three inputs (file paths). */
  readonly names: { readonly certificate: string; readonly key: string; readonly bundle: string };
}

/** One certificate of the input, with where it came from for error messages. */
interface Cert {
  readonly pem: string;
  readonly x509: X509Certificate;
  /** Only RSA certificates parse in forge; other key types (an EC root) are checked without it. */
  readonly forge: forge.pki.Certificate | undefined;
  readonly where: string;
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[\s\S]*?-----END CERTIFICATE-----/g;

function caError(message: string, cause?: unknown): MeshletError {
  return new MeshletError('MESHLET_ERR_CA', message, cause === undefined ? {} : { cause });
}

/** Splits PEM text into certificates; throws naming `file` when there is none or one is unreadable. */
function readCertificates(text: string, file: string): Cert[] {
  const blocks = text.match(PEM_CERTIFICATE) ?? [];
  if (blocks.length === 0) throw caError(`${file} holds no PEM certificate`);
  return blocks.map((pem, i) => {
    const where = `certificate ${i + 1} in ${file}`;
    let x509: X509Certificate;
    try {
      x509 = new X509Certificate(pem);
    } catch (err) {
      throw caError(`${where} is not a readable certificate: ${(err as Error).message}`, err);
    }
    let parsed: forge.pki.Certificate | undefined;
    try {
      parsed = forge.pki.certificateFromPem(pem);
    } catch {
      parsed = undefined;
    }
    return { pem: `${pem}\n`, x509, forge: parsed, where: `${where} (${x509.subject.replaceAll('\n', ', ')})` };
  });
}

function isSelfSigned(c: Cert): boolean {
  return c.x509.checkIssued(c.x509) && c.x509.verify(c.x509.publicKey);
}

function issuedBy(child: Cert, parent: Cert): boolean {
  return child.x509.checkIssued(parent.x509) && child.x509.verify(parent.x509.publicKey);
}

/** CA:true, keyCertSign (when readable), valid at `now`, and room below it for `below` CAs. */
function checkCa(c: Cert, now: Date, below: number): void {
  if (c.forge !== undefined) {
    const basic = c.forge.getExtension('basicConstraints') as { cA?: boolean; pathLenConstraint?: number } | null;
    if (basic?.cA !== true) throw caError(`${c.where} is not a CA certificate (basicConstraints CA:false or absent)`);
    const usage = c.forge.getExtension('keyUsage') as { keyCertSign?: boolean } | null;
    // RFC 5280 4.2.1.3: a CA's certificate must carry keyUsage with keyCertSign.
    if (usage === null || usage.keyCertSign !== true) throw caError(`${c.where} may not sign certificates (keyUsage lacks keyCertSign)`);
    const pathLen = basic.pathLenConstraint;
    if (typeof pathLen === 'number' && pathLen < below) {
      throw caError(`${c.where} allows ${pathLen} CA certificate(s) below it (pathLenConstraint), the chain has ${below}`);
    }
  }
  // OpenSSL's view covers both for any key type (it is false without keyCertSign too).
  if (!c.x509.ca) throw caError(`${c.where} is not a CA certificate that may sign certificates (basicConstraints, keyUsage)`);
  const notBefore = new Date(c.x509.validFrom);
  const notAfter = new Date(c.x509.validTo);
  if (notBefore > now) throw caError(`${c.where} is not valid before ${notBefore.toISOString()}`);
  if (notAfter <= now) throw caError(`${c.where} expired on ${notAfter.toISOString()}`);
}

function notAfterOf(c: Cert): Date {
  return new Date(c.x509.validTo);
}

/**
 * Checks operator material and returns what the CA signs with. Throws MESHLET_ERR_CA naming the
 * file and the certificate when: the key does not match the signing certificate; a certificate
 * is not a CA, may not sign certificates, is not valid now or breaks a path length; a link of the
 * chain is not signed by the next; the chain does not end at a root of the bundle; an
 * intermediate comes without a bundle; the signer names another trust domain.
 */
export function loadOperatorCa(input: OperatorCaInput, trustDomain: string, now: Date): SigningMaterial {
  const { names } = input;
  const certs = readCertificates(input.certificatePem, names.certificate);
  const signerCert = certs[0] as Cert;
  // A root at the end of a chain file is a trust anchor, not something to present.
  const chain = certs.length > 1 && isSelfSigned(certs[certs.length - 1] as Cert) ? certs.slice(0, -1) : certs;
  chain.forEach((c, i) => checkCa(c, now, i));
  if (signerCert.forge === undefined) throw caError(`${signerCert.where} must have an RSA key (meshlet signs with RSA)`);
  // Key match, RSA size and the SPIFFE trust domain: the checks every stored root gets too.
  const signer = loadRoot({ certificatePem: signerCert.pem, privateKeyPem: input.privateKeyPem }, names, trustDomain, now);
  for (let i = 0; i + 1 < chain.length; i++) {
    const child = chain[i] as Cert;
    const parent = chain[i + 1] as Cert;
    if (!issuedBy(child, parent)) throw caError(`${child.where} is not signed by the next one, ${parent.where}`);
  }
  const top = chain[chain.length - 1] as Cert;
  const roots = input.bundlePem === undefined ? [] : readCertificates(input.bundlePem, names.bundle);
  for (const r of roots) {
    if (!isSelfSigned(r)) throw caError(`${r.where} is not a root (not self-signed); the bundle holds roots only`);
    checkCa(r, now, chain.length);
  }
  if (isSelfSigned(top) && chain.length === 1) return rootMaterial(signer, top, roots, names);
  if (input.bundlePem === undefined) {
    throw caError(`${top.where} is an intermediate: give the roots above it in a bundle (--ca-bundle)`);
  }
  const root = roots.find((r) => issuedBy(top, r));
  if (root === undefined) {
    throw caError(`the chain does not verify to a root in ${names.bundle}: no root there signed ${top.where} (issuer ${top.x509.issuer.replaceAll('\n', ', ')})`);
  }
  return {
    signer,
    kind: 'intermediate',
    intermediatesPem: chain.map((c) => c.pem).join(''),
    trustBundlePem: roots.map((r) => r.pem).join(''),
    notAfter: earliest([...chain, root].map(notAfterOf)),
  };
}

/** A self-signed signer. A bundle, when given, must hold it; it may add roots (a rotation). */
function rootMaterial(signer: RootCa, top: Cert, roots: readonly Cert[], names: OperatorCaInput['names']): SigningMaterial {
  if (roots.length > 0 && !roots.some((r) => r.x509.fingerprint256 === top.x509.fingerprint256)) {
    throw caError(`${top.where} is a root but ${names.bundle} does not hold it: peers would not trust what it issues`);
  }
  return {
    signer,
    kind: 'root',
    intermediatesPem: '',
    trustBundlePem: roots.length > 0 ? roots.map((r) => r.pem).join('') : top.pem,
    notAfter: notAfterOf(top),
  };
}

function earliest(dates: readonly Date[]): Date {
  return new Date(Math.min(...dates.map((d) => d.getTime())));
}
