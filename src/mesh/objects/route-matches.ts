/**
 * Route matches: HTTPRouteMatch (path, method, headers, query parameters) and GRPCRouteMatch
 * (service/method, headers). A rule that lists none matches everything (`DEFAULT_HTTP_MATCH`,
 * or a gRPC match with neither method nor headers).
 */
import type { Reporter } from './report.js';
import { optEnum, optMap, optString } from '../validate/readers.js';
import { type FieldPath, type Fields, formatValue } from '../validate/values.js';
import {
  cappedList, checkRegex, checkRouteFields, eachMap, MAX_HEADER_MATCHES, MAX_PATH_VALUE, MAX_QUERY_PARAM_MATCHES, readNameValueMatch, uniqueName,
} from './route-common.js';
import { DEFAULT_HTTP_MATCH, type GrpcMethodMatch, type GrpcRouteMatch, type HttpRouteMatch, type NameValueMatch, type PathMatch, type Plain } from '../routes.js';

/** HTTP methods a match may name (the spec's HTTPMethod). */
export const HTTP_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH'] as const;

/** Longest gRPC service or method name in a match (the CRD's maxLength). */
const MAX_GRPC_NAME = 1024;
/** The CRD's patterns for an Exact gRPC service and method. */
const GRPC_SERVICE = /^\.?[a-z_][a-z_0-9]*(\.[a-z_][a-z_0-9]*)*$/i;
const GRPC_METHOD = /^[A-Za-z_][A-Za-z_0-9]*$/;

/** Path segments an Exact or PathPrefix value must not hold (the CRD's rules). */
const BAD_PATH = /\/\/|\/\.\/|\/\.\.\/|%2f|%2F|#|\/\.\.?$/;

/** `matches` of an HTTPRoute rule; none: the default PathPrefix `/` match. */
export function readHttpMatches(r: Reporter, rule: Fields, path: FieldPath, max: number): Plain<HttpRouteMatch>[] {
  const list = cappedList(r, rule, 'matches', path, max);
  if (list.length === 0) return [DEFAULT_HTTP_MATCH as Plain<HttpRouteMatch>];
  const out: Plain<HttpRouteMatch>[] = [];
  eachMap(r, list, [...path, 'matches'], (m, at) => {
    checkRouteFields(r, m, at, ['path', 'headers', 'queryParams', 'method']);
    const p = readPath(r, m, at);
    const method = optEnum(r, m, 'method', at, HTTP_METHODS);
    const headers = readNameValues(r, m, at, 'headers', MAX_HEADER_MATCHES, 'header');
    const queryParams = readNameValues(r, m, at, 'queryParams', MAX_QUERY_PARAM_MATCHES, 'query');
    if (p === undefined) return;
    out.push({ path: p, headers, queryParams, ...(method === undefined ? {} : { method }) });
  });
  return out;
}

/** HTTPPathMatch: `type` (PathPrefix by default) and `value` (`/` by default). */
function readPath(r: Reporter, m: Fields, path: FieldPath): Plain<PathMatch> | undefined {
  const p = optMap(r, m, 'path', path);
  if (p === undefined) return { type: 'PathPrefix', value: '/', prefix: '' };
  const at = [...path, 'path'];
  checkRouteFields(r, p, at, ['type', 'value']);
  const type = optEnum(r, p, 'type', at, ['Exact', 'PathPrefix', 'RegularExpression'] as const) ?? 'PathPrefix';
  const value = optString(r, p, 'value', at) ?? '/';
  if (value.length > MAX_PATH_VALUE) {
    r.report([...at, 'value'], `at most ${MAX_PATH_VALUE} characters, got ${value.length}`);
    return undefined;
  }
  if (type === 'RegularExpression') return checkRegex(r, value, [...at, 'value']) ? { type, value } : undefined;
  if (!value.startsWith('/') || BAD_PATH.test(value) || /[\s?]/.test(value)) {
    r.report([...at, 'value'], `must be an absolute path ("/" first; no "//", "/./", "/../", "%2f", "#", "?" or spaces), got ${formatValue(value)}`);
    return undefined;
  }
  return type === 'Exact' ? { type, value } : { type, value, prefix: value.replace(/\/+$/, '') };
}

function readNameValues(r: Reporter, m: Fields, path: FieldPath, key: string, max: number, what: 'header' | 'query'): Plain<NameValueMatch>[] {
  const out: Plain<NameValueMatch>[] = [];
  const seen = new Set<string>();
  eachMap(r, cappedList(r, m, key, path, max), [...path, key], (e, at) => {
    const match = readNameValueMatch(r, e, at, what);
    if (match !== undefined && uniqueName(r, seen, match.name, at)) out.push(match);
  });
  return out;
}

/** `matches` of a GRPCRoute rule; none: one match with neither method nor headers. */
export function readGrpcMatches(r: Reporter, rule: Fields, path: FieldPath, max: number): Plain<GrpcRouteMatch>[] {
  const list = cappedList(r, rule, 'matches', path, max);
  if (list.length === 0) return [{ headers: [] }];
  const out: Plain<GrpcRouteMatch>[] = [];
  eachMap(r, list, [...path, 'matches'], (m, at) => {
    checkRouteFields(r, m, at, ['method', 'headers']);
    const method = readGrpcMethod(r, m, at);
    const headers = readNameValues(r, m, at, 'headers', MAX_HEADER_MATCHES, 'header');
    if (method === null) return;
    out.push(method === undefined ? { headers } : { method, headers });
  });
  return out;
}

/** GRPCMethodMatch; null when it is bad (the match is dropped), undefined when absent. */
function readGrpcMethod(r: Reporter, m: Fields, path: FieldPath): Plain<GrpcMethodMatch> | undefined | null {
  const mm = optMap(r, m, 'method', path);
  if (mm === undefined) return undefined;
  const at = [...path, 'method'];
  checkRouteFields(r, mm, at, ['type', 'service', 'method']);
  const type = optEnum(r, mm, 'type', at, ['Exact', 'RegularExpression'] as const) ?? 'Exact';
  const service = optString(r, mm, 'service', at);
  const method = optString(r, mm, 'method', at);
  let ok = true;
  if (service === undefined && method === undefined) {
    r.report(at, 'one or both of service and method must be set');
    ok = false;
  }
  const check = (key: 'service' | 'method', v: string | undefined, exact: RegExp): void => {
    if (v === undefined) return;
    if (v.length > MAX_GRPC_NAME) {
      r.report([...at, key], `at most ${MAX_GRPC_NAME} characters, got ${v.length}`);
      ok = false;
    } else if (type === 'RegularExpression') ok = checkRegex(r, v, [...at, key]) && ok;
    else if (!exact.test(v)) {
      r.report([...at, key], `must be a gRPC ${key} name (${key === 'service' ? 'e.g. "helloworld.Greeter"' : 'e.g. "SayHello"'}), got ${formatValue(v)}`);
      ok = false;
    }
  };
  check('service', service, GRPC_SERVICE);
  check('method', method, GRPC_METHOD);
  if (!ok) return null;
  return { type, ...(service === undefined ? {} : { service }), ...(method === undefined ? {} : { method }) };
}
