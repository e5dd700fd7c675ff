/**
 * Field readers shared by every parser. Each reads one field of a mapping, reports into a
 * {@link ProblemSink} when it is wrong, and returns a usable value (or undefined), so
 * validation goes on after a problem and one pass finds them all. Optional readers treat
 * absent and null as unset; `req*` readers report `required`.
 */
import { workloadAddressProblem } from '../workload-address.js';
import { isIpAddress, isLabelKey, isLabelValue, isPortNumber } from './formats.js';
import type { ProblemSink } from './problems.js';
import { formatValue, isFields, isMissing, unknownNameMessage, type FieldPath, type Fields } from './values.js';

/**
 * Reports every key of `map` that is not in `allowed`, with a did-you-mean when one is close;
 * `listAllowed` lists the allowed names when none is (for short, hand-written files).
 */
export function checkFields(r: ProblemSink, map: Fields, path: FieldPath, allowed: readonly string[], listAllowed = false): void {
  for (const key of Object.keys(map)) {
    if (!allowed.includes(key)) r.report([...path, key], unknownNameMessage(key, allowed, 'field', listAllowed));
  }
}

/** Reads a mapping field; reports when present with another type. */
export function optMap(r: ProblemSink, map: Fields, key: string, path: FieldPath): Fields | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (isFields(value)) return value;
  r.report([...path, key], `must be a mapping, got ${formatValue(value)}`);
  return undefined;
}

/** Reads a list field; reports when present with another type. */
export function optList(r: ProblemSink, map: Fields, key: string, path: FieldPath): readonly unknown[] {
  const value = map[key];
  if (value === undefined || value === null) return [];
  if (Array.isArray(value)) return value;
  r.report([...path, key], `must be a list, got ${formatValue(value)}`);
  return [];
}

/** Reads a string field; reports when present with another type. Empty strings count as absent. */
export function optString(r: ProblemSink, map: Fields, key: string, path: FieldPath): string | undefined {
  const value = map[key];
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value === 'string') return value;
  r.report([...path, key], `must be a string, got ${formatValue(value)}`);
  return undefined;
}

/** Reports `message` (`required`) when the field is missing; returns whether it is present. */
export function requireField(r: ProblemSink, map: Fields, key: string, path: FieldPath, message = 'required'): boolean {
  if (!isMissing(map[key])) return true;
  r.report([...path, key], message);
  return false;
}

/** Reads a required string field; `message` is what a missing one is reported as. */
export function reqString(r: ProblemSink, map: Fields, key: string, path: FieldPath, message = 'required'): string | undefined {
  return requireField(r, map, key, path, message) ? optString(r, map, key, path) : undefined;
}

/** Reads a boolean field. */
export function optBool(r: ProblemSink, map: Fields, key: string, path: FieldPath): boolean | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'boolean') return value;
  r.report([...path, key], `must be true or false, got ${formatValue(value)}`);
  return undefined;
}

/** Reads a field that must be one of a few strings. */
export function optEnum<T extends string>(
  r: ProblemSink,
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
export function optPort(r: ProblemSink, map: Fields, key: string, path: FieldPath): number | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (isPortNumber(value)) return value;
  r.report([...path, key], `must be a port number 1..65535, got ${formatValue(value)}`);
  return undefined;
}

/** Reads an integer field in `min..max`. */
export function optInt(r: ProblemSink, map: Fields, key: string, path: FieldPath, min: number, max: number): number | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max) return value;
  r.report([...path, key], `must be an integer ${min}..${max}, got ${formatValue(value)}`);
  return undefined;
}

/** Reads a string field that must be an IP address. */
export function optIp(r: ProblemSink, map: Fields, key: string, path: FieldPath): string | undefined {
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
export function optWorkloadIp(r: ProblemSink, map: Fields, key: string, path: FieldPath): string | undefined {
  const value = optIp(r, map, key, path);
  if (value === undefined) return undefined;
  return checkWorkloadIp(r, value, [...path, key]) ? value : undefined;
}

/** Reports `value` at `path` when it is an IP address the address policy refuses; true when accepted. */
export function checkWorkloadIp(r: ProblemSink, value: string, path: FieldPath): boolean {
  const why = workloadAddressProblem(value);
  if (why === undefined) return true;
  r.report(path, `${formatValue(value)} ${why}; not a workload address`);
  return false;
}

/** Checks a name with one of the format predicates; reports with the format's description. */
export function checkName(
  r: ProblemSink,
  value: string,
  path: FieldPath,
  check: (value: string) => boolean,
  what: string,
): boolean {
  if (check(value)) return true;
  r.report(path, `must be ${what}, got ${formatValue(value)}`);
  return false;
}

/**
 * Reads a map of labels (or a label selector): string keys and string values in the
 * Kubernetes formats. The result has its keys sorted, so equal inputs serialise equally.
 */
export function optLabels(r: ProblemSink, map: Fields, key: string, path: FieldPath): Record<string, string> {
  const labels = optMap(r, map, key, path);
  const out: Record<string, string> = {};
  if (labels === undefined) return out;
  for (const name of Object.keys(labels).sort()) {
    const value = labels[name];
    const at = [...path, key, name];
    const keyOk = isLabelKey(name);
    if (!keyOk) r.report(at, 'invalid label key (an optional DNS prefix and "/", then up to 63 letters, digits, "-", "_", ".")');
    if (typeof value !== 'string') {
      r.report(at, `label values must be strings (quote it), got ${formatValue(value)}`);
    } else if (!isLabelValue(value)) {
      r.report(at, `invalid label value ${formatValue(value)} (up to 63 letters, digits, "-", "_", ".")`);
    } else if (keyOk) {
      out[name] = value;
    }
  }
  return out;
}
