/**
 * Route status the Gateway API way, decided from the cluster state: for each parentRef an
 * `Accepted` condition (is the route attached to that parent?) and a `ResolvedRefs` condition
 * (does every backendRef resolve?), with the spec's reasons. Pure: the Kubernetes status
 * writer, `proxy-config routes` and the admin API all show what this returns, and the snapshot
 * carries the routes it accepts, with unresolved backends marked `invalid` (the data path
 * answers 500 for their share of requests, as the spec says).
 */
import type { BackendRef, RouteData } from './routes.js';
import type { GRPCRouteObject, HTTPRouteObject, RouteParentRef, ServiceInfo } from './types.js';

/** The `controllerName` meshlet writes in `status.parents[]`. */
export const MESHLET_CONTROLLER_NAME = 'meshlet.io/controller';

/** A Gateway API condition (metav1.Condition less the times, which the writer adds). */
export interface RouteCondition {
  readonly type: 'Accepted' | 'ResolvedRefs';
  readonly status: 'True' | 'False';
  readonly reason: string;
  readonly message: string;
}

/** The status of a route for one of its parentRefs. */
export interface RouteParentStatus {
  readonly parentRef: RouteParentRef;
  /**
   * False for parents meshlet does not implement (a Gateway): shown by meshlet's tools, but
   * never written to the route's Kubernetes status, which belongs to that parent's controller.
   */
  readonly managed: boolean;
  readonly conditions: readonly RouteCondition[];
}

/** A route's status and, when some parent accepted it, the route as the data path gets it. */
export interface RouteStatus {
  readonly kind: 'HTTPRoute' | 'GRPCRoute';
  readonly namespace: string;
  readonly name: string;
  readonly parents: readonly RouteParentStatus[];
  /** Attached to its accepted Service parents, backends resolved; undefined when none accepted it. */
  readonly resolved?: RouteData;
  /** The route's `metadata.generation`, when known (Kubernetes): `observedGeneration`. */
  readonly generation?: number;
}

const condition = (type: RouteCondition['type'], ok: boolean, reason: string, message: string): RouteCondition => ({
  type,
  status: ok ? 'True' : 'False',
  reason,
  message,
});

/** Why `ref` does not resolve ([reason, message]), or undefined when it does. */
function backendProblem(ref: BackendRef, routeNamespace: string, services: ReadonlyMap<string, ServiceInfo>): [string, string] | undefined {
  if (ref.kind !== undefined) return ['InvalidKind', `backendRef ${ref.name}: kind ${ref.group === '' ? '' : `${ref.group ?? ''}/`}${ref.kind} is not supported (only Service)`];
  if (ref.namespace !== routeNamespace) {
    return ['RefNotPermitted', `backendRef ${ref.namespace}/${ref.name}: another namespace needs a ReferenceGrant, which meshlet does not read`];
  }
  const service = services.get(`${ref.namespace}/${ref.name}`);
  if (service === undefined) return ['BackendNotFound', `backendRef ${ref.namespace}/${ref.name}: no such Service with a cluster IP`];
  if (ref.port !== undefined && !service.ports.some((p) => p.port === ref.port)) {
    return ['BackendNotFound', `backendRef ${ref.namespace}/${ref.name}: the Service has no TCP port ${ref.port}`];
  }
  return undefined;
}

/** The Accepted condition for one parentRef. */
function acceptance(p: RouteParentRef, routeNamespace: string, services: ReadonlyMap<string, ServiceInfo>): { ok: boolean; managed: boolean; reason: string; message: string } {
  if (p.kind !== 'Service' || !['', 'core'].includes(p.group)) {
    return { ok: false, managed: false, reason: 'UnsupportedValue', message: `meshlet attaches routes to Services (GAMMA); a ${p.kind} parent is another controller's` };
  }
  if (p.namespace !== routeNamespace) {
    return { ok: false, managed: true, reason: 'NotAllowedByListeners', message: `Service ${p.namespace}/${p.name} is in another namespace: consumer routes are not supported by meshlet` };
  }
  const service = services.get(`${p.namespace}/${p.name}`);
  if (service === undefined) return { ok: false, managed: true, reason: 'NoMatchingParent', message: `Service ${p.namespace}/${p.name} does not exist or has no cluster IP` };
  if (p.port !== undefined && !service.ports.some((sp) => sp.port === p.port)) {
    return { ok: false, managed: true, reason: 'NoMatchingParent', message: `Service ${p.namespace}/${p.name} has no TCP port ${p.port}` };
  }
  return { ok: true, managed: true, reason: 'Accepted', message: `attached to Service ${p.namespace}/${p.name}${p.port === undefined ? '' : ` port ${p.port}`}` };
}

/**
 * The status of `route` against `services` (by `namespace/name`, the state's Services with a
 * cluster IP), and the route resolved for the data path when a parent accepted it.
 */
