/**
 * Holds one certificate per local workload identity. Keys are generated here and never leave
 * the agent: a CSR goes to a {@link CertificateSigner} (the static-mode CA in-process, or the
 * controller over gRPC) and the signed chain comes back. Certificates renew at
 * half-life; connections already open keep the context they were made with.
 */
import { generateKeyPair } from 'node:crypto';
import { promisify } from 'node:util';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Logger } from 'pino';
import { isMeshletError, MeshletError } from '../../mesh/errors.js';
import { createCsr, certificateInfo } from '../../mesh/x509.js';
import { Backoff, type BackoffOptions } from '../../ops/backoff.js';
import { sniForIdentity } from './sni.js';

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
  /**
   * Delays between attempts after a failed issuance or renewal, per identity (default
   * {@link ISSUE_RETRY_BACKOFF}). Each attempt reuses the key and CSR of the first.
   */
  readonly retryBackoff?: BackoffOptions;
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

/**
 * Retry delays of a failing issuance: from 0.5 s (a controller that blinked is retried at once)
 * doubling, jittered, to 60 s (a controller down for long costs an agent one signing call per
 * identity a minute, where a fixed 5 s with a new RSA key each time cost 20 identities 0.77
 * cores). A renewal starts at half-life, so 60 s leaves hours of retries before expiry.
 */
export const ISSUE_RETRY_BACKOFF: Readonly<Required<Omit<BackoffOptions, 'random'>>> = Object.freeze({ initialMs: 500, maxMs: 60_000 });

/**
 * An issuance that has not succeeded yet: its key and CSR, made once and reused by every retry
 * (RSA key generation is the expensive part), and when the next attempt may run.
 */
interface PendingIssue {
  readonly keyPem: string;
  readonly csrPem: string;
  readonly backoff: Backoff;
  /** performance.now() before which no new attempt is made (0: now). */
  retryAt: number;
  lastError: Error | undefined;
}

