/**
 * The storage behind the fake Kubernetes API server: objects per resource, one revision
 * counter for everything (etcd's), a watch history that can be compacted, and paged-list
 * snapshots. Written from the API conventions, not from meshlet's code, so tests against it
 * check meshlet against the protocol rather than against itself.
 */
import { randomUUID } from 'node:crypto';

/** A JSON object as the API serves it. */
export type KubeJson = Record<string, unknown>;

/** A resource the fake serves. */
export interface FakeResource {
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  /** Plural name in URLs. */
  readonly resource: string;
  readonly kind: string;
  readonly namespaced: boolean;
}

/** The resources a fresh fake serves (the ones meshlet reads, plus nothing else). */
export const DEFAULT_FAKE_RESOURCES: readonly FakeResource[] = [
  { group: '', version: 'v1', resource: 'namespaces', kind: 'Namespace', namespaced: false },
  { group: '', version: 'v1', resource: 'nodes', kind: 'Node', namespaced: false },
  { group: '', version: 'v1', resource: 'pods', kind: 'Pod', namespaced: true },
  { group: '', version: 'v1', resource: 'services', kind: 'Service', namespaced: true },
  { group: 'meshlet.io', version: 'v1alpha1', resource: 'workloads', kind: 'Workload', namespaced: true },
  { group: 'meshlet.io', version: 'v1alpha1', resource: 'meshtlses', kind: 'MeshTLS', namespaced: true },
];

/** One change, as a watch sends it. */
export interface StoredEvent {
  readonly rev: number;
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED';
  readonly resource: FakeResource;
  readonly object: KubeJson;
}

/** `v1`, `meshlet.io/v1alpha1`. */
export function apiVersionOf(r: FakeResource): string {
  return r.group === '' ? r.version : `${r.group}/${r.version}`;
}

function meta(obj: KubeJson): KubeJson {
  const m = obj['metadata'];
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new Error('fake kube API: an object needs metadata');
  return m as KubeJson;
}

const clone = (o: KubeJson): KubeJson => structuredClone(o);

/** Objects, revisions and history. */
export class FakeKubeStore {
  /** etcd's revision: every write takes the next one. Starts high, as a live cluster's does. */
  rev = 1000;
  /** Watches from a resourceVersion below this get 410 Gone. */
  compactedRev = 0;
  readonly resources: FakeResource[] = [...DEFAULT_FAKE_RESOURCES];
  private readonly objects = new Map<FakeResource, Map<string, KubeJson>>();
  private readonly history: StoredEvent[] = [];
  private readonly listeners = new Set<(e: StoredEvent) => void>();

  /** The resource an object belongs to, by apiVersion and kind. */
  resourceOf(obj: KubeJson): FakeResource {
    const r = this.resources.find((x) => apiVersionOf(x) === obj['apiVersion'] && x.kind === obj['kind']);
    if (r === undefined) throw new Error(`fake kube API: no resource for ${String(obj['apiVersion'])} ${String(obj['kind'])}`);
    return r;
  }

  /** Creates or replaces an object; fills in what the server owns. Returns the stored copy. */
  upsert(input: KubeJson): KubeJson {
    const resource = this.resourceOf(input);
    const obj = clone(input);
    const m = meta(obj);
    if (typeof m['name'] !== 'string' || m['name'] === '') throw new Error('fake kube API: metadata.name is required');
    if (resource.namespaced && (typeof m['namespace'] !== 'string' || m['namespace'] === '')) m['namespace'] = 'default';
    if (!resource.namespaced) delete m['namespace'];
    const key = this.key(resource, m);
    const bucket = this.bucket(resource);
    const previous = bucket.get(key);
    m['uid'] = previous === undefined ? (typeof m['uid'] === 'string' ? m['uid'] : randomUUID()) : meta(previous)['uid'];
    m['creationTimestamp'] = previous === undefined ? new Date().toISOString().replace(/\.\d+Z$/, 'Z') : meta(previous)['creationTimestamp'];
    m['resourceVersion'] = String(++this.rev);
    bucket.set(key, obj);
    this.emit({ rev: this.rev, type: previous === undefined ? 'ADDED' : 'MODIFIED', resource, object: clone(obj) });
    return clone(obj);
  }

  /** Deletes an object; returns whether it existed. */
  remove(resource: FakeResource, namespace: string, name: string): boolean {
    const bucket = this.bucket(resource);
    const key = resource.namespaced ? `${namespace}/${name}` : name;
    const obj = bucket.get(key);
    if (obj === undefined) return false;
    bucket.delete(key);
    // The DELETED event carries the object's last state at the deletion's revision.
    const last = clone(obj);
    meta(last)['resourceVersion'] = String(++this.rev);
    this.emit({ rev: this.rev, type: 'DELETED', resource, object: last });
    return true;
  }

  /** Current objects of a resource, in etcd key order, optionally in one namespace. */
  list(resource: FakeResource, namespace?: string): KubeJson[] {
    const entries = [...this.bucket(resource).entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return entries.map(([, o]) => clone(o)).filter((o) => namespace === undefined || meta(o)['namespace'] === namespace);
  }

  /** One object, or undefined. */
  get(resource: FakeResource, namespace: string, name: string): KubeJson | undefined {
    const o = this.bucket(resource).get(resource.namespaced ? `${namespace}/${name}` : name);
    return o === undefined ? undefined : clone(o);
  }

  /** Events of `resource` after `rev`, or 'expired' when history before them was compacted. */
  eventsSince(resource: FakeResource, rev: number): StoredEvent[] | 'expired' {
    if (rev < this.compactedRev) return 'expired';
    return this.history.filter((e) => e.resource === resource && e.rev > rev);
  }

  /** Forgets all history up to now: any older resourceVersion is then too old (410). */
  compact(): void {
    this.compactedRev = this.rev;
    this.history.length = 0;
  }

  /** Calls `fn` on every change; returns the unsubscribe function. */
  onEvent(fn: (e: StoredEvent) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  private emit(e: StoredEvent): void {
    this.history.push(e);
    for (const fn of [...this.listeners]) fn(e);
  }

  private key(resource: FakeResource, m: KubeJson): string {
    return resource.namespaced ? `${String(m['namespace'])}/${String(m['name'])}` : String(m['name']);
  }

  private bucket(resource: FakeResource): Map<string, KubeJson> {
    let b = this.objects.get(resource);
    if (b === undefined) {
      b = new Map();
      this.objects.set(resource, b);
    }
    return b;
  }
}
