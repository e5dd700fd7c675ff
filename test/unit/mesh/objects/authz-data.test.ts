/**
 * `authorizationPolicyDataProblems`, the check of policies decoded from the wire (untrusted):
 * everything the parser accepts passes it, also after a JSON round trip, and hostile data (wrong
 * types, oversized lists, bad values, unknown keys, extra fields) is refused with the field named.
 */
import t from 'tap';
import { authorizationPolicyDataProblems } from '../../../../src/mesh/objects/authorization-policy.js';
import { MAX_AUTHZ_FIELD_VALUES, MAX_AUTHZ_POLICY_VALUES, MAX_AUTHZ_RULE_ENTRIES, MAX_AUTHZ_RULES, MAX_AUTHZ_VALUE_CHARS } from '../../../../src/mesh/objects/authz-rules.js';
import { parseObjects } from '../../../../src/mesh/objects/parse.js';
import type { AuthorizationPolicyData } from '../../../../src/mesh/authz/types.js';
import type { AuthorizationPolicyObject } from '../../../../src/mesh/types.js';

const HEAD = `apiVersion: security.istio.io/v1beta1
kind: AuthorizationPolicy
metadata: {name: p, namespace: demo, creationTimestamp: "2024-05-01T12:00:00Z"}
`;

/** Specs the parser accepts, covering every field and value form. */
const ACCEPTED = [
  'spec: {}',
  'spec: {rules: [{}]}',
  'spec: {action: AUDIT}',
  'spec: {selector: {}, rules: [{}]}',
  'spec: {selector: {matchLabels: {app: web, version: v1}}, action: DENY, rules: [{to: [{operation: {methods: [POST], ports: ["8080", 9090]}}]}]}',
  'spec: {targetRefs: [{kind: Service, name: web}, {group: core, kind: Service, name: api}], rules: [{}]}',
  'spec: {targetRef: {kind: Service, group: "", name: web, namespace: demo}}',
  `spec:
  rules:
  - from:
    - source: {principals: ["cluster.local/ns/demo/sa/web", "*/sa/x", "td/*", "*"], notPrincipals: ["a.b/ns/c/sa/d"]}
    - source: {namespaces: ["demo", "prod-*", "*-x"], notNamespaces: ["kube-system"]}
    - source: {ipBlocks: ["10.0.0.0/8", "1.2.3.4", "::/0", "2001:db8::/32"], notIpBlocks: ["10.1.0.0/16"], remoteIpBlocks: ["0.0.0.0/0"], notRemoteIpBlocks: ["fd00::1/128"]}
    to:
    - operation: {hosts: ["*.example.com", "web:8080"], notHosts: ["a"], ports: ["1", 65535, "08080"], notPorts: ["15000"]}
    - operation: {methods: ["GET", "*", "P*"], notMethods: ["delete"], paths: ["/a/*", "*.html", "/{*}/b/{**}", "/"], notPaths: ["/admin"]}
    when:
    - {key: source.principal, values: ["cluster.local/ns/a/sa/b"], notValues: ["*/sa/c"]}
    - {key: source.namespace, values: ["a"]}
    - {key: source.ip, values: ["10.0.0.1"]}
    - {key: remote.ip, notValues: ["10.0.0.0/24"]}
    - {key: destination.ip, values: ["fd00::/8"]}
    - {key: destination.port, values: ["80", 443]}
    - {key: connection.sni, values: ["*.example.com"]}
    - {key: "request.headers[X-Forwarded-Proto]", values: ["https"]}
    - {key: "request.headers[user-agent]", values: ["Mozilla/*", "*bot", "*"]}`,
];

function parsed(spec: string): AuthorizationPolicyData {
  return (parseObjects(`${HEAD}${spec}\n`, 'authz.yaml')[0] as AuthorizationPolicyObject).policy;
}

/** A sound policy to break one field of. */
function base(): Record<string, unknown> {
  return JSON.parse(JSON.stringify(parsed(ACCEPTED[7] ?? ''))) as Record<string, unknown>;
}

