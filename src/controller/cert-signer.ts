/**
 * Node authorization for certificates: a node gets a certificate only for an identity of a
 * meshed workload the current cluster state schedules on it. A compromised node can then
 * impersonate only the workloads it already runs. Every refusal is logged with the node and
 * the identity (the audit trail), every issue with the serial.
 */
import type { Logger } from 'pino';
import { DEFAULT_TTL_SECONDS, type CertificateAuthority, type IssuedCertificate } from '../ca/authority.js';
import { isMeshletError, MeshletError } from '../mesh/errors.js';
import { controllerIdentity } from '../mesh/snapshot-wire/encode.js';
import type { NodeCertificateSigner, PublishedState, SignedChain, StateFeed } from './contracts.js';

/** Options of {@link ControllerCertSigner}. */
export interface ControllerCertSignerOptions {
  readonly ca: CertificateAuthority;
  readonly feed: StateFeed;
  readonly logger: Logger;
  /** Workload certificate lifetime. Default 24 h. */
  readonly ttlSeconds?: number | undefined;
}

/** What the signer did since it started. */
export interface CertSignerCounters {
  /** Certificates issued. */
  readonly signed: number;
  /** Requests refused because the node may not have the identity (or there was no state yet). */
  readonly refused: number;
  /** Requests the CA rejected (a bad CSR: signature, key, SAN). */
  readonly invalid: number;
}

/** Identities per node of one published state, built once per state. */
type NodeIdentities = ReadonlyMap<string, ReadonlySet<string>>;

/** The controller's {@link NodeCertificateSigner}. */
export class ControllerCertSigner implements NodeCertificateSigner {
  private readonly ca: CertificateAuthority;
  private readonly feed: StateFeed;
  private readonly logger: Logger;
  private readonly ttlSeconds: number;
  private indexed: { state: PublishedState; identities: NodeIdentities } | undefined;
  private signed = 0;
  private refused = 0;
  private invalid = 0;

  constructor(opts: ControllerCertSignerOptions) {
    this.ca = opts.ca;
    this.feed = opts.feed;
    this.logger = opts.logger.child({ component: 'cert-signer' });
    this.ttlSeconds = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  }

  /** See {@link NodeCertificateSigner.sign}. */
  async sign(node: string, csrPem: string, identity: string): Promise<SignedChain> {
    if (identity === controllerIdentity(this.ca.trustDomain)) {
      // The controller's own identity is what agents trust as the controller: no node may hold it,
      // whatever the state says (the state never meshes it either, see cluster-state.ts).
      throw this.refuse(node, identity, 'it is the controller\'s identity, which is never issued to a node');
    }
    const published = this.feed.current();
    if (published === undefined) {
      throw this.refuse(node, identity, 'the controller has no cluster state yet');
    }
    if (!this.identitiesOf(published).get(node)?.has(identity)) {
      throw this.refuse(node, identity, `no meshed workload with identity ${identity} is scheduled on node ${node} (state ${published.version})`);
    }
    let issued: IssuedCertificate;
    try {
      issued = this.ca.sign(csrPem, { identity, ttlSeconds: this.ttlSeconds });
    } catch (err) {
      if (isMeshletError(err, 'MESHLET_ERR_CERT')) {
        this.invalid++;
        this.logger.warn({ node, identity, err: err.message }, 'certificate request rejected');
      }
      throw err;
    }
    this.signed++;
    this.logger.info({ node, identity, serial: issued.serial, notAfter: issued.notAfter.toISOString() }, 'certificate issued');
    return { chainPem: issued.chainPem, trustBundlePem: this.ca.trustBundlePem };
  }

  /** Counts since start, for metrics. */
  counters(): CertSignerCounters {
    return { signed: this.signed, refused: this.refused, invalid: this.invalid };
  }

  private refuse(node: string, identity: string, why: string): MeshletError {
    this.refused++;
    this.logger.warn({ node, identity, why }, 'certificate refused: node not authorized for identity');
    return new MeshletError('MESHLET_ERR_CERT_NOT_AUTHORIZED', `node ${node} may not have a certificate for ${identity}: ${why}`);
  }

  /** node -> identities of its meshed workloads, rebuilt only when a new state is published. */
  private identitiesOf(published: PublishedState): NodeIdentities {
    if (this.indexed?.state === published) return this.indexed.identities;
    const identities = new Map<string, Set<string>>();
    for (const w of published.state.workloads) {
      if (w.node === '') continue;
      let set = identities.get(w.node);
      if (set === undefined) identities.set(w.node, (set = new Set()));
      set.add(w.identity);
    }
    this.indexed = { state: published, identities };
    return identities;
  }
}
