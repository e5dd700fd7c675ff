/**
 * The rules of an AuthorizationPolicy (`spec.rules`: `from[].source`, `to[].operation`,
 * `when[]`) and the check of every kind of value they hold.
 *
 * One walker reads both what a person wrote (mode `object`: YAML or the Kubernetes API) and plain
 * data decoded from the wire (mode `wire`: exactly the form the parser emits, nothing looser), and
 * each kind of value has one checker, so the parser and the wire validator can never disagree.
 * Istio's validation (`pkg/config/validation`, `pkg/config/security`) is followed where it
 * refuses something; every Istio field meshlet does not enforce is refused with the reason,
 * never skipped: a skipped field of an ALLOW or DENY rule would change who gets in.
 */
import { isIP } from 'node:net';
import { isValidTrustDomain } from '../identity.js';
import { canonicalAddress } from '../workload-address.js';
import { isDnsLabel, isDnsSubdomain, LABEL_TEXT, SUBDOMAIN_TEXT } from '../validate/formats.js';
import type { ProblemSink } from '../validate/problems.js';
import { didYouMean, formatValue, isFields, type FieldPath, type Fields } from '../validate/values.js';
import type { AuthzCondition, AuthzConditionKey, AuthzOperation, AuthzRule, AuthzSource } from '../authz/types.js';

/**
 * Rules in one policy: Istio's own CRD cap (`MaxItems=512`), so every policy the API server
 * accepts is read whole. The evaluation cost is bounded by {@link MAX_AUTHZ_POLICY_VALUES}.
 */
export const MAX_AUTHZ_RULES = 512;
/** Entries of one rule's `from`, `to` or `when`: Istio caps `from` at 512; `to` and `when` get the same. */
export const MAX_AUTHZ_RULE_ENTRIES = 512;
/**
 * Values of one field (`principals`, `ports`, a condition's `values`, ...). Policies name a few;
 * an allow-list of CIDRs may name hundreds. The snapshot wire holds the same bound.
 */
export const MAX_AUTHZ_FIELD_VALUES = 1024;
/**
 * Values of one policy, over every field of every rule: the real bound on evaluation (a request
 * is compared with each value at most once per policy: 16k string comparisons is well under a
 * millisecond) and on memory (at most 16 MiB of values at {@link MAX_AUTHZ_VALUE_CHARS}; an
 * object in the Kubernetes API is at most 1.5 MiB anyway).
 */
export const MAX_AUTHZ_POLICY_VALUES = 16384;
/**
 * Characters of one value: the Gateway API's cap on a path, and room for the longest principal
 * (a 255-character trust domain, a 63-character namespace and a 253-character service account).
 */
export const MAX_AUTHZ_VALUE_CHARS = 1024;
/** Characters of the header name in `request.headers[<name>]` (as TrafficPolicy's hash header). */
export const MAX_AUTHZ_HEADER_NAME_CHARS = 256;

/** Every kind of value a rule holds; each has one checker ({@link authzValueProblem}). */
export type AuthzValueKind = 'principal' | 'namespace' | 'ip' | 'port' | 'method' | 'path' | 'host' | 'header-value';

/**
 * `object`: what a person wrote (null is absent, an empty list is absent, ports may be integers,
 * header names any case). `wire`: plain data exactly as the parser emits it.
 */
export type AuthzReadMode = 'object' | 'wire';

/** `from[].source` fields meshlet enforces, and the kind of their values. */
export const AUTHZ_SOURCE_FIELDS: Readonly<Record<keyof AuthzSource, AuthzValueKind>> = {
  principals: 'principal',
  notPrincipals: 'principal',
  namespaces: 'namespace',
  notNamespaces: 'namespace',
  ipBlocks: 'ip',
  notIpBlocks: 'ip',
  remoteIpBlocks: 'ip',
  notRemoteIpBlocks: 'ip',
};

/** `to[].operation` fields, and the kind of their values. */
export const AUTHZ_OPERATION_FIELDS: Readonly<Record<keyof AuthzOperation, AuthzValueKind>> = {
  hosts: 'host',
  notHosts: 'host',
  ports: 'port',
  notPorts: 'port',
  methods: 'method',
  notMethods: 'method',
  paths: 'path',
  notPaths: 'path',
};

