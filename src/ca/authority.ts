/**
 * meshlet's certificate authority, signing short-lived workload certificates from CSRs. It
 * signs with a self-signed root kept in a {@link CaStore} (made on first start), or with an
 * operator's root or intermediate read from files. It never sees a workload's private key:
 * agents generate keys and send CSRs.
 */
import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { isValidTrustDomain } from '../mesh/identity.js';
import type { CaStore } from './ca-store.js';
import { FileCaStore } from './file-ca-store.js';
import { issueLeaf, type IssuedCertificate } from './leaf-certificate.js';
import { loadOperatorCa, type SigningMaterial } from './operator-ca.js';
import { createRootMaterial, loadRoot } from './root-certificate.js';
import { issueServerLeaf } from './server-leaf.js';

export type { IssuedCertificate } from './leaf-certificate.js';

/** Default workload certificate lifetime: 24 hours (agents renew at half-life). */
export const DEFAULT_TTL_SECONDS = 86_400;

/** Options shared by the constructors. */
export interface CertificateAuthorityOptions {
  readonly trustDomain: string;
  readonly logger: Logger;
  /** Clock, for tests (issuing certificates in the past). Default: the real time. */
  readonly now?: (() => Date) | undefined;
}

/** Options of {@link CertificateAuthority.loadOrCreate}. */
export interface LoadOrCreateOptions extends CertificateAuthorityOptions {
  /** Directory of `ca.crt` and `ca.key`; created when missing. */
  readonly dir: string;
  /** How long to wait for another process creating the CA (default 20 s). */
  readonly lockTimeoutMs?: number | undefined;
}

/** Options of {@link CertificateAuthority.fromFiles}. */
export interface FromFilesOptions extends CertificateAuthorityOptions {
  /** The signing certificate (a root or an intermediate), then any intermediates above it. */
  readonly certFile: string;
  /** The signing certificate's private key (RSA, at least 2048 bits). */
  readonly keyFile: string;
  /** The roots; required when `certFile` holds an intermediate. */
  readonly bundleFile?: string | undefined;
}

/** What {@link CertificateAuthority.signServer} puts in a serving certificate. */
export interface ServerCertificateRequest {
  readonly identity: string;
  readonly dnsNames: readonly string[];
  readonly ipAddresses: readonly string[];
  readonly ttlSeconds?: number | undefined;
}

/** Summary of the signing certificate (the root, or the operator's intermediate), for logs and status output. */
export interface RootSummary {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly location: string;
}

/**
 * The certificate authority. Make one with {@link CertificateAuthority.loadOrCreate},
 * {@link CertificateAuthority.fromStore} or {@link CertificateAuthority.fromFiles}.
 */
export class CertificateAuthority {
  /** PEM of the roots a peer must trust to verify certificates from this CA. */
  readonly trustBundlePem: string;
  /** What a peer needs between a leaf and the root: the signing intermediate and any above it ('' for a root). */
  readonly intermediatesPem: string;
  readonly trustDomain: string;
  /** The signing certificate: the root, or the operator's intermediate (see `signerKind`). */
  readonly root: RootSummary;
  readonly signerKind: 'root' | 'intermediate';
  private readonly material: SigningMaterial;
  private readonly now: () => Date;

  private constructor(material: SigningMaterial, trustDomain: string, now: () => Date, location: string) {
    this.material = material;
    this.trustDomain = trustDomain;
    this.now = now;
    this.trustBundlePem = material.trustBundlePem;
    this.intermediatesPem = material.intermediatesPem;
    this.signerKind = material.kind;
    const { validity, serialNumber } = material.signer.certificate;
    this.root = { serial: serialNumber.toLowerCase(), notBefore: validity.notBefore, notAfter: validity.notAfter, location };
  }

  /**
   * Loads the CA from `dir`, creating a new root there on first run. Safe when several
   * processes start on one empty directory at once: one creates, all end with the same root.
   * Throws MESHLET_ERR_CA when the stored files are unreadable, mismatched or expired.
   */
  static async loadOrCreate(opts: LoadOrCreateOptions): Promise<CertificateAuthority> {
    const store = new FileCaStore(opts.dir, opts.lockTimeoutMs === undefined ? {} : { lockTimeoutMs: opts.lockTimeoutMs });
    return CertificateAuthority.fromStore({ ...opts, store });
  }

