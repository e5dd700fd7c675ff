/**
 * What the mesh root ConfigMaps should be, decided without I/O: from the trust bundle, the
 * namespaces that must hold it, and the ConfigMaps seen in Kubernetes, the creates and updates
 * that bring them in line. `CaRootPublisher` does the writes; this decides them.
 *
 * The ConfigMap is the controller's: its `data` is exactly `ca.crt` (an edit is put back, a key
 * added by hand is removed, so what agents mount is only ever the bundle), its two labels are
 * put back; other labels, annotations, finalizers and owner references are kept.
 */
import { MESH_ENABLED, MESH_LABEL, type MeshObject } from '../../mesh/types.js';
import { isFields } from '../../mesh/validate/values.js';

/** The ConfigMap's name in every namespace (agent.yaml mounts it in meshlet-system). */
export const CA_ROOT_CONFIGMAP = 'meshlet-ca-root';
/** The key holding the PEM bundle (the file name in the agent's mount). */
export const CA_ROOT_KEY = 'ca.crt';
/** The label that marks the ConfigMap as the published root (for selectors and `kubectl get -l`). */
export const CA_ROOT_LABEL = 'meshlet.io/ca-root';
/** The controller's own namespace: it always holds the root, enrolled or not. */
export const CA_ROOT_HOME_NAMESPACE = 'meshlet-system';

/** The labels the controller puts on every root ConfigMap, and puts back when removed. */
export const CA_ROOT_LABELS: Readonly<Record<string, string>> = Object.freeze({
  [CA_ROOT_LABEL]: 'true',
  'app.kubernetes.io/managed-by': 'meshlet-controller',
});

/** A root ConfigMap as seen in Kubernetes: what the plan compares, and the metadata a replace keeps. */
export interface ObservedConfigMap {
  readonly namespace: string;
  readonly resourceVersion: string;
  readonly data: Readonly<Record<string, unknown>>;
  /** `binaryData` is present (never written by the controller: an edit). */
  readonly hasBinaryData: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** The object's metadata without `managedFields` (kept as it is on a replace). */
  readonly metadata: Readonly<Record<string, unknown>>;
}

/** A ConfigMap body as sent to the API server. */
export interface ConfigMapBody {
  readonly apiVersion: 'v1';
  readonly kind: 'ConfigMap';
  readonly metadata: Readonly<Record<string, unknown>>;
  readonly data: Readonly<Record<string, string>>;
}

/** Why an existing ConfigMap is replaced. */
export type UpdateReason = 'content' | 'labels';

/** One write the plan asks for. */
export type CaRootAction =
  | { readonly kind: 'create'; readonly namespace: string; readonly body: ConfigMapBody }
  | { readonly kind: 'update'; readonly namespace: string; readonly reason: UpdateReason; readonly body: ConfigMapBody };

/** What should hold: the bundle, in these namespaces. */
export interface CaRootWanted {
  /** PEM: one root, or every trusted root when the CA has several (a rotation in progress). */
  readonly bundlePem: string;
  readonly namespaces: readonly string[];
}

/**
 * The namespaces that get the root: the controller's own, then every namespace labelled
 * `meshlet.io/mesh: enabled`, sorted. A namespace whose label goes keeps its ConfigMap (as
 * istiod keeps istio-ca-root-cert): its pods may still mount it, and a root is public.
 */
export function caRootNamespaces(objects: readonly MeshObject[]): string[] {
  const enrolled = objects.filter((o) => o.kind === 'Namespace' && o.labels[MESH_LABEL] === MESH_ENABLED).map((o) => o.name);
  return [CA_ROOT_HOME_NAMESPACE, ...[...new Set(enrolled)].filter((n) => n !== CA_ROOT_HOME_NAMESPACE).sort()];
}

/** The writes that make `observed` (namespace -> ConfigMap) hold `wanted`, in namespace order. */
export function planCaRoot(wanted: CaRootWanted, observed: ReadonlyMap<string, ObservedConfigMap>): CaRootAction[] {
  const actions: CaRootAction[] = [];
  for (const namespace of new Set(wanted.namespaces)) {
    const current = observed.get(namespace);
    if (current === undefined) {
      actions.push({ kind: 'create', namespace, body: configMapBody({ name: CA_ROOT_CONFIGMAP, namespace, labels: { ...CA_ROOT_LABELS } }, wanted.bundlePem) });
      continue;
    }
    const reason = staleness(current, wanted.bundlePem);
    if (reason === undefined) continue;
    const metadata = { ...current.metadata, labels: { ...current.labels, ...CA_ROOT_LABELS }, resourceVersion: current.resourceVersion };
    actions.push({ kind: 'update', namespace, reason, body: configMapBody(metadata, wanted.bundlePem) });
  }
  return actions;
}

/** Why `current` differs from what is wanted, or undefined when it holds. */
export function staleness(current: ObservedConfigMap, bundlePem: string): UpdateReason | undefined {
  const keys = Object.keys(current.data);
  if (current.hasBinaryData || keys.length !== 1 || current.data[CA_ROOT_KEY] !== bundlePem) return 'content';
  for (const [k, v] of Object.entries(CA_ROOT_LABELS)) if (current.labels[k] !== v) return 'labels';
  return undefined;
}

/**
 * A ConfigMap from the API (a list item or a watch event's object), or undefined when it is not
 * a root ConfigMap (another name, no namespace, no resourceVersion): the edge where API JSON
 * becomes the plan's input.
 */
export function observeConfigMap(raw: unknown): ObservedConfigMap | undefined {
  if (!isFields(raw) || !isFields(raw['metadata'])) return undefined;
  const { managedFields: _dropped, ...metadata } = raw['metadata'];
  const { name, namespace, resourceVersion } = metadata;
  if (name !== CA_ROOT_CONFIGMAP || typeof namespace !== 'string' || typeof resourceVersion !== 'string') return undefined;
  const labels: Record<string, string> = {};
  if (isFields(metadata['labels'])) for (const [k, v] of Object.entries(metadata['labels'])) if (typeof v === 'string') labels[k] = v;
  const data = isFields(raw['data']) ? raw['data'] : {};
  const binary = raw['binaryData'];
  return { namespace, resourceVersion, data, hasBinaryData: isFields(binary) && Object.keys(binary).length > 0, labels, metadata };
}

function configMapBody(metadata: Readonly<Record<string, unknown>>, bundlePem: string): ConfigMapBody {
  return { apiVersion: 'v1', kind: 'ConfigMap', metadata, data: { [CA_ROOT_KEY]: bundlePem } };
}
