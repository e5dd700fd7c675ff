/**
 * Format predicates shared by every parser: Kubernetes names (after the Kubernetes API
 * validation rules), port numbers and IP addresses. Pure, no messages: readers and callers
 * word the problem.
 */
import { isIP } from 'node:net';

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

/** Description of a DNS-1123 subdomain for messages. */
export const SUBDOMAIN_TEXT = 'a DNS-1123 subdomain (lowercase letters, digits, "-" and ".")';
/** Description of a DNS-1123 label for messages. */
export const LABEL_TEXT = 'a DNS-1123 label (at most 63 lowercase letters, digits and "-")';

/** True for an integer in 1..65535. */
export function isPortNumber(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535;
}

/** True for a non-negative safe integer (an id, a count). */
export function isCount(value: unknown): value is number {
  return Number.isSafeInteger(value) && (value as number) >= 0;
}

/** True for a string of at most `max` UTF-16 units (a bound on what an untrusted peer may send). */
export function isBoundedString(value: unknown, max: number): value is string {
  return typeof value === 'string' && value.length <= max;
}

/** True for an IPv4 or IPv6 address in text form. */
export function isIpAddress(value: string): boolean {
  return isIP(value) !== 0;
}

/** A Gateway API Duration: 1 to 4 groups of up to 5 digits and a unit (`10s`, `500ms`, `1h2m`). */
const GATEWAY_DURATION = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/;
const DURATION_UNIT_MS: Readonly<Record<string, number>> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };

/** A Gateway API Duration in milliseconds (`1h2m` is 3,720,000), or undefined when malformed. */
export function parseGatewayDuration(value: string): number | undefined {
  if (!GATEWAY_DURATION.test(value)) return undefined;
  let ms = 0;
  for (const m of value.matchAll(/([0-9]+)(ms|h|m|s)/g)) ms += Number(m[1]) * (DURATION_UNIT_MS[m[2] as string] as number);
  return ms;
}
