/**
 * Gateway API routes attached to a Service (GAMMA: `parentRefs` of kind Service), in their
 * validated, compiled form: plain data, regular expressions compiled once. Parsing and
 * validation from YAML and Kubernetes objects produce these; the agent matches requests
 * against them (`agent/policy/route-match.ts`).
 */
import { RE2Set } from 're2js';
import { MAX_NODE_ROUTE_REGEXES, MAX_REGEX_CACHE_BYTES, regexProblem } from './validate/regex.js';

/**
 * A route's regular expression, compiled: RE2 syntax, matched against the whole value (as
 * Envoy's `safe_regex` matches) in time linear in the value's length (`validate/regex.ts` says
 * why). Matchers only call {@link FullMatch.test}; which engine runs is this class's business.
 *
 * The engine is a one-pattern `RE2Set` anchored at both ends: re2js's `RE2JS` keeps a DFA cache
 * of up to 8 MiB per pattern with no way to lower it, and `RE2Set` is its one public API that
 * takes the cache's size ({@link MAX_REGEX_CACHE_BYTES}). Its answer is `RE2JS.matches`'s
 * (`test/unit/mesh/route-regex-memory.test.ts` checks both over generated patterns).
 */
export class FullMatch {
  readonly #set: RE2Set;

  private constructor(set: RE2Set) {
    this.#set = set;
  }

  /** Compiles `pattern`; throws a SyntaxError naming it and why when validation would refuse it. */
  static compile(pattern: string): FullMatch {
    const problem = regexProblem(pattern);
    if (problem !== undefined) throw new SyntaxError(`regular expression ${JSON.stringify(pattern)} refused: ${problem}`);
    const set = new RE2Set(RE2Set.ANCHOR_BOTH, 0, MAX_REGEX_CACHE_BYTES);
    set.add(pattern);
    set.compile();
    return new FullMatch(set);
  }

  /** True when the whole of `value` matches. */
  test(value: string): boolean {
    // The indices of the set's patterns that match: [0] or [].
    return this.#set.match(value).length !== 0;
  }
}

/** A string match: `Exact`, or `RegularExpression` (RE2 syntax, anchored: a full match). */
export type StringMatch =
  | { readonly type: 'Exact'; readonly value: string }
  | { readonly type: 'RegularExpression'; readonly value: string; readonly regex: FullMatch };

/** `HTTPPathMatch`. `prefix` is the PathPrefix value without its trailing `/` (`''` for `/`). */
export type PathMatch =
  | { readonly type: 'Exact'; readonly value: string }
  | { readonly type: 'PathPrefix'; readonly value: string; readonly prefix: string }
  | { readonly type: 'RegularExpression'; readonly value: string; readonly regex: FullMatch };

/** A header (name lower-cased) or query parameter (name exact) match. */
export interface NameValueMatch {
  readonly name: string;
  readonly match: StringMatch;
}

/** `HTTPRouteMatch`; a rule without matches has one: PathPrefix `/`. */
export interface HttpRouteMatch {
  readonly path: PathMatch;
  readonly method?: string;
  readonly headers: readonly NameValueMatch[];
  readonly queryParams: readonly NameValueMatch[];
}

/** `GRPCMethodMatch`: at least one of service and method. */
export interface GrpcMethodMatch {
  readonly type: 'Exact' | 'RegularExpression';
  readonly service?: string;
  readonly method?: string;
  readonly serviceRegex?: FullMatch;
  readonly methodRegex?: FullMatch;
}

/** `GRPCRouteMatch`; a rule without matches has one with neither method nor headers. */
export interface GrpcRouteMatch {
  readonly method?: GrpcMethodMatch;
  readonly headers: readonly NameValueMatch[];
}

/** `HTTPHeaderFilter` (RequestHeaderModifier, ResponseHeaderModifier); names lower-cased. */
export interface HeaderModifier {
  readonly set: readonly { readonly name: string; readonly value: string }[];
  readonly add: readonly { readonly name: string; readonly value: string }[];
  readonly remove: readonly string[];
}

/** `HTTPPathModifier`. */
export type PathModifier =
  | { readonly type: 'ReplaceFullPath'; readonly replaceFullPath: string }
  | { readonly type: 'ReplacePrefixMatch'; readonly replacePrefixMatch: string };

/** `HTTPRequestRedirectFilter`. */
export interface RequestRedirect {
  readonly scheme?: 'http' | 'https';
  readonly hostname?: string;
  readonly path?: PathModifier;
  readonly port?: number;
  /** 301, 302 (the default), 303, 307 or 308. */
  readonly statusCode: number;
}

