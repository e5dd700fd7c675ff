/**
 * Route regular expressions: the cost of one full match with meshlet's engine (re2js, RE2
 * syntax, linear time; `src/mesh/routes.ts` FullMatch) next to V8's RegExp on the same pattern,
 * for typical route patterns and values, and next to re2js's own `RE2JS.testExact` (what
 * FullMatch ran before its DFA cache was bounded: 8 MiB a pattern); then the worst cases RE2
 * accepts, on a value as long as the default header limit allows (8 KiB), fresh random each
 * time so no DFA state is reused; then the heap each of those patterns keeps after such values,
 * with the bounded cache (`MAX_REGEX_CACHE_BYTES`) and with re2js's default.
 *
 *   npm run build && node --expose-gc dist/bench/route-regex.js [--iterations 300000] [--attack-values 5]
 *
 * Single-threaded and CPU-bound: run it on a quiet machine; numbers are per match.
 */
import { randomBytes } from 'node:crypto';
import { RE2JS } from 're2js';
import { fullMatch } from '../src/mesh/routes.js';
import { MAX_REGEX_CACHE_BYTES, regexProblem } from '../src/mesh/validate/regex.js';

function numberFlag(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at > 0 ? Number(process.argv[at + 1]) : fallback;
}
const ITERATIONS = numberFlag('--iterations', 300_000);
/** Random 8 KiB values matched before the heap is read: a few fill an 8 MiB cache (each clears and refills it). */
const ATTACK_VALUES = numberFlag('--attack-values', 5);
/** Warm-up calls before timing, so both engines run optimized code and a warm DFA. */
const WARMUP = 20_000;
/** The default `maxHeaderBytes`: no path or header value the agent matches is longer. */
const VALUE_BYTES = 8 * 1024;

/** Typical route patterns with a value that matches and one that does not. */
const TYPICAL: readonly [string, string, string][] = [
  ['/api/v[0-9]+/users/.*', '/api/v2/users/12345/profile/x', '/api/v2/groups/12345/profile/xx'],
  ['.*Firefox.*', 'Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Gecko/20100101 Firefox/120.0', 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 Chrome/120.0 Safari/537.36'],
  ['bob|alice', 'alice', 'carol'],
  ['test-.*', 'test-canary', 'prod-canary'],
  ['helloworld\\..*', 'helloworld.Greeter', 'other.Greeter'],
];

/** Patterns RE2 accepts that cost the most per character (DFA blow-up, many NFA threads). */
const WORST: readonly string[] = [
  '[ab]*a[ab]{30}x',
  '[ab]*a[ab]{300}x',
  '[ab]*a[ab]{999}[ab]{990}x',
  '(?:.*a){660}x',
  '(?:.*[ab]){660}x',
  '.{0,990}x',
  '.*.*.*.*.*.*x',
];

function nsPerCall(test: (s: string) => boolean, value: string): number {
  for (let i = 0; i < WARMUP; i++) test(value);
  const start = process.hrtime.bigint();
  for (let i = 0; i < ITERATIONS; i++) test(value);
  return Number(process.hrtime.bigint() - start) / ITERATIONS;
}

function typical(): void {
  console.log('pattern                  value  chars   V8 RegExp  FullMatch   ratio  RE2JS (8 MiB cache)');
  for (const [pattern, yes, no] of TYPICAL) {
    const v8 = new RegExp(`^(?:${pattern})$`);
    const re2 = fullMatch(pattern);
    const unbounded = RE2JS.compile(pattern);
    for (const [label, value] of [['hit', yes], ['miss', no]] as const) {
      if (v8.test(value) !== re2.test(value) || re2.test(value) !== unbounded.testExact(value)) throw new Error(`engines disagree on ${pattern} against ${value}`);
      const a = nsPerCall((s) => v8.test(s), value);
      const b = nsPerCall((s) => re2.test(s), value);
      const c = nsPerCall((s) => unbounded.testExact(s), value);
      console.log(`${pattern.padEnd(24)} ${label.padEnd(5)} ${String(value.length).padStart(5)} ${a.toFixed(0).padStart(8)} ns ${b.toFixed(0).padStart(7)} ns ${(b / a).toFixed(1).padStart(6)}x ${c.toFixed(0).padStart(8)} ns`);
    }
  }
}

function randomValue(): string {
  return Array.from(randomBytes(VALUE_BYTES), (b) => ((b & 1) === 0 ? 'a' : 'b')).join('');
}

function worst(): void {
  console.log(`\nworst cases on ${VALUE_BYTES}-character random [ab] values (re2js only; ms per match, 5 runs)`);
  for (const pattern of WORST) {
    const why = regexProblem(pattern);
    if (why !== undefined) {
      console.log(`${pattern.padEnd(22)} refused: ${why}`);
      continue;
    }
    const re2 = fullMatch(pattern);
    const ms: string[] = [];
    for (let i = 0; i < 5; i++) {
      const value = randomValue();
      const start = process.hrtime.bigint();
      re2.test(value);
      ms.push((Number(process.hrtime.bigint() - start) / 1e6).toFixed(1));
    }
    console.log(`${pattern.padEnd(22)} ${ms.join(' ')}`);
  }
}

/** Heap used after a full collection (twice: weak references and finalizers settle). */
function heapAfterGc(gc: () => void): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/** Copies of each pattern measured together: V8's own allocations (optimized code, feedback) are noise of about 200 KiB, divided among them. */
const COPIES = 4;

/**
 * The most heap one compiled pattern keeps, read after each of ATTACK_VALUES random values. A
 * throwaway copy matches one value first, so the engine's code is compiled (V8 keeps optimized
 * code on the heap too) before the baseline.
 */
function keptKiB(gc: () => void, compile: () => (s: string) => boolean): number {
  const values = Array.from({ length: ATTACK_VALUES }, randomValue);
  compile()(randomValue());
  const tests = Array.from({ length: COPIES }, compile);
  const before = heapAfterGc(gc);
  let most = 0;
  for (const value of values) {
    for (const test of tests) test(value);
    most = Math.max(most, heapAfterGc(gc) - before);
  }
  return most / tests.length / 1024;
}

function memory(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) {
    console.log('\nheap kept per pattern: not measured, run with node --expose-gc');
    return;
  }
  console.log(`\nheap kept per pattern after ${ATTACK_VALUES} random ${VALUE_BYTES}-character values (most, read after each; KiB, mean of ${COPIES} copies)`);
  console.log(`pattern                    FullMatch (${MAX_REGEX_CACHE_BYTES / 1024} KiB cache)  RE2JS (8 MiB cache)`);
  for (const pattern of WORST) {
    if (regexProblem(pattern) !== undefined) continue;
    const a = keptKiB(gc, () => {
      const bounded = fullMatch(pattern);
      return (s) => bounded.test(s);
    });
    const b = keptKiB(gc, () => {
      const unbounded = RE2JS.compile(pattern);
      return (s) => unbounded.testExact(s);
    });
    console.log(`${pattern.padEnd(26)} ${a.toFixed(0).padStart(8)} ${b.toFixed(0).padStart(24)}`);
  }
}

typical();
worst();
memory();
