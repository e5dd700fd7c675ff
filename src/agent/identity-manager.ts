/**
 * Holds one certificate per local workload identity. Keys are generated here and never leave
 * the agent: a CSR goes to a {@link CertificateSigner} (the static-mode CA in-process today,
 * the controller over gRPC later) and the signed chain comes back. Certificates renew at
 * half-life; connections already open keep the context they were made with.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { createCsr, certificateInfo } from '../mesh/x509.js';
import { sniForIdentity } from './tunnel-sni.js';

const generateKeyPairAsync = promisify(generateKeyPair);

/** What a signer returns for a CSR. */
export interface SignedCertificate {
  /** Leaf first, then any intermediates. */
  readonly chainPem: string;
  /** Roots to verify peers with. */
  readonly trustBundlePem: string;
}

/** Signs a workload CSR for an identity. */
export interface CertificateSigner {
  sign(csrPem: string, identity: string): Promise<SignedCertificate>;
}

/** A workload identity's key, certificate and TLS context. */
export interface IdentityCredentials {
  readonly identity: string;
  readonly chainPem: string;
  readonly trustBundlePem: string;
  readonly serial: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** key + chain + trust bundle, usable for both tunnel client and tunnel server. */
  readonly secureContext: SecureContext;
  /** The TLS server name that selects this identity at a tunnel server. */
  readonly sni: string;
}

/**
 * Where the tunnel client and server find workload credentials: the {@link IdentityManager}
 * itself in the process that holds the keys, or a worker's copy that asks it for what is missing.
 */
export interface IdentitySource {
  /** Credentials already at hand for `identity`. */
  get(identity: string): IdentityCredentials | undefined;
  /** Credentials for `identity`, issued (or fetched) first if needed. */
  ensure(identity: string): Promise<IdentityCredentials>;
  /** Credentials selected by a tunnel server name. */
  getBySni(sni: string): IdentityCredentials | undefined;
  /** Credentials for a server name wanted here but not at hand yet; undefined when none is wanted. */
  ensureBySni(sni: string): Promise<IdentityCredentials> | undefined;
}

/** Options of {@link IdentityManager}. */
export interface IdentityManagerOptions {
  readonly signer: CertificateSigner;
  readonly logger: Logger;
  /** RSA modulus; node-forge (which builds our X.509) only does RSA. */
  readonly keyBits?: number;
  /** Retry delay after a failed issuance or renewal. */
  readonly retryMs?: number;
  /** A signer that has not answered by then has failed (it must never hold snapshots back). */
  readonly signTimeoutMs?: number;
  /**
   * Told every issued or renewed certificate with its private key (PEM), so data-path worker
   * processes can build their own TLS contexts. The key goes nowhere else.
   */
  readonly onIssued?: (creds: IdentityCredentials, keyPem: string) => void;
  /** Told when an identity's credentials are dropped (its workload left). */
  readonly onForgotten?: (identity: string) => void;
}

/** The tunnel server name for an identity (see `tunnel-sni.ts`). */
export { sniForIdentity };

/** Issues, caches and renews workload certificates. */
export class IdentityManager implements IdentitySource {
  private readonly signer: CertificateSigner;
  private readonly logger: Logger;
  private readonly keyBits: number;
  private readonly retryMs: number;
  private readonly creds = new Map<string, IdentityCredentials>();
  private readonly pending = new Map<string, Promise<IdentityCredentials>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly bySni = new Map<string, string>();
  /** Bumped when an identity is forgotten, so an issuance in flight does not bring it back. */
  private readonly epochs = new Map<string, number>();
  private readonly signTimeoutMs: number;
  private readonly onIssued: ((creds: IdentityCredentials, keyPem: string) => void) | undefined;
  private readonly onForgotten: ((identity: string) => void) | undefined;
  private wanted = new Set<string>();
  private wantedBySni = new Map<string, string>();
  private closed = false;

  constructor(opts: IdentityManagerOptions) {
    this.signer = opts.signer;
    this.logger = opts.logger;
    this.keyBits = opts.keyBits ?? 2048;
    this.retryMs = opts.retryMs ?? 5_000;
    this.signTimeoutMs = opts.signTimeoutMs ?? 30_000;
    this.onIssued = opts.onIssued;
    this.onForgotten = opts.onForgotten;
  }

  /** Credentials for `identity`, issuing them first if needed (concurrent callers share one issuance). */
  ensure(identity: string): Promise<IdentityCredentials> {
    const have = this.creds.get(identity);
    if (have !== undefined) return Promise.resolve(have);
    return this.issue(identity);
  }

  /** Credentials already issued for `identity`. */
  get(identity: string): IdentityCredentials | undefined {
    return this.creds.get(identity);
  }

  /** Credentials selected by a tunnel server name. */
  getBySni(sni: string): IdentityCredentials | undefined {
    const identity = this.bySni.get(sni);
    return identity === undefined ? undefined : this.creds.get(identity);
  }