/** `HTTPURLRewriteFilter`. */
export interface UrlRewrite {
  readonly hostname?: string;
  readonly path?: PathModifier;
}

/**
 * `HTTPRequestMirrorFilter`: a copy of each request (or of `percent` of them) goes to
 * `backendRef`, fire-and-forget, its authority suffixed `-shadow` as Envoy does; its answer is
 * dropped and it never delays the primary request.
 */
export interface RequestMirror {
  readonly backendRef: Omit<BackendRef, 'weight'>;
  /** In [0, 100]; from `percent`, or `fraction` (numerator / denominator x 100); default 100. */
  readonly percent: number;
}

/** A route filter. */
export type RouteFilter =
  | { readonly type: 'RequestHeaderModifier'; readonly requestHeaderModifier: HeaderModifier }
  | { readonly type: 'ResponseHeaderModifier'; readonly responseHeaderModifier: HeaderModifier }
  | { readonly type: 'RequestRedirect'; readonly requestRedirect: RequestRedirect }
  | { readonly type: 'URLRewrite'; readonly urlRewrite: UrlRewrite }
  | { readonly type: 'RequestMirror'; readonly requestMirror: RequestMirror };

/** A `backendRef` to a Service; `invalid` says why it does not resolve (requests to it get 500). */
export interface BackendRef {
  readonly name: string;
  readonly namespace: string;
  readonly port?: number;
  /** Default 1; 0 is never picked. */
  readonly weight: number;
  readonly invalid?: string;
  /** The ref's `group` and `kind` when not a core Service (`InvalidKind`: requests to it get 500). */
  readonly group?: string;
  readonly kind?: string;
}

/** `HTTPRouteTimeouts`, in milliseconds (absent or 0: none). */
export interface RouteTimeouts {
  readonly requestMs?: number;
  readonly backendRequestMs?: number;
}

/**
 * `HTTPRouteRetry` (Gateway API, GEP-1731): `codes` retried, `attempts` retries, `backoff` the
 * base of the exponential backoff. The Service's TrafficPolicy supplies the rest (triggers,
 * per-try timeout, budget); the route's fields win where both say.
 */
export interface RouteRetry {
  readonly codes: readonly number[];
  readonly attempts?: number;
  readonly backoffMs?: number;
}

/** A rule of an HTTPRoute. */
export interface HttpRouteRule {
  readonly matches: readonly HttpRouteMatch[];
  readonly filters: readonly RouteFilter[];
  readonly backendRefs: readonly BackendRef[];
  readonly timeouts: RouteTimeouts;
  readonly retry?: RouteRetry;
}

/** A rule of a GRPCRoute. */
export interface GrpcRouteRule {
  readonly matches: readonly GrpcRouteMatch[];
  readonly filters: readonly RouteFilter[];
  readonly backendRefs: readonly BackendRef[];
}

/** What every route has. */
interface RouteBase {
  readonly namespace: string;
  readonly name: string;
  /** `metadata.creationTimestamp` in ms since the epoch; 0 when unknown (YAML files). */
  readonly creationTimestamp: number;
  /** The Services it attaches to (`parentRefs` of kind Service), with an optional port. */
  readonly parents: readonly { readonly namespace: string; readonly name: string; readonly port?: number }[];
}

/** A compiled `gateway.networking.k8s.io/v1 HTTPRoute`. */
export interface HttpRouteInfo extends RouteBase {
  readonly kind: 'HTTPRoute';
  readonly rules: readonly HttpRouteRule[];
}

/** A compiled `gateway.networking.k8s.io/v1 GRPCRoute`. */
export interface GrpcRouteInfo extends RouteBase {
  readonly kind: 'GRPCRoute';
  readonly rules: readonly GrpcRouteRule[];
}

/** A compiled route. */
export type RouteInfo = HttpRouteInfo | GrpcRouteInfo;

/** A PathPrefix match, compiled (the trailing `/` is ignored, as the spec says). */
export function pathPrefix(value: string): PathMatch {
  return { type: 'PathPrefix', value, prefix: value.replace(/\/+$/, '') };
}

/** The match of a rule that lists none: every path. */
export const DEFAULT_HTTP_MATCH: HttpRouteMatch = Object.freeze({ path: pathPrefix('/'), headers: [], queryParams: [] });

/**
 * Compiled patterns by source, most recently used last: a new snapshot reuses what the last
 * ones compiled (a pattern costs 0.1-2 ms to compile). Bounded like the patterns a node may
 * hold ({@link MAX_NODE_ROUTE_REGEXES}); a shared pattern shares its bounded cache.
 */
