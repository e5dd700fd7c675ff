/**
 * Route regular expressions: common patterns pass; what can backtrack exponentially, what RE2
 * refuses (backreferences, lookaround), what does not compile and what is too long is refused.
 * Also Gateway API durations.
 */
import t from 'tap';
import { MAX_REGEX_CHARS, regexProblem } from '../../../../src/mesh/validate/regex.js';
import { parseGatewayDuration } from '../../../../src/mesh/validate/formats.js';
import { formatGatewayDuration } from '../../../../src/mesh/objects/route-spec.js';

t.test('common route patterns are accepted', async (t) => {
  const good = ['.*Firefox.*', '/api/v[0-9]+/.*', 'bob|alice', '[a-z]+', '(foo|bar)/[0-9]{1,3}', '\\d+', '/users/[^/]+', '(a|b)?c', '(ab){2}', '[(+)]+', '\\(a+\\)+', 'helloworld\\..*', '[a|b]+', '(x|y){1}'];
  t.same(good.map((p) => [p, regexProblem(p)]), good.map((p) => [p, undefined]));
});

t.test('dangerous or unsupported patterns are refused, each with its reason', async (t) => {
  const cases: [string, RegExp][] = [
    ['(a+)+$', /^nested quantifiers/],
    ['(a*)*', /^nested quantifiers/],
    ['(x+y)+', /^nested quantifiers/],
    ['((a+))+', /^nested quantifiers/],
    ['(?:a|aa)+(b+)*', /^nested quantifiers/],
    ['(a{1,})+', /^nested quantifiers/],
    ['(a|aa)+$', /^nested quantifiers or alternation in a repeated group/],
    ['((bob|alice)x)*', /^nested quantifiers or alternation/],
    ['(a+){2,5}', /^nested quantifiers/],
    ['(x)\\1', /^backreferences are not allowed$/],
    ['(?<n>x)\\k<n>', /^backreferences are not allowed$/],
    ['a(?=b)', /^lookahead and lookbehind are not allowed$/],
    ['(?<!a)b', /^lookahead and lookbehind are not allowed$/],
    ['a(', /^does not compile: /],
    ['a'.repeat(MAX_REGEX_CHARS + 1), /^longer than 1024 characters \(1025\)$/],
  ];
  for (const [pattern, want] of cases) t.match(regexProblem(pattern), want, pattern.slice(0, 30));
  t.equal(regexProblem('a'.repeat(MAX_REGEX_CHARS)), undefined, 'exactly the limit is fine');
});

t.test('Gateway API durations, both ways', async (t) => {
  t.same(['10s', '500ms', '1h2m', '1h2m3s4ms', '0s', '99999ms'].map(parseGatewayDuration), [10_000, 500, 3_720_000, 3_723_004, 0, 99_999]);
  t.same(['', '10', '1.5s', '100000ms', '1d', '1h2m3s4ms5ms', ' 1s'].map(parseGatewayDuration), [undefined, undefined, undefined, undefined, undefined, undefined, undefined]);
  for (const ms of [0, 1, 999, 1000, 99_999, 100_000, 3_723_004, 360_000_000]) t.equal(parseGatewayDuration(formatGatewayDuration(ms)), ms, `${ms} ms round trip`);
});
