/**
 * The parser's limits on AuthorizationPolicy objects, each pushed one past its bound (refused,
 * with the field named) and met exactly (accepted).
 */
import t from 'tap';
import {
  MAX_AUTHZ_SELECTOR_LABELS,
  MAX_AUTHZ_TARGET_REFS,
} from '../../../../src/mesh/objects/authorization-policy.js';
import {
  MAX_AUTHZ_FIELD_VALUES,
  MAX_AUTHZ_HEADER_NAME_CHARS,
  MAX_AUTHZ_POLICY_VALUES,
  MAX_AUTHZ_RULE_ENTRIES,
  MAX_AUTHZ_RULES,
  MAX_AUTHZ_VALUE_CHARS,
} from '../../../../src/mesh/objects/authz-rules.js';
import { objectsFromValue } from '../../../../src/mesh/objects/parse.js';

/** Problem texts of a policy with `spec`, as decoded from the Kubernetes API. */
function problemsOf(spec: Record<string, unknown>): string[] {
  const { objects, problems } = objectsFromValue(
    { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy', metadata: { name: 'p', namespace: 'demo' }, spec },
    { file: 'kubernetes', doc: 0 },
  );
  if (problems.length === 0 && objects.length !== 1) throw new Error('no problem and no object');
  return problems.map((p) => p.text.replace(/^kubernetes \(document 1\): AuthorizationPolicy demo\/p: /, ''));
}

const many = <T>(n: number, f: (i: number) => T): T[] => Array.from({ length: n }, (_, i) => f(i));

t.test('the limits are what the docs say', async (t) => {
  t.equal(MAX_AUTHZ_RULES, 512);
  t.equal(MAX_AUTHZ_RULE_ENTRIES, 512);
  t.equal(MAX_AUTHZ_FIELD_VALUES, 1024);
  t.equal(MAX_AUTHZ_POLICY_VALUES, 16384);
  t.equal(MAX_AUTHZ_VALUE_CHARS, 1024);
  t.equal(MAX_AUTHZ_HEADER_NAME_CHARS, 256);
  t.equal(MAX_AUTHZ_TARGET_REFS, 16);
  t.equal(MAX_AUTHZ_SELECTOR_LABELS, 64);
});

t.test('rules per policy', async (t) => {
  t.same(problemsOf({ rules: many(MAX_AUTHZ_RULES, () => ({})) }), []);
  t.same(problemsOf({ rules: many(MAX_AUTHZ_RULES + 1, () => ({})) }), ['spec.rules: at most 512 rules, got 513']);
});

t.test('entries per from, to and when', async (t) => {
  const entries: Record<string, () => unknown> = {
    from: () => ({ source: { namespaces: ['a'] } }),
    to: () => ({ operation: { ports: ['80'] } }),
    when: () => ({ key: 'source.ip', values: ['10.0.0.1'] }),
  };
  for (const [key, entry] of Object.entries(entries)) {
    t.same(problemsOf({ rules: [{ [key]: many(MAX_AUTHZ_RULE_ENTRIES, entry) }] }), [], `${key} at the bound`);
    t.same(problemsOf({ rules: [{ [key]: many(MAX_AUTHZ_RULE_ENTRIES + 1, entry) }] }), [`spec.rules[0].${key}: at most 512 entries, got 513`], key);
  }
});

t.test('values per field', async (t) => {
  const at = (n: number): Record<string, unknown> => ({ rules: [{ to: [{ operation: { paths: many(n, (i) => `/p${i}`) } }] }] });
  t.same(problemsOf(at(MAX_AUTHZ_FIELD_VALUES)), []);
  t.same(problemsOf(at(MAX_AUTHZ_FIELD_VALUES + 1)), ['spec.rules[0].to[0].operation.paths: at most 1024 values, got 1025']);
  const condition = { rules: [{ when: [{ key: 'request.headers[x]', notValues: many(MAX_AUTHZ_FIELD_VALUES + 1, (i) => `v${i}`) }] }] };
  t.same(problemsOf(condition), ['spec.rules[0].when[0].notValues: at most 1024 values, got 1025']);
});

t.test('values per policy', async (t) => {
  const rule = { from: [{ source: { notNamespaces: many(MAX_AUTHZ_FIELD_VALUES, (i) => `ns${i}`) } }] };
  const atBound = MAX_AUTHZ_POLICY_VALUES / MAX_AUTHZ_FIELD_VALUES;
  t.same(problemsOf({ rules: many(atBound, () => rule) }), []);
  t.same(problemsOf({ rules: many(atBound + 1, () => rule) }), ['spec.rules: at most 16384 values over all rules, got 17408']);
});

t.test('characters per value', async (t) => {
  const host = (n: number): Record<string, unknown> => ({ rules: [{ to: [{ operation: { hosts: [`${'a'.repeat(n - 4)}.com`] } }] }] });
  t.same(problemsOf(host(MAX_AUTHZ_VALUE_CHARS)), []);
  const [line] = problemsOf(host(MAX_AUTHZ_VALUE_CHARS + 1));
  t.match(line, /^spec\.rules\[0\]\.to\[0\]\.operation\.hosts\[0\]: longer than 1024 characters \(1025\), got "a{50}/);
  t.ok((line ?? '').length < 200, 'the value is shortened in the message');
  const condition = { rules: [{ when: [{ key: 'source.namespace', values: ['x'.repeat(100_000)] }] }] };
  t.match(problemsOf(condition)[0], /^spec\.rules\[0\]\.when\[0\]\.values\[0\]: longer than 1024 characters \(100000\)/);
});

t.test('header name length', async (t) => {
  const header = (n: number): Record<string, unknown> => ({ rules: [{ when: [{ key: `request.headers[${'h'.repeat(n)}]`, values: ['x'] }] }] });
  t.same(problemsOf(header(MAX_AUTHZ_HEADER_NAME_CHARS)), []);
  t.match(problemsOf(header(MAX_AUTHZ_HEADER_NAME_CHARS + 1))[0], /^spec\.rules\[0\]\.when\[0\]\.key: the header name is longer than 256 characters \(257\)/);
});

t.test('targetRefs and selector labels', async (t) => {
  const refs = (n: number): Record<string, unknown> => ({ targetRefs: many(n, (i) => ({ kind: 'Service', name: `s${i}` })) });
  t.same(problemsOf(refs(MAX_AUTHZ_TARGET_REFS)), []);
  t.same(problemsOf(refs(MAX_AUTHZ_TARGET_REFS + 1)), ['spec.targetRefs: at most 16 entries, got 17']);
  const labels = (n: number): Record<string, unknown> => ({ selector: { matchLabels: Object.fromEntries(many(n, (i) => [`l${i}`, 'v'])) } });
  t.same(problemsOf(labels(MAX_AUTHZ_SELECTOR_LABELS)), []);
  t.same(problemsOf(labels(MAX_AUTHZ_SELECTOR_LABELS + 1)), ['spec.selector.matchLabels: at most 64 labels, got 65']);
});