const compiled = new Map<string, FullMatch>();

/** A regular expression compiled as a full match (see {@link FullMatch}); cached by pattern. */
export function fullMatch(pattern: string): FullMatch {
  const hit = compiled.get(pattern);
  if (hit !== undefined) {
    compiled.delete(pattern);
    compiled.set(pattern, hit);
    return hit;
  }
  const made = FullMatch.compile(pattern);
  compiled.set(pattern, made);
  if (compiled.size > MAX_NODE_ROUTE_REGEXES) compiled.delete(compiled.keys().next().value as string);
  return made;
}

/** How many regular expressions `value` (a route, plain or compiled) carries. */
export function regexCount(value: unknown): number {
  if (Array.isArray(value)) return value.reduce((n: number, v) => n + regexCount(v), 0);
  if (value === null || typeof value !== 'object') return 0;
  const v = value as { type?: unknown; value?: unknown; service?: unknown; method?: unknown };
  // A string or path match has one pattern (`value`); a gRPC method match up to two.
  let n = 0;
  if (v.type === 'RegularExpression') n = v.value !== undefined ? 1 : (v.service !== undefined ? 1 : 0) + (v.method !== undefined ? 1 : 0);
  for (const field of Object.values(value)) if (typeof field === 'object') n += regexCount(field);
  return n;
}

/**
 * A value with its compiled regular expressions left out: what travels in a snapshot (over the
 * controller's wire, into worker processes, through JSON), since a compiled program does not
 * survive JSON.
 * {@link compileRoute} puts them back from the pattern strings.
 */
export type Plain<T> = T extends FullMatch
  ? never
  : T extends readonly (infer U)[]
    ? readonly Plain<U>[]
    : T extends object
      ? { readonly [K in keyof T as Exclude<T[K], undefined> extends FullMatch ? never : K]: Plain<T[K]> }
      : T;

/** A route as plain data (nothing compiled): what objects, cluster state and snapshots hold. */
export type RouteData = Plain<HttpRouteInfo> | Plain<GrpcRouteInfo>;
export type HttpRouteData = Plain<HttpRouteInfo>;
export type GrpcRouteData = Plain<GrpcRouteInfo>;

function compileString(m: Plain<StringMatch>): StringMatch {
  return m.type === 'Exact' ? { type: 'Exact', value: m.value } : { type: 'RegularExpression', value: m.value, regex: fullMatch(m.value) };
}

function compileNameValues(ms: readonly Plain<NameValueMatch>[]): NameValueMatch[] {
  return ms.map((m) => ({ name: m.name, match: compileString(m.match) }));
}

function compilePath(p: Plain<PathMatch>): PathMatch {
  if (p.type === 'RegularExpression') return { type: 'RegularExpression', value: p.value, regex: fullMatch(p.value) };
  return p.type === 'Exact' ? { type: 'Exact', value: p.value } : pathPrefix(p.value);
}

function compileHttpMatch(m: Plain<HttpRouteMatch>): HttpRouteMatch {
  const out = { path: compilePath(m.path), headers: compileNameValues(m.headers), queryParams: compileNameValues(m.queryParams) };
  return m.method === undefined ? out : { ...out, method: m.method };
}

function compileGrpcMethod(m: Plain<GrpcMethodMatch>): GrpcMethodMatch {
  if (m.type === 'Exact') return { ...m };
  return {
    ...m,
    ...(m.service === undefined ? {} : { serviceRegex: fullMatch(m.service) }),
    ...(m.method === undefined ? {} : { methodRegex: fullMatch(m.method) }),
  };
}

function compileGrpcMatch(m: Plain<GrpcRouteMatch>): GrpcRouteMatch {
  const headers = compileNameValues(m.headers);
  return m.method === undefined ? { headers } : { method: compileGrpcMethod(m.method), headers };
}

/**
 * The route with its regular expressions compiled (once per snapshot, by the agent's index).
 * Throws a SyntaxError for a pattern that validation (`validate/regex.ts`) refuses: a route
 * that passed validation never does.
 */
export function compileRoute(route: RouteData): RouteInfo {
  if (route.kind === 'HTTPRoute') {
    return { ...route, rules: route.rules.map((r) => ({ ...r, matches: r.matches.map(compileHttpMatch) })) } as HttpRouteInfo;
  }
  return { ...route, rules: route.rules.map((r) => ({ ...r, matches: r.matches.map(compileGrpcMatch) })) } as GrpcRouteInfo;
}