/** `when[].key` values meshlet enforces (beside `request.headers[<name>]`), and their value kind. */
export const AUTHZ_CONDITION_KEYS: Readonly<Record<string, AuthzValueKind>> = {
  'source.principal': 'principal',
  'source.namespace': 'namespace',
  'source.ip': 'ip',
  'remote.ip': 'ip',
  'destination.ip': 'ip',
  'destination.port': 'port',
  'connection.sni': 'host',
};

const JWT = 'not supported: needs RequestAuthentication (JWT), which meshlet does not have';
const ISTIO_REFUSES = '(Istio refuses it too)';

/** Istio `Source` fields meshlet does not enforce, with the reason and what to write instead. */
const UNSUPPORTED_SOURCE: Readonly<Record<string, string>> = {
  requestPrincipals: JWT,
  notRequestPrincipals: JWT,
  serviceAccounts: 'not supported: write principals: ["*/ns/<namespace>/sa/<service-account>"], which matches the same peers',
  notServiceAccounts: 'not supported: write notPrincipals: ["*/ns/<namespace>/sa/<service-account>"], which matches the same peers',
  trustDomains: 'not supported (an Istio extended-channel field): write principals: ["<trust-domain>/*"]',
  notTrustDomains: 'not supported (an Istio extended-channel field): write notPrincipals: ["<trust-domain>/*"]',
};

/** Istio condition keys meshlet does not enforce: a prefix (or the whole key), and why. */
const UNSUPPORTED_KEYS: readonly (readonly [key: string, prefix: boolean, reason: string])[] = [
  ['request.auth.', true, JWT],
  ['source.serviceAccount', false, 'not supported: write key source.principal with values ["*/ns/<namespace>/sa/<service-account>"]'],
  ['request.experimental.inline.headers[', true, 'not supported (an experimental Istio key): write request.headers[<name>]'],
  ['experimental.envoy.filters.', true, 'not supported: it reads Envoy filter metadata, and meshlet has no Envoy'],
  ['destination.namespace', false, `not supported: the policy's metadata.namespace says it ${ISTIO_REFUSES}`],
  ['destination.labels[', true, `not supported: spec.selector says it ${ISTIO_REFUSES}`],
  ['destination.name', false, `not supported: only Istio's old v1alpha1 RBAC had it ${ISTIO_REFUSES}`],
  ['destination.user', false, `not supported: only Istio's old v1alpha1 RBAC had it ${ISTIO_REFUSES}`],
];

// ---------------------------------------------------------------------------------------------
// Values: one checker per kind, shared by the parser and the wire validator.

