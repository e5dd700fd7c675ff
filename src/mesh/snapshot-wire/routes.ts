/**
 * Routes on the snapshot wire. Each route travels as the Gateway API object it reads back from
 * (`objects/route-spec.ts`), plus the backends the controller found unresolved; the agent reads
 * it with the same validator as files and the Kubernetes API (so a bad route from a peer is
 * refused naming the field, and a pattern that could stall the data path never gets in), then
 * checks every parent and backend against the Services of the same view.
 */
import { objectsFromValue } from '../objects/parse.js';
import type { BackendRef, RouteData } from '../routes.js';
import { routeToObject } from '../objects/route-spec.js';
import { formatValue, isFields } from '../validate/values.js';
import type { ServiceInfo } from '../types.js';
import { listField, type WireObject, type WireProblems } from './checks.js';

/** Longest `invalid` reason accepted for a backend: a sentence, not a payload. */
const MAX_REASON = 1024;

/** An unresolved ref on the wire: `[rule, index, reason]` (index of a backendRef, or of a filter). */
type InvalidMark = [number, number, string];

/**
 * A route as it travels: the object, `[rule, backendRef, reason]` for each unresolved backend,
 * and `[rule, filter, reason]` for each RequestMirror whose backend is unresolved (when any).
 */
export function routeToWire(route: RouteData): { object: Record<string, unknown>; invalid: InvalidMark[]; invalidMirrors?: InvalidMark[] } {
  const invalid: InvalidMark[] = [];
  const mirrors: InvalidMark[] = [];
  route.rules.forEach((rule, i) => {
    rule.backendRefs.forEach((b: BackendRef, j: number) => {
      if (b.invalid !== undefined) invalid.push([i, j, b.invalid]);
    });
    rule.filters.forEach((f, j) => {
      if (f.type === 'RequestMirror' && f.requestMirror.backendRef.invalid !== undefined) mirrors.push([i, j, f.requestMirror.backendRef.invalid]);
    });
  });
  return { object: routeToObject(route), invalid, ...(mirrors.length === 0 ? {} : { invalidMirrors: mirrors }) };
}

/** Decodes `cluster.routes`: each must validate, attach to Services of the view and mark only its own backends. */
export function decodeRoutes(p: WireProblems, view: WireObject, services: readonly ServiceInfo[]): RouteData[] {
  // Older controllers send no routes: none.
  if (view['routes'] === undefined) return [];
  const keys = new Map(services.map((s) => [s.key, s]));
  const seen = new Set<string>();
  const out: RouteData[] = [];
  listField(p, view, 'routes', 'cluster').forEach((value, i) => {
    const path = `cluster.routes[${i}]`;
    const route = decodeRoute(p, value, path, keys);
    if (route === undefined) return;
    const id = `${route.kind}/${route.namespace}/${route.name}`;
    if (seen.has(id)) p.add(path, `${id} appears twice`);
    seen.add(id);
    out.push(route);
  });
  return out;
}

function decodeRoute(p: WireProblems, value: unknown, path: string, services: ReadonlyMap<string, ServiceInfo>): RouteData | undefined {
  if (!isFields(value) || !isFields(value['object'])) {
    p.add(path, `must be an object with a route object, got ${formatValue(value)}`);
    return undefined;
  }
  const object = value['object'];
  if (object['kind'] !== 'HTTPRoute' && object['kind'] !== 'GRPCRoute') {
    p.add(`${path}.object.kind`, `${formatValue(object['kind'])} is not HTTPRoute or GRPCRoute`);
    return undefined;
  }
  const { objects, problems } = objectsFromValue(object, { file: path, doc: 0 });
  // The reporter names `<path> (document 1)`: the document is the route itself.
  for (const problem of problems) p.add(path, problem.text.replace(`${path} (document 1): `, ''));
  const parsed = objects[0];
  if (problems.length > 0 || parsed === undefined || (parsed.kind !== 'HTTPRoute' && parsed.kind !== 'GRPCRoute')) return undefined;
  const route = parsed.route;
  route.parents.forEach((parent, j) => {
    const service = services.get(`${parent.namespace}/${parent.name}`);
    const at = `${path}.object.spec.parentRefs[${j}]`;
    if (service === undefined) p.add(at, `Service ${parent.namespace}/${parent.name} is not a Service of the cluster view`);
    else if (parent.port !== undefined && !service.ports.some((sp) => sp.port === parent.port)) p.add(at, `port ${parent.port} is not a port of Service ${service.key}`);
  });
  const marked = markInvalid(p, value['invalid'], `${path}.invalid`, route);
  return marked === undefined || value['invalidMirrors'] === undefined ? marked : markMirrors(p, value['invalidMirrors'], `${path}.invalidMirrors`, marked);
}

