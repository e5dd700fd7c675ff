/**
 * meshlet's certificate authority: one self-signed root per trust domain, kept in a
 * {@link CaStore}, signing short-lived workload certificates from CSRs. It never sees a
 * workload's private key: agents generate keys and send CSRs.
 */
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { isValidTrustDomain } from '../mesh/identity.js';
import type { CaStore } from './ca-store.js';
import { FileCaStore } from './file-ca-store.js';
import { issueLeaf, type IssuedCertificate } from './leaf-certificate.js';
import { createRootMaterial, loadRoot, type RootCa } from './root-certificate.js';

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

/** Summary of the root, for logs and status output. */
export interface RootSummary {
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly location: string;
}

/** The certificate authority. Make one with {@link CertificateAuthority.loadOrCreate}. */
export class CertificateAuthority {
  /** PEM of the roots a peer must trust to verify certificates from this CA. */
  readonly trustBundlePem: string;
  readonly trustDomain: string;
  readonly root: RootSummary;
  private readonly signer: RootCa;
  private readonly now: () => Date;

  private constructor(signer: RootCa, trustDomain: string, now: () => Date, location: string) {
    this.signer = signer;
    this.trustDomain = trustDomain;
    this.now = now;
    this.trustBundlePem = signer.certificatePem;
    const { validity, serialNumber } = signer.certificate;
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
    if (!isValidTrustDomain(trustDomain)) {
      throw new MeshletError('MESHLET_ERR_CA', `trust domain ${JSON.stringify(trustDomain)} is not a valid SPIFFE trust domain`);
    }
    const now = opts.now ?? ((): Date => new Date());
    const log = opts.logger.child({ component: 'ca' });
    const { material, created } = await store.loadOrCreate(() => createRootMaterial(trustDomain, now()));
    const root = loadRoot(material, { certificate: store.certificateName, key: store.keyName }, trustDomain, now());
    const ca = new CertificateAuthority(root, trustDomain, now, store.location);
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
    return issueLeaf(this.signer, csrPem, {
      identity: opts.identity,
      ttlSeconds: opts.ttlSeconds ?? DEFAULT_TTL_SECONDS,
      trustDomain: this.trustDomain,
      now: this.now(),
      intermediatesPem: '',
    });
  }
}
