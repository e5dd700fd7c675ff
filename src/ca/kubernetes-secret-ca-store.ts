/**
 * CA material in a Kubernetes Secret (`meshlet-system/meshlet-ca`, keys `ca.crt` and `ca.key`),
 * so a controller Deployment keeps its root across restarts and every replica uses the same
 * one. Creation is create-if-absent: the API server accepts exactly one create of a name, and
 * a controller that gets 409 Conflict reads the winner's material.
 */
import { CoreV1Api, type KubeConfig, type V1Secret } from '@kubernetes/client-node';
import { MeshletError } from '../mesh/errors.js';
import type { CaMaterial, CaStore } from './ca-store.js';
import { CA_CERT_FILE, CA_KEY_FILE } from './file-ca-store.js';
import { reasonOf, statusOf, withTimeout, type KubernetesApiCall } from './kubernetes-api.js';

/** Where the Secret lives by default: the controller's namespace, a fixed name. */
export const DEFAULT_CA_SECRET_NAMESPACE = 'meshlet-system';
export const DEFAULT_CA_SECRET_NAME = 'meshlet-ca';

/** The Kubernetes API calls this store makes (the RBAC manifests are derived from them). */
export const CA_SECRET_API_CALLS: readonly KubernetesApiCall[] = [
  {
    group: '',
    version: 'v1',
    resource: 'secrets',
    verbs: ['get'],
    scope: 'namespace',
    resourceNames: [DEFAULT_CA_SECRET_NAME],
    why: 'read the CA root kept in the meshlet-ca Secret',
  },
  { group: '', version: 'v1', resource: 'secrets', verbs: ['create'], scope: 'namespace', why: 'store a new CA root on first start' },
];

/** Options of {@link KubernetesSecretCaStore}. */
export interface KubernetesSecretCaStoreOptions {
  readonly kubeConfig: KubeConfig;
  readonly namespace?: string | undefined;
  readonly name?: string | undefined;
  /** Per API request; a hung API server must not hang the controller's start. Default 10 s. */
  readonly timeoutMs?: number | undefined;
}

/** The Kubernetes Secret implementation of {@link CaStore}. */
export class KubernetesSecretCaStore implements CaStore {
  readonly location: string;
  readonly certificateName: string;
  readonly keyName: string;
  private readonly api: CoreV1Api;
  private readonly namespace: string;
  private readonly name: string;
  private readonly timeoutMs: number;

  constructor(opts: KubernetesSecretCaStoreOptions) {
    this.namespace = opts.namespace ?? DEFAULT_CA_SECRET_NAMESPACE;
    this.name = opts.name ?? DEFAULT_CA_SECRET_NAME;
    this.timeoutMs = opts.timeoutMs ?? 10_000;
    this.api = opts.kubeConfig.makeApiClient(CoreV1Api);
    this.location = `Secret ${this.namespace}/${this.name}`;
    this.certificateName = `${this.location} key ${CA_CERT_FILE}`;
    this.keyName = `${this.location} key ${CA_KEY_FILE}`;
  }

  /** See {@link CaStore.loadOrCreate}. At most three API requests: read, create, read. */
  async loadOrCreate(create: () => Promise<CaMaterial>): Promise<{ material: CaMaterial; created: boolean }> {
    const existing = await this.read();
    if (existing !== undefined) return { material: existing, created: false };
    const material = await create();
    try {
      await withTimeout(this.api.createNamespacedSecret({ namespace: this.namespace, body: this.secretFor(material) }), this.timeoutMs);
      return { material, created: true };
    } catch (err) {
      if (statusOf(err) !== 409) throw this.failure('create', err);
    }
    // 409: another controller created it between our read and our create; theirs wins.
    const winner = await this.read();
    if (winner === undefined) throw new MeshletError('MESHLET_ERR_CA', `${this.location} was reported as existing (409) but cannot be found`);
    return { material: winner, created: false };
  }

  /** The stored material, or undefined when the Secret does not exist. Never repairs. */
  private async read(): Promise<CaMaterial | undefined> {
    let secret: V1Secret;
    try {
      secret = await withTimeout(this.api.readNamespacedSecret({ namespace: this.namespace, name: this.name }), this.timeoutMs);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw this.failure('read', err);
    }
    const certificatePem = decode(secret.data?.[CA_CERT_FILE]);
    const privateKeyPem = decode(secret.data?.[CA_KEY_FILE]);
    const missing = [certificatePem === undefined ? CA_CERT_FILE : '', privateKeyPem === undefined ? CA_KEY_FILE : ''].filter((k) => k !== '');
    if (certificatePem === undefined || privateKeyPem === undefined) {
      throw new MeshletError(
        'MESHLET_ERR_CA',
        `${this.location} has no ${missing.join(' or ')}; restore it (or delete the Secret to start a new root, which invalidates every issued certificate)`,
      );
    }
    return { certificatePem, privateKeyPem };
  }

  private secretFor(material: CaMaterial): V1Secret {
    return {
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: {
        name: this.name,
        namespace: this.namespace,
        labels: { 'app.kubernetes.io/part-of': 'meshlet', 'app.kubernetes.io/component': 'ca' },
      },
      type: 'Opaque',
      // Immutable: a root is replaced only deliberately (delete, then restart), never by an edit.
      immutable: true,
      data: {
        [CA_CERT_FILE]: Buffer.from(material.certificatePem).toString('base64'),
        [CA_KEY_FILE]: Buffer.from(material.privateKeyPem).toString('base64'),
      },
    };
  }

  private failure(what: string, err: unknown): MeshletError {
    const status = statusOf(err);
    const why = status === undefined ? (err as Error).message : `HTTP ${status}${reasonOf(err)}`;
    return new MeshletError('MESHLET_ERR_CA', `cannot ${what} ${this.location}: ${why}`, { cause: err });
  }
}

function decode(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined;
  return Buffer.from(value, 'base64').toString('utf8');
}