  /**
   * Credentials for a tunnel server name whose identity is wanted here but not issued yet (a
   * workload that just joined): issuance is awaited rather than the handshake refused.
   * Undefined when no wanted identity has that name.
   */
  ensureBySni(sni: string): Promise<IdentityCredentials> | undefined {
    const identity = this.wantedBySni.get(sni);
    return identity === undefined ? undefined : this.ensure(identity);
  }

  /** Every identity with credentials. */
  list(): IdentityCredentials[] {
    return [...this.creds.values()];
  }

  /**
   * Makes the set of local identities `identities`: issues what is missing, forgets the rest.
   * Resolves when every wanted identity has credentials.
   */
  async reconcile(identities: ReadonlySet<string>): Promise<void> {
    this.wanted = new Set(identities);
    this.wantedBySni = new Map([...identities].map((id) => [sniForIdentity(id), id]));
    // Issuances still in flight count too: a workload may leave before its certificate came.
    for (const identity of new Set([...this.creds.keys(), ...this.pending.keys()])) {
      if (!identities.has(identity)) this.forget(identity);
    }
    await Promise.all([...identities].map((id) => this.ensure(id)));
  }

  private issue(identity: string): Promise<IdentityCredentials> {
    let p = this.pending.get(identity);
    if (p === undefined) {
      p = this.doIssue(identity).finally(() => this.pending.delete(identity));
      this.pending.set(identity, p);
    }
    return p;
  }

  private async doIssue(identity: string): Promise<IdentityCredentials> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'identity manager is closed');
    const epoch = this.epochs.get(identity) ?? 0;
    const started = performance.now();
    const { privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: this.keyBits,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    const csrPem = createCsr({ identity, privateKeyPem: privateKey });
    let signed: SignedCertificate;
    try {
      signed = await withTimeout(this.signer.sign(csrPem, identity), this.signTimeoutMs, `signer did not answer within ${this.signTimeoutMs} ms`);
    } catch (err) {
      throw new MeshletError('MESHLET_ERR_CERT', `certificate for ${identity} was not issued: ${(err as Error).message}`, { cause: err });
    }
    const info = certificateInfo(signed.chainPem);
    if (!info.identities.includes(identity)) {
      throw new MeshletError('MESHLET_ERR_CERT', `signer returned a certificate for ${info.identities.join(',') || 'no identity'}, not ${identity}`);
    }
    const creds: IdentityCredentials = {
      identity,
      chainPem: signed.chainPem,
      trustBundlePem: signed.trustBundlePem,
      serial: info.serial,
      notBefore: info.notBefore,
      notAfter: info.notAfter,
      secureContext: createSecureContext({ key: privateKey, cert: signed.chainPem, ca: signed.trustBundlePem }),
      sni: sniForIdentity(identity),
    };
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'identity manager is closed');
    if ((this.epochs.get(identity) ?? 0) !== epoch) {
      // Forgotten while being issued (its workload left): hand it to the caller that asked,
      // but keep no credentials, so the tunnel server stops answering for it.
      return creds;
    }
    this.creds.set(identity, creds);
    this.bySni.set(creds.sni, identity);
    this.scheduleRenewal(creds);
    this.onIssued?.(creds, privateKey);
    this.logger.info(
      { identity, serial: info.serial, notAfter: info.notAfter.toISOString(), ms: Math.round(performance.now() - started) },
      'certificate issued',
    );
    return creds;
  }

  /**
   * Renews at half-life (the usual SPIFFE practice): a failure leaves half the lifetime to
   * retry. Half of the time left from now, not from notBefore: CAs backdate notBefore for
   * clock skew (ours by 5 min), which would put a short-lived certificate's "half-life" after
   * its expiry.
   */
  private scheduleRenewal(creds: IdentityCredentials): void {
    this.setTimer(creds.identity, renewalDelayMs(creds.notAfter, Date.now()));
  }

  private setTimer(identity: string, delayMs: number): void {
    clearTimeout(this.timers.get(identity));
    // setTimeout caps at 2^31-1 ms (~24.8 days); longer lifetimes re-arm when it fires.
    const timer = setTimeout(() => void this.renew(identity), Math.min(delayMs, 2 ** 31 - 1));
    timer.unref();
    this.timers.set(identity, timer);
  }

  private async renew(identity: string): Promise<void> {
    if (this.closed || !this.wanted.has(identity)) return;
    try {
      await this.doIssue(identity);
    } catch (err) {
      this.logger.warn({ identity, err }, 'certificate renewal failed; retrying');
      this.setTimer(identity, this.retryMs);
    }
  }

  private forget(identity: string): void {
    this.epochs.set(identity, (this.epochs.get(identity) ?? 0) + 1);
    const creds = this.creds.get(identity);
    if (creds !== undefined) this.bySni.delete(creds.sni);
    this.creds.delete(identity);
    if (creds !== undefined) this.onForgotten?.(identity);
    clearTimeout(this.timers.get(identity));
    this.timers.delete(identity);
  }

  /** Stops renewals. Idempotent. */
  close(): void {
    this.closed = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message)), ms);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

/** Milliseconds from `now` until a certificate expiring at `notAfter` should be renewed. */
export function renewalDelayMs(notAfter: Date, now: number): number {
  return Math.max((notAfter.getTime() - now) / 2, 1_000);
}
