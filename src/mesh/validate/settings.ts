/**
 * Readers for settings: command-line flags as the CLI parser gave them (strings, booleans,
 * numbers), falling back to environment variables. Each reads one setting, reports a bad one
 * with its value into {@link Problems} (`--bind="nope": must be an IP address`) and returns a
 * usable value, so a config loader lists every bad setting at once.
 */
import type { Problems } from './problems.js';
import { unknownNameMessage } from './values.js';

/** Raw inputs: flags as the CLI parsed them. */
export type RawSettings = Readonly<Record<string, unknown>>;

/** The environment variables, passed in: loaders never read the real environment. */
export type Environment = Readonly<Record<string, string | undefined>>;

/**
 * A lookup for setting `key`: the flag when given, else the environment variable `envNames[key]`
 * names, else undefined.
 */
export function settingLookup(flags: RawSettings, env: Environment, envNames: Readonly<Record<string, string>>): (key: string) => unknown {
  return (key) => {
    const variable = envNames[key];
    return flags[key] ?? (variable === undefined ? undefined : env[variable]);
  };
}

/** Reports every flag that is not in `known`, with a did-you-mean when a known one is close. */
export function checkSettingNames(p: Problems, flags: RawSettings, known: readonly string[]): void {
  for (const key of Object.keys(flags)) {
    if (!known.includes(key)) p.setting(key, flags[key], unknownNameMessage(key, known, 'option'));
  }
}

/** True for an unset setting: absent, or the empty string (an empty environment variable). */
function unset(value: unknown): boolean {
  return value === undefined || value === '';
}

/**
 * A string setting. Unset: `fallback`, or `required` when there is none. A value of another
 * type is reported and used as text.
 */
export function stringSetting(p: Problems, name: string, value: unknown, fallback?: string): string {
  if (unset(value)) {
    if (fallback === undefined) p.setting(name, value ?? '', 'required');
    return fallback ?? '';
  }
  if (typeof value !== 'string') p.setting(name, value, 'must be a string');
  return String(value);
}

/** An optional string setting: undefined when unset. */
export function optStringSetting(p: Problems, name: string, value: unknown): string | undefined {
  return unset(value) ? undefined : stringSetting(p, name, value);
}

/** A whole number given as a number or as decimal digits; NaN otherwise. */
function wholeNumber(value: unknown): number {
  if (typeof value === 'number') return value;
  return typeof value === 'string' && /^\d+$/.test(value.trim()) ? Number(value) : Number.NaN;
}

/**
 * A TCP port setting 0..65535 (0: the kernel picks a free port). Unset: `fallback`. `note` is
 * added to the message (`(0: any free port)`).
 */
export function portSetting(p: Problems, name: string, value: unknown, fallback: number, note = ''): number {
  if (unset(value)) return fallback;
  const n = wholeNumber(value);
  if (!Number.isInteger(n) || n < 0 || n > 65535) {
    p.setting(name, value, `must be a port number 0..65535${note === '' ? '' : ` ${note}`}`);
    return fallback;
  }
  return n;
}

/** Bounds of a number setting and the sentence that says them. */
export interface NumberRange {
  readonly min: number;
  readonly max?: number;
  /** Only whole numbers. */
  readonly integer?: boolean;
  /** The problem, worded for the reader: `must be a number of seconds >= 60`. */
  readonly why: string;
}

/** A decimal number as text: no exponent, hex or blank (which `Number()` would take). */
const DECIMAL = /^-?\d+(\.\d+)?$/;

/**
 * A number setting within `range`, given as a number or decimal text. Absent: `fallback`; an
 * empty string is reported (it is not a number, and silently meaning 0 or the default would
 * hide a broken environment variable).
 */
export function numberSetting(p: Problems, name: string, value: unknown, fallback: number, range: NumberRange): number {
  if (value === undefined) return fallback;
  const n = typeof value === 'number' ? value : typeof value === 'string' && DECIMAL.test(value.trim()) ? Number(value) : Number.NaN;
  const ok = Number.isFinite(n) && n >= range.min && n <= (range.max ?? Infinity) && (range.integer !== true || Number.isInteger(n));
  if (!ok) {
    p.setting(name, value, range.why);
    return fallback;
  }
  return n;
}

/** One of a few words. Unset: `fallback`. */
export function oneOfSetting<T extends string>(p: Problems, name: string, value: unknown, values: readonly T[], fallback: T): T {
  if (unset(value)) return fallback;
  if ((values as readonly unknown[]).includes(value)) return value as T;
  const list = values.length === 2 ? `${values[0]} or ${values[1]}` : `one of ${values.join(', ')}`;
  p.setting(name, value, `must be ${list}`);
  return fallback;
}

/** A switch: true only for `true`; unset: `fallback`. */
export function booleanSetting(value: unknown, fallback: boolean): boolean {
  return value === undefined ? fallback : value === true;
}

/** A setting that may repeat (`--server-name a --server-name b`): always a list of strings. */
export function listSetting(value: unknown): string[] {
  if (value === undefined) return [];
  return (Array.isArray(value) ? value : [value]).map(String);
}

/** Freezes a loaded configuration and everything in it: nothing may change it after validation. */
export function deepFreeze<T>(o: T): T {
  if (o !== null && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}
