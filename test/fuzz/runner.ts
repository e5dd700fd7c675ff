/**
 * Runs one target's properties with fast-check: the corpus first (as `examples`), then
 * generated inputs until the property's share of runs or of the time budget is used up. A
 * failing input is shrunk, written to the corpus as `crash-*` and reported with the seed and
 * path that replay it.
 */
import fc from 'fast-check';
import { corpusDir, readCorpus, writeCorpus } from './corpus.js';
import { SLOW_INPUT_MS, type FuzzProperty, type FuzzTarget } from './fuzz-property.js';

/** How one target is run. */
export interface RunOptions {
  /** Inputs for the whole target (shared by weight), the corpus replayed first among them. */
  readonly runs: number;
  /** Wall-clock budget for the whole target, shrinking included. */
  readonly budgetMs: number;
  /** fast-check seed; the same seed generates the same inputs. */
  readonly seed: number;
  /** Replay one failure: the property name and fast-check's counterexample path. */
  readonly replay?: { readonly property: string; readonly path: string } | undefined;
  /** Write failing inputs to the corpus (off in the smoke test: tests do not write the tree). */
  readonly save: boolean;
  /** Corpus root (tests may point elsewhere). */
  readonly corpusRoot?: string | undefined;
}

/** What one property did. */
export interface PropertyResult {
  readonly target: string;
  readonly property: string;
  /** Inputs checked: corpus entries plus generated ones (shrinking not counted). */
  readonly inputs: number;
  readonly corpus: number;
  readonly shrinks: number;
  readonly ms: number;
  /** True when the time budget ended the run before its count of runs. */
  readonly interrupted: boolean;
  readonly failure?: Failure | undefined;
}

/** A property that broke. */
export interface Failure {
  /** First line of what was thrown. */
  readonly error: string;
  /** The (shrunk) input, rendered for a terminal. */
  readonly input: string;
  readonly seed: number;
  readonly path: string | null;
  /** Where the input was written, when it was. */
  readonly savedTo?: string | undefined;
}

/** Called before each property starts (the watchdog reports which one hung). */
export type OnProgress = (event: { readonly target: string; readonly property: string; readonly seed: number }) => void;

/** Runs every property of `target`, one after the other, each with its share of runs and time. */
export function runTarget(target: FuzzTarget, opts: RunOptions, onProgress: OnProgress = () => undefined): PropertyResult[] {
  const started = performance.now();
  const results: PropertyResult[] = [];
  const props = opts.replay === undefined ? target.properties : target.properties.filter((p) => p.name === opts.replay?.property);
  let weightLeft = props.reduce((sum, p) => sum + p.weight, 0);
  for (const p of props) {
    // Time a fast property left unused goes to the ones after it.
    const timeLeft = Math.max(0, opts.budgetMs - (performance.now() - started));
    const share = p.weight / weightLeft;
    weightLeft -= p.weight;
    onProgress({ target: target.name, property: p.name, seed: opts.seed });
    const runs = Math.max(1, Math.round((opts.runs * p.weight) / totalWeight(target)));
    results.push(p.use((typed) => runProperty(target.name, typed, { ...opts, runs, budgetMs: Math.max(1, Math.floor(timeLeft * share)) })));
  }
  return results;
}

function totalWeight(target: FuzzTarget): number {
  return target.properties.reduce((sum, p) => sum + p.weight, 0);
}

function runProperty<T>(target: string, p: FuzzProperty<T>, opts: RunOptions): PropertyResult {
  const dir = corpusDir(target, p.name, opts.corpusRoot);
  const corpus = readCorpus(p.codec, dir).map((e) => e.value);
  const started = performance.now();
  const check = (input: T): void => {
    const t0 = performance.now();
    p.check(input);
    const ms = performance.now() - t0;
    if (ms > SLOW_INPUT_MS) throw new Error(`slow input: ${Math.round(ms)} ms (limit ${SLOW_INPUT_MS} ms)`);
  };
  const replaying = opts.replay !== undefined;
  const details = fc.check(fc.property(p.arbitrary, check), {
    seed: opts.seed,
    numRuns: replaying ? 1 : opts.runs,
    ...(replaying ? { path: opts.replay?.path } : { examples: corpus.map((v): [T] => [v]) }),
    interruptAfterTimeLimit: opts.budgetMs,
    markInterruptAsFailure: false,
  });
  const ms = performance.now() - started;
  let failure: Failure | undefined;
  if (details.failed && details.counterexample !== null) {
    const [input] = details.counterexample;
    const savedTo = opts.save && !replaying ? writeCorpus(p.codec, dir, 'crash', input) : undefined;
    failure = { error: firstLine(details.errorInstance), input: preview(input), seed: details.seed, path: details.counterexamplePath, savedTo };
  }
  return {
    target,
    property: p.name,
    // numRuns counts the examples too: they run first, as ordinary runs.
    inputs: details.numRuns,
    corpus: corpus.length,
    shrinks: details.numShrinks,
    ms,
    interrupted: details.interrupted,
    failure,
  };
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : String(err);
  return (text.split('\n')[0] ?? '').slice(0, 300);
}

/** An input shown in a report: strings and bytes as JSON, cut to a readable length. */
export function preview(input: unknown): string {
  let text: string;
  try {
    text = input instanceof Uint8Array ? `bytes ${Buffer.from(input).toString('hex')}` : fc.stringify(input);
  } catch {
    text = String(input);
  }
  return text.length > 400 ? `${text.slice(0, 400)}... (${text.length} chars)` : text;
}
