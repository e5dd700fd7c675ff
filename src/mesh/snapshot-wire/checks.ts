/**
 * Field readers for decoding the snapshot wire format: a thin layer over the validation toolkit
 * (`src/mesh/validate/`) for one hot path. Each reader checks one field of decoded JSON, records
 * a problem naming the field's path (`cluster.workloads[3].addresses[0]`) when it is wrong, and
 * returns a usable value, so one pass reports every bad field. Paths are plain strings built
 * only when something is wrong, and pure checks are cached per decode: a healthy
 * 5,000-workload view must decode in milliseconds.
 */
import { isDns1035Label, isDnsLabel, isDnsSubdomain, isIanaSvcName, isIpAddress, isLabelKey, isLabelValue, isPortNumber } from '../validate/formats.js';
import { Problems } from '../validate/problems.js';
import { formatValue, isFields, type Fields } from '../validate/values.js';
import { workloadAddressProblem } from '../workload-address.js';
import type { NamedPort, TlsMode } from '../types.js';

/** A decoded JSON object. */
export type WireObject = Fields;

/** Problems recorded in full; past this many only a count is kept (the list stays small). */
const MAX_PROBLEMS = 50;

/** Why a string is bad, or undefined when it is good. */
export type StringCheck = (value: string) => string | undefined;

/** The problems of one decode: the toolkit's collector, capped, with a per-decode check cache. */
export class WireProblems extends Problems {
  /** Results of pure checks by name and value, for this decode only (see {@link cached}). */
  private readonly results = new Map<string, { check: StringCheck; seen: Map<string, string | undefined> }>();

  constructor() {
    super(MAX_PROBLEMS);
  }

  /**
   * `check`, remembering its result per value for the rest of this decode. A view repeats the
   * same few hundred identities, node names and node addresses thousands of times (every
   * endpoint carries its workload's); each distinct value is still checked, once. `check`
   * must be pure, and the same for a given `name` within one decode.
   */
  cached(name: string, check: StringCheck): StringCheck {
    let entry = this.results.get(name);
    if (entry === undefined) {
      const seen = new Map<string, string | undefined>();
      entry = {
        seen,
        check: (value) => {
          if (seen.has(value)) return seen.get(value);
          const why = check(value);
          seen.set(value, why);
          return why;
        },
      };
      this.results.set(name, entry);
    }
    return entry.check;
  }
}

/** `base.key`, or `key` at the top level. */
export function fieldPath(base: string, key: string): string {
  return base === '' ? key : `${base}.${key}`;
}

/** `value` as an object; records a problem and returns an empty one otherwise. */
export function asObject(p: WireProblems, value: unknown, path: string): WireObject {
  if (isFields(value)) return value;
  p.add(path, `must be an object, got ${formatValue(value)}`);
  return {};
}

/** `obj[key]` as a list; records a problem and returns an empty one otherwise. */
export function listField(p: WireProblems, obj: WireObject, key: string, base: string): readonly unknown[] {
  const value = obj[key];
  if (Array.isArray(value)) return value;
  p.add(fieldPath(base, key), `must be a list, got ${formatValue(value)}`);
  return [];
}

/**
 * `obj[key]` as a string that passes `check` (which returns why not, or undefined when the
 * value is good). Records a problem and returns '' otherwise.
 */
export function stringField(
  p: WireProblems,
  obj: WireObject,
  key: string,
  base: string,
  check?: (value: string) => string | undefined,
): string {
  const value = obj[key];
  if (typeof value !== 'string') {
    p.add(fieldPath(base, key), `must be a string, got ${formatValue(value)}`);
    return '';
  }
  const why = check?.(value);
  if (why !== undefined) {
    p.add(fieldPath(base, key), `${formatValue(value)} ${why}`);
    return '';
  }
  return value;
}

/** `obj[key]` as a boolean; records a problem and returns false otherwise. */
export function booleanField(p: WireProblems, obj: WireObject, key: string, base: string): boolean {
  const value = obj[key];
  if (typeof value === 'boolean') return value;
  p.add(fieldPath(base, key), `must be true or false, got ${formatValue(value)}`);
  return false;
}

