/**
 * `policy check`'s lints, each on its own: a policy written to trip exactly one lint, against
 * the fixture mesh, gives exactly that finding (field, severity, message); a clean policy gives
 * none.
 */
import t from 'tap';
import { formatFinding, lintPolicies, type PolicyFinding } from '../../../src/cli/policy-lint.js';
import { covers, matchesEverything, neverMatching, shadowedRules } from '../../../src/cli/policy-lint-rules.js';
import type { AuthorizationPolicyData } from '../../../src/mesh/authz/types.js';
import type { AuthorizationPolicyObject } from '../../../src/mesh/types.js';
import { meshObjects, meshState } from './policy-fixture.js';

/** One policy document: `spec` (YAML flow or block) in namespace `ns`. */
function policy(name: string, spec: string, ns = 'demo'): string {
  return `apiVersion: security.istio.io/v1\nkind: AuthorizationPolicy\nmetadata: {name: ${name}, namespace: ${ns}}\nspec: ${spec}\n`;
}

function lint(...docs: string[]): PolicyFinding[] {
  const yaml = docs.join('---\n');
  const state = meshState(yaml);
  const policies = meshObjects(yaml).filter((o): o is AuthorizationPolicyObject => o.kind === 'AuthorizationPolicy');
  return lintPolicies({ policies, workloads: state.workloads, services: state.services, trustDomain: state.trustDomain });
}

/** `field severity: message` of each finding, for one-line assertions. */
const lines = (findings: readonly PolicyFinding[]): string[] => findings.map((f) => `${f.field} ${f.severity}: ${f.message}`);

const CLEAN = policy('db', '{selector: {matchLabels: {app: db}}, rules: [{from: [{source: {namespaces: [demo]}}]}]}', 'other');

t.test('a clean policy: no finding', async (t) => {
  t.same(lint(CLEAN), []);
});

t.test('selects nothing: a selector matching no workload, a namespace with none, a missing or unmeshed targetRef', async (t) => {
  t.same(lines(lint(policy('p', '{selector: {matchLabels: {app: nope}}, rules: [{}]}'))), [
    'spec.selector error: selects no meshed workload (matchLabels {"app":"nope"} match no meshed workload of namespace demo): it has no effect',
  ]);
  t.same(lines(lint(policy('p', '{rules: [{}]}', 'plain'))), [' error: selects no meshed workload (namespace plain has no meshed workload): it has no effect']);
  t.same(lines(lint(policy('p', '{targetRefs: [{kind: Service, group: "", name: nope}], rules: [{}]}'))), [
    'spec.targetRefs error: Service demo/nope does not exist (or has no cluster IP): the policy selects nothing through it',
    'spec.targetRefs error: selects no meshed workload (the Services it targets have no meshed endpoint): it has no effect',
  ]);
  t.same(lines(lint(policy('p', '{targetRefs: [{kind: Service, group: "", name: legacy}], rules: [{}]}', 'plain'))), [
    'spec.targetRefs error: selects no meshed workload (the Services it targets have no meshed endpoint): it has no effect',
  ]);
});

t.test('a principal in another trust domain: an error in principals, a warning in notPrincipals', async (t) => {
  t.same(lines(lint(policy('p', '{selector: {matchLabels: {app: web}}, rules: [{from: [{source: {principals: ["other.td/ns/demo/sa/client"]}}], to: [{operation: {ports: ["8080"]}}]}]}'))), [
    'rules[0].from[0].source.principals[0] error: "other.td/ns/demo/sa/client": trust domain other.td is not the mesh\'s (cluster.local): no peer of the mesh has it, so this value never matches',
  ]);
  t.same(lines(lint(policy('p', '{selector: {matchLabels: {app: web}}, action: DENY, rules: [{from: [{source: {notPrincipals: ["other.td/*"]}}]}]}'))), [
    'rules[0].from[0].source.notPrincipals[0] warning: "other.td/*": trust domain other.td is not the mesh\'s (cluster.local): no peer of the mesh has it, so it excludes nothing',
  ]);
  t.same(lint(policy('p', '{selector: {matchLabels: {app: web}}, rules: [{from: [{source: {principals: ["*/ns/demo/sa/client", "cluster.local/*", "*"]}}], to: [{operation: {ports: ["8080"]}}]}]}')), [], 'wildcard trust domains are not judged');
});

