/**
 * Route filters meshlet implements: RequestHeaderModifier, ResponseHeaderModifier,
 * RequestRedirect, URLRewrite and RequestMirror (HTTPRoute; GRPCRoute has the two header
 * modifiers and RequestMirror). ExtensionRef, CORS and ExternalAuth are refused with a clear error.
 */
import type { Reporter } from './report.js';
import { isDnsSubdomain, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { checkName, optEnum, optInt, optMap, optPort, optString, reqString, requireField } from '../validate/readers.js';
import { optNumber } from './traffic-policy-readers.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import {
  cappedList, checkRouteFields, eachMap, MAX_FILTERS, MAX_HEADER_MODIFIER_ENTRIES, MAX_HEADER_VALUE, MAX_PATH_VALUE, OBJECT_REF_FIELDS, readHeaderName,
  readObjectRef,
} from './route-common.js';
import type { HeaderModifier, PathModifier, Plain, RequestMirror, RequestRedirect, RouteFilter, UrlRewrite } from '../routes.js';

/** Filter types of the Gateway API that meshlet implements, per route kind. */
export const HTTP_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestRedirect', 'URLRewrite', 'RequestMirror'] as const;
export const GRPC_FILTER_TYPES = ['RequestHeaderModifier', 'ResponseHeaderModifier', 'RequestMirror'] as const;
/** Filter types the Gateway API defines that meshlet does not implement (yet). */
const UNSUPPORTED_FILTER_TYPES = ['ExtensionRef', 'CORS', 'ExternalAuth'];
/** The one filter type a rule may hold several of (the spec allows several mirrors). */
const REPEATABLE_FILTER_TYPES = ['RequestMirror'];
/** The field that holds each filter type's settings. */
const FILTER_FIELD: Readonly<Record<string, string>> = {
  RequestHeaderModifier: 'requestHeaderModifier',
  ResponseHeaderModifier: 'responseHeaderModifier',
  RequestRedirect: 'requestRedirect',
  URLRewrite: 'urlRewrite',
  RequestMirror: 'requestMirror',
  ExtensionRef: 'extensionRef',
  CORS: 'cors',
  ExternalAuth: 'externalAuth',
};

/** Redirect status codes the spec allows (302 is the default). */
const REDIRECT_CODES = [301, 302, 303, 307, 308];

/**
 * The filters of a rule (HTTP or gRPC), each type at most once but RequestMirror, as the CRD's
 * rules say; `namespace` is the route's (a mirror's backendRef defaults to it).
 */
export function readFilters(r: Reporter, rule: Fields, path: FieldPath, grpc: boolean, namespace: string): Plain<RouteFilter>[] {
  const allowed: readonly string[] = grpc ? GRPC_FILTER_TYPES : HTTP_FILTER_TYPES;
  const out: Plain<RouteFilter>[] = [];
  const seen = new Set<string>();
  eachMap(r, cappedList(r, rule, 'filters', path, MAX_FILTERS), [...path, 'filters'], (f, at) => {
    checkRouteFields(r, f, at, ['type', ...Object.values(FILTER_FIELD)]);
    requireField(r, f, 'type', at);
    const type = optString(r, f, 'type', at);
    if (type === undefined) return;
    if (!allowed.includes(type)) {
      const why = UNSUPPORTED_FILTER_TYPES.includes(type) || HTTP_FILTER_TYPES.includes(type as never)
        ? `${type} is not supported by meshlet on a ${grpc ? 'GRPCRoute' : 'HTTPRoute'}`
        : `unknown filter type ${formatValue(type)}`;
      r.report([...at, 'type'], `${why}; supported: ${allowed.join(', ')}`);
      return;
    }
    if (seen.has(type) && !REPEATABLE_FILTER_TYPES.includes(type)) r.report([...at, 'type'], `${type} may appear only once in a rule`);
    seen.add(type);
    for (const [t, field] of Object.entries(FILTER_FIELD)) {
      if (t !== type && f[field] !== undefined && f[field] !== null) r.report([...at, field], `must not be set when type is ${type}`);
    }
    const filter = readFilter(r, f, at, type, namespace);
    if (filter !== undefined) out.push(filter);
  });
  if (seen.has('RequestRedirect') && seen.has('URLRewrite')) {
    r.report([...path, 'filters'], 'RequestRedirect and URLRewrite may not be used together');
  }
  return out;
}