/** `obj[key]` as a TCP port number 1..65535; records a problem and returns 0 otherwise. */
export function portField(p: WireProblems, obj: WireObject, key: string, base: string): number {
  const value = obj[key];
  if (isPortNumber(value)) return value;
  p.add(fieldPath(base, key), `must be a port number 1..65535, got ${formatValue(value)}`);
  return 0;
}

// Checks for stringField: each returns why a value is bad, or undefined.

/** An IPv4 or IPv6 address. */
export const ipAddress = (v: string): string | undefined => (isIpAddress(v) ? undefined : 'is not an IP address');
/**
 * An address a workload, endpoint or VIP may have: an IP address the mesh's address policy
 * accepts (never loopback, link-local, multicast, ...; see `workload-address.ts`).
 */
export const workloadAddress = (v: string): string | undefined => ipAddress(v) ?? workloadAddressProblem(v);
/** An IP address, or '' for unknown (a node address before its Node object is known). */
export const ipOrEmpty = (v: string): string | undefined => (v === '' ? undefined : ipAddress(v));
/** A DNS-1123 subdomain: object and node names. */
export const subdomain = (v: string): string | undefined => (isDnsSubdomain(v) ? undefined : 'is not a DNS-1123 subdomain');
/** A node name, or '' (an endpoint whose pod is not scheduled). */
export const subdomainOrEmpty = (v: string): string | undefined => (v === '' ? undefined : subdomain(v));
/** A DNS-1123 label: namespaces. */
export const label = (v: string): string | undefined => (isDnsLabel(v) ? undefined : 'is not a DNS-1123 label');
/** A DNS-1035 label: Service names. */
export const dns1035 = (v: string): string | undefined => (isDns1035Label(v) ? undefined : 'is not a DNS-1035 label');
/** A named port (IANA_SVC_NAME). */
export const portName = (v: string): string | undefined => (isIanaSvcName(v) ? undefined : 'is not a port name (IANA_SVC_NAME)');
/** An inbound TLS mode. */
export const tlsMode = (v: string): string | undefined => (v === 'STRICT' || v === 'PERMISSIVE' ? undefined : 'is not STRICT or PERMISSIVE');
/** Anything but the empty string. */
export const nonEmpty = (v: string): string | undefined => (v === '' ? 'must not be empty' : undefined);

/** `obj[key]` as a list of strings that pass `check` (see {@link stringField}). */
export function stringListField(
  p: WireProblems,
  obj: WireObject,
  key: string,
  base: string,
  check: (value: string) => string | undefined,
): string[] {
  return listField(p, obj, key, base).map((v, i) => {
    const why = typeof v === 'string' ? check(v) : 'must be a string';
    if (why === undefined) return v as string;
    p.add(`${fieldPath(base, key)}[${i}]`, `${formatValue(v)} ${why}`);
    return '';
  });
}

/** `obj[key]` as a non-empty list of workload addresses (see {@link workloadAddress}). */
export function addressList(p: WireProblems, obj: WireObject, key: string, base: string): string[] {
  const list = stringListField(p, obj, key, base, p.cached('workloadAddress', workloadAddress));
  if (list.length === 0 && Array.isArray(obj[key])) p.add(fieldPath(base, key), 'must hold at least one address');
  return list;
}

/** `obj[key]` as Kubernetes labels. */
export function labelsField(p: WireProblems, obj: WireObject, key: string, base: string): Record<string, string> {
  const map = asObject(p, obj[key], fieldPath(base, key));
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(map)) {
    if (!isLabelKey(k)) p.add(`${fieldPath(base, key)}[${JSON.stringify(k)}]`, 'is not a label key');
    else if (typeof v !== 'string' || !isLabelValue(v)) p.add(`${fieldPath(base, key)}.${k}`, `${formatValue(v)} is not a label value`);
    else out[k] = v;
  }
  return out;
}

/** `obj[key]` as a list of named ports. */
export function namedPortsField(p: WireProblems, obj: WireObject, key: string, base: string): NamedPort[] {
  return listField(p, obj, key, base).map((v, i) => {
    const path = `${fieldPath(base, key)}[${i}]`;
    const port = asObject(p, v, path);
    return { name: stringField(p, port, 'name', path, portName), port: portField(p, port, 'port', path) };
  });
}

/** Narrows a checked TLS mode string. */
export function asTlsMode(value: string): TlsMode {
  return value === 'STRICT' ? 'STRICT' : 'PERMISSIVE';
}
