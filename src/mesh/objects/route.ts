/**
 * `gateway.networking.k8s.io/v1` HTTPRoute and GRPCRoute (GAMMA: attached to Services through
 * `parentRefs` of kind Service), validated field by field after the Gateway API spec and its
 * CRD limits, into the plain route data of `routes.ts`. Fields the API defines that meshlet
 * does not implement are errors, never silently dropped; docs/l7.md lists what is supported.
 */
import type { Reporter } from './report.js';
import { isDnsSubdomain, parseGatewayDuration, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { optInt, optMap, optPort, optString, reqString, requireField } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue } from '../validate/values.js';
import { OBJECT_FIELDS } from './fields.js';
import { readCreationTimestamp, readMeta, SUBDOMAIN_NAME } from './meta.js';
import {
  cappedList, checkRouteFields, CORE_GROUPS, eachMap, MAX_BACKEND_REFS, MAX_HOSTNAMES, MAX_MATCHES_PER_ROUTE, MAX_PARENT_REFS, MAX_RULES,
  MAX_WEIGHT, GATEWAY_GROUP, OBJECT_REF_FIELDS, readObjectRef, readRefNamespace,
} from './route-common.js';
import { MAX_RETRIES } from '../resilience.js';
import { HOUR_MS, optDuration, readStatusCodes } from './traffic-policy-readers.js';
import { readFilters, usesPrefixReplace } from './route-filters.js';
import { readGrpcMatches, readHttpMatches } from './route-matches.js';
import type { GRPCRouteObject, HTTPRouteObject, RouteParentRef, SourceRef } from '../types.js';
import type { BackendRef, GrpcRouteData, HttpRouteData, RouteRetry, RouteTimeouts } from '../routes.js';

/** Matches per rule: the CRDs' limits (HTTPRoute 64, GRPCRoute 8). */
export const MAX_HTTP_MATCHES = 64;
export const MAX_GRPC_MATCHES = 8;


/** Validates an HTTPRoute document and converts it. */
export function httpRouteFrom(r: Reporter, obj: Fields, source: SourceRef): HTTPRouteObject {
  const { meta, creationTimestamp, parentRefs, spec } = readRouteTop(r, obj, 'HTTPRoute');
  let total = 0;
  const rules: HttpRouteData['rules'][number][] = [];
  eachMap(r, cappedList(r, spec, 'rules', ['spec'], MAX_RULES), ['spec', 'rules'], (rule, at) => {
    checkRouteFields(r, rule, at, ['name', 'matches', 'filters', 'backendRefs', 'timeouts', 'retry'], ['sessionPersistence']);
    const matches = readHttpMatches(r, rule, at, MAX_HTTP_MATCHES);
    total += matches.length;
    const filters = readFilters(r, rule, at, false, meta.namespace);
    const backendRefs = readBackendRefs(r, rule, at, meta.namespace);
    if (usesPrefixReplace(filters) && (matches.length !== 1 || matches[0]?.path.type !== 'PathPrefix')) {
      r.report([...at, 'matches'], 'a ReplacePrefixMatch path modifier needs exactly one match, of type PathPrefix (the spec\'s rule)');
    }
    if (filters.some((f) => f.type === 'RequestRedirect') && backendRefs.length > 0) {
      r.report([...at, 'backendRefs'], 'must be empty when the rule has a RequestRedirect filter (the spec\'s rule)');
    }
    const retry = readRouteRetry(r, rule, at);
    rules.push({ matches, filters, backendRefs, timeouts: readTimeouts(r, rule, at), ...(retry === undefined ? {} : { retry }) });
  });
  if (total > MAX_MATCHES_PER_ROUTE) r.report(['spec', 'rules'], `at most ${MAX_MATCHES_PER_ROUTE} matches across all rules (the Gateway API's limit), got ${total}`);
  const route: HttpRouteData = { kind: 'HTTPRoute', ...routeBase(meta, creationTimestamp, parentRefs), rules };
  return withGeneration(obj, { kind: 'HTTPRoute', ...meta, source, creationTimestamp, parentRefs, route });
}