function readFilter(r: Reporter, f: Fields, at: FieldPath, type: string, namespace: string): Plain<RouteFilter> | undefined {
  const field = FILTER_FIELD[type] as string;
  if (!isFields(f[field])) {
    r.report([...at, field], f[field] === undefined || f[field] === null ? `required when type is ${type}` : `must be a mapping, got ${formatValue(f[field])}`);
    return undefined;
  }
  const settings = f[field] as Fields;
  const sat = [...at, field];
  switch (type) {
    case 'RequestHeaderModifier':
      return { type, requestHeaderModifier: readHeaderModifier(r, settings, sat) };
    case 'ResponseHeaderModifier':
      return { type, responseHeaderModifier: readHeaderModifier(r, settings, sat) };
    case 'RequestRedirect':
      return { type, requestRedirect: readRedirect(r, settings, sat) };
    case 'RequestMirror': {
      const requestMirror = readMirror(r, settings, sat, namespace);
      return requestMirror === undefined ? undefined : { type, requestMirror };
    }
    default:
      return { type: 'URLRewrite', urlRewrite: readRewrite(r, settings, sat) };
  }
}

/** HTTPHeaderFilter: `set` and `add` (name, value), `remove` (names); names unique, lower-cased. */
function readHeaderModifier(r: Reporter, m: Fields, path: FieldPath): HeaderModifier {
  checkRouteFields(r, m, path, ['set', 'add', 'remove']);
  const pairs = (key: 'set' | 'add'): { name: string; value: string }[] => {
    const out: { name: string; value: string }[] = [];
    const seen = new Set<string>();
    eachMap(r, cappedList(r, m, key, path, MAX_HEADER_MODIFIER_ENTRIES), [...path, key], (h, at) => {
      checkRouteFields(r, h, at, ['name', 'value']);
      const name = readHeaderName(r, h, at);
      const value = reqString(r, h, 'value', at);
      if (value !== undefined && value.length > MAX_HEADER_VALUE) r.report([...at, 'value'], `at most ${MAX_HEADER_VALUE} characters, got ${value.length}`);
      else if (value !== undefined && /[\r\n\0]/.test(value)) r.report([...at, 'value'], 'must not contain CR, LF or NUL (header injection)');
      else if (name !== undefined && value !== undefined) {
        if (seen.has(name)) r.report([...at, 'name'], `duplicate header ${formatValue(name)} (names are case-insensitive)`);
        else out.push({ name, value });
        seen.add(name);
      }
    });
    return out;
  };
  const remove: string[] = [];
  cappedList(r, m, 'remove', path, MAX_HEADER_MODIFIER_ENTRIES).forEach((v, i) => {
    const at = [...path, 'remove', i];
    const name = readHeaderName(r, { name: v }, at);
    if (name === undefined) return;
    if (remove.includes(name)) r.report(at, `duplicate header ${formatValue(name)}`);
    else remove.push(name);
  });
  return { set: pairs('set'), add: pairs('add'), remove };
}

