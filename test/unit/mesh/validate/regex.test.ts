/**
 * Route regular expressions are RE2 syntax: common patterns pass, and so do patterns a
 * backtracking engine would take exponential or polynomial time on (RE2 is linear); what RE2
 * does not compile (backreferences, lookaround, JavaScript-only escapes, repeat counts over
 * 1000), what compiles to too large a program and what is too long is refused, each with its
 * reason. Also Gateway API durations.
 */
import t from 'tap';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { MAX_NODE_ROUTE_REGEXES, MAX_REGEX_CACHE_BYTES, MAX_REGEX_CHARS, MAX_REGEX_PROGRAM_SIZE, regexProblem } from '../../../../src/mesh/validate/regex.js';
import { FullMatch, fullMatch } from '../../../../src/mesh/routes.js';
import { parseGatewayDuration } from '../../../../src/mesh/validate/formats.js';
import { formatGatewayDuration } from '../../../../src/mesh/objects/route-spec.js';

t.test('common route patterns are accepted', async (t) => {
  const good = ['.*Firefox.*', '/api/v[0-9]+/.*', 'bob|alice', '[a-z]+', '(foo|bar)/[0-9]{1,3}', '\\d+', '/users/[^/]+', '(a|b)?c', '(ab){2}', '[(+)]+', '\\(a+\\)+', 'helloworld\\..*', '[a|b]+', '(x|y){1}', '[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?'];
  t.same(good.map((p) => [p, regexProblem(p)]), good.map((p) => [p, undefined]));
});

t.test('patterns that backtrack exponentially or polynomially are accepted: RE2 matches them in linear time', async (t) => {
  const linear = ['(a+)+$', '(a*)*', '(x+y)+', '(a|aa)+$', '((bob|alice)x)*', '(foo|bar)+', '(a+){2,5}', '.*.*.*.*.*.*x', 'a*a*a*a*a*b', '(.*){1,32}x', '(?:.*a){30}x'];
  t.same(linear.map((p) => [p, regexProblem(p)]), linear.map((p) => [p, undefined]));
});

t.test('what RE2 does not compile, what is too large and what is too long is refused, each with its reason', async (t) => {
  const cases: [string, RegExp][] = [
    ['(x)\\1', /^does not compile as RE2: error parsing regexp: invalid escape sequence: `\\1` \(RE2 has no backreferences\)$/],
    ['(?<n>x)\\k<n>', /^does not compile as RE2: .*`\\k` \(RE2 has no backreferences\)$/],
    ['a(?=b)', /^does not compile as RE2: error parsing regexp: invalid or unsupported Perl syntax: `\(\?=` \(RE2 has no lookahead or lookbehind\)$/],
    ['(?=a)', /^does not compile as RE2: .*\(RE2 has no lookahead or lookbehind\)$/],
    ['a(?!b)', /\(RE2 has no lookahead or lookbehind\)$/],
    ['(?<!a)b', /\(RE2 has no lookahead or lookbehind\)$/],
    ['(?<=a)b', /\(RE2 has no lookahead or lookbehind\)$/],
    ['\\u0041', /^does not compile as RE2: .*`\\u` \(RE2 writes a code point as \\x\{hhhh\}\)$/],
    ['\\cA', /^does not compile as RE2: error parsing regexp: invalid escape sequence: `\\c`$/],
    ['a++', /^does not compile as RE2: error parsing regexp: invalid nested repetition operator: `\+\+`$/],
    ['a{1000}{1000}', /^does not compile as RE2: error parsing regexp: invalid nested repetition operator: `\{1000\}\{1000\}`$/],
    ['(a{1000}){1000}', /^does not compile as RE2: error parsing regexp: invalid repeat count: `\{1000\}` \(RE2 allows at most 1000 repeats, nested counts multiplied\)$/],
    ['a{1001}', /invalid repeat count: `\{1001\}`/],
    ['a(', /^does not compile as RE2: error parsing regexp: missing closing \): `a\(`$/],
    ['a{999}b{1000}', /^compiles to an RE2 program of 2001 instructions, more than 2000 \(each one adds to the cost of every character matched/],
    ['x{0,1000}', /^compiles to an RE2 program of 2002 instructions, more than 2000 /],
    ['(?:a|b|ab|ba){100}.{0,1000}', /^compiles to an RE2 program of \d+ instructions/],
    ['a'.repeat(MAX_REGEX_CHARS + 1), /^longer than 1024 characters \(1025\)$/],
  ];
  for (const [pattern, want] of cases) t.match(regexProblem(pattern), want, pattern.slice(0, 30));
  t.equal(regexProblem('a'.repeat(MAX_REGEX_CHARS)), undefined, 'exactly the length limit is fine');
  t.equal(MAX_REGEX_PROGRAM_SIZE, 2000);
  t.equal(regexProblem('a{998}b{1000}'), undefined, 'exactly the program size limit is fine (2000 instructions)');
  const noCounts = ['()'.repeat(512), 'a*'.repeat(512), '(|a)'.repeat(256), '(a*)*'.repeat(204)];
  t.same(noCounts.map((p) => [p.slice(0, 10), regexProblem(p)]), noCounts.map((p) => [p.slice(0, 10), undefined]), 'within the length limit, only counted repeats reach the size limit');
});

