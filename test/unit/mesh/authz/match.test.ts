/**
 * The compiled value matchers: Istio's wildcards, path templates (Envoy's uri_template), the
 * path, host and namespace a rule compares.
 */
import t from 'tap';
import { hostWithoutPort, matchedPath, namespaceOf, PathMatcher, PathTemplate, principalOf, StringMatcher } from '../../../../src/mesh/authz/match.js';

t.test('StringMatcher: exact, prefix*, *suffix and * (non-empty)', async (t) => {
  const m = new StringMatcher(['exact', 'pre*', '*suf']);
  t.equal(m.test('exact'), true, 'exact');
  t.equal(m.test('exactly'), false, 'exact is not a prefix');
  t.equal(m.test('prefix'), true, 'prefix*');
  t.equal(m.test('pre'), true, 'prefix* matches the prefix itself');
  t.equal(m.test('x-suf'), true, '*suffix');
  t.equal(m.test('suffix'), false, '*suffix is not a prefix');
  t.equal(m.test(''), false, 'empty');
  const star = new StringMatcher(['*']);
  t.equal(star.test('anything'), true, '* matches any non-empty value');
  t.equal(star.test(''), false, '* does not match an empty value');
  t.equal(new StringMatcher(['*'], { starMatchesEmpty: true }).test(''), true, 'presence: * matches an empty value');
});

t.test('StringMatcher is case-sensitive unless told', async (t) => {
  t.equal(new StringMatcher(['GET']).test('get'), false, 'methods as written');
  const hosts = new StringMatcher(['API.Example', '*.Example.COM'], { ignoreCase: true });
  t.equal(hosts.test('api.example'), true, 'values lowercased');
  t.equal(hosts.test('x.example.com'), true, 'suffix lowercased');
});

t.test('PathTemplate: {*} is one non-empty segment', async (t) => {
  const p = new PathTemplate('/example/{*}');
  t.equal(p.test('/example/anything'), true);
  t.equal(p.test('/example/'), false, 'empty segment');
  t.equal(p.test('/example/anything/'), false, 'trailing slash is another segment');
  t.equal(p.test('/example/a/b'), false, 'two segments');
  t.equal(p.test('/example'), false);
  const mid = new PathTemplate('/example/{*}/one');
  t.equal(mid.test('/example/x/one'), true);
  t.equal(mid.test('/example/x/y/one'), false);
  t.equal(mid.test('/example//one'), false);
  t.equal(mid.test('/example/x/one/two'), false, 'the literal ends the path');
});

t.test('PathTemplate: {**} is the rest (empty too), before an optional last literal', async (t) => {
  const p = new PathTemplate('/example/{**}');
  t.equal(p.test('/example/anything'), true);
  t.equal(p.test('/example/anything/more/'), true);
  t.equal(p.test('/example/'), true, 'zero segments (Envoy: [pchar/]*)');
  t.equal(p.test('/example'), false, 'the / before {**} is literal');
  const tail = new PathTemplate('/example/{**}/one');
  t.equal(tail.test('/example/a/b/one'), true);
  t.equal(tail.test('/example/a/one'), true);
  t.equal(tail.test('/example/one'), false);
  t.equal(tail.test('/example/a/one/x'), false);
  const both = new PathTemplate('/{*}/example/{*}/{**}');
  t.equal(both.test('/a/example/b/'), true);
  t.equal(both.test('/a/example/b/c/d'), true);
  t.equal(both.test('/a/example/b'), false);
});

t.test('PathTemplate: globs match RFC 3986 segment characters only', async (t) => {
  const p = new PathTemplate('/a/{*}');
  t.equal(p.test("/a/x-._~%20!$&'()+,;:@"), true);
  t.equal(p.test('/a/x y'), false, 'a space');
  t.equal(p.test('/a/é'), false, 'non-ASCII');
  t.equal(p.test('/a/x=1'), false, '= (Envoy excludes it)');
  t.equal(new PathTemplate('/a/{**}').test('/a/b/"c'), false, 'a quote under {**}');
});

t.test('PathMatcher: wildcards and templates together', async (t) => {
  const m = new PathMatcher(['/exact', '/pre/*', '*.png', '/t/{*}/x']);
  t.equal(m.test('/exact'), true);
  t.equal(m.test('/pre/a/b'), true);
  t.equal(m.test('/img/a.png'), true);
  t.equal(m.test('/t/1/x'), true);
  t.equal(m.test('/t/1/y'), false);
  t.equal(new PathMatcher(['*']).test('/'), true, '* matches any path');
});

t.test('matchedPath: no query or fragment, absolute form reduced, dot segments removed', async (t) => {
  t.equal(matchedPath('/a/b?x=1'), '/a/b');
  t.equal(matchedPath('/a/b#frag'), '/a/b');
  t.equal(matchedPath('/a?x=/../admin'), '/a', 'the query is gone before dot segments');
  t.equal(matchedPath('http://host:8080/admin?x'), '/admin');
  t.equal(matchedPath('http://host'), '/');
  t.equal(matchedPath('/public/../admin'), '/admin');
  t.equal(matchedPath('/a/./b/.'), '/a/b/');
  t.equal(matchedPath('/../../etc'), '/etc', '.. never climbs above /');
  t.equal(matchedPath('/a/..'), '/');
  t.equal(matchedPath('/a/.hidden/b'), '/a/.hidden/b', 'a dot file is not a dot segment');
  t.equal(matchedPath('*'), '*', 'OPTIONS *');
  const plain = '/plain/path';
  t.equal(matchedPath(plain), plain);
});

t.test('hostWithoutPort', async (t) => {
  t.equal(hostWithoutPort('a.example:8080'), 'a.example');
  t.equal(hostWithoutPort('a.example'), 'a.example');
  t.equal(hostWithoutPort('[fd00::1]:80'), '[fd00::1]');
  t.equal(hostWithoutPort('[fd00::1]'), '[fd00::1]');
  t.equal(hostWithoutPort('fd00::1'), 'fd00::1', 'a bare IPv6 address has no port');
  t.equal(hostWithoutPort('a.example:'), 'a.example:');
  t.equal(hostWithoutPort('a.example:8x'), 'a.example:8x');
});

t.test('principalOf and namespaceOf', async (t) => {
  t.equal(principalOf('spiffe://cluster.local/ns/a/sa/b'), 'cluster.local/ns/a/sa/b');
  t.equal(principalOf('cluster.local/ns/a/sa/b'), 'cluster.local/ns/a/sa/b');
  t.equal(namespaceOf('cluster.local/ns/a/sa/b'), 'a');
  t.equal(namespaceOf('cluster.local/ns/a'), 'a');
  t.equal(namespaceOf('cluster.local/sa/b/ns/a'), undefined, 'the namespace is the first path segment pair only');
  t.equal(namespaceOf('cluster.local'), undefined);
  t.equal(namespaceOf('cluster.local/ns//sa/b'), undefined);
});