/** Validates a GRPCRoute document and converts it. */
export function grpcRouteFrom(r: Reporter, obj: Fields, source: SourceRef): GRPCRouteObject {
  const { meta, creationTimestamp, parentRefs, spec } = readRouteTop(r, obj, 'GRPCRoute');
  let total = 0;
  const rules: GrpcRouteData['rules'][number][] = [];
  eachMap(r, cappedList(r, spec, 'rules', ['spec'], MAX_RULES), ['spec', 'rules'], (rule, at) => {
    checkRouteFields(r, rule, at, ['name', 'matches', 'filters', 'backendRefs'], ['sessionPersistence']);
    const matches = readGrpcMatches(r, rule, at, MAX_GRPC_MATCHES);
    total += matches.length;
    rules.push({ matches, filters: readFilters(r, rule, at, true, meta.namespace), backendRefs: readBackendRefs(r, rule, at, meta.namespace) });
  });
  if (total > MAX_MATCHES_PER_ROUTE) r.report(['spec', 'rules'], `at most ${MAX_MATCHES_PER_ROUTE} matches across all rules (the Gateway API's limit), got ${total}`);
  const route: GrpcRouteData = { kind: 'GRPCRoute', ...routeBase(meta, creationTimestamp, parentRefs), rules };
  return withGeneration(obj, { kind: 'GRPCRoute', ...meta, source, creationTimestamp, parentRefs, route });
}

/** The object with `metadata.generation` when the API server set one (a positive integer). */
function withGeneration<T extends HTTPRouteObject | GRPCRouteObject>(obj: Fields, route: T): T {
  const meta = obj['metadata'];
  const generation = meta !== null && typeof meta === 'object' ? (meta as Fields)['generation'] : undefined;
  return Number.isSafeInteger(generation) && (generation as number) > 0 ? { ...route, generation: generation as number } : route;
}

type RouteMeta = ReturnType<typeof readMeta>;

function readRouteTop(r: Reporter, obj: Fields, kind: string): { meta: RouteMeta; creationTimestamp: number; parentRefs: RouteParentRef[]; spec: Fields } {
  const meta = readMeta(r, obj, kind, true, SUBDOMAIN_NAME);
  const creationTimestamp = readCreationTimestamp(r, obj);
  checkFields(r, obj);
  requireField(r, obj, 'spec', []);
  const spec = optMap(r, obj, 'spec', []) ?? {};
  checkRouteFields(r, spec, ['spec'], ['parentRefs', 'hostnames', 'rules'], ['useDefaultGateways']);
  // Hostnames are not matched for a Service parent (GAMMA reaches a route by its Service), but a
  // bad one is still a mistake worth reporting.
  cappedList(r, spec, 'hostnames', ['spec'], MAX_HOSTNAMES).forEach((h, i) => {
    const host = typeof h === 'string' && h.startsWith('*.') ? h.slice(2) : h;
    if (typeof host !== 'string' || !isDnsSubdomain(host)) r.report(['spec', 'hostnames', i], `must be a hostname (${SUBDOMAIN_TEXT}, optionally "*." first), got ${formatValue(h)}`);
  });
  const parentRefs = readParentRefs(r, spec, meta.namespace);
  return { meta, creationTimestamp, parentRefs, spec };
}

/** `status` is the API server's; routes come from kubectl with it, and it is not read. */
function checkFields(r: Reporter, obj: Fields): void {
  checkRouteFields(r, obj, [], OBJECT_FIELDS);
}

function routeBase(meta: RouteMeta, creationTimestamp: number, parentRefs: readonly RouteParentRef[]): Omit<HttpRouteData, 'kind' | 'rules'> {
  const parents = parentRefs
    .filter(isServiceParent)
    .map((p) => (p.port === undefined ? { namespace: p.namespace, name: p.name } : { namespace: p.namespace, name: p.name, port: p.port }));
  return { namespace: meta.namespace, name: meta.name, creationTimestamp, parents };
}

/** True for a GAMMA parent: kind Service in the core group. */
export function isServiceParent(p: RouteParentRef): boolean {
  return p.kind === 'Service' && CORE_GROUPS.includes(p.group);
}

