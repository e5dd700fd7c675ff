/**
 * Readers shared by the Gateway API kinds (HTTPRoute, GRPCRoute): capped lists, fields the API
 * defines but meshlet does not implement (an error, never silently ignored), header names and
 * string matches with safe regular expressions.
 */
import type { Reporter } from './report.js';
import { regexProblem } from '../validate/regex.js';
import { checkFields, checkName, optEnum, optList, optPort, optString, reqString, requireField } from '../validate/readers.js';
import { isDnsLabel, isDnsSubdomain, LABEL_TEXT, SUBDOMAIN_TEXT } from '../validate/formats.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import type { BackendRef, NameValueMatch, Plain, StringMatch } from '../routes.js';

/** The core group, as a parentRef or backendRef may spell it. */
export const CORE_GROUPS = ['', 'core'];
/** The fields of a BackendObjectReference (a backendRef less its weight, a mirror's backendRef). */
export const OBJECT_REF_FIELDS = ['group', 'kind', 'name', 'namespace', 'port'] as const;

/** The Gateway API group. */
export const GATEWAY_GROUP = 'gateway.networking.k8s.io';
/** The apiVersion meshlet reads both route kinds as (`v1beta1` HTTPRoute is accepted too). */
export const GATEWAY_API_VERSION = `${GATEWAY_GROUP}/v1`;
export const GATEWAY_API_V1BETA1 = `${GATEWAY_GROUP}/v1beta1`;

/** Limits of the Gateway API CRDs (v1.2): more is refused by the API server, and by meshlet. */
export const MAX_RULES = 16;
export const MAX_PARENT_REFS = 32;
export const MAX_HOSTNAMES = 16;
export const MAX_BACKEND_REFS = 16;
export const MAX_FILTERS = 16;
export const MAX_HEADER_MATCHES = 16;
export const MAX_QUERY_PARAM_MATCHES = 16;
export const MAX_HEADER_MODIFIER_ENTRIES = 16;
/** The CRDs' CEL rule: fewer than 128 matches across all rules of one route. */
export const MAX_MATCHES_PER_ROUTE = 127;
/** Longest header value in a match or modifier, and path or query value (the CRDs' maxLength). */
export const MAX_HEADER_VALUE = 4096;
export const MAX_PATH_VALUE = 1024;
export const MAX_NAME = 256;
/** Largest backendRef weight (the spec's bound). */
export const MAX_WEIGHT = 1_000_000;

/** HTTPHeaderName: an HTTP token (RFC 7230), 1..256 characters. */
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** The list at `key`, reporting past `max` entries; only the first `max` are read (bounded work). */
export function cappedList(r: Reporter, map: Fields, key: string, path: FieldPath, max: number): readonly unknown[] {
  const list = optList(r, map, key, path);
  if (list.length <= max) return list;
  r.report([...path, key], `at most ${max} entries (the Gateway API's limit), got ${list.length}`);
  return list.slice(0, max);
}

/**
 * Checks the keys of `map`: `supported` ones are read by the caller; `unsupported` ones are
 * Gateway API fields meshlet does not implement, reported as errors when set, so a route never
 * means less than it says; anything else is an unknown field.
 */
export function checkRouteFields(r: Reporter, map: Fields, path: FieldPath, supported: readonly string[], unsupported: readonly string[] = []): void {
  checkFields(r, map, path, [...supported, ...unsupported]);
  for (const key of unsupported) {
    const v = map[key];
    if (v !== undefined && v !== null) r.report([...path, key], 'is a Gateway API field meshlet does not support (see docs/l7.md, "Routing"); remove it');
  }
}

/** Each entry of a list as a mapping; a non-mapping entry is reported and skipped. */
export function eachMap(r: Reporter, list: readonly unknown[], path: FieldPath, fn: (entry: Fields, at: FieldPath) => void): void {
  list.forEach((entry, i) => {
    const at = [...path, i];
    if (isFields(entry)) fn(entry, at);
    else r.report(at, `must be a mapping, got ${formatValue(entry)}`);
  });
}

/** A header name (HTTPHeaderName), lower-cased: matches and modifiers compare names case-insensitively. */
export function readHeaderName(r: Reporter, map: Fields, path: FieldPath): string | undefined {
  const name = reqString(r, map, 'name', path);
  if (name === undefined) return undefined;
  if (name.length > MAX_NAME || !HEADER_NAME.test(name)) {
    r.report([...path, 'name'], `must be an HTTP header name (1 to ${MAX_NAME} token characters), got ${formatValue(name)}`);
    return undefined;
  }
  return name.toLowerCase();
}