/** The problems of `data` (typed as the model says, as the wire decoder hands it over). */
function problemsOf(data: unknown): string[] {
  return authorizationPolicyDataProblems(data as AuthorizationPolicyData);
}

t.test('everything the parser accepts passes, also after a JSON round trip', async (t) => {
  t.equal(ACCEPTED.length, 8);
  for (const spec of ACCEPTED) {
    const policy = parsed(spec);
    t.same(authorizationPolicyDataProblems(policy), [], spec);
    t.same(problemsOf(JSON.parse(JSON.stringify(policy))), [], `${spec} (JSON)`);
  }
});

t.test('hostile data is refused, each problem naming its field', async (t) => {
  type Mutation = (d: Record<string, unknown>) => void;
  const rule = (d: Record<string, unknown>): Record<string, unknown> => (d['rules'] as Record<string, unknown>[])[0] as Record<string, unknown>;
  const source = (d: Record<string, unknown>): Record<string, unknown> => ((rule(d)['from'] as Record<string, unknown>[])[0] as Record<string, Record<string, unknown>>)['source'] as Record<string, unknown>;
  const operation = (d: Record<string, unknown>): Record<string, unknown> => ((rule(d)['to'] as Record<string, unknown>[])[0] as Record<string, Record<string, unknown>>)['operation'] as Record<string, unknown>;
  const when = (d: Record<string, unknown>): Record<string, unknown>[] => rule(d)['when'] as Record<string, unknown>[];
  const cases: [string, Mutation, RegExp][] = [
    ['extra top-level key', (d) => { d['extra'] = 1; }, /^extra: unknown field/],
    ['own __proto__ key (as JSON.parse makes it)', (d) => { Object.defineProperty(d, '__proto__', { value: { admin: true }, enumerable: true, configurable: true, writable: true }); }, /^__proto__: unknown field/],
    ['key not namespace/name', (d) => { d['key'] = 'other/p'; }, /^key: must be "<namespace>\/<name>", got "other\/p"$/],
    ['bad namespace', (d) => { d['namespace'] = 'Demo'; }, /^namespace: must be a namespace/],
    ['name not a string', (d) => { d['name'] = 7; }, /^name: must be an object name/],
    ['unknown apiVersion', (d) => { d['apiVersion'] = 'security.istio.io/v2'; }, /^apiVersion: must be one of/],
    ['CUSTOM action', (d) => { d['action'] = 'CUSTOM'; }, /^action: must be one of ALLOW, DENY, AUDIT, got "CUSTOM"$/],
    ['negative timestamp', (d) => { d['creationTimestamp'] = -1; }, /^creationTimestamp: must be whole milliseconds/],
    ['fractional timestamp', (d) => { d['creationTimestamp'] = 1.5; }, /^creationTimestamp: /],
    ['rules missing', (d) => { delete d['rules']; }, /^rules: must be a list of rules, got null$/],
    ['rules not a list', (d) => { d['rules'] = 'all'; }, /^rules: must be a list of rules, got "all"$/],
    ['rule not a mapping', (d) => { d['rules'] = [null]; }, /^rules\[0\]: must be a mapping/],
    ['extra rule key', (d) => { rule(d)['allow'] = true; }, /^rules\[0\]\.allow: unknown field/],
    ['from not a list', (d) => { rule(d)['from'] = {}; }, /^rules\[0\]\.from: must be a list, got a mapping$/],
    ['from null', (d) => { rule(d)['from'] = null; }, /^rules\[0\]\.from: must be a list, got null$/],
    ['from empty', (d) => { rule(d)['from'] = []; }, /^rules\[0\]\.from: must not be empty/],
    ['extra from entry key', (d) => { ((rule(d)['from'] as Record<string, unknown>[])[0] as Record<string, unknown>)['operation'] = {}; }, /^rules\[0\]\.from\[0\]\.operation: unknown field/],
    ['extra source key', (d) => { source(d)['requestPrincipals'] = ['a/b']; }, /^rules\[0\]\.from\[0\]\.source\.requestPrincipals: not supported: needs RequestAuthentication/],
    ['values not a list', (d) => { source(d)['principals'] = 'cluster.local/ns/a/sa/b'; }, /^rules\[0\]\.from\[0\]\.source\.principals: must be a list of strings/],
    ['values null', (d) => { source(d)['principals'] = null; }, /^rules\[0\]\.from\[0\]\.source\.principals: must be a list of strings, got null$/],
    ['values empty', (d) => { source(d)['notPrincipals'] = []; }, /^rules\[0\]\.from\[0\]\.source\.notPrincipals: must not be empty \(absent: any value\)$/],
    ['value not a string', (d) => { source(d)['principals'] = ['cluster.local/ns/a/sa/b', 'x/ns/y/sa/z', 7]; }, /^rules\[0\]\.from\[0\]\.source\.principals\[2\]: must be a string, got 7$/],
    ['principal with spiffe://', (d) => { source(d)['principals'] = ['a/ns/b/sa/c', 'a/ns/b/sa/d', 'spiffe://a/ns/b/sa/c']; }, /^rules\[0\]\.from\[0\]\.source\.principals\[2\]: drop the "spiffe:\/\/" prefix/],
    ['empty source', (d) => { ((rule(d)['from'] as Record<string, unknown>[])[0] as Record<string, unknown>)['source'] = {}; }, /^rules\[0\]\.from\[0\]\.source: must not be empty/],
    ['bad CIDR', (d) => { ((rule(d)['from'] as Record<string, unknown>[])[2] as Record<string, Record<string, unknown>>)['source'] = { ipBlocks: ['10.0.0.0/33'] }; }, /^rules\[0\]\.from\[2\]\.source\.ipBlocks\[0\]: the prefix length must be 0\.\.32/],
    ['CIDR garbage', (d) => { ((rule(d)['from'] as Record<string, unknown>[])[2] as Record<string, Record<string, unknown>>)['source'] = { ipBlocks: ['10.0.0.0/8/8'] }; }, /^rules\[0\]\.from\[2\]\.source\.ipBlocks\[0\]: the prefix length/],
    ['port as a number', (d) => { operation(d)['ports'] = [8080]; }, /^rules\[0\]\.to\[0\]\.operation\.ports\[0\]: must be a string, got 8080$/],
    ['port not canonical', (d) => { operation(d)['ports'] = ['08080']; }, /^rules\[0\]\.to\[0\]\.operation\.ports\[0\]: must be a port number 1\.\.65535/],
    ['extra operation key', (d) => { operation(d)['headers'] = ['x']; }, /^rules\[0\]\.to\[0\]\.operation\.headers: unknown field/],
    ['unknown condition key', (d) => { when(d).push({ key: 'request.auth.claims[iss]', values: ['x'] }); }, /^rules\[0\]\.when\[9\]\.key: not supported: needs RequestAuthentication/],
    ['made-up condition key', (d) => { when(d).push({ key: 'source.everything', values: ['x'] }); }, /^rules\[0\]\.when\[9\]\.key: unknown condition key/],
    ['header name not lowercase', (d) => { when(d).push({ key: 'request.headers[X-A]', values: ['x'] }); }, /^rules\[0\]\.when\[9\]\.key: the header name must be lowercase in plain data/],
    ['condition key not a string', (d) => { when(d).push({ key: 7, values: ['x'] }); }, /^rules\[0\]\.when\[9\]\.key: must be a string, got 7$/],
    ['extra condition key', (d) => { when(d).push({ key: 'source.ip', values: ['1.2.3.4'], match: 'regex' }); }, /^rules\[0\]\.when\[9\]\.match: unknown field/],
    ['condition without values', (d) => { when(d).push({ key: 'source.ip' }); }, /^rules\[0\]\.when\[9\]: at least one of values or notValues must be set$/],
    ['empty selector', (d) => { d['selector'] = {}; }, /^selector: must hold 1 to 64 labels/],
    ['selector null', (d) => { d['selector'] = null; }, /^selector: must be a mapping of labels, got null$/],
    ['bad label', (d) => { d['selector'] = { app: 'a b' }; }, /^selector\.app: invalid label value "a b"$/],
    ['too many labels', (d) => { d['selector'] = Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`l${i}`, 'v'])); }, /^selector: must hold 1 to 64 labels .*got 65$/],
    ['empty targets', (d) => { d['targetServices'] = []; }, /^targetServices: must be a list of 1 to 16 Service names, got 0 entries$/],
    ['too many targets', (d) => { d['targetServices'] = Array.from({ length: 17 }, (_, i) => `s${i}`); }, /^targetServices: must be a list of 1 to 16/],
    ['bad target', (d) => { d['targetServices'] = ['web', '../x']; }, /^targetServices\[1\]: must be a Service name/],
    ['duplicate target', (d) => { d['targetServices'] = ['web', 'web']; }, /^targetServices\[1\]: duplicate Service "web"$/],
    ['selector and targets', (d) => { d['selector'] = { app: 'a' }; d['targetServices'] = ['web']; }, /^targetServices: set selector or targetServices, not both$/],
    ['DENY without rules', (d) => { d['action'] = 'DENY'; d['rules'] = []; }, /^rules: required when action is DENY/],
    ['too many rules', (d) => { d['rules'] = Array.from({ length: MAX_AUTHZ_RULES + 1 }, () => ({})); }, /^rules: at most 512 rules, got 513$/],
    ['too many from entries', (d) => { rule(d)['from'] = Array.from({ length: MAX_AUTHZ_RULE_ENTRIES + 1 }, () => ({ source: { namespaces: ['a'] } })); }, /^rules\[0\]\.from: at most 512 entries, got 513$/],
    ['too many values', (d) => { source(d)['principals'] = Array.from({ length: MAX_AUTHZ_FIELD_VALUES + 1 }, () => '*'); }, /^rules\[0\]\.from\[0\]\.source\.principals: at most 1024 values, got 1025$/],
    ['value too long', (d) => { operation(d)['paths'] = [`/${'a'.repeat(MAX_AUTHZ_VALUE_CHARS)}`]; }, /^rules\[0\]\.to\[0\]\.operation\.paths\[0\]: longer than 1024 characters \(1025\)/],
  ];
  for (const [name, mutate, want] of cases) {
    const data = base();
    mutate(data);
    const lines = problemsOf(data);
    t.ok(lines.length > 0, `${name}: refused`);
    t.match(lines.join('\n'), new RegExp(want.source, 'm'), `${name}: ${lines.slice(0, 3).join(' | ')}`);
  }
});

