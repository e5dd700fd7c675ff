/**
 * Route regular expressions: the cost of one full match with meshlet's engine (re2js, RE2
 * syntax, linear time; `src/mesh/routes.ts` FullMatch) next to V8's RegExp on the same pattern,
 * for typical route patterns and values; then the worst cases RE2 accepts, on a value as long
 * as the default header limit allows (8 KiB), fresh random each time so no DFA state is reused.
 *
 *   npm run build && node dist/bench/route-regex.js [--iterations 300000]
 *
 * Single-threaded and CPU-bound: run it on a quiet machine; numbers are per match.
 */
import { randomBytes } from 'node:crypto';
import { fullMatch } from '../src/mesh/routes.js';
import { regexProblem } from '../src/mesh/validate/regex.js';

const flag = process.argv.indexOf('--iterations');
const ITERATIONS = flag > 0 ? Number(process.argv[flag + 1]) : 300_000;
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
  console.log('pattern                  value  chars   V8 RegExp     re2js   ratio');
  for (const [pattern, yes, no] of TYPICAL) {
    const v8 = new RegExp(`^(?:${pattern})$`);
    const re2 = fullMatch(pattern);
    for (const [label, value] of [['hit', yes], ['miss', no]] as const) {
      if (v8.test(value) !== re2.test(value)) throw new Error(`engines disagree on ${pattern} against ${value}`);
      const a = nsPerCall((s) => v8.test(s), value);
      const b = nsPerCall((s) => re2.test(s), value);
      console.log(`${pattern.padEnd(24)} ${label.padEnd(5)} ${String(value.length).padStart(5)} ${a.toFixed(0).padStart(8)} ns ${b.toFixed(0).padStart(6)} ns ${(b / a).toFixed(1).padStart(6)}x`);
    }
  }
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
      const value = Array.from(randomBytes(VALUE_BYTES), (b) => ((b & 1) === 0 ? 'a' : 'b')).join('');
      const start = process.hrtime.bigint();
      re2.test(value);
      ms.push((Number(process.hrtime.bigint() - start) / 1e6).toFixed(1));
    }
    console.log(`${pattern.padEnd(22)} ${ms.join(' ')}`);
  }
}

typical();
worst();