t.test('a principal or namespace with no workload: warnings', async (t) => {
  const to = 'to: [{operation: {ports: ["8080"]}}]';
  t.same(lines(lint(policy('p', `{selector: {matchLabels: {app: web}}, rules: [{from: [{source: {principals: ["cluster.local/ns/ghost/sa/x"]}}], ${to}}]}`))), [
    'rules[0].from[0].source.principals[0] warning: "cluster.local/ns/ghost/sa/x": namespace ghost has no meshed workload',
  ]);
  t.same(lines(lint(policy('p', `{selector: {matchLabels: {app: web}}, rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/ghost"]}}], ${to}}]}`))), [
    'rules[0].from[0].source.principals[0] warning: "cluster.local/ns/demo/sa/ghost": no meshed workload of demo runs as service account ghost',
  ]);
  t.same(lines(lint(policy('p', `{selector: {matchLabels: {app: web}}, rules: [{from: [{source: {namespaces: ["plain", "prod-*"]}}], ${to}}]}`))), [
    'rules[0].from[0].source.namespaces[0] warning: "plain": namespace plain has no meshed workload',
  ]);
  t.same(lines(lint(policy('p', `{selector: {matchLabels: {app: web}}, rules: [{when: [{key: source.namespace, values: ["ghost"]}], ${to}}]}`))), [
    'rules[0].when[0].values[0] warning: "ghost": namespace ghost has no meshed workload',
  ]);
});

t.test('a rule that can never match: a value in x and notX, ports fully in notPorts, a dead condition', async (t) => {
  const sel = 'selector: {matchLabels: {app: db}}';
  t.same(lines(lint(policy('p', `{${sel}, rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/client"], notPrincipals: ["cluster.local/ns/demo/sa/client"]}}]}]}`, 'other'))), [
    'rules[0] error: can never match: from[0].source: every value of principals is excluded by notPrincipals',
  ]);
  t.same(lines(lint(policy('p', `{${sel}, rules: [{to: [{operation: {ports: ["5432", "6432"], notPorts: ["6432", "5432"]}}]}]}`, 'other'))), [
    'rules[0] error: can never match: to[0].operation: every value of ports is excluded by notPorts',
  ]);
  t.same(lines(lint(policy('p', `{${sel}, rules: [{from: [{source: {principals: ["cluster.local/ns/demo/sa/client"], notPrincipals: ["*"]}}]}]}`, 'other'))), [
    'rules[0] error: can never match: from[0].source: every value of principals is excluded by notPrincipals',
  ], 'notPrincipals ["*"] excludes every principal');
  t.same(lines(lint(policy('p', `{${sel}, rules: [{when: [{key: source.ip, values: ["10.0.0.1"], notValues: ["10.0.0.1"]}]}]}`, 'other'))), [
    'rules[0] error: can never match: when[0]: every value of values is excluded by notValues',
  ]);
});

t.test('a value or an entry that can never match while the rule can: warnings', async (t) => {
  const sel = 'selector: {matchLabels: {app: db}}';
  t.same(lines(lint(policy('p', `{${sel}, rules: [{from: [{source: {namespaces: ["demo", "other"], notNamespaces: ["other"]}}]}]}`, 'other'))), [
    'rules[0].from[0].source.namespaces warning: "other" also excluded by notNamespaces: that value can never match',
  ]);
  t.same(lines(lint(policy('p', `{${sel}, rules: [{from: [{source: {namespaces: ["demo"], notNamespaces: ["demo"]}}, {source: {namespaces: ["other"]}}]}]}`, 'other'))), [
    'rules[0].from[0].source warning: can never match (every value of namespaces is excluded by notNamespaces); the rule\'s other entries still can',
  ]);
});

t.test('L7 fields on a port that is not HTTP: named opaque (error), reached opaque or named undeclared (warnings)', async (t) => {
  const sel = 'selector: {matchLabels: {app: web}}';
  t.same(lines(lint(policy('p', `{${sel}, rules: [{to: [{operation: {ports: ["9000"], paths: ["/x"]}}]}]}`))), [
    'rules[0] error: L7 fields on ports declared opaque (Pod/demo/web-1 port 9000, Pod/demo/web-2 port 9000): requests are never parsed there, the L7 fields fail closed: an ALLOW rule with L7 fields never matches there',
  ]);
  t.same(lint(policy('p', `{${sel}, rules: [{to: [{operation: {ports: ["8080"], methods: ["GET"]}}]}]}`)), [], 'an HTTP port: fine');
  t.same(lines(lint(policy('p', `{${sel}, action: DENY, rules: [{to: [{operation: {methods: ["DELETE"]}}]}]}`))), [
    'rules[0] warning: L7 fields, and the workloads are also reached on opaque ports (Pod/demo/web-1 port 9000, Pod/demo/web-2 port 9000): there they fail closed: the DENY rule matches there on its other fields only (wider than written)',
  ]);
  t.same(lines(lint(policy('p', '{selector: {matchLabels: {app: client}}, rules: [{to: [{operation: {ports: ["1234"], methods: ["GET"]}}]}]}'))), [
    'rules[0] warning: L7 fields on ports no Service declares HTTP (Pod/demo/client port 1234): they apply only when the traffic is detected as HTTP, else they fail closed (declare appProtocol: http)',
  ]);
  t.same(lint(policy('p', '{targetRefs: [{kind: Service, group: "", name: db}], rules: [{to: [{operation: {ports: ["7000"], methods: ["GET"]}}]}]}', 'other')), [], 'a port the targetRef does not select is not judged');
});

