/**
 * Generated clusters and generated changes for the delta tests (fast-check): a small model
 * (pods, Services with TrafficPolicies, HTTP and gRPC routes with route policies,
 * AuthorizationPolicies of both API groups, Telemetry, node zones and addresses) rendered as YAML and built
 * with `buildClusterState`, so every generated view is one the controller could publish.
 */
import fc from 'fast-check';
import { buildClusterState, type ClusterState } from '../../../../src/mesh/cluster-state.js';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';

export interface PodSpec { readonly ns: number; readonly app: number; readonly node: number; readonly sa: number; readonly optOut: boolean }
export interface ServiceSpec { readonly ns: number; readonly app: number; readonly named: boolean; readonly grpcPort: boolean; readonly policy: boolean }
export interface RouteSpec { readonly svc: number; readonly backend: number; readonly grpc: boolean; readonly policy: boolean; readonly prefix: number }
export interface AuthzSpec { readonly ns: number; readonly app: number; readonly deny: boolean; readonly sa: number; readonly istio: boolean }
export interface TelemetrySpec { readonly ns: number; readonly percentage: number }

/** One change: an object added or replaced (a spec) or removed (null), or a node's zone. */
export type Change =
  | { readonly kind: 'pod'; readonly id: number; readonly spec: PodSpec | null }
  | { readonly kind: 'service'; readonly id: number; readonly spec: ServiceSpec | null }
  | { readonly kind: 'route'; readonly id: number; readonly spec: RouteSpec | null }
  | { readonly kind: 'authz'; readonly id: number; readonly spec: AuthzSpec | null }
  | { readonly kind: 'telemetry'; readonly id: number; readonly spec: TelemetrySpec | null }
  | { readonly kind: 'zone'; readonly id: number; readonly spec: string | null }
  | { readonly kind: 'nodeAddress'; readonly id: number; readonly spec: number | null };

/** The cluster as specs by id. */
export interface Model {
  readonly pod: ReadonlyMap<number, PodSpec>;
  readonly service: ReadonlyMap<number, ServiceSpec>;
  readonly route: ReadonlyMap<number, RouteSpec>;
  readonly authz: ReadonlyMap<number, AuthzSpec>;
  readonly telemetry: ReadonlyMap<number, TelemetrySpec>;
  readonly zone: ReadonlyMap<number, string>;
  /** Node index -> which of its other addresses it has (none: its first, 198.18.0.<n+1>). */
  readonly nodeAddress: ReadonlyMap<number, number>;
}

export const EMPTY: Model = { pod: new Map(), service: new Map(), route: new Map(), authz: new Map(), telemetry: new Map(), zone: new Map(), nodeAddress: new Map() };

const ns = fc.integer({ min: 0, max: 1 });
const app = fc.integer({ min: 0, max: 3 });
const orNull = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | null> => fc.option(a, { freq: 4, nil: null });