/** Reports when `pattern` is not a safe regular expression (see `validate/regex.ts`); true when it is. */
export function checkRegex(r: Reporter, pattern: string, path: FieldPath): boolean {
  const why = regexProblem(pattern);
  if (why === undefined) return true;
  r.report(path, `regular expression ${formatValue(pattern)} refused: ${why}`);
  return false;
}

/**
 * A header or query parameter match (`type` Exact, the default, or RegularExpression; `name`;
 * `value`). Header names are lower-cased; query parameter names are exact, as the spec says.
 */
export function readNameValueMatch(
  r: Reporter,
  entry: Fields,
  path: FieldPath,
  what: 'header' | 'query',
): Plain<NameValueMatch> | undefined {
  checkRouteFields(r, entry, path, ['type', 'name', 'value']);
  const type = optEnum(r, entry, 'type', path, ['Exact', 'RegularExpression'] as const) ?? 'Exact';
  let name: string | undefined;
  if (what === 'header') name = readHeaderName(r, entry, path);
  else {
    name = reqString(r, entry, 'name', path);
    if (name !== undefined && (name.length > MAX_NAME || !HEADER_NAME.test(name))) {
      r.report([...path, 'name'], `must be a query parameter name (1 to ${MAX_NAME} token characters), got ${formatValue(name)}`);
      name = undefined;
    }
  }
  const value = readMatchValue(r, entry, path, what === 'header' ? MAX_HEADER_VALUE : MAX_PATH_VALUE, what === 'header');
  if (name === undefined || value === undefined) return undefined;
  if (type === 'RegularExpression' && !checkRegex(r, value, [...path, 'value'])) return undefined;
  const match: Plain<StringMatch> = { type, value };
  return { name, match };
}

/** `value` of a match: required (an empty header value is allowed), at most `max` characters. */
function readMatchValue(r: Reporter, entry: Fields, path: FieldPath, max: number, emptyOk: boolean): string | undefined {
  const value = entry['value'];
  if (value === undefined || value === null || (value === '' && !emptyOk)) {
    r.report([...path, 'value'], 'required');
    return undefined;
  }
  if (typeof value !== 'string') {
    r.report([...path, 'value'], `must be a string, got ${formatValue(value)}`);
    return undefined;
  }
  if (value.length > max) {
    r.report([...path, 'value'], `at most ${max} characters, got ${value.length}`);
    return undefined;
  }
  return value;
}

/** Reports a second entry with the same `name` (case-insensitive for headers); true when new. */
export function uniqueName(r: Reporter, seen: Set<string>, name: string, path: FieldPath): boolean {
  if (seen.has(name)) {
    r.report([...path, 'name'], `duplicate name ${formatValue(name)}`);
    return false;
  }
  seen.add(name);
  return true;
}

/** A ref's `namespace`: a DNS-1123 label, or undefined (the route's own). */
export function readRefNamespace(r: Reporter, ref: Fields, at: FieldPath): string | undefined {
  const ns = optString(r, ref, 'namespace', at);
  if (ns !== undefined && !checkName(r, ns, [...at, 'namespace'], isDnsLabel, LABEL_TEXT)) return undefined;
  return ns;
}

/**
 * A BackendObjectReference (a backendRef's or a RequestMirror's): a Service (group "", kind
 * Service, port required) or another kind kept with its group and kind (the status says
 * InvalidKind). The caller checks the fields of `b`.
 */
export function readObjectRef(r: Reporter, b: Fields, at: FieldPath, namespace: string): Omit<BackendRef, 'weight'> | undefined {
  const group = typeof b['group'] === 'string' ? b['group'] : '';
  if (b['group'] !== undefined && typeof b['group'] !== 'string') r.report([...at, 'group'], `must be a string, got ${formatValue(b['group'])}`);
  const kind = optString(r, b, 'kind', at) ?? 'Service';
  const name = reqString(r, b, 'name', at);
  if (name !== undefined) checkName(r, name, [...at, 'name'], isDnsSubdomain, SUBDOMAIN_TEXT);
  const ns = readRefNamespace(r, b, at) ?? namespace;
  const port = optPort(r, b, 'port', at);
  const service = kind === 'Service' && CORE_GROUPS.includes(group);
  if (service && port === undefined) requireField(r, b, 'port', at, 'required for a Service backend (the spec\'s rule)');
  if (name === undefined) return undefined;
  const ref = { name, namespace: ns, ...(port === undefined ? {} : { port }) };
  return service ? ref : { ...ref, group, kind };
}
