/**
 * Generated clusters and change sequences for the incremental build's property tests: a small
 * universe (few namespaces, nodes, labels and addresses) so that selectors match, addresses
 * collide, and policies name what exists often enough to matter.
 */
import fc from 'fast-check';
import { objectsFromValue } from '../../../src/mesh/objects/parse.js';
import type { MeshObject } from '../../../src/mesh/types.js';

/** Fixed, as the project's other property tests: a failure reproduces. */
export const SEED = 20261208;

const NAMESPACES = ['ns0', 'ns1', 'ns2', 'meshlet-system'];
const NODES = ['node1', 'node2', 'node3'];
const labelArb = fc.dictionary(fc.constantFrom('app', 'tier'), fc.constantFrom('a', 'b'), { maxKeys: 2 });
// ns0 most often, so Services, routes and policies find each other.
const nsArb = fc.constantFrom('ns0', 'ns0', 'ns0', 'ns1', 'ns2');

const pod = fc.record({
  name: fc.constantFrom('p0', 'p1', 'p2', 'p3', 'p4', 'p5', 'p6', 'p7'),
  namespace: fc.constantFrom('ns0', 'ns0', 'ns0', 'ns1', 'ns2', 'meshlet-system'),
  labels: labelArb,
  node: fc.constantFrom('node1', 'node2', 'node1', 'node2', 'node1', 'node2', 'node3', ''),
  // Few addresses: two pods on one is a conflict the update must leave to the full build.
  ip: fc.integer({ min: 1, max: 40 }),
  sa: fc.constantFrom('default', 'default', 'meshlet-controller'),
  out: fc.constantFrom(false, false, false, false, true),
  hostNetwork: fc.constantFrom(false, false, false, true),
  namedPort: fc.boolean(),
}).map((p) => ({
  apiVersion: 'v1',
  kind: 'Pod',
  metadata: { name: p.name, namespace: p.namespace, labels: { ...p.labels, ...(p.out ? { 'meshlet.io/mesh': 'disabled' } : {}) } },
  spec: {
    nodeName: p.node,
    serviceAccountName: p.sa,
    hostNetwork: p.hostNetwork,
    containers: [{ name: 'app', image: 'x', ...(p.namedPort ? { ports: [{ name: 'web', containerPort: 9090 }] } : {}) }],
  },
  status: { podIP: `198.18.1.${p.ip}`, podIPs: [{ ip: `198.18.1.${p.ip}` }] },
}));

const workload = fc.record({ name: fc.constantFrom('w0', 'w1'), namespace: nsArb, labels: labelArb, node: fc.constantFrom('node1', 'node2'), ip: fc.integer({ min: 1, max: 40 }) }).map((w) => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'Workload',
  metadata: { name: w.name, namespace: w.namespace, labels: w.labels },
  spec: { address: `198.18.1.${w.ip}`, node: w.node, serviceAccount: 'vm' },
}));

const service = fc.record({
  name: fc.constantFrom('s0', 's1', 's2', 's3'),
  namespace: nsArb,
  selector: fc.option(labelArb, { nil: undefined }),
  ip: fc.integer({ min: 1, max: 12 }),
  headless: fc.constantFrom(false, false, false, true),
  named: fc.boolean(),
}).map((s) => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: s.name, namespace: s.namespace },
  spec: {
    clusterIP: s.headless ? 'None' : `198.19.0.${s.ip}`,
    ...(s.selector === undefined ? {} : { selector: s.selector }),
    ports: [{ name: 'http', port: 80, targetPort: s.named ? 'web' : 8080 }],
  },
}));

const route = fc.record({ name: fc.constantFrom('r0', 'r1'), namespace: nsArb, parent: fc.constantFrom('s0', 's1', 's2'), backend: fc.constantFrom('s0', 's1', 's3') }).map((r) => ({
  apiVersion: 'gateway.networking.k8s.io/v1',
  kind: 'HTTPRoute',
  metadata: { name: r.name, namespace: r.namespace },
  spec: { parentRefs: [{ group: '', kind: 'Service', name: r.parent }], rules: [{ backendRefs: [{ name: r.backend, port: 80 }] }] },
}));

const trafficPolicy = fc.record({ name: fc.constantFrom('t0', 't1'), namespace: nsArb, target: fc.constantFrom('s0', 's1', 's2') }).map((p) => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'TrafficPolicy',
  metadata: { name: p.name, namespace: p.namespace },
  spec: { targetRefs: [{ group: '', kind: 'Service', name: p.target }], timeout: { http: { requestTimeout: '2s' } } },
}));

const authorizationPolicy = fc.record({ name: fc.constantFrom('a0', 'a1'), namespace: fc.constantFrom(...NAMESPACES), labels: labelArb }).map((a) => ({
  apiVersion: 'security.istio.io/v1',
  kind: 'AuthorizationPolicy',
  metadata: { name: a.name, namespace: a.namespace },
  spec: { selector: { matchLabels: a.labels }, action: 'ALLOW', rules: [{ from: [{ source: { principals: ['cluster.local/ns/ns0/sa/default'] } }] }] },
}));

