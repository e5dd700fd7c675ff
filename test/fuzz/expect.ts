/**
 * Assertions for fuzz properties. Each throws a plain Error naming what broke; the runner
 * reports its first line with the input.
 */
import { isDeepStrictEqual } from 'node:util';
import { isMeshletError, type MeshletErrorCode } from '../../src/mesh/errors.js';

/** Thrown when a property does not hold. */
export class PropertyBroken extends Error {
  override readonly name = 'PropertyBroken';
}

/** Fails the property with `message` unless `condition`. */
export function holds(condition: boolean, message: string): asserts condition {
  if (!condition) throw new PropertyBroken(message);
}

/** Fails unless `actual` and `expected` are deeply equal (strict). */
export function same(actual: unknown, expected: unknown, what: string): void {
  if (!isDeepStrictEqual(actual, expected)) {
    throw new PropertyBroken(`${what}: got ${JSON.stringify(actual)?.slice(0, 300)}, want ${JSON.stringify(expected)?.slice(0, 300)}`);
  }
}

/**
 * Runs `fn`; returns its value, or undefined when it threw a MeshletError with one of `codes`.
 * Anything else thrown (a TypeError, a library's own error, a MeshletError of another code)
 * breaks the property: the layer promised its typed error and nothing else.
 */
export function onlyMeshletError<T>(fn: () => T, codes: readonly MeshletErrorCode[]): T | undefined {
  try {
    return fn();
  } catch (err) {
    if (isMeshletError(err) && codes.includes(err.code)) {
      holds(typeof err.message === 'string' && err.message !== '', `${err.code} with an empty message`);
      return undefined;
    }
    const what = isMeshletError(err) ? `MeshletError ${err.code}` : err instanceof Error ? `${err.constructor.name}` : typeof err;
    throw new PropertyBroken(`threw ${what} (want ${codes.join(' or ')}): ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err });
  }
}

/** Runs `fn`, which must not throw at all. */
export function noThrow<T>(fn: () => T, what: string): T {
  try {
    return fn();
  } catch (err) {
    const kind = err instanceof Error ? err.constructor.name : typeof err;
    throw new PropertyBroken(`${what} threw ${kind}: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`, { cause: err });
  }
}
