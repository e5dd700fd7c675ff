/**
 * Leader election through a Kubernetes Lease (`coordination.k8s.io/v1`), so that two
 * controller replicas can run and exactly one serves agents. The standby keeps trying; when the
 * leader stops renewing (crash, node loss) or releases the Lease (clean shutdown), the standby
 * takes over within one lease duration (immediately after a release).
 *
 * Expiry is judged by the local time at which this replica last saw the Lease change, not by
 * comparing the holder's clock with ours (client-go's approach): clock skew between replicas
 * cannot make a live leader look expired.
 */
import { CoordinationV1Api, V1MicroTime, type KubeConfig, type V1Lease } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import type { KubernetesApiCall } from '../ca/kubernetes-api.js';
import { statusOf } from '../ca/kubernetes-api.js';

/** The Lease the controller replicas share. */
export const LEASE_NAMESPACE = 'meshlet-system';
export const LEASE_NAME = 'meshlet-controller';

/** What leader election calls (the RBAC test compares the manifests with this). */
export const LEADER_ELECTION_API_CALLS: readonly KubernetesApiCall[] = Object.freeze([
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', verbs: ['get', 'update'], scope: 'namespace', resourceNames: [LEASE_NAME], why: 'read and renew the controller Lease' },
  { group: 'coordination.k8s.io', version: 'v1', resource: 'leases', verbs: ['create'], scope: 'namespace', why: 'create the controller Lease the first time (create cannot be limited to a name)' },
] as KubernetesApiCall[]);

/** The Lease as the elector sees it. */
export interface LeaseRecord {
  readonly holder: string;
  readonly durationSeconds: number;
  readonly transitions: number;
  /** Opaque; an update with a stale one fails with a conflict. */
  readonly resourceVersion: string;
}

/** The three calls leader election needs; {@link kubernetesLeaseApi} is the real one. */
export interface LeaseApi {
  read(): Promise<LeaseRecord | undefined>;
  /** @throws an error with `conflict: true` when it already exists */
  create(holder: string, durationSeconds: number): Promise<LeaseRecord>;
  /** @throws an error with `conflict: true` when `resourceVersion` is stale */
  update(next: LeaseRecord): Promise<LeaseRecord>;
}

/** Options of {@link LeaderElector}. */
export interface LeaderElectorOptions {
  readonly api: LeaseApi;
  /** This replica's name (the pod name). */
  readonly identity: string;
  readonly logger: Logger;
  /** How long a Lease not renewed stays the holder's. Default 15 s. */
  readonly leaseDurationMs?: number;
  /** How often the leader renews, and how often a standby retries. Default 5 s / 2 s. */
  readonly renewIntervalMs?: number;
  readonly retryIntervalMs?: number;
  /** Local clock (ms), for tests. */
  readonly now?: () => number;
}

/** One replica's side of the election. */
export class LeaderElector {
  private readonly api: LeaseApi;
  private readonly identity: string;
  private readonly logger: Logger;
  private readonly leaseMs: number;
  private readonly renewMs: number;
  private readonly retryMs: number;
  private readonly now: () => number;
  private observed: LeaseRecord | undefined;
  private observedAt = 0;
  private lastRenewal = 0;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private leading = false;

  constructor(opts: LeaderElectorOptions) {
    this.api = opts.api;
    this.identity = opts.identity;
    this.logger = opts.logger.child({ component: 'leader-election' });
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewMs = opts.renewIntervalMs ?? 5_000;
    this.retryMs = opts.retryIntervalMs ?? 2_000;
    this.now = opts.now ?? Date.now;
  }

  /** True while this replica holds the Lease. */
  get isLeader(): boolean {
    return this.leading;
  }

