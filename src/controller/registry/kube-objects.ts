/**
 * Kubernetes API JSON -> mesh objects. Each object is cut down to the fields meshlet reads,
 * then validated by the mesh parser like a YAML document.
 *
 * Why cut first: the mesh parser rejects unknown fields, so that a typo in hand-written YAML
 * (`nodname`) cannot silently drop a value. Objects from the API server cannot carry typos (it
 * validated them, and prunes unknown fields of custom resources), but they do carry every field
 * a newer Kubernetes adds. Without the cut, a cluster upgrade that adds a PodSpec field would
 * make every pod invalid. Values meshlet reads are still checked in full.
 */
import { objectsFromValue, type ParseResult } from '../../mesh/objects/parse.js';
import { OPAQUE_PORTS_ANNOTATION } from '../../mesh/types.js';
import { isFields } from '../../mesh/validate/values.js';
import { apiVersionOf, keyKindOf, type KubeResource } from './kube-resources.js';

/** Which fields of a value to keep: all of it, some fields of a mapping, or each list item. */
type Shape = 'all' | { readonly fields: Readonly<Record<string, Shape>> } | { readonly each: Shape };

const ALL = 'all';
const fields = (f: Readonly<Record<string, Shape>>): Shape => ({ fields: f });
const each = (s: Shape): Shape => ({ each: s });

/**
 * ObjectMeta: annotations, uid, managedFields and the rest are not read. `resourceVersion` is
 * not read either, but the informer's cache needs it (the cut objects are what it keeps).
 */
const META = fields({ name: ALL, namespace: ALL, labels: ALL, resourceVersion: ALL });
/** A Service's: meshlet's own annotation (`meshlet.io/opaque-ports`) too. */
const SERVICE_META = fields({ name: ALL, namespace: ALL, labels: ALL, resourceVersion: ALL, annotations: fields({ [OPAQUE_PORTS_ANNOTATION]: ALL }) });
/**
 * Routes', TrafficPolicies' and AuthorizationPolicies': `creationTimestamp` breaks ties between
 * them (the oldest wins; policies are evaluated and listed in that order).
 */
const TIMED_META = fields({ name: ALL, namespace: ALL, labels: ALL, resourceVersion: ALL, creationTimestamp: ALL, generation: ALL });

/** What meshlet reads from each kind (docs/model.md lists the same fields). */
const SHAPES: Readonly<Record<string, Shape>> = {
  Namespace: fields({ apiVersion: ALL, kind: ALL, metadata: META }),
  Node: fields({ apiVersion: ALL, kind: ALL, metadata: META, status: fields({ addresses: ALL }) }),
  Pod: fields({
    apiVersion: ALL,
    kind: ALL,
    metadata: META,
    spec: fields({
      nodeName: ALL,
      serviceAccountName: ALL,
      serviceAccount: ALL,
      hostNetwork: ALL,
      containers: each(fields({ name: ALL, ports: each(fields({ name: ALL, containerPort: ALL, protocol: ALL })) })),
    }),
    status: fields({ phase: ALL, podIP: ALL, podIPs: ALL }),
  }),
  Service: fields({
    apiVersion: ALL,
    kind: ALL,
    metadata: SERVICE_META,
    spec: fields({
      clusterIP: ALL,
      clusterIPs: ALL,
      selector: ALL,
      ports: each(fields({ name: ALL, protocol: ALL, appProtocol: ALL, port: ALL, targetPort: ALL })),
    }),
  }),
  // meshlet's own kinds keep their whole spec: every field in it is meshlet's, so an unknown
  // one is a mistake worth reporting (a CRD schema may preserve unknown fields).
  Workload: fields({ apiVersion: ALL, kind: ALL, metadata: META, spec: ALL }),
  MeshTLS: fields({ apiVersion: ALL, kind: ALL, metadata: META, spec: ALL }),
  TrafficPolicy: fields({ apiVersion: ALL, kind: ALL, metadata: TIMED_META, spec: ALL }),
  // Routes keep their whole spec: a Gateway API field meshlet does not implement must be an
  // error (named in the route's status), never silently dropped. Their status is not read.
  HTTPRoute: fields({ apiVersion: ALL, kind: ALL, metadata: TIMED_META, spec: ALL }),
  GRPCRoute: fields({ apiVersion: ALL, kind: ALL, metadata: TIMED_META, spec: ALL }),
  // AuthorizationPolicies (meshlet's and Istio's) keep their whole spec: a field meshlet does
  // not enforce (Istio's `provider`, `requestPrincipals`) must be refused by name, never dropped
  // (a DENY rule losing a field would deny less, an ALLOW rule would allow more).
  AuthorizationPolicy: fields({ apiVersion: ALL, kind: ALL, metadata: TIMED_META, spec: ALL }),
};

/** Keeps the fields of `shape`. A value of the wrong type is kept whole, for validation to report. */
export function project(value: unknown, shape: Shape): unknown {
  if (shape === ALL) return value;
  if ('each' in shape) return Array.isArray(value) ? value.map((v) => project(v, shape.each)) : value;
  if (!isFields(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, sub] of Object.entries(shape.fields)) {
    if (Object.hasOwn(value, key)) out[key] = project(value[key], sub);
  }
  return out;
}

/**
 * The object cut to what meshlet reads, for the informer's cache: managedFields, container
 * specs and statuses are most of a pod's size, and a cache of whole objects would hold them
 * all. Anything that is not a mapping is returned as it is.
 */
export function slimKubeObject<T>(resource: KubeResource, raw: T): T {
  const shape = SHAPES[resource.kind];
  return shape === undefined || !isFields(raw) ? raw : (project(raw, shape) as T);
}

/** `metadata.namespace` and `metadata.name` of an API object, '' when missing. */
function nameOf(raw: unknown): { namespace: string; name: string } {
  const meta = isFields(raw) ? raw['metadata'] : undefined;
  if (!isFields(meta)) return { namespace: '', name: '' };
  const namespace = typeof meta['namespace'] === 'string' ? meta['namespace'] : '';
  const name = typeof meta['name'] === 'string' ? meta['name'] : '';
  return { namespace, name };
}

/**
 * `Pod/demo/web`, `Node/node-a`, `AuthorizationPolicy.security.istio.io/demo/deny`: the
 * object's key in the registry (see `keyKindOf`).
 */
export function kubeObjectKey(resource: KubeResource, raw: unknown): string {
  const { namespace, name } = nameOf(raw);
  const kind = keyKindOf(resource);
  return resource.namespaced ? `${kind}/${namespace}/${name}` : `${kind}/${name}`;
}

/** The source name problems and conflicts show: `kubernetes:Pod/demo/web`. */
export function kubeSourceName(key: string): string {
  return `kubernetes:${key}`;
}

/**
 * Converts one API object (from a list or a watch event) into mesh objects, with every problem
 * naming the object and field. Items of a list response carry no `apiVersion` and `kind` of
 * their own; they are filled in from the resource.
 */
export function convertKubeObject(resource: KubeResource, raw: unknown): { key: string; result: ParseResult } {
  const key = kubeObjectKey(resource, raw);
  const typed = isFields(raw) ? { apiVersion: apiVersionOf(resource), kind: resource.kind, ...raw } : raw;
  const shape = SHAPES[resource.kind] ?? ALL;
  const result = objectsFromValue(project(typed, shape), { file: kubeSourceName(key), doc: 0 });
  return { key, result };
}