t.test('compiling a refused pattern throws, naming it and why', async (t) => {
  t.throws(() => FullMatch.compile('(x)\\1'), { name: 'SyntaxError', message: /^regular expression "\(x\)\\\\1" refused: does not compile as RE2: .*backreferences/ });
  t.throws(() => fullMatch('a{999}b{1000}'), { name: 'SyntaxError', message: /refused: compiles to an RE2 program of 2001 instructions/ });
});

t.test('RE2 syntax and meaning where JavaScript differs (docs/l7.md lists these)', async (t) => {
  const cases: [string, string, boolean][] = [
    ['\\x{41}', 'A', true], // JavaScript: \u0041 (refused above)
    ['\\pL+', 'héllo', true], // Unicode classes without a flag
    ['[[:alpha:]]+', 'abc', true], // POSIX classes
    ['(?i)firefox', 'FireFox', true], // inline flags
    ['\\Qa.b\\E', 'a.b', true], // quoted literal
    ['\\Qa.b\\E', 'axb', false],
    ['(?P<v>[0-9]+)', '42', true], // Python-style named group
    ['a.b', 'a\rb', true], // . matches \r, \u2028 and \u2029 (JavaScript's does not); not \n
    ['a.b', 'a\u2028b', true],
    ['a.b', 'a\nb', false],
    ['(?s)a.b', 'a\nb', true],
    ['\\w+', 'héllo', false], // \w, \d, \s and \b are ASCII-only
    ['\\s', '\u00a0', false],
    ['.', '\u{1F600}', true], // one code point, not one UTF-16 unit
    ['..', '\u{1F600}', false],
    ['a|ab', 'ab', true], // a full match whichever alternative comes first
    ['', '', true],
    ['', 'a', false],
  ];
  // Test names in TAP must stay on one line: non-ASCII (U+2028 ends a line) shown as \u{...}.
  const show = (v: string): string => v.replace(/[^\x20-\x7e]/gu, (c) => `\\u{${(c.codePointAt(0) as number).toString(16)}}`);
  for (const [pattern, value, want] of cases) {
    t.equal(regexProblem(pattern), undefined, `${pattern} compiles`);
    t.equal(fullMatch(pattern).test(value), want, `${pattern} against "${show(value)}"`);
  }
});

t.test('docs/l7.md states the syntax, the limits, the memory bounds and the JavaScript differences', async (t) => {
  const docs = readFileSync(fileURLToPath(new URL('../../../../../docs/l7.md', import.meta.url)), 'utf8').replace(/\s+/g, ' ');
  const said = ['RE2 syntax', 'linear in the value\'s length', 'backreferences', 'lookahead and lookbehind', '`\\uhhhh`: write `\\x{hhhh}`', 'longer than 1,024 characters', 'more than 2,000 instructions', '`.` matches any character but `\\n`', 'ASCII only', 'holds at most 256 KiB (`MAX_REGEX_CACHE_BYTES`)', 'patterns of all routes together are capped at 512 (`MAX_NODE_ROUTE_REGEXES`'];
  t.equal(MAX_NODE_ROUTE_REGEXES, 512);
  t.same(said.filter((s) => !docs.includes(s)), [], 'every statement is in the docs');
  t.equal(MAX_REGEX_CHARS, 1024);
  t.equal(MAX_REGEX_CACHE_BYTES, 256 * 1024);
});

t.test('attack: polynomial and exponential patterns against 16 KiB of "a" finish, and answer right', async (t) => {
  const a = 'a'.repeat(16 * 1024);
  // Each pattern with a value it matches. With JavaScript's backtracking engine the values
  // ending in "!" take minutes (n^6 steps for the first) to far longer (2^n for "(a+)+");
  // here each is one pass over the value, and tap's timeout would end a hang.
  const cases: [string, string][] = [
    ['.*.*.*.*.*.*x', `${a}x`],
    ['a*a*a*a*a*b', `${a}b`],
    ['(.*){1,32}x', `${a}x`],
    ['(a+)+', a],
    ['(a|aa)+', a],
    ['(?:.*a){30}x', `${a}x`],
    ['(?:a?){300}a{300}', 'a'.repeat(450)],
  ];
  t.same(cases.map(([p]) => [p, regexProblem(p)]), cases.map(([p]) => [p, undefined]), 'all accepted');
  t.same(cases.map(([p]) => [p, fullMatch(p).test(`${a}!`)]), cases.map(([p]) => [p, false]), 'no match');
  t.same(cases.map(([p, yes]) => [p, fullMatch(p).test(yes)]), cases.map(([p]) => [p, true]), 'a match');
});

t.test('Gateway API durations, both ways', async (t) => {
  t.same(['10s', '500ms', '1h2m', '1h2m3s4ms', '0s', '99999ms'].map(parseGatewayDuration), [10_000, 500, 3_720_000, 3_723_004, 0, 99_999]);
  t.same(['', '10', '1.5s', '100000ms', '1d', '1h2m3s4ms5ms', ' 1s'].map(parseGatewayDuration), [undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  for (const ms of [0, 1, 999, 1000, 99_999, 100_000, 3_723_004, 360_000_000]) t.equal(parseGatewayDuration(formatGatewayDuration(ms)), ms, `${ms} ms round trip`);
});
