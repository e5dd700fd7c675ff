/**
 * Field readers and format checks for object validation. Each reader reports into a
 * {@link Reporter} and returns a usable value (or undefined), so validation goes on after a
 * problem and one pass finds them all. Formats follow the Kubernetes API validation rules.
 */
import { isIP } from 'node:net';
import { formatValue, type FieldPath, type Reporter } from './report.js';
import { workloadAddressProblem } from '../workload-address.js';

/** A YAML mapping as a plain object. */
export type Fields = Readonly<Record<string, unknown>>;

/** True for a plain mapping (not a list, not null). */
export function isFields(value: unknown): value is Fields {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Levenshtein distance, bounded work: field names are short. */
function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

/** The closest allowed name to a misspelt one, if it is close enough to be a likely typo. */
export function didYouMean(name: string, allowed: readonly string[]): string | undefined {
  const lower = name.toLowerCase();
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const candidate of allowed) {
    const d = editDistance(lower, candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  // Two edits catch most typos; short names get one, or every short word would match.
  const limit = name.length <= 4 ? 1 : 2;
  return bestDistance <= limit ? best : undefined;
}

/** Reports every key of `map` that is not in `allowed`, with a did-you-mean when one is close. */
export function checkFields(r: Reporter, map: Fields, path: FieldPath, allowed: readonly string[]): void {
  for (const key of Object.keys(map)) {
    if (allowed.includes(key)) continue;
    const hint = didYouMean(key, allowed);
    r.report([...path, key], hint === undefined ? 'unknown field' : `unknown field (did you mean ${hint}?)`);
  }
}

/** Reads a mapping field; reports when present with another type. */
export function optMap(r: Reporter, map: Fields, key: string, path: FieldPath): Fields | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (isFields(value)) return value;
  r.report([...path, key], `must be a mapping, got ${formatValue(value)}`);
  return undefined;
}

/** Reads a list field; reports when present with another type. */
export function optList(r: Reporter, map: Fields, key: string, path: FieldPath): readonly unknown[] {
  const value = map[key];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  r.report([...path, key], `must be a list, got ${formatValue(value)}`);
  return [];
}

/** Reads a string field; reports when present with another type. Empty strings count as absent. */
export function optString(r: Reporter, map: Fields, key: string, path: FieldPath): string | undefined {
  const value = map[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  r.report([...path, key], `must be a string, got ${formatValue(value)}`);
  return undefined;
}

/** True when a field is absent, null or an empty string: what Kubernetes treats as unset. */
export function isMissing(value: unknown): boolean {
  return value === undefined || value === null || value === '';
}

/** Reports `required` when the field is missing; returns whether it is present. */
export function requireField(r: Reporter, map: Fields, key: string, path: FieldPath): boolean {
  if (!isMissing(map[key])) return true;
  r.report([...path, key], 'required');
  return false;
}

/** Reads a required string field. */
export function reqString(r: Reporter, map: Fields, key: string, path: FieldPath): string | undefined {
  return requireField(r, map, key, path) ? optString(r, map, key, path) : undefined;
}

/** Reads a boolean field. */
export function optBool(r: Reporter, map: Fields, key: string, path: FieldPath): boolean | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  r.report([...path, key], `must be true or false, got ${formatValue(value)}`);
  return undefined;
}

/** Reads a field that must be one of a few strings. */
export function optEnum<T extends string>(
  r: Reporter,
  map: Fields,
  key: string,
  path: FieldPath,
  values: readonly T[],
): T | undefined {
  const value = optString(r, map, key, path);
  if (value === undefined) return undefined;
  if ((values as readonly string[]).includes(value)) return value as T;
  const sameLetters = values.find((v) => v.toLowerCase() === value.toLowerCase());
  const hint = sameLetters === undefined ? '' : ` (did you mean ${sameLetters}?)`;
  r.report([...path, key], `must be one of ${values.join(', ')}, got ${formatValue(value)}${hint}`);
  return undefined;
}

/** Reads a port number 1..65535. */
export function optPort(r: Reporter, map: Fields, key: string, path: FieldPath): number | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (isPortNumber(value)) return value;
  r.report([...path, key], `must be a port number 1..65535, got ${formatValue(value)}`);
  return undefined;
}

/** True for an integer in 1..65535. */
export function isPortNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const DNS_1035_LABEL = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const QUALIFIED_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;
const IANA_SVC_NAME = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;

/** RFC 1123 label: at most 63 lowercase letters, digits and '-', alphanumeric at both ends. */
export function isDnsLabel(value: string): boolean {
  return value.length <= 63 && DNS_LABEL.test(value);
}