t.test('not an object at all', async (t) => {
  for (const value of [null, 'policy', [], 7]) {
    const lines = problemsOf(value);
    t.equal(lines.length, 1, String(value));
    t.match(lines[0], /^policy: must be an object/);
  }
});

t.test('values over the whole policy are bounded', async (t) => {
  const data = base();
  const values = Array.from({ length: MAX_AUTHZ_FIELD_VALUES }, () => '*');
  const rules = Array.from({ length: Math.floor(MAX_AUTHZ_POLICY_VALUES / MAX_AUTHZ_FIELD_VALUES) + 1 }, () => ({ from: [{ source: { principals: values } }] }));
  data['rules'] = rules;
  t.same(problemsOf(data), [`rules: at most ${MAX_AUTHZ_POLICY_VALUES} values over all rules, got ${rules.length * MAX_AUTHZ_FIELD_VALUES}`]);
  data['rules'] = rules.slice(1);
  t.same(problemsOf(data), [], 'at the bound: accepted');
});

t.test('a flood of bad values makes a bounded answer', async (t) => {
  const data = base();
  data['rules'] = [{ from: [{ source: { principals: Array.from({ length: MAX_AUTHZ_FIELD_VALUES }, (_, i) => `spiffe://x/${i}`) } }] }];
  const lines = problemsOf(data);
  t.equal(lines.length, 101, 'the default cap of 100 lines, then a count');
  t.equal(lines[100], `... and ${MAX_AUTHZ_FIELD_VALUES - 100} more`);
  const long = base();
  long[`k${'x'.repeat(100_000)}`] = 1;
  const [line] = problemsOf(long);
  t.ok((line ?? '').length < 300, `a hostile key is shortened in the message: ${(line ?? '').length}`);
});