t.test('shadowed rules: identical to an earlier one, after a rule matching everything', async (t) => {
  const sel = 'selector: {matchLabels: {app: db}}';
  const rule = '{from: [{source: {namespaces: ["demo"]}}]}';
  t.same(lines(lint(policy('p', `{${sel}, rules: [${rule}, ${rule}]}`, 'other'))), ['rules[1] warning: identical to rules[0]: it never decides anything']);
  t.same(lines(lint(policy('p', `{${sel}, rules: [{}, ${rule}]}`, 'other'))), ['rules[1] warning: shadowed by rules[0], which matches every request: it never decides anything']);
});

t.test('a DENY rule matching everything leaves an ALLOW policy on the same workloads unreachable', async (t) => {
  const findings = lint(CLEAN, policy('deny-all', '{selector: {matchLabels: {app: db}}, action: DENY, rules: [{}]}', 'other'));
  t.same(findings.map((f) => `${f.policy} ${f.field} ${f.severity}: ${f.message}`), [
    'other/db spec.rules warning: every workload it selects is denied every request by DENY other/deny-all rules[0] (a rule that matches everything): its rules are never reached',
  ]);
  const narrower = lint(CLEAN, policy('deny-some', '{selector: {matchLabels: {app: db}}, action: DENY, rules: [{from: [{source: {namespaces: [other]}}]}]}', 'other'));
  t.same(narrower, [], 'a DENY rule with a condition leaves room');
});

t.test('a policy with no rules: an ALLOW denies everything (warning)', async (t) => {
  t.same(lines(lint(policy('p', '{selector: {matchLabels: {app: db}}}', 'other'))), [
    'spec.rules warning: no rules: an ALLOW policy with no rules matches nothing, so it denies every request to the workloads it selects (meant only as a deny-all)',
  ]);
});

t.test('a finding is printed file: namespace/name: field: severity: message', async (t) => {
  const [f] = lint(policy('p', '{selector: {matchLabels: {app: nope}}, rules: [{}]}'));
  t.equal(f === undefined ? '' : formatFinding(f), 'policies.yaml: demo/p: spec.selector: error: selects no meshed workload (matchLabels {"app":"nope"} match no meshed workload of namespace demo): it has no effect');
  t.equal(formatFinding({ file: 'f.yaml', policy: 'a/b', apiVersion: 'meshlet.io/v1alpha1', field: '', severity: 'warning', message: 'm' }), 'f.yaml: a/b: warning: m');
});

t.test('value coverage: wildcards, case, addresses, ports', async (t) => {
  t.equal(covers('*', 'anything', 'wildcard'), true);
  t.equal(covers('cluster.local/*', 'cluster.local/ns/a/sa/b', 'wildcard'), true);
  t.equal(covers('*/sa/b', 'cluster.local/ns/a/sa/b', 'wildcard'), true);
  t.equal(covers('cluster.local/*', 'other/ns/a', 'wildcard'), false);
  t.equal(covers('*.Example.com', 'api.example.COM', 'wildcard-nocase'), true);
  t.equal(covers('/A', '/a', 'wildcard'), false, 'paths keep their case');
  t.equal(covers('2001:DB8::1', '2001:db8:0::1', 'address'), true);
  t.equal(covers('08080', '8080', 'port'), true);
  t.equal(covers('GET', 'get', 'exact'), false);
});

t.test('rule helpers on plain data: a DENY policy with no rules, matchesEverything', async (t) => {
  const data: AuthorizationPolicyData = { key: 'a/b', namespace: 'a', name: 'b', apiVersion: 'meshlet.io/v1alpha1', action: 'DENY', rules: [{}, {}], creationTimestamp: 0 };
  t.same(shadowedRules(data).map((f) => f.message), ['identical to rules[0]: it never decides anything']);
  t.same(neverMatching(data), []);
  t.equal(matchesEverything({}), true);
  t.equal(matchesEverything({ from: [{ source: { namespaces: ['a'] } }] }), false);
  t.equal(matchesEverything({ from: [{ source: { namespaces: ['a'] } }, { source: {} }] }), true, 'an empty entry matches any source');
  t.equal(matchesEverything({ when: [{ key: 'source.ip', values: ['1.2.3.4'] }] }), false);
});