  /** Like {@link loadOrCreate}, with any {@link CaStore}. */
  static async fromStore(opts: CertificateAuthorityOptions & { store: CaStore }): Promise<CertificateAuthority> {
    const { store, trustDomain } = opts;
    checkTrustDomain(trustDomain);
    const now = opts.now ?? ((): Date => new Date());
    const log = opts.logger.child({ component: 'ca' });
    const { material, created } = await store.loadOrCreate(() => createRootMaterial(trustDomain, now()));
    const root = loadRoot(material, { certificate: store.certificateName, key: store.keyName }, trustDomain, now());
    const signing: SigningMaterial = {
      signer: root,
      kind: 'root',
      intermediatesPem: '',
      trustBundlePem: root.certificatePem,
      notAfter: root.certificate.validity.notAfter,
    };
    const ca = new CertificateAuthority(signing, trustDomain, now, store.location);
    log.info(
      { created, location: store.location, serial: ca.root.serial, notAfter: ca.root.notAfter.toISOString(), trustDomain },
      created ? 'created a new root CA' : 'loaded the root CA',
    );
    return ca;
  }

  /**
   * Signs a workload CSR. The CSR's signature must verify and its only URI SAN must be exactly
   * `identity` (else MESHLET_ERR_CERT). Deciding whether the asker may have `identity` is the
   * caller's job (the controller checks the workload runs on the asking node).
   */
  sign(csrPem: string, opts: { identity: string; ttlSeconds?: number | undefined }): IssuedCertificate {
    const now = this.now();
    return issueLeaf(this.material.signer, csrPem, {
      identity: opts.identity,
      ttlSeconds: this.cappedTtl(opts.ttlSeconds ?? DEFAULT_TTL_SECONDS, now),
      trustDomain: this.trustDomain,
      now,
      intermediatesPem: this.material.intermediatesPem,
    });
  }

  /**
   * Loads an operator's CA from files: a root, or an intermediate with the roots in
   * `bundleFile`. Never creates or changes anything. Throws MESHLET_ERR_CA naming the file and
   * the certificate when the material does not hold (see `loadOperatorCa`).
   */
  static async fromFiles(opts: FromFilesOptions): Promise<CertificateAuthority> {
    checkTrustDomain(opts.trustDomain);
    const now = opts.now ?? ((): Date => new Date());
    // One after another: when several cannot be read, the error names the first of them, the
    // same one every time (read at once, whichever failed first won).
    const certificatePem = await readCaFile(opts.certFile);
    const privateKeyPem = await readCaFile(opts.keyFile);
    const bundlePem = opts.bundleFile === undefined ? undefined : await readCaFile(opts.bundleFile);
    const names = { certificate: opts.certFile, key: opts.keyFile, bundle: opts.bundleFile ?? '(no bundle)' };
    const material = loadOperatorCa({ certificatePem, privateKeyPem, bundlePem, names }, opts.trustDomain, now());
    const ca = new CertificateAuthority(material, opts.trustDomain, now, opts.certFile);
    opts.logger.child({ component: 'ca' }).info(
      { kind: material.kind, location: opts.certFile, serial: ca.root.serial, notAfter: material.notAfter.toISOString(), trustDomain: opts.trustDomain },
      `loaded the operator's ${material.kind} CA`,
    );
    return ca;
  }

  /**
   * Issues a TLS serving certificate for `publicKeyPem` (RSA SPKI PEM): the server's SPIFFE ID
   * plus DNS and IP names, extKeyUsage serverAuth. See `issueServingCertificate`, which also
   * makes the key. Throws MESHLET_ERR_CERT for a bad name, key or TTL.
   */
  signServer(publicKeyPem: string, req: ServerCertificateRequest): IssuedCertificate {
    const now = this.now();
    return issueServerLeaf(this.material.signer, {
      ...req,
      ttlSeconds: this.cappedTtl(req.ttlSeconds ?? DEFAULT_TTL_SECONDS, now),
      publicKeyPem,
      trustDomain: this.trustDomain,
      now,
      intermediatesPem: this.material.intermediatesPem,
    });
  }

  /**
   * A leaf must not outlive any certificate of its chain. The signer's own notAfter is applied
   * when the leaf is built; a root (or an upper intermediate) that expires sooner is applied
   * here. A bad TTL passes unchanged so the leaf builder reports it.
   */
  private cappedTtl(ttlSeconds: number, now: Date): number {
    if (!Number.isInteger(ttlSeconds) || ttlSeconds < 1) return ttlSeconds;
    if (this.material.notAfter >= this.material.signer.certificate.validity.notAfter) return ttlSeconds;
    const left = Math.floor((this.material.notAfter.getTime() - now.getTime()) / 1000);
    if (left < 1) throw new MeshletError('MESHLET_ERR_CERT', `the CA chain expires at ${this.material.notAfter.toISOString()}: no certificate can be issued`);
    return Math.min(ttlSeconds, left);
  }
}

function checkTrustDomain(trustDomain: string): void {
  if (!isValidTrustDomain(trustDomain)) {
    throw new MeshletError('MESHLET_ERR_CA', `trust domain ${JSON.stringify(trustDomain)} is not a valid SPIFFE trust domain`);
  }
}

async function readCaFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CA', `${path} cannot be read: ${(err as Error).message}`, { cause: err });
  }
}