export function routeStatus(route: HTTPRouteObject | GRPCRouteObject, services: ReadonlyMap<string, ServiceInfo>): RouteStatus {
  const data = route.route;
  const problems: [string, string][] = [];
  const resolveRefs = (refs: readonly BackendRef[]): BackendRef[] =>
    refs.map((ref) => {
      const problem = backendProblem(ref, route.namespace, services);
      if (problem === undefined) return ref;
      problems.push(problem);
      return { ...ref, invalid: `${problem[0]}: ${problem[1]}` };
    });
  // A RequestMirror's backend resolves like a backendRef; an unresolved one is marked (the
  // agent counts its copies as failed) and reported in ResolvedRefs.
  const resolveFilters = <F extends RouteData['rules'][number]['filters'][number]>(filters: readonly F[]): F[] =>
    filters.map((f) => {
      if (f.type !== 'RequestMirror') return f;
      const problem = backendProblem({ ...f.requestMirror.backendRef, weight: 1 }, route.namespace, services);
      if (problem === undefined) return f;
      problems.push(problem);
      return { ...f, requestMirror: { ...f.requestMirror, backendRef: { ...f.requestMirror.backendRef, invalid: `${problem[0]}: ${problem[1]}` } } };
    });
  const rules = data.rules.map((rule) => ({ ...rule, filters: resolveFilters(rule.filters), backendRefs: resolveRefs(rule.backendRefs) }));
  const resolvedRefs = problems.length === 0
    ? condition('ResolvedRefs', true, 'ResolvedRefs', 'every backendRef resolves')
    : condition('ResolvedRefs', false, (problems[0] as [string, string])[0], problems.map((p) => p[1]).join('; '));
  const accepted: RouteData['parents'][number][] = [];
  const parents = route.parentRefs.map((p): RouteParentStatus => {
    const a = acceptance(p, route.namespace, services);
    if (a.ok) accepted.push(p.port === undefined ? { namespace: p.namespace, name: p.name } : { namespace: p.namespace, name: p.name, port: p.port });
    return { parentRef: p, managed: a.managed, conditions: [condition('Accepted', a.ok, a.reason, a.message), resolvedRefs] };
  });
  const base = { kind: route.kind, namespace: route.namespace, name: route.name, parents, ...(route.generation === undefined ? {} : { generation: route.generation }) };
  if (accepted.length === 0) return base;
  return { ...base, resolved: { ...data, parents: accepted, rules } as RouteData };
}

/**
 * One line per route problem an operator should see: a managed parent that did not accept the
 * route, and backends that do not resolve (once per route). Empty for healthy routes.
 */
export function routeProblems(statuses: readonly RouteStatus[]): string[] {
  const out: string[] = [];
  for (const s of statuses) {
    const who = `${s.kind} ${s.namespace}/${s.name}`;
    for (const p of s.parents) {
      const accepted = p.conditions.find((c) => c.type === 'Accepted');
      if (p.managed && accepted?.status === 'False') out.push(`${who}: not accepted (${accepted.reason}): ${accepted.message}`);
    }
    const refs = s.parents[0]?.conditions.find((c) => c.type === 'ResolvedRefs');
    if (refs?.status === 'False') out.push(`${who}: backends not resolved (${refs.reason}), their share of requests gets 500: ${refs.message}`);
  }
  return out;
}

/** Longest condition message written (the Gateway API's maxLength is 32768). */
export const MAX_CONDITION_MESSAGE = 32_768;

/**
 * The status of a route that failed validation (it is not in the state): `Accepted: False`,
 * reason `UnsupportedValue`, the problems as the message, for each Service parent its raw
 * `parentRefs` name. Undefined when it names no Service parent (nothing of meshlet's to say).
 * Pure: reads the raw object leniently, since it is invalid.
 */
export function invalidRouteStatus(raw: unknown, problems: readonly string[]): RouteStatus | undefined {
  const o = raw as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown; generation?: unknown }; spec?: { parentRefs?: unknown } } | null;
  const kind = o?.kind;
  const name = o?.metadata?.name;
  const namespace = o?.metadata?.namespace;
  if ((kind !== 'HTTPRoute' && kind !== 'GRPCRoute') || typeof name !== 'string' || typeof namespace !== 'string') return undefined;
  const refs = Array.isArray(o?.spec?.parentRefs) ? (o?.spec?.parentRefs as unknown[]) : [];
  let message = `meshlet cannot use this route: ${problems.join('; ')}`;
  if (message.length > MAX_CONDITION_MESSAGE) message = `${message.slice(0, MAX_CONDITION_MESSAGE - 3)}...`;
  const parents: RouteParentStatus[] = [];
  for (const ref of refs.slice(0, 32)) {
    const r = ref as { group?: unknown; kind?: unknown; namespace?: unknown; name?: unknown; port?: unknown } | null;
    if (r?.kind !== 'Service' || (r.group !== '' && r.group !== 'core') || typeof r.name !== 'string') continue;
    const parentRef: RouteParentRef = {
      group: r.group,
      kind: 'Service',
      namespace: typeof r.namespace === 'string' ? r.namespace : namespace,
      name: r.name,
      ...(typeof r.port === 'number' ? { port: r.port } : {}),
    };
    parents.push({ parentRef, managed: true, conditions: [condition('Accepted', false, 'UnsupportedValue', message)] });
  }
  if (parents.length === 0) return undefined;
  const generation = o?.metadata?.generation;
  return { kind, namespace, name, parents, ...(typeof generation === 'number' ? { generation } : {}) };
}