/** RFC 1035 label (Service names): like a DNS-1123 label but starting with a letter. */
export function isDns1035Label(value: string): boolean {
  return value.length <= 63 && DNS_1035_LABEL.test(value);
}

/** RFC 1123 subdomain: dot-separated labels, at most 253 characters. */
export function isDnsSubdomain(value: string): boolean {
  return value.length <= 253 && value.split('.').every((label) => label.length > 0 && DNS_LABEL.test(label));
}

/** IANA_SVC_NAME (a named port): at most 15 chars, lowercase, a letter, no '--', no end '-'. */
export function isIanaSvcName(value: string): boolean {
  return value.length <= 15 && IANA_SVC_NAME.test(value) && /[a-z]/.test(value) && !value.includes('--');
}

/** A Kubernetes label key: an optional DNS subdomain prefix and '/', then a 63-char name. */
export function isLabelKey(key: string): boolean {
  const slash = key.indexOf('/');
  const name = slash === -1 ? key : key.slice(slash + 1);
  if (slash !== -1 && !isDnsSubdomain(key.slice(0, slash))) return false;
  return name.length <= 63 && QUALIFIED_NAME.test(name);
}

/** A Kubernetes label value: empty, or up to 63 alphanumerics with '-', '_', '.' inside. */
export function isLabelValue(value: string): boolean {
  return value === '' || (value.length <= 63 && QUALIFIED_NAME.test(value));
}

/** True for an IPv4 or IPv6 address in text form. */
export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** Reads a string field that must be an IP address. */
export function optIp(r: Reporter, map: Fields, key: string, path: FieldPath): string | undefined {
  const value = optString(r, map, key, path);
  if (value === undefined || isIpAddress(value)) return value;
  r.report([...path, key], `must be an IPv4 or IPv6 address, got ${formatValue(value)}`);
  return undefined;
}

/**
 * Reads a string field that must be a workload address (a pod's, a VM's or a Service VIP):
 * an IP address the mesh's address policy accepts (`workload-address.ts`: no loopback,
 * unspecified, link-local, multicast, broadcast, IPv4-mapped or zone id). A refused address is
 * reported with its reason, and the object is not used.
 */
export function optWorkloadIp(r: Reporter, map: Fields, key: string, path: FieldPath): string | undefined {
  const value = optIp(r, map, key, path);
  if (value === undefined) return undefined;
  return checkWorkloadIp(r, value, [...path, key]) ? value : undefined;
}

/** Reports `value` at `path` when it is an IP address the address policy refuses; true when accepted. */
export function checkWorkloadIp(r: Reporter, value: string, path: FieldPath): boolean {
  const why = workloadAddressProblem(value);
  if (why === undefined) return true;
  r.report(path, `${formatValue(value)} ${why}; not a workload address`);
  return false;
}

/** Checks a name with one of the format predicates; reports with the format's description. */
export function checkName(
  r: Reporter,
  value: string,
  path: FieldPath,
  check: (value: string) => boolean,
  what: string,
): boolean {
  if (check(value)) return true;
  r.report(path, `must be ${what}, got ${formatValue(value)}`);
  return false;
}

/** Description of a DNS-1123 subdomain for messages. */
export const SUBDOMAIN_TEXT = 'a DNS-1123 subdomain (lowercase letters, digits, "-" and ".")';
/** Description of a DNS-1123 label for messages. */
export const LABEL_TEXT = 'a DNS-1123 label (at most 63 lowercase letters, digits and "-")';

/**
 * Reads a map of labels (or a label selector): string keys and string values in the
 * Kubernetes formats. The result has its keys sorted, so equal inputs serialise equally.
 */
export function optLabels(r: Reporter, map: Fields, key: string, path: FieldPath): Record<string, string> {
  const labels = optMap(r, map, key, path);
  const out: Record<string, string> = {};
  if (labels === undefined) return out;
  for (const name of Object.keys(labels).sort()) {
    const value = labels[name];
    const at = [...path, key, name];
    if (!isLabelKey(name)) r.report(at, 'invalid label key (an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_", ".")');
    if (typeof value !== 'string') {
      r.report(at, `label values must be strings (quote it), got ${formatValue(value)}`);
    } else if (!isLabelValue(value)) {
      r.report(at, `invalid label value ${formatValue(value)} (up to 63 letters, digits, "-", "_", ".")`);
    } else {
      out[name] = value;
    }
  }
  return out;
}