  /**
   * Resolves once this replica holds the Lease, then keeps renewing it; `onLost` is called
   * (once) when renewing has failed for a whole lease duration, or another replica took it.
   */
  async acquire(onLost: () => void): Promise<void> {
    while (!this.closed && !(await this.tryAcquireOrRenew())) {
      await new Promise((r) => setTimeout(r, this.retryMs));
    }
    if (this.closed) return;
    this.leading = true;
    this.logger.info({ identity: this.identity }, 'leader: this replica serves agents');
    const renew = async (): Promise<void> => {
      if (this.closed) return;
      const ok = await this.tryAcquireOrRenew();
      const held = this.observed?.holder === this.identity;
      if ((!ok && this.now() - this.lastRenewal >= this.leaseMs) || (ok && !held)) {
        this.leading = false;
        this.logger.error({ identity: this.identity, holder: this.observed?.holder }, 'leadership lost');
        onLost();
        return;
      }
      this.timer = setTimeout(() => void renew(), this.renewMs);
    };
    this.timer = setTimeout(() => void renew(), this.renewMs);
  }

  /** One round: true when this replica holds the Lease afterwards. */
  async tryAcquireOrRenew(): Promise<boolean> {
    try {
      const current = await this.api.read();
      if (current === undefined) {
        this.remember(await this.api.create(this.identity, Math.ceil(this.leaseMs / 1000)));
        this.lastRenewal = this.now();
        return true;
      }
      this.remember(current);
      const expired = this.now() - this.observedAt >= current.durationSeconds * 1000;
      if (current.holder !== this.identity && current.holder !== '' && !expired) return false;
      const next: LeaseRecord = {
        holder: this.identity,
        durationSeconds: Math.ceil(this.leaseMs / 1000),
        transitions: current.holder === this.identity ? current.transitions : current.transitions + 1,
        resourceVersion: current.resourceVersion,
      };
      this.remember(await this.api.update(next));
      this.lastRenewal = this.now();
      return true;
    } catch (err) {
      if ((err as { conflict?: boolean }).conflict !== true) {
        this.logger.warn({ err: (err as Error).message }, 'lease request failed');
      }
      return false;
    }
  }

  private remember(lease: LeaseRecord): void {
    if (this.observed?.resourceVersion !== lease.resourceVersion) this.observedAt = this.now();
    this.observed = lease;
  }

  /** Stops renewing and, when leading, hands the Lease over at once (holder cleared). */
  async release(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    if (!this.leading || this.observed === undefined) return;
    this.leading = false;
    try {
      await this.api.update({ ...this.observed, holder: '' });
      this.logger.info('lease released');
    } catch (err) {
      this.logger.warn({ err: (err as Error).message }, 'lease not released; the standby takes over when it expires');
    }
  }
}

/** The real {@link LeaseApi} through `@kubernetes/client-node`. */
export function kubernetesLeaseApi(kc: KubeConfig, namespace = LEASE_NAMESPACE, name = LEASE_NAME): LeaseApi {
  const api = kc.makeApiClient(CoordinationV1Api);
  const toRecord = (l: V1Lease): LeaseRecord => ({
    holder: l.spec?.holderIdentity ?? '',
    durationSeconds: l.spec?.leaseDurationSeconds ?? 15,
    transitions: l.spec?.leaseTransitions ?? 0,
    resourceVersion: l.metadata?.resourceVersion ?? '',
  });
  const conflictAware = async <T>(p: Promise<T>): Promise<T> => {
    try {
      return await p;
    } catch (err) {
      if (statusOf(err) === 409) throw Object.assign(new Error('lease changed meanwhile'), { conflict: true });
      throw err;
    }
  };
  const body = (r: { holder: string; durationSeconds: number; transitions: number; resourceVersion?: string }): V1Lease => ({
    apiVersion: 'coordination.k8s.io/v1',
    kind: 'Lease',
    metadata: { name, namespace, ...(r.resourceVersion ? { resourceVersion: r.resourceVersion } : {}) },
    spec: {
      holderIdentity: r.holder,
      leaseDurationSeconds: r.durationSeconds,
      leaseTransitions: r.transitions,
      renewTime: new V1MicroTime(),
    },
  });
  return {
    read: async () => {
      try {
        return toRecord(await api.readNamespacedLease({ name, namespace }));
      } catch (err) {
        if (statusOf(err) === 404) return undefined;
        throw err;
      }
    },
    create: async (holder, durationSeconds) =>
      toRecord(await conflictAware(api.createNamespacedLease({ namespace, body: body({ holder, durationSeconds, transitions: 0 }) }))),
    update: async (next) => toRecord(await conflictAware(api.replaceNamespacedLease({ name, namespace, body: body(next) }))),
  };
}