/** Any one change. */
export const change: fc.Arbitrary<Change> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ kind: fc.constant('pod' as const), id: fc.integer({ min: 0, max: 24 }), spec: orNull(fc.record({ ns, app, node: fc.integer({ min: 0, max: 2 }), sa: fc.integer({ min: 0, max: 1 }), optOut: fc.boolean() })) }) },
  { weight: 3, arbitrary: fc.record({ kind: fc.constant('service' as const), id: fc.integer({ min: 0, max: 5 }), spec: orNull(fc.record({ ns, app, named: fc.boolean(), grpcPort: fc.boolean(), policy: fc.boolean() })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('route' as const), id: fc.integer({ min: 0, max: 3 }), spec: orNull(fc.record({ svc: fc.integer({ min: 0, max: 5 }), backend: fc.integer({ min: 0, max: 6 }), grpc: fc.boolean(), policy: fc.boolean(), prefix: fc.integer({ min: 0, max: 2 }) })) }) },
  { weight: 2, arbitrary: fc.record({ kind: fc.constant('authz' as const), id: fc.integer({ min: 0, max: 3 }), spec: orNull(fc.record({ ns, app, deny: fc.boolean(), sa: fc.integer({ min: 0, max: 1 }), istio: fc.boolean() })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('telemetry' as const), id: fc.integer({ min: 0, max: 1 }), spec: orNull(fc.record({ ns, percentage: fc.integer({ min: 0, max: 100 }) })) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('zone' as const), id: fc.integer({ min: 0, max: 2 }), spec: orNull(fc.constantFrom('zone-a', 'zone-b')) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('nodeAddress' as const), id: fc.integer({ min: 0, max: 2 }), spec: orNull(fc.integer({ min: 1, max: 2 })) }) },
);

/** `model` with `c` made. */
export function applyChange(model: Model, c: Change): Model {
  const map = new Map(model[c.kind] as ReadonlyMap<number, unknown>);
  if (c.spec === null) map.delete(c.id);
  else map.set(c.id, c.spec);
  return { ...model, [c.kind]: map };
}

const NODES = ['node-a', 'node-b', 'node-c'];

function podYaml(id: number, p: PodSpec): string {
  const labels = `{app: a${p.app}${p.optOut ? ', meshlet.io/mesh: disabled' : ''}}`;
  return `apiVersion: v1\nkind: Pod\nmetadata: {name: p${id}, namespace: ns${p.ns}, labels: ${labels}}\nspec: {nodeName: ${NODES[p.node]}, serviceAccountName: sa${p.sa}, containers: [{name: app, ports: [{name: http, containerPort: 8080}]}]}\nstatus: {podIP: 198.18.1.${id + 10}}\n`;
}

function serviceYaml(id: number, s: ServiceSpec): string {
  const grpc = s.grpcPort ? ', {name: grpc, port: 9090, targetPort: 9090}' : '';
  const svc = `apiVersion: v1\nkind: Service\nmetadata: {name: s${id}, namespace: ns${s.ns}}\nspec: {clusterIP: 198.19.0.${id + 1}, selector: {app: a${s.app}}, ports: [{name: http, port: 80, targetPort: ${s.named ? 'http' : 8080}}${grpc}]}\n`;
  if (!s.policy) return svc;
  return `${svc}---\napiVersion: meshlet.io/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: tp-s${id}, namespace: ns${s.ns}, creationTimestamp: "2025-01-01T00:00:00Z"}\nspec:\n  targetRefs: [{group: "", kind: Service, name: s${id}}]\n  loadBalancer: {type: PeakEWMA, peakEWMA: {defaultRTT: 20ms, decay: 5s}}\n  retry: {numRetries: 2}\n`;
}

function routeYaml(id: number, r: RouteSpec, services: ReadonlyMap<number, ServiceSpec>): string {
  // A route lives in its parent's namespace (ns0 when the parent is gone: not accepted then).
  const namespace = `ns${services.get(r.svc)?.ns ?? 0}`;
  const kind = r.grpc ? 'GRPCRoute' : 'HTTPRoute';
  const match = r.grpc ? '' : `matches: [{path: {type: PathPrefix, value: /p${r.prefix}}}], `;
  const route = `apiVersion: gateway.networking.k8s.io/v1\nkind: ${kind}\nmetadata: {name: r${id}, namespace: ${namespace}, creationTimestamp: "2025-01-01T00:00:00Z"}\nspec:\n  parentRefs: [{group: "", kind: Service, name: s${r.svc}, port: 80}]\n  rules: [{${match}backendRefs: [{name: s${r.backend}, port: 80}]}]\n`;
  if (!r.policy) return route;
  return `${route}---\napiVersion: meshlet.io/v1alpha1\nkind: TrafficPolicy\nmetadata: {name: tp-r${id}, namespace: ${namespace}, creationTimestamp: "2025-01-01T00:00:00Z"}\nspec:\n  targetRefs: [{group: gateway.networking.k8s.io, kind: ${kind}, name: r${id}}]\n  timeout: {http: {requestTimeout: 2s}}\n`;
}

function authzYaml(id: number, a: AuthzSpec): string {
  const apiVersion = a.istio ? 'security.istio.io/v1' : 'meshlet.io/v1alpha1';
  return `apiVersion: ${apiVersion}\nkind: AuthorizationPolicy\nmetadata: {name: az${id}, namespace: ns${a.ns}, creationTimestamp: "2025-01-01T00:00:00Z"}\nspec:\n  selector: {matchLabels: {app: a${a.app}}}\n  action: ${a.deny ? 'DENY' : 'ALLOW'}\n  rules: [{from: [{source: {principals: ["cluster.local/ns/ns0/sa/sa${a.sa}"]}}]}]\n`;
}

function telemetryYaml(id: number, t: TelemetrySpec): string {
  return `apiVersion: meshlet.io/v1alpha1\nkind: Telemetry\nmetadata: {name: t${id}, namespace: ns${t.ns}}\nspec:\n  tracing: {collector: "http://otel.observability:4318", samplingPercentage: ${t.percentage}}\n`;
}

/** The model as YAML documents. */
export function modelYaml(m: Model): string {
  const docs: string[] = [];
  for (const n of [0, 1]) docs.push(`apiVersion: v1\nkind: Namespace\nmetadata: {name: ns${n}, labels: {meshlet.io/mesh: enabled}}\n`);
  NODES.forEach((name, i) => {
    const zone = m.zone.get(i);
    const labels = zone === undefined ? '{}' : `{topology.kubernetes.io/zone: ${zone}}`;
    // Another address of its own (198.18.2.x: no pod's, no other node's) when one is chosen.
    const other = m.nodeAddress.get(i);
    const address = other === undefined ? `198.18.0.${i + 1}` : `198.18.2.${i * 10 + other}`;
    docs.push(`apiVersion: v1\nkind: Node\nmetadata: {name: ${name}, labels: ${labels}}\nstatus: {addresses: [{type: InternalIP, address: ${address}}]}\n`);
  });
  for (const [id, p] of m.pod) docs.push(podYaml(id, p));
  for (const [id, s] of m.service) docs.push(serviceYaml(id, s));
  for (const [id, r] of m.route) docs.push(routeYaml(id, r, m.service));
  for (const [id, a] of m.authz) docs.push(authzYaml(id, a));
  for (const [id, t] of m.telemetry) docs.push(telemetryYaml(id, t));
  return docs.join('---\n');
}

/** The state the controller would build from `m`. */
export function stateOf(m: Model): ClusterState {
  return buildClusterState(parseObjects(modelYaml(m), 'generated.yaml'));
}

/** A model made by `changes` from nothing. */
export function modelOf(changes: readonly Change[]): Model {
  return changes.reduce(applyChange, EMPTY);
}