/** Issues, caches and renews workload certificates. */
export class IdentityManager implements IdentitySource {
  private readonly signer: CertificateSigner;
  private readonly logger: Logger;
  private readonly keyBits: number;
  private readonly retryBackoff: BackoffOptions;
  /** Issuances under way or waiting to retry, by identity; dropped once issued or forgotten. */
  private readonly attempts = new Map<string, PendingIssue>();
  private generatedKeys = 0;
  private failedAttempts = 0;
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
    this.retryBackoff = opts.retryBackoff ?? ISSUE_RETRY_BACKOFF;
    this.signTimeoutMs = opts.signTimeoutMs ?? 30_000;
    this.onIssued = opts.onIssued;
    this.onForgotten = opts.onForgotten;
  }

  /**
   * Credentials for `identity`, issuing them first if needed (concurrent callers share one
   * issuance). While a failed issuance waits for its next attempt, rejects at once with the
   * last failure: callers retrying on their own (the agent's snapshot retry, tunnel handshakes)
   * cost nothing until the backoff allows another attempt.
   */
  ensure(identity: string): Promise<IdentityCredentials> {
    const have = this.creds.get(identity);
    if (have !== undefined) return Promise.resolve(have);
    const waiting = this.attempts.get(identity);
    if (waiting !== undefined && !this.pending.has(identity) && waiting.retryAt > performance.now()) {
      const inMs = Math.ceil(waiting.retryAt - performance.now());
      return Promise.reject(
        new MeshletError('MESHLET_ERR_CERT', `certificate for ${identity} not issued yet: ${waiting.lastError?.message ?? 'the last attempt failed'}; next attempt in ${inMs} ms`, {
          cause: waiting.lastError,
        }),
      );
    }
    return this.issue(identity);
  }

  /** RSA keys generated since start (one per issuance, whatever its retries). */
  get keysGenerated(): number {
    return this.generatedKeys;
  }

  /** Issuance attempts that failed since start. */
  get failures(): number {
    return this.failedAttempts;
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

  /**
   * One attempt; on failure the identity's backoff sets when the next may run and, while the
   * identity is wanted, a timer makes it.
   */
  private async doIssue(identity: string): Promise<IdentityCredentials> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'identity manager is closed');
    const epoch = this.epochs.get(identity) ?? 0;
    let attempt: PendingIssue | undefined;
    try {
      attempt = await this.attemptFor(identity, epoch);
      const creds = await this.attemptIssue(identity, epoch, attempt);
      if (this.attempts.get(identity) === attempt) this.attempts.delete(identity);
      return creds;
    } catch (err) {
      if (attempt !== undefined && !isMeshletError(err, 'MESHLET_ERR_CLOSED')) this.failed(identity, attempt, err as Error);
      throw err;
    }
  }

  /** The identity's pending key and CSR, made now if this is the first attempt. */
  private async attemptFor(identity: string, epoch: number): Promise<PendingIssue> {
    const existing = this.attempts.get(identity);
    if (existing !== undefined) return existing;
    const { privateKey } = await generateKeyPairAsync('rsa', {
      modulusLength: this.keyBits,
      publicKeyEncoding: { type: 'spki', format: 'pem' },
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
    });
    this.generatedKeys++;
    const attempt: PendingIssue = {
      keyPem: privateKey,
      csrPem: createCsr({ identity, privateKeyPem: privateKey }),
      backoff: new Backoff(this.retryBackoff),
      retryAt: 0,
      lastError: undefined,
    };
    // Forgotten while the key was made: it is not kept for a later issuance.
    if ((this.epochs.get(identity) ?? 0) === epoch) this.attempts.set(identity, attempt);
    return attempt;
  }

  /** Records a failed attempt and schedules the next one (for wanted identities). */
  private failed(identity: string, attempt: PendingIssue, err: Error): void {
    this.failedAttempts++;
    if (this.attempts.get(identity) !== attempt) return;
    const delayMs = attempt.backoff.next();
    attempt.retryAt = performance.now() + delayMs;
    attempt.lastError = err;
    // One line per attempt: the backoff bounds their rate (at most one a minute per identity).
    this.logger.warn({ identity, err: err.message, attempt: attempt.backoff.attempts, retryInMs: delayMs }, 'certificate not issued; retrying with backoff');
    if (this.wanted.has(identity) && !this.closed) this.setTimer(identity, delayMs);
  }

  private async attemptIssue(identity: string, epoch: number, attempt: PendingIssue): Promise<IdentityCredentials> {
    const started = performance.now();
    const privateKey = attempt.keyPem;
    let signed: SignedCertificate;
    try {
      signed = await withTimeout(this.signer.sign(attempt.csrPem, identity), this.signTimeoutMs, `signer did not answer within ${this.signTimeoutMs} ms`);
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

  /** A renewal, or a retry of a failed issuance: failures schedule the next (see `failed`). */
  private async renew(identity: string): Promise<void> {
    if (this.closed || !this.wanted.has(identity)) return;
    await this.issue(identity).catch(() => undefined);
  }

  private forget(identity: string): void {
    this.epochs.set(identity, (this.epochs.get(identity) ?? 0) + 1);
    const creds = this.creds.get(identity);
    if (creds !== undefined) this.bySni.delete(creds.sni);
    this.creds.delete(identity);
    this.attempts.delete(identity);
    if (creds !== undefined) this.onForgotten?.(identity);
    clearTimeout(this.timers.get(identity));
    this.timers.delete(identity);
  }

  /**
   * The signer is back (the agent reconnected to its controller): every wanted identity whose
   * last issuance or renewal failed and now waits out its backoff is tried again at once. The
   * backoff is kept, so a signer that fails again is not asked faster than before. Answers how
   * many were started.
   */
  retryFailedNow(): number {
    if (this.closed) return 0;
    let started = 0;
    for (const [identity, attempt] of this.attempts) {
      if (attempt.lastError === undefined || this.pending.has(identity) || !this.wanted.has(identity)) continue;
      attempt.retryAt = 0;
      clearTimeout(this.timers.get(identity));
      this.timers.delete(identity);
      void this.renew(identity);
      started++;
    }
    return started;
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
