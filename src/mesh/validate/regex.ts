/**
 * Regular expressions from configuration (route matches) run against every request the agent
 * proxies, on attacker-chosen input (paths, headers). A backtracking engine such as
 * JavaScript's takes exponential time on `(a+)+$` and a power of the input's length on
 * `.*.*.*x`: a route could stall the data path. Route patterns are therefore RE2 syntax,
 * compiled and matched by re2js (a JavaScript port of RE2, the engine Envoy uses), whose
 * matching time is linear in the input's length times the compiled program's size.
 *
 * A pattern is refused when RE2 does not compile it (backreferences, lookaround, `\u`, a
 * counted repeat over 1000, nested repeats whose product is over 1000: RE2's own message says
 * which), when it is longer than {@link MAX_REGEX_CHARS}, or when its program is larger than
 * {@link MAX_REGEX_PROGRAM_SIZE} (that size multiplies the cost of every character matched).
 * Memory is bounded too: each compiled pattern's DFA cache by {@link MAX_REGEX_CACHE_BYTES}.
 */
import { RE2JS } from 're2js';

/** Longest pattern accepted: the Gateway API's own cap on a path match value. */
export const MAX_REGEX_CHARS = 1024;

/**
 * Largest RE2 program accepted, in re2js instructions (`programSize()`: about one per literal,
 * class or repeat step). Matching may cost this many steps per input character, so it bounds
 * the worst case (`bench/route-regex.ts`). A pattern within {@link MAX_REGEX_CHARS} without
 * counted repeats compiles to at most about 1.5 instructions a character, so only large counted
 * repeats reach it; route patterns in practice are a few dozen (`/api/v[0-9]+/users/.*` is 19,
 * `[a-z0-9-]{1,63}` 127). Envoy's default is 100 (`re2.max_program_size.error_level`, counted
 * by C++ RE2).
 */
export const MAX_REGEX_PROGRAM_SIZE = 2000;

/**
 * Most memory the DFA cache of one compiled pattern may hold, in re2js's own accounting (about
 * 150 bytes a state plus 8 per program instruction in it, and 8 per transition). The engine
 * builds states lazily; when the budget is spent it clears the cache and goes on, or finishes
 * the match with its NFA (same answer, nothing cached). re2js's default, as C++ RE2's, is 8 MiB
 * a pattern, and random paths or headers fill it (`[ab]*a[ab]{30}x` makes a new state for
 * nearly every character): 6 to 8 MiB kept per pattern was measured, 800 MiB for 100 patterns.
 * Typical patterns never come near 256 KiB (`.*Firefox.*` uses about 1 KiB, the DNS label
 * `[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?` about 23 KiB), so their matches stay on the DFA. Only
 * patterns with many or large states spill to the NFA: no slower than filling the cache for
 * `[ab]*a[ab]{30}x`, but `(?:.*a){660}x`, whose few large states an 8 MiB cache kept warm, now
 * pays its cold cost (hundreds of ms on 8 KiB) on every match, within the bound that
 * {@link MAX_REGEX_PROGRAM_SIZE} sets (`bench/route-regex.ts` measures both).
 */
export const MAX_REGEX_CACHE_BYTES = 256 * 1024;

/**
 * Route regular expressions one node agent holds at most, over every route of its snapshot: with
 * {@link MAX_REGEX_CACHE_BYTES} and a compiled program of at most ~0.3 MiB each, a worst case of
 * about 280 MiB (a typical pattern is 8-10 KiB compiled and fills no cache), and a snapshot's
 * compile work bounded too. Routes are charged oldest first (creation time, then
 * namespace/name, the Gateway API's precedence): a new route cannot push out an older one.
 */
export const MAX_NODE_ROUTE_REGEXES = 512;

/** What RE2 lacks that a JavaScript pattern may use, named after RE2's message. */
function hint(message: string): string {
  if (/`\\([1-9]|k)/.test(message)) return ' (RE2 has no backreferences)';
  if (/`\(\?<?[=!]/.test(message)) return ' (RE2 has no lookahead or lookbehind)';
  if (/`\\u/.test(message)) return ' (RE2 writes a code point as \\x{hhhh})';
  if (/invalid repeat count/.test(message)) return ' (RE2 allows at most 1000 repeats, nested counts multiplied)';
  return '';
}

/**
 * Why `pattern` may not be used as a route's regular expression (too long, not RE2 syntax, or
 * too large a program), or undefined when it may. `FullMatch` (`routes.ts`) compiles it for
 * matching, with its cache bounded.
 */
export function regexProblem(pattern: string): string | undefined {
  if (pattern.length > MAX_REGEX_CHARS) return `longer than ${MAX_REGEX_CHARS} characters (${pattern.length})`;
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const message = (err as Error).message;
    return `does not compile as RE2: ${message}${hint(message)}`;
  }
  const size = re.programSize();
  if (size > MAX_REGEX_PROGRAM_SIZE) {
    return `compiles to an RE2 program of ${size} instructions, more than ${MAX_REGEX_PROGRAM_SIZE} (each one adds to the cost of every character matched: use fewer or smaller counted repeats)`;
  }
  return undefined;
}
