/**
 * The inverse of the route parser: route data back into a Gateway API object
 * (`apiVersion`, `kind`, `metadata`, `spec`) that `httpRouteFrom` / `grpcRouteFrom` read into
 * the same data. The snapshot wire carries routes in this form, so the agent checks a peer's
 * routes with the very validator that checked the files (and names the field when one is bad).
 */
import { GATEWAY_API_VERSION } from './route-common.js';
import type { BackendRef, HeaderModifier, NameValueMatch, Plain, RouteData, RouteFilter, RouteRetry, RouteTimeouts } from '../routes.js';

type Json = Record<string, unknown>;

/** Milliseconds as a Gateway API duration: `1h2m3s4ms`, `0s`; every group at most 5 digits. */
export function formatGatewayDuration(ms: number): string {
  if (ms <= 0) return '0s';
  const parts: string[] = [];
  let rest = Math.round(ms);
  for (const [unit, size] of [['h', 3_600_000], ['m', 60_000], ['s', 1000], ['ms', 1]] as const) {
    const n = Math.floor(rest / size);
    rest -= n * size;
    if (n > 0) parts.push(`${n}${unit}`);
  }
  return parts.join('');
}

const nameValue = (m: Plain<NameValueMatch>): Json => ({ type: m.match.type, name: m.name, value: m.match.value });

function headerModifier(m: HeaderModifier): Json {
  const out: Json = {};
  if (m.set.length > 0) out['set'] = m.set.map((h) => ({ name: h.name, value: h.value }));
  if (m.add.length > 0) out['add'] = m.add.map((h) => ({ name: h.name, value: h.value }));
  if (m.remove.length > 0) out['remove'] = [...m.remove];
  return out;
}

function filter(f: Plain<RouteFilter>): Json {
  switch (f.type) {
    case 'RequestHeaderModifier':
      return { type: f.type, requestHeaderModifier: headerModifier(f.requestHeaderModifier) };
    case 'ResponseHeaderModifier':
      return { type: f.type, responseHeaderModifier: headerModifier(f.responseHeaderModifier) };
    case 'RequestRedirect':
      return { type: f.type, requestRedirect: { ...f.requestRedirect } };
    case 'URLRewrite':
      return { type: f.type, urlRewrite: { ...f.urlRewrite } };
    case 'RequestMirror': {
      // `percent` only (never `fraction`): the parser takes a decimal percent, so any fraction
      // reads back as the same share.
      const { name, namespace, port, group, kind } = f.requestMirror.backendRef;
      const ref = { name, namespace, ...(port === undefined ? {} : { port }), ...(kind === undefined ? {} : { group: group ?? '', kind }) };
      return { type: f.type, requestMirror: { backendRef: ref, percent: f.requestMirror.percent } };
    }
  }
}

function backendRef(b: BackendRef): Json {
  const out: Json = { name: b.name, namespace: b.namespace, weight: b.weight };
  if (b.port !== undefined) out['port'] = b.port;
  if (b.kind !== undefined) {
    out['group'] = b.group ?? '';
    out['kind'] = b.kind;
  }
  return out;
}

function timeouts(t: RouteTimeouts): Json | undefined {
  const out: Json = {};
  if (t.requestMs !== undefined) out['request'] = formatGatewayDuration(t.requestMs);
  if (t.backendRequestMs !== undefined) out['backendRequest'] = formatGatewayDuration(t.backendRequestMs);
  return Object.keys(out).length === 0 ? undefined : out;
}

function retry(r: RouteRetry): Json {
  const out: Json = { codes: [...r.codes] };
  if (r.attempts !== undefined) out['attempts'] = r.attempts;
  if (r.backoffMs !== undefined) out['backoff'] = formatGatewayDuration(r.backoffMs);
  return out;
}

function rules(route: RouteData): Json[] {
  if (route.kind === 'GRPCRoute') {
    return route.rules.map((r) => ({
      matches: r.matches.map((m) => ({ ...(m.method === undefined ? {} : { method: { ...m.method } }), headers: m.headers.map(nameValue) })),
      filters: r.filters.map(filter),
      backendRefs: r.backendRefs.map(backendRef),
    }));
  }
  return route.rules.map((r) => {
    const out: Json = {
      matches: r.matches.map((m) => ({
        path: { type: m.path.type, value: m.path.value },
        ...(m.method === undefined ? {} : { method: m.method }),
        headers: m.headers.map(nameValue),
        queryParams: m.queryParams.map(nameValue),
      })),
      filters: r.filters.map(filter),
      backendRefs: r.backendRefs.map(backendRef),
    };
    const t = timeouts(r.timeouts);
    if (t !== undefined) out['timeouts'] = t;
    if (r.retry !== undefined) out['retry'] = retry(r.retry);
    return out;
  });
}

/** `route` as a Gateway API object; its parents become `parentRefs` of kind Service. */
export function routeToObject(route: RouteData): Json {
  const metadata: Json = { name: route.name, namespace: route.namespace };
  if (route.creationTimestamp > 0) metadata['creationTimestamp'] = new Date(route.creationTimestamp).toISOString();
  const parentRefs = route.parents.map((p) => ({ group: '', kind: 'Service', namespace: p.namespace, name: p.name, ...(p.port === undefined ? {} : { port: p.port }) }));
  return { apiVersion: GATEWAY_API_VERSION, kind: route.kind, metadata, spec: { parentRefs, rules: rules(route) } };
}
