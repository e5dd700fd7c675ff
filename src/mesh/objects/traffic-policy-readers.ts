/**
 * Field readers of the TrafficPolicy resilience sections (`traffic-policy-resilience.ts`,
 * `traffic-policy-fault.ts`): bounded durations, bounded numbers and percentages, sections and
 * header conditions. They report into any {@link ProblemSink}, so the snapshot decoder checks a
 * peer's policy with the very readers that checked the file (`snapshot-wire/policies.ts`).
 */
import { parseGatewayDuration } from '../validate/formats.js';
import { checkFields, optList, optMap, reqString } from '../validate/readers.js';
import type { ProblemSink } from '../validate/problems.js';
import { type FieldPath, type Fields, formatValue, isFields } from '../validate/values.js';
import type { HeaderCondition } from '../resilience.js';

/** Milliseconds in a second, a minute, an hour and a day: the units of the bounds below. */
export const SECOND_MS = 1000;
export const MINUTE_MS = 60 * SECOND_MS;
export const HOUR_MS = 60 * MINUTE_MS;
export const DAY_MS = 24 * HOUR_MS;

/** Header conditions per fault or rate-limit rule: a rule, not a header dump. */
export const MAX_HEADER_CONDITIONS = 16;
/** Retriable status codes per list: 200 is every code of 400..599 there is. */
export const MAX_STATUS_CODES = 200;
/** Longest header value in a condition (the Gateway API's header value bound). */
export const MAX_CONDITION_VALUE = 4096;
/** Longest header name (the Gateway API's HTTPHeaderName bound). */
const MAX_HEADER_NAME = 256;
const HEADER_NAME = /^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$/;

/** How a bound reads in a message: `10ms`, `1h`, `86400000 ms` for odd values. */
function showMs(ms: number): string {
  for (const [unit, size] of [['d', DAY_MS], ['h', HOUR_MS], ['m', MINUTE_MS], ['s', SECOND_MS]] as const) {
    if (ms >= size && ms % size === 0) return unit === 'd' ? `${(ms / size) * 24}h` : `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/**
 * A Gateway API duration (`250ms`, `10s`, `1h2m`) in milliseconds, in `min..max`; reported
 * naming the field and the bound when it is not one or is out of range.
 */
export function optDuration(r: ProblemSink, map: Fields, key: string, path: FieldPath, min: number, max: number): number | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  const ms = typeof value === 'string' ? parseGatewayDuration(value) : undefined;
  if (ms === undefined) {
    r.report([...path, key], `must be a duration such as "250ms", "10s" or "1h2m", got ${formatValue(value)}`);
    return undefined;
  }
  if (ms < min || ms > max) {
    r.report([...path, key], `must be from ${showMs(min)} to ${showMs(max)}, got ${formatValue(value)}`);
    return undefined;
  }
  return ms;
}

/** A finite number in `min..max` (decimals allowed); `exclusive` leaves both ends out. */
export function optNumber(r: ProblemSink, map: Fields, key: string, path: FieldPath, min: number, max: number, exclusive = false): number | undefined {
  const value = map[key];
  if (value === undefined || value === null) return undefined;
  const inRange = typeof value === 'number' && Number.isFinite(value) && (exclusive ? value > min && value < max : value >= min && value <= max);
  if (inRange) return value;
  r.report([...path, key], `must be a number ${exclusive ? `strictly between ${min} and ${max}` : `from ${min} to ${max}`}, got ${formatValue(value)}`);
  return undefined;
}

/** A percentage: a number in [0, 100], decimals allowed. */
export function optPercent(r: ProblemSink, map: Fields, key: string, path: FieldPath): number | undefined {
  return optNumber(r, map, key, path, 0, 100);
}

/**
 * A section mapping: undefined when absent; `{}` when written empty (`retry: {}`, or `retry:`
 * with nothing, which YAML reads as null, is absent); its unknown fields reported.
 */
export function optSection(r: ProblemSink, map: Fields, key: string, path: FieldPath, fields: readonly string[]): Fields | undefined {
  const section = optMap(r, map, key, path);
  if (section !== undefined) checkFields(r, section, [...path, key], fields, true);
  return section;
}

/** The list at `key`, reporting past `max` entries; only the first `max` are read (bounded work). */
export function boundedList(r: ProblemSink, map: Fields, key: string, path: FieldPath, max: number): readonly unknown[] {
  const list = optList(r, map, key, path);
  if (list.length <= max) return list;
  r.report([...path, key], `at most ${max} entries, got ${list.length}`);
  return list.slice(0, max);
}

/**
 * Header conditions `[{name, value}]`: names lower-cased and unique, `value` an exact match or
 * absent for "present"; no CR, LF or NUL in a value.
 */
export function readHeaderConditions(r: ProblemSink, map: Fields, key: string, path: FieldPath): HeaderCondition[] {
  const out: HeaderCondition[] = [];
  boundedList(r, map, key, path, MAX_HEADER_CONDITIONS).forEach((h, i) => {
    const at = [...path, key, i];
    if (!isFields(h)) {
      r.report(at, `must be a mapping {name, value}, got ${formatValue(h)}`);
      return;
    }
    checkFields(r, h, at, ['name', 'value'], true);
    const raw = reqString(r, h, 'name', at);
    const name = raw !== undefined && raw.length <= MAX_HEADER_NAME && HEADER_NAME.test(raw) ? raw.toLowerCase() : undefined;
    if (raw !== undefined && name === undefined) r.report([...at, 'name'], `must be an HTTP header name (1 to ${MAX_HEADER_NAME} token characters), got ${formatValue(raw)}`);
    const value = h['value'];
    let ok = value === undefined || value === null;
    if (typeof value !== 'string' && !ok) r.report([...at, 'value'], `must be a string (quote it), got ${formatValue(value)}`);
    else if (typeof value === 'string' && value.length > MAX_CONDITION_VALUE) r.report([...at, 'value'], `at most ${MAX_CONDITION_VALUE} characters, got ${value.length}`);
    else if (typeof value === 'string' && /[\r\n\0]/.test(value)) r.report([...at, 'value'], 'must not contain CR, LF or NUL');
    else ok = true;
    if (name === undefined || !ok) return;
    if (out.some((c) => c.name === name)) r.report([...at, 'name'], `duplicate header ${formatValue(name)} (names are case-insensitive)`);
    else out.push(typeof value === 'string' ? { name, value } : { name });
  });
  return out;
}

/** Retriable statuses: unique integers in 400..599 (a 1xx-3xx is not a failure to retry). */
export function readStatusCodes(r: ProblemSink, m: Fields, at: FieldPath, key = 'httpStatusCodes'): number[] {
  const codes: number[] = [];
  boundedList(r, m, key, at, MAX_STATUS_CODES).forEach((v, i) => {
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 400 || v > 599) r.report([...at, key, i], `must be an HTTP status 400..599, got ${formatValue(v)}`);
    else if (codes.includes(v)) r.report([...at, key, i], `duplicate status ${v}`);
    else codes.push(v);
  });
  return codes;
}
