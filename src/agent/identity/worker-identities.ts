/**
 * A data-path worker's view of the workload credentials. The keys are made and renewed in the
 * primary process only; it sends each issued certificate with its key here, and this view
 * builds the worker's own TLS context from them. What is missing (a workload that just
 * joined) is asked from the primary, as the in-process IdentityManager would issue it.
 */
import { createSecureContext } from 'node:tls';
import { MeshletError } from '../../mesh/errors.js';
import type { IdentityCredentials, IdentitySource } from './manager.js';
import { sniForIdentity } from './sni.js';
import type { WireCredentials } from '../workers/protocol.js';

/** Asks the primary for credentials, by identity or by tunnel server name. */
export type CredentialsRequest = (req: { readonly identity: string } | { readonly sni: string }) => Promise<WireCredentials>;

/** Credentials held by a worker, fed by the primary. */
export class WorkerIdentities implements IdentitySource {
  private readonly ask: CredentialsRequest;
  private readonly creds = new Map<string, IdentityCredentials>();
  private readonly bySni = new Map<string, string>();
  private readonly pending = new Map<string, Promise<IdentityCredentials>>();
  private wantedSni = new Set<string>();

  constructor(ask: CredentialsRequest) {
    this.ask = ask;
  }

  /** Takes credentials the primary sent (issued, renewed, or answered). */
  put(wire: WireCredentials): IdentityCredentials {
    const creds: IdentityCredentials = {
      identity: wire.identity,
      chainPem: wire.chainPem,
      trustBundlePem: wire.trustBundlePem,
      serial: wire.serial,
      notBefore: wire.notBefore,
      notAfter: wire.notAfter,
      secureContext: createSecureContext({ key: wire.keyPem, cert: wire.chainPem, ca: wire.trustBundlePem }),
      sni: wire.sni,
    };
    this.creds.set(creds.identity, creds);
    this.bySni.set(creds.sni, creds.identity);
    return creds;
  }

  /** Drops an identity whose workload left. */
  forget(identity: string): void {
    const creds = this.creds.get(identity);
    if (creds !== undefined) this.bySni.delete(creds.sni);
    this.creds.delete(identity);
  }

  /** The local identities of the snapshot in force: their server names may be awaited. */
  setWanted(identities: ReadonlySet<string>): void {
    this.wantedSni = new Set([...identities].map(sniForIdentity));
  }

  get(identity: string): IdentityCredentials | undefined {
    return this.creds.get(identity);
  }

  ensure(identity: string): Promise<IdentityCredentials> {
    const have = this.creds.get(identity);
    if (have !== undefined) return Promise.resolve(have);
    return this.fetch(identity, { identity });
  }

  getBySni(sni: string): IdentityCredentials | undefined {
    const identity = this.bySni.get(sni);
    return identity === undefined ? undefined : this.creds.get(identity);
  }

  ensureBySni(sni: string): Promise<IdentityCredentials> | undefined {
    if (!this.wantedSni.has(sni)) return undefined;
    return this.fetch(`sni:${sni}`, { sni });
  }

  /** One request in flight per key; concurrent callers share it. */
  private fetch(key: string, req: { readonly identity: string } | { readonly sni: string }): Promise<IdentityCredentials> {
    let p = this.pending.get(key);
    if (p === undefined) {
      p = this.ask(req)
        .then((wire) => this.put(wire))
        .catch((err: Error) => {
          throw new MeshletError('MESHLET_ERR_CERT', `credentials for ${'identity' in req ? req.identity : `server name ${req.sni}`}: ${err.message}`, { cause: err });
        })
        .finally(() => this.pending.delete(key));
      this.pending.set(key, p);
    }
    return p;
  }
}