const telemetry = fc.record({ name: fc.constantFrom('tm0'), namespace: nsArb, percent: fc.integer({ min: 0, max: 100 }) }).map((m) => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'Telemetry',
  metadata: { name: m.name, namespace: m.namespace },
  spec: { tracing: { collector: 'http://otel:4318', samplingPercentage: m.percent } },
}));

const meshTLS = fc.record({ namespace: nsArb, mode: fc.constantFrom('STRICT', 'PERMISSIVE'), app: fc.constantFrom('a', 'b') }).map((m) => ({
  apiVersion: 'meshlet.io/v1alpha1',
  kind: 'MeshTLS',
  metadata: { name: 'tls', namespace: m.namespace },
  spec: { mode: m.mode, selector: { matchLabels: { app: m.app } } },
}));

const namespace = fc.record({ name: fc.constantFrom(...NAMESPACES), meshed: fc.boolean() }).map((n) => ({
  apiVersion: 'v1',
  kind: 'Namespace',
  metadata: { name: n.name, labels: n.meshed ? { 'meshlet.io/mesh': 'enabled' } : {} },
}));

const node = fc.record({ name: fc.constantFrom(...NODES), zone: fc.option(fc.constantFrom('z1', 'z2'), { nil: undefined }), address: fc.integer({ min: 1, max: 3 }) }).map((n) => ({
  apiVersion: 'v1',
  kind: 'Node',
  metadata: { name: n.name, labels: n.zone === undefined ? {} : { 'topology.kubernetes.io/zone': n.zone } },
  status: { addresses: n.name === 'node3' ? [] : [{ type: 'InternalIP', address: `198.18.0.${n.address}` }] },
}));

/** A document (a Kubernetes-style object) in the universe. */
export type Doc = { readonly kind: string; readonly metadata: { readonly name: string; readonly namespace?: string } };

/**
 * One step: put a document (a new object, or a changed one under its key), delete the object of
 * a key held (an index into the held keys, modulo), or hand an unchanged object again as a new,
 * equal object from another place (what a source without a cache does).
 */
export type Step = { readonly put: Doc } | { readonly remove: number } | { readonly copy: number };

/** Mostly pod and Service changes, now and then a kind that can change everything. */
const docArb: fc.Arbitrary<Doc> = fc.oneof(
  { weight: 12, arbitrary: pod },
  { weight: 2, arbitrary: workload },
  { weight: 5, arbitrary: service },
  { weight: 2, arbitrary: route },
  { weight: 2, arbitrary: trafficPolicy },
  { weight: 1, arbitrary: authorizationPolicy },
  { weight: 1, arbitrary: telemetry },
  { weight: 1, arbitrary: meshTLS },
  { weight: 1, arbitrary: namespace },
  { weight: 1, arbitrary: node },
) as fc.Arbitrary<Doc>;

export const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 6, arbitrary: docArb.map((put) => ({ put })) },
  { weight: 3, arbitrary: fc.nat().map((remove) => ({ remove })) },
  { weight: 1, arbitrary: fc.nat().map((copy) => ({ copy })) },
);

/** A starting cluster: every namespace and node, then some documents. */
export const clusterArb: fc.Arbitrary<Doc[]> = fc.array(docArb, { maxLength: 30 }).map((docs) => [
  ...NAMESPACES.map((name, i) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels: i === 2 ? {} : { 'meshlet.io/mesh': 'enabled' } } })),
  ...NODES.map((name, i) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name }, status: { addresses: name === 'node3' ? [] : [{ type: 'InternalIP', address: `198.18.0.${i + 1}` }] } })),
  ...docs,
]);

const keyOf = (d: Doc): string => `${d.kind}/${d.metadata.namespace ?? ''}/${d.metadata.name}`;

/**
 * The objects of a cluster under changes, as a caching source hands them: one frozen object per
 * key, the same object while its document is unchanged, a new one when it changes.
 */
export class GeneratedCluster {
  private readonly held = new Map<string, MeshObject>();
  private docs = 0;

  constructor(initial: readonly Doc[]) {
    for (const d of initial) this.put(d);
  }

  objects(): MeshObject[] {
    return [...this.held.values()];
  }

  apply(step: Step): void {
    const keys = [...this.held.keys()];
    if ('put' in step) this.put(step.put);
    else if (keys.length > 0 && 'remove' in step) this.held.delete(keys[step.remove % keys.length] as string);
    else if (keys.length > 0 && 'copy' in step) {
      const key = keys[step.copy % keys.length] as string;
      // Equal content from another place (a file written again, a resync): its digest is the same.
      this.held.set(key, Object.freeze({ ...(this.held.get(key) as MeshObject), source: { file: 'copied.yaml', doc: this.docs++ } }));
    }
  }

  private put(d: Doc): void {
    const { objects, problems } = objectsFromValue(d, { file: 'gen.yaml', doc: this.docs++ });
    if (problems.length > 0) throw new Error(`generated document refused: ${problems.map((p) => p.text).join('; ')}`);
    for (const o of objects) this.held.set(keyOf(d), Object.freeze(o));
  }
}