/** HTTPPathModifier: `type` and the one field it names. */
function readPathModifier(r: Reporter, m: Fields, path: FieldPath): Plain<PathModifier> | undefined {
  checkRouteFields(r, m, path, ['type', 'replaceFullPath', 'replacePrefixMatch']);
  requireField(r, m, 'type', path);
  const type = optEnum(r, m, 'type', path, ['ReplaceFullPath', 'ReplacePrefixMatch'] as const);
  if (type === undefined) return undefined;
  const field = type === 'ReplaceFullPath' ? 'replaceFullPath' : 'replacePrefixMatch';
  const other = type === 'ReplaceFullPath' ? 'replacePrefixMatch' : 'replaceFullPath';
  if (m[other] !== undefined && m[other] !== null) r.report([...path, other], `must not be set when type is ${type}`);
  const value = m[field];
  if (typeof value !== 'string') {
    r.report([...path, field], value === undefined || value === null ? `required when type is ${type}` : `must be a string, got ${formatValue(value)}`);
    return undefined;
  }
  if (value.length > MAX_PATH_VALUE || (value !== '' && !value.startsWith('/')) || /[\r\n\0?#]/.test(value)) {
    r.report([...path, field], `must be a path starting with "/" (at most ${MAX_PATH_VALUE} characters, no "?", "#" or control characters), got ${formatValue(value)}`);
    return undefined;
  }
  return type === 'ReplaceFullPath' ? { type, replaceFullPath: value } : { type, replacePrefixMatch: value };
}

function readHostname(r: Reporter, m: Fields, path: FieldPath): string | undefined {
  const hostname = optString(r, m, 'hostname', path);
  if (hostname === undefined) return undefined;
  return checkName(r, hostname, [...path, 'hostname'], isDnsSubdomain, `a precise hostname, ${SUBDOMAIN_TEXT}`) ? hostname : undefined;
}

function readRedirect(r: Reporter, m: Fields, path: FieldPath): RequestRedirect {
  checkRouteFields(r, m, path, ['scheme', 'hostname', 'path', 'port', 'statusCode']);
  const scheme = optEnum(r, m, 'scheme', path, ['http', 'https'] as const);
  const hostname = readHostname(r, m, path);
  const port = optPort(r, m, 'port', path);
  let statusCode = 302;
  const code = m['statusCode'];
  if (code !== undefined && code !== null) {
    if (typeof code === 'number' && REDIRECT_CODES.includes(code)) statusCode = code;
    else r.report([...path, 'statusCode'], `must be one of ${REDIRECT_CODES.join(', ')}, got ${formatValue(code)}`);
  }
  const pm = isFields(m['path']) ? readPathModifier(r, m['path'], [...path, 'path']) : undefined;
  if (m['path'] !== undefined && m['path'] !== null && !isFields(m['path'])) r.report([...path, 'path'], `must be a mapping, got ${formatValue(m['path'])}`);
  return {
    ...(scheme === undefined ? {} : { scheme }),
    ...(hostname === undefined ? {} : { hostname }),
    ...(pm === undefined ? {} : { path: pm }),
    ...(port === undefined ? {} : { port }),
    statusCode,
  };
}

function readRewrite(r: Reporter, m: Fields, path: FieldPath): UrlRewrite {
  checkRouteFields(r, m, path, ['hostname', 'path']);
  const hostname = readHostname(r, m, path);
  const pm = isFields(m['path']) ? readPathModifier(r, m['path'], [...path, 'path']) : undefined;
  if (m['path'] !== undefined && m['path'] !== null && !isFields(m['path'])) r.report([...path, 'path'], `must be a mapping, got ${formatValue(m['path'])}`);
  return { ...(hostname === undefined ? {} : { hostname }), ...(pm === undefined ? {} : { path: pm }) };
}

/**
 * HTTPRequestMirrorFilter: `backendRef` (required; a Service with a port), and the share of
 * requests mirrored as `percent` (0..100, decimals allowed so any `fraction` reads back) or
 * `fraction` `{numerator, denominator = 100}`, not both; default 100.
 */
function readMirror(r: Reporter, m: Fields, path: FieldPath, namespace: string): RequestMirror | undefined {
  checkRouteFields(r, m, path, ['backendRef', 'percent', 'fraction']);
  const b = optMap(r, m, 'backendRef', path);
  if (b === undefined) requireField(r, m, 'backendRef', path);
  if (b !== undefined) checkRouteFields(r, b, [...path, 'backendRef'], OBJECT_REF_FIELDS);
  const backendRef = b === undefined ? undefined : readObjectRef(r, b, [...path, 'backendRef'], namespace);
  const written = m['percent'] !== undefined && m['percent'] !== null;
  const percent = optNumber(r, m, 'percent', path, 0, 100);
  const fraction = optMap(r, m, 'fraction', path);
  if (written && fraction !== undefined) r.report([...path, 'fraction'], 'must not be set with percent (one or the other)');
  let share = percent ?? 100;
  if (fraction !== undefined) {
    const fat = [...path, 'fraction'];
    checkRouteFields(r, fraction, fat, ['numerator', 'denominator']);
    requireField(r, fraction, 'numerator', fat);
    const numerator = optInt(r, fraction, 'numerator', fat, 0, 2_147_483_647);
    const denominator = optInt(r, fraction, 'denominator', fat, 1, 2_147_483_647) ?? 100;
    if (numerator !== undefined && numerator > denominator) r.report([...fat, 'numerator'], `must not be above the denominator (${denominator}), got ${numerator}`);
    else if (numerator !== undefined) share = (numerator / denominator) * 100;
  }
  return backendRef === undefined ? undefined : { backendRef, percent: share };
}

/** True when a filter's path modifier is ReplacePrefixMatch (the rule then needs one PathPrefix match). */
export function usesPrefixReplace(filters: readonly Plain<RouteFilter>[]): boolean {
  return filters.some((f) =>
    (f.type === 'RequestRedirect' && f.requestRedirect.path?.type === 'ReplacePrefixMatch') ||
    (f.type === 'URLRewrite' && f.urlRewrite.path?.type === 'ReplacePrefixMatch'));
}