/** `spec.parentRefs`: required, at least one; defaults as the spec (group gateway.networking.k8s.io, kind Gateway). */
function readParentRefs(r: Reporter, spec: Fields, namespace: string): RouteParentRef[] {
  const list = cappedList(r, spec, 'parentRefs', ['spec'], MAX_PARENT_REFS);
  if (list.length === 0) r.report(['spec', 'parentRefs'], 'required: at least one parent (a Service, for a mesh route)');
  const out: RouteParentRef[] = [];
  eachMap(r, list, ['spec', 'parentRefs'], (p, at) => {
    checkRouteFields(r, p, at, ['group', 'kind', 'namespace', 'name', 'sectionName', 'port']);
    const group = typeof p['group'] === 'string' ? p['group'] : GATEWAY_GROUP;
    if (p['group'] !== undefined && typeof p['group'] !== 'string') r.report([...at, 'group'], `must be a string, got ${formatValue(p['group'])}`);
    const kind = optString(r, p, 'kind', at) ?? 'Gateway';
    const ns = readRefNamespace(r, p, at) ?? namespace;
    const name = reqString(r, p, 'name', at);
    const sectionName = optString(r, p, 'sectionName', at);
    const port = optPort(r, p, 'port', at);
    if (name === undefined) return;
    const ref: RouteParentRef = { group, kind, namespace: ns, name, ...(sectionName === undefined ? {} : { sectionName }), ...(port === undefined ? {} : { port }) };
    if (isServiceParent(ref) && sectionName !== undefined) r.report([...at, 'sectionName'], 'is not supported for a Service parent; use port');
    if (out.some((o) => o.group === group && o.kind === kind && o.namespace === ns && o.name === name && o.port === port && o.sectionName === sectionName)) {
      r.report(at, 'duplicate parentRef');
      return;
    }
    out.push(ref);
  });
  return out;
}

/**
 * `backendRefs`: Services (group "", kind Service) with a port and a weight (default 1). A ref
 * to another kind is kept with its group and kind: the status says InvalidKind and its share
 * of requests gets 500, as the spec says. Per-backend filters are not supported.
 */
function readBackendRefs(r: Reporter, rule: Fields, path: FieldPath, namespace: string): BackendRef[] {
  const out: BackendRef[] = [];
  eachMap(r, cappedList(r, rule, 'backendRefs', path, MAX_BACKEND_REFS), [...path, 'backendRefs'], (b, at) => {
    checkRouteFields(r, b, at, [...OBJECT_REF_FIELDS, 'weight'], ['filters']);
    const weight = optInt(r, b, 'weight', at, 0, MAX_WEIGHT) ?? 1;
    const ref = readObjectRef(r, b, at, namespace);
    if (ref === undefined) return;
    const { name, namespace: ns, ...rest } = ref;
    out.push({ name, namespace: ns, weight, ...rest });
  });
  return out;
}

/**
 * `retry` (GEP-1731): `codes` retried (400..599, unique), `attempts` retries (0..MAX_RETRIES),
 * `backoff` the base of the exponential backoff; the TrafficPolicy supplies the rest.
 */
function readRouteRetry(r: Reporter, rule: Fields, path: FieldPath): RouteRetry | undefined {
  const m = optMap(r, rule, 'retry', path);
  if (m === undefined) return undefined;
  const at = [...path, 'retry'];
  checkRouteFields(r, m, at, ['codes', 'attempts', 'backoff']);
  const codes = readStatusCodes(r, m, at, 'codes');
  const attempts = optInt(r, m, 'attempts', at, 0, MAX_RETRIES);
  const backoffMs = optDuration(r, m, 'backoff', at, 1, HOUR_MS);
  return { codes, ...(attempts === undefined ? {} : { attempts }), ...(backoffMs === undefined ? {} : { backoffMs }) };
}

/** `timeouts.request` and `timeouts.backendRequest`: Gateway API durations; `0s` is no timeout. */
function readTimeouts(r: Reporter, rule: Fields, path: FieldPath): RouteTimeouts {
  const t = optMap(r, rule, 'timeouts', path);
  if (t === undefined) return {};
  const at = [...path, 'timeouts'];
  checkRouteFields(r, t, at, ['request', 'backendRequest']);
  const read = (key: string): number | undefined => {
    const v = optString(r, t, key, at);
    if (v === undefined) return undefined;
    const ms = parseGatewayDuration(v);
    if (ms === undefined) r.report([...at, key], `must be a Gateway API duration such as "10s", "500ms" or "1h2m", got ${formatValue(v)}`);
    return ms;
  };
  const requestMs = read('request');
  const backendRequestMs = read('backendRequest');
  if (requestMs !== undefined && requestMs > 0 && backendRequestMs !== undefined && (backendRequestMs === 0 || backendRequestMs > requestMs)) {
    r.report([...at, 'backendRequest'], `must not be longer than timeouts.request (${requestMs} ms), got ${backendRequestMs === 0 ? 'none (0s)' : `${backendRequestMs} ms`}`);
  }
  return { ...(requestMs === undefined ? {} : { requestMs }), ...(backendRequestMs === undefined ? {} : { backendRequestMs }) };
}