const WILDCARD_TEXT = 'a "*" may be the whole value, or one "*" at its start or end';
/** HTTP token characters (RFC 9110 `tchar`) but `*`, which is Istio's wildcard. */
const TOKEN_BODY = /^[!#$%&'+\-.^_`|~0-9A-Za-z]*$/;
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 3986 `pchar` without `/`: what a literal segment of a path template may hold (Istio's check). */
const PCHAR = /^[a-zA-Z0-9\-._~%!$&'()+,;:@=]+$/;
/** An IPv4-mapped IPv6 address in RFC 5952 text (`::ffff:a00:1` is `::ffff:10.0.0.1`). */
const MAPPED_V6 = /^::ffff:[0-9a-f]{1,4}:[0-9a-f]{1,4}$/;

/** A value around Istio's wildcard (`*`, `prefix*`, `*suffix`, exact), or why its `*` is misplaced. */
function unwildcard(value: string): { readonly body: string; readonly wildcard: boolean } | string {
  const first = value.indexOf('*');
  if (first === -1) return { body: value, wildcard: false };
  if (value === '*') return { body: '', wildcard: true };
  if (value.indexOf('*', first + 1) !== -1 || (first !== 0 && first !== value.length - 1)) return WILDCARD_TEXT;
  return { body: first === 0 ? value.slice(1) : value.slice(0, -1), wildcard: true };
}

function principalProblem(value: string): string | undefined {
  if (/^spiffe:\/\//i.test(value)) {
    return 'drop the "spiffe://" prefix: Istio writes a principal as <trust-domain>/ns/<namespace>/sa/<service-account>';
  }
  const w = unwildcard(value);
  if (typeof w === 'string') return w;
  if (w.wildcard) return /^[A-Za-z0-9._/-]*$/.test(w.body) ? undefined : 'can never match: a principal holds only letters, digits, ".", "-", "_" and "/"';
  const [td = '', ns, namespace = '', sa, account = '', ...rest] = value.split('/');
  if (ns !== 'ns' || sa !== 'sa' || rest.length > 0) {
    return 'must be <trust-domain>/ns/<namespace>/sa/<service-account> (such as cluster.local/ns/demo/sa/web), or use "*" at its start or end';
  }
  if (!isValidTrustDomain(td)) return `the trust domain ${formatValue(td)} must be lowercase letters, digits, ".", "-" and "_"`;
  if (!isDnsLabel(namespace)) return `the namespace ${formatValue(namespace)} must be ${LABEL_TEXT}`;
  if (!isDnsSubdomain(account)) return `the service account ${formatValue(account)} must be ${SUBDOMAIN_TEXT}`;
  return undefined;
}

function namespaceProblem(value: string): string | undefined {
  const w = unwildcard(value);
  if (typeof w === 'string') return w;
  if (w.wildcard) return /^[a-z0-9-]*$/.test(w.body) ? undefined : 'can never match: a namespace holds only lowercase letters, digits and "-"';
  return isDnsLabel(value) ? undefined : `must be ${LABEL_TEXT}, or use "*" at its start or end`;
}

function ipProblem(value: string): string | undefined {
  const slash = value.indexOf('/');
  const address = slash === -1 ? value : value.slice(0, slash);
  if (address.includes('%')) return 'a zone id (%...) is not allowed: write the address alone';
  const family = isIP(address);
  if (family === 0) return 'must be an IPv4 or IPv6 address or CIDR, such as 10.0.0.0/16 or fd00::/8';
  if (family === 6 && MAPPED_V6.test(canonicalAddress(address) ?? '')) return 'is IPv4-mapped (::ffff:a.b.c.d): write the IPv4 address or CIDR';
  if (slash === -1) return undefined;
  const bits = value.slice(slash + 1);
  const max = family === 4 ? 32 : 128;
  return /^(0|[1-9][0-9]{0,2})$/.test(bits) && Number(bits) <= max ? undefined : `the prefix length must be 0..${max}, got ${formatValue(bits)}`;
}

function portProblem(value: string): string | undefined {
  return /^[1-9][0-9]{0,4}$/.test(value) && Number(value) <= 65535 ? undefined : 'must be a port number 1..65535 (decimal, such as "8080")';
}

function methodProblem(value: string): string | undefined {
  const w = unwildcard(value);
  if (typeof w === 'string') return w;
  return TOKEN_BODY.test(w.body) ? undefined : 'must be an HTTP method (token characters, such as GET), with one "*" at its start or end';
}

function pathProblem(value: string): string | undefined {
  if (/[^\x21-\x7e]/.test(value)) return 'a path holds no space, control or non-ASCII character (percent-encode it)';
  if (value.includes('?') || value.includes('#')) return 'the query (?...) and fragment (#...) are not part of the matched path';
  if (value.includes('{') || value.includes('}')) return templateProblem(value);
  const w = unwildcard(value);
  if (typeof w === 'string') return `${w}; {*} matches one whole segment and {**} the rest of the path`;
  if (w.wildcard && value.startsWith('*')) return undefined; // `*` or `*suffix`
  return value.startsWith('/') ? undefined : 'must start with "/" (or be "*", "*suffix" or "/prefix*")';
}

/** Istio's path templates (`CheckValidPathTemplate`): `{*}` one segment, `{**}` the rest, last. */
function templateProblem(value: string): string | undefined {
  if (!value.startsWith('/')) return 'a path template must start with "/"';
  let start = 0;
  let end = value.length;
  while (start < end && value[start] === '/') start += 1;
  while (end > start && value[end - 1] === '/') end -= 1;
  let sawAny = false;
  for (const segment of value.slice(start, end).split('/')) {
    if (segment === '{*}' || segment === '{**}') {
      if (sawAny) return 'in a path template, {**} must be the last operator';
      sawAny = segment === '{**}';
    } else if (segment.includes('{') || segment.includes('}')) {
      return `in a path template, {*} and {**} are each a whole segment, and no other "{" or "}" is allowed (segment ${formatValue(segment)})`;
    } else if (!PCHAR.test(segment)) {
      return `in a path template, segment ${formatValue(segment)} must be a literal (RFC 3986 path characters; "*" only as {*} or {**})`;
    }
  }
  return undefined;
}

function hostProblem(value: string): string | undefined {
  const w = unwildcard(value);
  if (typeof w === 'string') return w;
  return /^[A-Za-z0-9._:[\]-]*$/.test(w.body) ? undefined : 'must be a host name (letters, digits, ".", "-", an optional ":port"), with one "*" at its start or end';
}

function headerValueProblem(value: string): string | undefined {
  const w = unwildcard(value);
  if (typeof w === 'string') return w;
  return /[\x00-\x08\x0a-\x1f\x7f]/.test(w.body) ? 'a header value holds no control character' : undefined;
}

const CHECKS: Readonly<Record<AuthzValueKind, (value: string) => string | undefined>> = {
  principal: principalProblem,
  namespace: namespaceProblem,
  ip: ipProblem,
  port: portProblem,
  method: methodProblem,
  path: pathProblem,
  host: hostProblem,
  'header-value': headerValueProblem,
};

/**
 * Why `value` may not be a rule value of `kind` (empty, too long, or not of its form), or
 * undefined when it may. The one check of every value, for the parser and the wire validator.
 */
export function authzValueProblem(kind: AuthzValueKind, value: string): string | undefined {
  if (value === '') return 'must not be empty';
  if (value.length > MAX_AUTHZ_VALUE_CHARS) return `longer than ${MAX_AUTHZ_VALUE_CHARS} characters (${value.length})`;
  return CHECKS[kind](value);
}

/**
 * A `when` key as stored (`request.headers[<name>]` with its name lowercased) and the kind of its
 * values, or why it is refused. In `wire` mode a header name must already be lowercase.
 */
export function authzConditionKey(key: string, mode: AuthzReadMode): { key: AuthzConditionKey; kind: AuthzValueKind } | { problem: string } {
  const kind = AUTHZ_CONDITION_KEYS[key];
  if (kind !== undefined && Object.hasOwn(AUTHZ_CONDITION_KEYS, key)) return { key: key as AuthzConditionKey, kind };
  if (key.startsWith('request.headers[') && key.endsWith(']')) {
    const name = key.slice('request.headers['.length, -1);
    if (name.length > MAX_AUTHZ_HEADER_NAME_CHARS) return { problem: `the header name is longer than ${MAX_AUTHZ_HEADER_NAME_CHARS} characters (${name.length})` };
    if (!HEADER_NAME.test(name)) {
      return { problem: 'the header name must be HTTP token characters (pseudo-headers such as :method are matched by to[].operation)' };
    }
    if (mode === 'wire' && name !== name.toLowerCase()) return { problem: 'the header name must be lowercase in plain data' };
    return { key: `request.headers[${name.toLowerCase()}]`, kind: 'header-value' };
  }
  for (const [known, prefix, reason] of UNSUPPORTED_KEYS) {
    if (prefix ? key.startsWith(known) : key === known) return { problem: reason };
  }
  const supported = [...Object.keys(AUTHZ_CONDITION_KEYS), 'request.headers[<name>]'];
  const hint = didYouMean(key, supported);
  return { problem: hint === undefined ? `unknown condition key; meshlet supports ${supported.join(', ')}` : `unknown condition key (did you mean ${hint}?)` };
}

// ---------------------------------------------------------------------------------------------
// The walker.

/** One walk over a policy's rules: where problems go, the mode, and the values counted so far. */
interface Walk {
  readonly sink: ProblemSink;
  readonly mode: AuthzReadMode;
  values: number;
}

/** Longest key shown in a problem's path: a hostile key must not make a hostile message. */
const MAX_KEY_SHOWN = 64;

/**
 * Reports every key of `map` that is not in `allowed`: with the reason when Istio has it and
 * meshlet does not enforce it (`unsupported`), else as unknown with a did-you-mean.
 */
export function checkAuthzKeys(sink: ProblemSink, map: Fields, path: FieldPath, allowed: readonly string[], unsupported: Readonly<Record<string, string>> = {}): void {
  for (const key of Object.keys(map)) {
    if (allowed.includes(key)) continue;
    const shown = key.length > MAX_KEY_SHOWN ? `${key.slice(0, MAX_KEY_SHOWN)}...` : key;
    if (Object.hasOwn(unsupported, key)) {
      sink.report([...path, shown], unsupported[key] ?? 'not supported');
      continue;
    }
    const hint = didYouMean(key, [...allowed, ...Object.keys(unsupported)]);
    sink.report([...path, shown], hint === undefined ? `unknown field (allowed: ${allowed.join(', ')})` : `unknown field (did you mean ${hint}?)`);
  }
}

/** The field's value; in `object` mode null is absent (as Kubernetes reads it). */
function fieldValue(w: Walk, map: Fields, key: string): unknown {
  const value = Object.hasOwn(map, key) ? map[key] : undefined;
  return value === null && w.mode === 'object' ? undefined : value;
}

/** True for a field that says nothing: absent, null or an empty list. */
function isEmptyField(value: unknown): boolean {
  return value === undefined || value === null || (Array.isArray(value) && value.length === 0);
}

/**
 * Reads `rules` (absent: none) under `path`, reporting every problem into `sink`. Returns the
 * rules read; any problem means the caller must not use them.
 */
export function readAuthzRules(sink: ProblemSink, value: unknown, path: FieldPath, mode: AuthzReadMode): AuthzRule[] {
  const w: Walk = { sink, mode, values: 0 };
  if (value === undefined || (value === null && mode === 'object')) return [];
  if (!Array.isArray(value)) {
    sink.report(path, `must be a list of rules, got ${formatValue(value)}`);
    return [];
  }
  if (value.length > MAX_AUTHZ_RULES) {
    sink.report(path, `at most ${MAX_AUTHZ_RULES} rules, got ${value.length}`);
    return [];
  }
  const out: AuthzRule[] = [];
  value.forEach((raw, i) => {
    const rule = readRule(w, raw, [...path, i]);
    if (rule !== undefined) out.push(rule);
  });
  if (w.values > MAX_AUTHZ_POLICY_VALUES) sink.report(path, `at most ${MAX_AUTHZ_POLICY_VALUES} values over all rules, got ${w.values}`);
  return out;
}

function readRule(w: Walk, raw: unknown, at: FieldPath): AuthzRule | undefined {
  if (!isFields(raw)) {
    w.sink.report(at, `must be a mapping (from, to, when; {} matches every request), got ${formatValue(raw)}`);
    return undefined;
  }
  checkAuthzKeys(w.sink, raw, at, ['from', 'to', 'when']);
  const from = readEntries(w, raw, 'from', at, 'any source')?.flatMap((e, i) => {
    const source = readWrapped(w, e, [...at, 'from', i], 'source', readSource);
    return source === undefined ? [] : [{ source }];
  });
  const to = readEntries(w, raw, 'to', at, 'any operation')?.flatMap((e, i) => {
    const operation = readWrapped(w, e, [...at, 'to', i], 'operation', readOperation);
    return operation === undefined ? [] : [{ operation }];
  });
  const when = readEntries(w, raw, 'when', at, 'without conditions')?.flatMap((e, i) => readCondition(w, e, [...at, 'when', i]) ?? []);
  return { ...(from === undefined ? {} : { from }), ...(to === undefined ? {} : { to }), ...(when === undefined ? {} : { when }) };
}

/** `from`, `to` or `when`: a list of 1 to {@link MAX_AUTHZ_RULE_ENTRIES} entries (Istio refuses an empty one). */
function readEntries(w: Walk, rule: Fields, key: string, at: FieldPath, absentMeans: string): readonly unknown[] | undefined {
  const value = fieldValue(w, rule, key);
  if (value === undefined) return undefined;
  const path = [...at, key];
  if (!Array.isArray(value)) w.sink.report(path, `must be a list, got ${formatValue(value)}`);
  else if (value.length === 0) w.sink.report(path, `must not be empty: omit ${key} to match ${absentMeans}`);
  else if (value.length > MAX_AUTHZ_RULE_ENTRIES) w.sink.report(path, `at most ${MAX_AUTHZ_RULE_ENTRIES} entries, got ${value.length}`);
  else return value;
  return undefined;
}

/** `{source: ...}` or `{operation: ...}`: the one field is required. */
function readWrapped<T>(w: Walk, entry: unknown, at: FieldPath, inner: string, read: (w: Walk, value: unknown, at: FieldPath) => T | undefined): T | undefined {
  if (!isFields(entry)) {
    w.sink.report(at, `must be a mapping {${inner}: {...}}, got ${formatValue(entry)}`);
    return undefined;
  }
  checkAuthzKeys(w.sink, entry, at, [inner]);
  const value = fieldValue(w, entry, inner);
  if (value !== undefined) return read(w, value, [...at, inner]);
  w.sink.report([...at, inner], 'required');
  return undefined;
}

function readSource(w: Walk, raw: unknown, at: FieldPath): AuthzSource | undefined {
  return readValueFields(w, raw, at, AUTHZ_SOURCE_FIELDS, UNSUPPORTED_SOURCE) as AuthzSource | undefined;
}

function readOperation(w: Walk, raw: unknown, at: FieldPath): AuthzOperation | undefined {
  return readValueFields(w, raw, at, AUTHZ_OPERATION_FIELDS, {}) as AuthzOperation | undefined;
}

/** A source or an operation: lists of values, at least one set (Istio refuses an empty one). */
function readValueFields(
  w: Walk,
  raw: unknown,
  at: FieldPath,
  fields: Readonly<Record<string, AuthzValueKind>>,
  unsupported: Readonly<Record<string, string>>,
): Record<string, string[]> | undefined {
  if (!isFields(raw)) {
    w.sink.report(at, `must be a mapping, got ${formatValue(raw)}`);
    return undefined;
  }
  const names = Object.keys(fields);
  checkAuthzKeys(w.sink, raw, at, names, unsupported);
  const out: Record<string, string[]> = {};
  for (const [name, kind] of Object.entries(fields)) {
    const values = readValues(w, raw, name, at, kind);
    if (values !== undefined) out[name] = values;
  }
  if (Object.keys(raw).every((k) => names.includes(k) && isEmptyField(raw[k]))) {
    w.sink.report(at, `must not be empty: set at least one of ${names.join(', ')}`);
  }
  return out;
}

function readCondition(w: Walk, raw: unknown, at: FieldPath): AuthzCondition | undefined {
  if (!isFields(raw)) {
    w.sink.report(at, `must be a mapping {key, values, notValues}, got ${formatValue(raw)}`);
    return undefined;
  }
  checkAuthzKeys(w.sink, raw, at, ['key', 'values', 'notValues']);
  const key = fieldValue(w, raw, 'key');
  if (key === undefined || key === '') {
    w.sink.report([...at, 'key'], 'required');
    return undefined;
  }
  if (typeof key !== 'string') {
    w.sink.report([...at, 'key'], `must be a string, got ${formatValue(key)}`);
    return undefined;
  }
  const parsed = authzConditionKey(key, w.mode);
  if ('problem' in parsed) {
    w.sink.report([...at, 'key'], `${parsed.problem}, got ${formatValue(key)}`);
    return undefined;
  }
  const values = readValues(w, raw, 'values', at, parsed.kind);
  const notValues = readValues(w, raw, 'notValues', at, parsed.kind);
  if (isEmptyField(raw['values']) && isEmptyField(raw['notValues'])) w.sink.report(at, 'at least one of values or notValues must be set');
  return { key: parsed.key, ...(values === undefined ? {} : { values }), ...(notValues === undefined ? {} : { notValues }) };
}

/**
 * A list of values of one kind, each checked. `object` mode: an empty list is absent, and a port
 * may be an integer or have leading zeros (stored as canonical decimal text).
 */
function readValues(w: Walk, map: Fields, key: string, at: FieldPath, kind: AuthzValueKind): string[] | undefined {
  const value = fieldValue(w, map, key);
  if (value === undefined) return undefined;
  const path = [...at, key];
  if (!Array.isArray(value)) {
    w.sink.report(path, `must be a list of strings, got ${formatValue(value)}`);
    return undefined;
  }
  if (value.length === 0) {
    if (w.mode === 'wire') w.sink.report(path, 'must not be empty (absent: any value)');
    return undefined;
  }
  if (value.length > MAX_AUTHZ_FIELD_VALUES) {
    w.sink.report(path, `at most ${MAX_AUTHZ_FIELD_VALUES} values, got ${value.length}`);
    return undefined;
  }
  w.values += value.length;
  const out: string[] = [];
  value.forEach((item: unknown, i) => {
    const text = kind === 'port' && w.mode === 'object' ? portText(item) : item;
    if (typeof text !== 'string') {
      w.sink.report([...path, i], `must be a string, got ${formatValue(item)}`);
      return;
    }
    const problem = authzValueProblem(kind, text);
    if (problem === undefined) out.push(text);
    else w.sink.report([...path, i], `${problem}, got ${formatValue(text)}`);
  });
  return out;
}

/** A port as a person may write it (`8080`, `"8080"`, `"08080"`), as canonical decimal text. */
function portText(item: unknown): unknown {
  if (typeof item === 'number' && Number.isFinite(item)) return String(item);
  if (typeof item === 'string' && /^0[0-9]{1,5}$/.test(item)) return String(Number(item));
  return item;
}