/** The route with the RequestMirror backends the wire names marked `invalid`. */
function markMirrors(p: WireProblems, invalid: unknown, path: string, route: RouteData): RouteData {
  const marks = new Map<string, string>();
  listField(p, { invalidMirrors: invalid }, 'invalidMirrors', path.slice(0, -'.invalidMirrors'.length)).forEach((entry, k) => {
    const [rule, index, reason] = Array.isArray(entry) ? (entry as unknown[]) : [];
    const filter = typeof rule === 'number' && typeof index === 'number' ? route.rules[rule]?.filters[index] : undefined;
    if (filter?.type !== 'RequestMirror' || typeof reason !== 'string' || reason === '' || reason.length > MAX_REASON) {
      p.add(`${path}[${k}]`, `must be [rule, filter, reason] naming a RequestMirror filter of the route, with a reason of 1 to ${MAX_REASON} characters`);
    } else marks.set(`${rule as number}/${index as number}`, reason);
  });
  if (marks.size === 0) return route;
  const mark = (i: number) => <F extends RouteData['rules'][number]['filters'][number]>(f: F, j: number): F => {
    const reason = marks.get(`${i}/${j}`);
    if (reason === undefined || f.type !== 'RequestMirror') return f;
    return { ...f, requestMirror: { ...f.requestMirror, backendRef: { ...f.requestMirror.backendRef, invalid: reason } } };
  };
  if (route.kind === 'HTTPRoute') return { ...route, rules: route.rules.map((r, i) => ({ ...r, filters: r.filters.map(mark(i)) })) };
  return { ...route, rules: route.rules.map((r, i) => ({ ...r, filters: r.filters.map(mark(i)) })) };
}

/** The route with the unresolved backends the wire names marked `invalid`. */
function markInvalid(p: WireProblems, invalid: unknown, path: string, route: RouteData): RouteData | undefined {
  const list = listField(p, { invalid: invalid ?? [] }, 'invalid', path.slice(0, -'.invalid'.length));
  const marks = new Map<string, string>();
  list.forEach((entry, k) => {
    const [rule, ref, reason] = Array.isArray(entry) ? (entry as unknown[]) : [];
    const backend = typeof rule === 'number' && typeof ref === 'number' ? route.rules[rule]?.backendRefs[ref] : undefined;
    if (backend === undefined || typeof reason !== 'string' || reason === '' || reason.length > MAX_REASON) {
      p.add(`${path}[${k}]`, `must be [rule, backendRef, reason] naming a backendRef of the route, with a reason of 1 to ${MAX_REASON} characters`);
    } else marks.set(`${rule as number}/${ref as number}`, reason);
  });
  if (marks.size === 0) return route;
  const mark = (i: number) => (b: BackendRef, j: number): BackendRef => {
    const reason = marks.get(`${i}/${j}`);
    return reason === undefined ? b : { ...b, invalid: reason };
  };
  if (route.kind === 'HTTPRoute') return { ...route, rules: route.rules.map((r, i) => ({ ...r, backendRefs: r.backendRefs.map(mark(i)) })) };
  return { ...route, rules: route.rules.map((r, i) => ({ ...r, backendRefs: r.backendRefs.map(mark(i)) })) };
}
