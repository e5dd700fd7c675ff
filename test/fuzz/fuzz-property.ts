/**
 * One fuzzed property: an arbitrary (fast-check) of inputs, a check that throws when an input
 * breaks the property, and how its inputs are kept in the corpus. A target (one parser or
 * decoder) is a list of these.
 */
import type { Arbitrary } from 'fast-check';
import type { CorpusCodec } from './corpus.js';

/** One property of a target. */
export interface FuzzProperty<T> {
  /** Folder name under the target's corpus folder: kebab-case. */
  readonly name: string;
  /** Share of the target's runs and time (default 1). */
  readonly weight?: number;
  readonly arbitrary: Arbitrary<T>;
  /**
   * Throws (an AssertionError or anything else) when `input` breaks the property. Must be
   * synchronous: a hang is caught by the campaign's watchdog, slowness by {@link SLOW_INPUT_MS}.
   */
  readonly check: (input: T) => void;
  /** How an input is written to and read from the corpus. */
  readonly codec: CorpusCodec<T>;
  /** Valid inputs to start from (fixtures), written to the corpus by `--write-seeds`. */
  readonly seeds?: () => readonly T[];
}

/** A fuzz target: a name (its corpus folder) and its properties. */
export interface FuzzTarget {
  readonly name: string;
  /** What is fuzzed, one line (printed in the summary). */
  readonly description: string;
  /** Properties of different input types, each erased by {@link property}. */
  readonly properties: readonly ErasedProperty[];
}

/**
 * One input taking longer than this fails the property as "slow": a parser that is
 * superlinear on some input is a denial of service. Generous, because the campaign shares the
 * machine's cores with other work; well-behaved inputs take well under 10 ms.
 */
export const SLOW_INPUT_MS = 2_000;

/**
 * A property whose input type is hidden: what the runner needs, with the typed parts closed
 * over, so one target can hold properties of strings, bytes and objects.
 */
export interface ErasedProperty {
  readonly name: string;
  readonly weight: number;
  /** Runs the property with fast-check; see `runner.ts`. */
  readonly use: <R>(fn: <T>(p: FuzzProperty<T>) => R) => R;
}

/** Builds a property, keeping the input type checked between arbitrary, check and codec. */
export function property<T>(p: FuzzProperty<T>): ErasedProperty {
  return { name: p.name, weight: p.weight ?? 1, use: (fn) => fn(p) };
}
