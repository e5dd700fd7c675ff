/**
 * What to do with one HTTP request at the source agent, decided from the snapshot alone: the
 * route that matches (Gateway API HTTPRoute/GRPCRoute attached to the Service the application
 * dialled), its filters, and the backend Service port picked by weight. Pure: the randomness
 * of the weighted pick is injected; `OutboundHttp` carries the plan out (balancer lease, call,
 * response).
 *
 * With no route attached to the Service, every request goes to the Service itself (the
 * Service's own endpoints, as at L4). With routes attached and none matching: 404, as the
 * Gateway API says for GAMMA.
 */
import type { HeaderModifier, HttpRouteMatch, RequestMirror, RouteInfo, RouteRetry, RouteTimeouts } from '../../mesh/routes.js';
import type { ServicePortEntry } from '../state/workload-index.js';
import type { ErrorKind } from './respond.js';
import { applyHeaderModifier, matchRoute, pickBackend, redirectLocation, rewritePath, type Headers } from './route-match.js';

/** A request's head as the plan reads it and rewrites it. */
export interface PlannedHead {
  readonly method: string;
  /** Path and query. */
  readonly path: string;
  readonly authority: string;
  readonly headers: Headers;
}

/** The plan of one request. */
export type RequestPlan =
  /** Answer it here, with the failure's status (no route 404, a backend that does not resolve 500). */
  | { readonly kind: 'fail'; readonly failure: ErrorKind; readonly reason: string; readonly route?: RouteInfo }
  /** A RequestRedirect filter: answer with `status` and `Location`. */
  | { readonly kind: 'redirect'; readonly status: number; readonly location: string; readonly route: RouteInfo; readonly responseHeaders?: HeaderModifier }
  /** Send `head` (filters applied) to an endpoint of `entry`. */
  | {
      readonly kind: 'forward';
      readonly entry: ServicePortEntry;
      readonly head: PlannedHead;
      readonly route?: RouteInfo;
      /** The ResponseHeaderModifier filters of the rule, applied in order to the response. */
      readonly responseHeaders: readonly HeaderModifier[];
      readonly timeouts: RouteTimeouts;
      /** The rule's Gateway API `retry`, when it has one. */
      readonly retry?: RouteRetry;
      /** The rule's RequestMirror filters (each with its share of requests). */
      readonly mirrors: readonly RequestMirror[];
    };

/** Finds a Service port by `namespace/name` and port number in the snapshot in force. */
export type ServicePortLookup = (serviceKey: string, port: number) => ServicePortEntry | undefined;

const NO_TIMEOUTS: RouteTimeouts = Object.freeze({});
const NO_MIRRORS: readonly RequestMirror[] = Object.freeze([]);

/**
 * Plans a request that arrived for `entry` (the Service port the application dialled), with the
 * routes attached to it.
 */
export function planRequest(entry: ServicePortEntry, routes: readonly RouteInfo[], head: PlannedHead, lookup: ServicePortLookup, random: () => number): RequestPlan {
  if (routes.length === 0) return { kind: 'forward', entry, head, responseHeaders: [], timeouts: NO_TIMEOUTS, mirrors: NO_MIRRORS };
  const q = head.path.indexOf('?');
  const path = q < 0 ? head.path : head.path.slice(0, q);
  const query = q < 0 ? '' : head.path.slice(q + 1);
  const found = matchRoute(routes, { method: head.method, path, query, headers: head.headers, authority: head.authority });
  if (found === undefined) return { kind: 'fail', failure: 'no_route', reason: `no route of service ${entry.service.key} matches ${head.method} ${path}` };
  const { route, rule } = found;
  const match = 'path' in found.match ? (found.match as HttpRouteMatch) : undefined;
  const responseHeaders: HeaderModifier[] = [];
  let mirrors = NO_MIRRORS;
  let headers = head.headers;
  let newPath = path;
  let authority = head.authority;
  for (const filter of rule.filters) {
    switch (filter.type) {
      case 'RequestRedirect': {
        const location = redirectLocation({ path, query, authority: head.authority, scheme: 'http', port: entry.port.port }, match, filter.requestRedirect);
        const mods = rule.filters.flatMap((f) => (f.type === 'ResponseHeaderModifier' ? [f.responseHeaderModifier] : []));
        return { kind: 'redirect', status: filter.requestRedirect.statusCode, location, route, ...(mods.length > 0 ? { responseHeaders: mergeModifiers(mods) } : {}) };
      }
      case 'RequestHeaderModifier':
        headers = applyHeaderModifier(headers, filter.requestHeaderModifier);
        break;
      case 'ResponseHeaderModifier':
        responseHeaders.push(filter.responseHeaderModifier);
        break;
      case 'URLRewrite':
        if (filter.urlRewrite.path !== undefined) newPath = rewritePath(newPath, match, filter.urlRewrite.path);
        if (filter.urlRewrite.hostname !== undefined) authority = filter.urlRewrite.hostname;
        break;
      case 'RequestMirror':
        mirrors = [...mirrors, filter.requestMirror];
        break;
    }
  }
  const backend = pickBackend(rule, random);
  if (backend === undefined) return { kind: 'fail', failure: 'backend_not_found', reason: `route ${route.namespace}/${route.name} has no backend with a weight`, route };
  if (backend.invalid !== undefined) return { kind: 'fail', failure: 'backend_not_found', reason: `route ${route.namespace}/${route.name}: ${backend.invalid}`, route };
  const port = backend.port ?? entry.port.port;
  const target = lookup(`${backend.namespace}/${backend.name}`, port);
  if (target === undefined) {
    return { kind: 'fail', failure: 'backend_not_found', reason: `route ${route.namespace}/${route.name}: backend ${backend.namespace}/${backend.name} port ${port} does not exist`, route };
  }
  const timeouts = 'timeouts' in rule ? rule.timeouts : NO_TIMEOUTS;
  const retry = 'retry' in rule ? rule.retry : undefined;
  return {
    kind: 'forward',
    entry: target,
    head: { method: head.method, path: query === '' ? newPath : `${newPath}?${query}`, authority, headers },
    route,
    responseHeaders,
    timeouts,
    ...(retry === undefined ? {} : { retry }),
    mirrors,
  };
}

/**
 * The rule's ResponseHeaderModifiers as one. The spec allows one filter of a type per rule, so
 * this is the one; several (a validator that let them through) apply as their sum.
 */
function mergeModifiers(mods: readonly HeaderModifier[]): HeaderModifier {
  if (mods.length === 1) return mods[0] as HeaderModifier;
  return { remove: mods.flatMap((m) => m.remove), set: mods.flatMap((m) => m.set), add: mods.flatMap((m) => m.add) };
}
