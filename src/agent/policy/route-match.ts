/**
 * Gateway API route matching and filter math for the L7 layer (not wired into the proxy yet):
 * pure functions over compiled routes (`mesh/routes.ts`).
 *
 * Precedence, as the HTTPRoute spec states it, across every rule of every route given:
 * an Exact path match; then the PathPrefix match with the most characters; then a method
 * match; then the most header matches; then the most query parameter matches. RegularExpression
 * paths are implementation-specific: ranked after PathPrefix, longer pattern first (as Istio
 * does). Ties: the oldest route (creationTimestamp), then `namespace/name` alphabetically,
 * then the first rule in list order, then the first match. GRPCRoute: the most characters in a
 * matching service, then in the method, then the most header matches, then the same ties.
 * A gRPC request (content-type `application/grpc...`) is matched against GRPCRoutes first;
 * other requests only against HTTPRoutes. Hostnames are not matched (GAMMA routes are reached
 * by Service, not by host).
 */
import type {
  BackendRef, GrpcRouteMatch, HeaderModifier, HttpRouteMatch, NameValueMatch, PathModifier, RequestRedirect, RouteInfo, StringMatch,
} from '../../mesh/routes.js';

/** Header values as Node gives them: lower-case names. */
export type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** What matching needs of a request. `query` is the raw query string, without `?`. */
export interface RouteRequest {
  readonly method: string;
  readonly path: string;
  readonly query: string;
  readonly headers: Headers;
  readonly authority?: string;
}

/** The winning route, its rule and the match that selected it. */
export interface RouteMatchResult {
  readonly route: RouteInfo;
  readonly ruleIndex: number;
  readonly rule: RouteInfo['rules'][number];
  readonly match: HttpRouteMatch | GrpcRouteMatch;
}

interface Entry extends RouteMatchResult {
  readonly key: readonly number[];
}

const PATH_RANK = { Exact: 2, PathPrefix: 1, RegularExpression: 0 } as const;

function entries(routes: readonly RouteInfo[], kind: RouteInfo['kind']): Entry[] {
  const out: Entry[] = [];
  for (const route of routes) {
    if (route.kind !== kind) continue;
    route.rules.forEach((rule, ruleIndex) => {
      for (const match of rule.matches as readonly (HttpRouteMatch | GrpcRouteMatch)[]) {
        const key = 'path' in match
          ? [-PATH_RANK[match.path.type], -match.path.value.length, match.method === undefined ? 0 : -1, -match.headers.length, -match.queryParams.length]
          : [-(match.method?.service?.length ?? 0), -(match.method?.method?.length ?? 0), -match.headers.length];
        out.push({ route, ruleIndex, rule, match, key });
      }
    });
  }
  const name = (r: RouteInfo): string => `${r.namespace}/${r.name}`;
  // A stable sort: equal keys keep route, rule and match order, as the spec's last ties want.
  return out.sort((a, b) => {
    for (let i = 0; i < a.key.length; i++) if (a.key[i] !== b.key[i]) return (a.key[i] as number) - (b.key[i] as number);
    if (a.route.creationTimestamp !== b.route.creationTimestamp) return a.route.creationTimestamp - b.route.creationTimestamp;
    const an = name(a.route);
    const bn = name(b.route);
    return an < bn ? -1 : an > bn ? 1 : a.ruleIndex - b.ruleIndex;
  });
}

/** Sorted once per routes array (a snapshot's routes are immutable). */
const tables = new WeakMap<readonly RouteInfo[], { http: Entry[]; grpc: Entry[] }>();

function table(routes: readonly RouteInfo[]): { http: Entry[]; grpc: Entry[] } {
  let t = tables.get(routes);
  if (t === undefined) tables.set(routes, (t = { http: entries(routes, 'HTTPRoute'), grpc: entries(routes, 'GRPCRoute') }));
  return t;
}

function stringMatches(m: StringMatch, value: string | undefined): boolean {
  if (value === undefined) return false;
  return m.type === 'Exact' ? m.value === value : m.regex.test(value);
}

function header(headers: Headers, name: string): string | undefined {
  const v = headers[name];
  return v === undefined ? undefined : typeof v === 'string' ? v : v.join(',');
}

function headersMatch(ms: readonly NameValueMatch[], headers: Headers): boolean {
  return ms.every((m) => stringMatches(m.match, header(headers, m.name)));
}

/** PathPrefix by path segments: `/foo` matches `/foo`, `/foo/` and `/foo/bar`, not `/foobar`. */
export function prefixMatches(prefix: string, path: string): boolean {
  if (prefix === '') return true;
  return path === prefix || (path.startsWith(prefix) && path.charCodeAt(prefix.length) === 0x2f);
}

function httpMatches(m: HttpRouteMatch, req: RouteRequest, query: () => URLSearchParams): boolean {
  const p = m.path;
  const pathOk = p.type === 'Exact' ? req.path === p.value : p.type === 'PathPrefix' ? prefixMatches(p.prefix, req.path) : p.regex.test(req.path);
  if (!pathOk) return false;
  if (m.method !== undefined && m.method !== req.method) return false;
  if (!headersMatch(m.headers, req.headers)) return false;
  // Repeated query parameters: the first value counts (the spec leaves it open; it suggests this).
  return m.queryParams.every((q) => stringMatches(q.match, query().get(q.name) ?? undefined));
}

function grpcMatches(m: GrpcRouteMatch, req: RouteRequest): boolean {
  const parts = /^\/([^/]+)\/([^/]+)$/.exec(req.path);
  if (parts === null || req.method !== 'POST') return false;
  const mm = m.method;
  if (mm !== undefined) {
    const [, service, method] = parts as unknown as [string, string, string];
    if (mm.type === 'Exact') {
      if (mm.service !== undefined && mm.service !== service) return false;
      if (mm.method !== undefined && mm.method !== method) return false;
    } else {
      if (mm.serviceRegex !== undefined && !mm.serviceRegex.test(service)) return false;
      if (mm.methodRegex !== undefined && !mm.methodRegex.test(method)) return false;
    }
  }
  return headersMatch(m.headers, req.headers);
}

/** True for a gRPC request (content-type `application/grpc`, `application/grpc+proto`, ...). */
export function isGrpcRequest(headers: Headers): boolean {
  return /^application\/grpc(?:[+;]|$)/.test(header(headers, 'content-type') ?? '');
}

/** The route, rule and match a request selects, or undefined (the caller answers 404). */
export function matchRoute(routes: readonly RouteInfo[], req: RouteRequest): RouteMatchResult | undefined {
  const t = table(routes);
  if (isGrpcRequest(req.headers)) {
    for (const e of t.grpc) if (grpcMatches(e.match as GrpcRouteMatch, req)) return e;
  }
  let parsed: URLSearchParams | undefined;
  const query = (): URLSearchParams => (parsed ??= new URLSearchParams(req.query));
  for (const e of t.http) if (httpMatches(e.match as HttpRouteMatch, req, query)) return e;
  return undefined;
}

/**
 * A backend by weight; `random` returns [0, 1). Undefined when every weight is 0 or there is
 * none (the caller answers 500). An `invalid` backend may be picked: its share gets 500s.
 */
export function pickBackend(rule: { readonly backendRefs: readonly BackendRef[] }, random: () => number): BackendRef | undefined {
  let total = 0;
  for (const b of rule.backendRefs) total += b.weight;
  if (total <= 0) return undefined;
  let r = random() * total;
  for (const b of rule.backendRefs) {
    if (b.weight <= 0) continue;
    if (r < b.weight) return b;
    r -= b.weight;
  }
  // Only reached when rounding leaves r at the total: the last weighted backend.
  for (let i = rule.backendRefs.length - 1; i >= 0; i--) {
    const b = rule.backendRefs[i] as BackendRef;
    if (b.weight > 0) return b;
  }
  return undefined;
}

/**
 * RequestHeaderModifier / ResponseHeaderModifier: remove, then set, then add (Envoy's order:
 * removals first). `add` appends to an existing value with a comma, as the spec's example.
 */
export function applyHeaderModifier(headers: Headers, mod: HeaderModifier): Record<string, string | readonly string[]> {
  const out: Record<string, string | readonly string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined) out[k] = v;
  for (const name of mod.remove) delete out[name];
  for (const { name, value } of mod.set) out[name] = value;
  for (const { name, value } of mod.add) {
    const cur = out[name];
    out[name] = cur === undefined ? value : typeof cur === 'string' ? `${cur},${value}` : [...cur, value];
  }
  return out;
}

export const applyRequestHeaderModifier = applyHeaderModifier;
export const applyResponseHeaderModifier = applyHeaderModifier;

/**
 * The path after a ReplaceFullPath or ReplacePrefixMatch modifier (the spec's table:
 * `/foo/bar` with prefix `/foo` and replacement `/xyz` gives `/xyz/bar`; `''` gives `/bar`).
 * ReplacePrefixMatch needs a PathPrefix match; with another match the path is unchanged.
 */
export function rewritePath(path: string, match: HttpRouteMatch | undefined, mod: PathModifier): string {
  if (mod.type === 'ReplaceFullPath') return mod.replaceFullPath;
  if (match === undefined || match.path.type !== 'PathPrefix' || !prefixMatches(match.path.prefix, path)) return path;
  const rest = path.slice(match.path.prefix.length);
  const result = mod.replacePrefixMatch.replace(/\/+$/, '') + rest;
  return result === '' ? '/' : result;
}

/** What a redirect needs of the request besides matching. */
export interface RedirectRequest {
  readonly path: string;
  readonly query: string;
  readonly authority: string;
  /** The scheme the client used (`http` inside the mesh). */
  readonly scheme: 'http' | 'https';
  /** The Service port the request came to (GAMMA's "listener port"). */
  readonly port: number;
}

const WELL_KNOWN: Readonly<Record<string, number>> = { http: 80, https: 443 };

/**
 * The Location of a RequestRedirect. Port, as the spec states: the filter's port; else, with a
 * scheme set, that scheme's well-known port; else the port the request came to. The port is
 * left out when it is the scheme's well-known one. The query string is kept.
 */
export function redirectLocation(req: RedirectRequest, match: HttpRouteMatch | undefined, filter: RequestRedirect): string {
  const scheme = filter.scheme ?? req.scheme;
  const host = filter.hostname ?? hostOf(req.authority);
  const port = filter.port ?? (filter.scheme !== undefined ? WELL_KNOWN[filter.scheme] ?? req.port : req.port);
  const path = filter.path === undefined ? req.path : rewritePath(req.path, match, filter.path);
  const hostPart = host.includes(':') ? `[${host}]` : host;
  const portPart = port === WELL_KNOWN[scheme] ? '' : `:${port}`;
  return `${scheme}://${hostPart}${portPart}${path}${req.query === '' ? '' : `?${req.query}`}`;
}

/** The host of an authority, without port or IPv6 brackets. */
export function hostOf(authority: string): string {
  if (authority.startsWith('[')) return authority.slice(1, authority.indexOf(']'));
  const colon = authority.lastIndexOf(':');
  return colon < 0 ? authority : authority.slice(0, colon);
}
