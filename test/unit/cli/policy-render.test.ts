/**
 * `policy explain`'s table from a hand-made answer: the verdict line first, each policy with a
 * ✔ or ✖ per rule, the failed fields of a rule that did not match (actual vs the policy's
 * values), unknown L7 fields, notes, and the summary when a Service has several endpoints.
 */
import t from 'tap';
import { renderExplanation, renderField, verdictLine } from '../../../src/cli/policy-render.js';
import type { ExplainResult, ExplainTarget } from '../../../src/mesh/authz/explain-query.js';
import type { AuthzExplanation } from '../../../src/mesh/authz/types.js';

const CLIENT = 'spiffe://cluster.local/ns/demo/sa/client';

const DENIED: AuthzExplanation = {
  mode: 'request',
  verdict: { allowed: false, decidedBy: { policy: 'demo/deny-admin', rule: 0, action: 'DENY' }, reason: 'denied by DENY demo/deny-admin rules[0]', audits: [{ policy: 'demo/audit', rule: 2 }] },
  policies: [
    {
      policy: 'demo/deny-admin', apiVersion: 'security.istio.io/v1', action: 'DENY', selectedBy: 'selector', matched: true, matchedRule: 0,
      rules: [{ index: 0, matched: true, fields: [{ field: 'rules[0].to[0].operation.paths', values: ['/admin/*'], actual: '/admin/x', matched: true }] }],
    },
    {
      policy: 'demo/allow-client', apiVersion: 'meshlet.io/v1alpha1', action: 'ALLOW', selectedBy: 'namespace', matched: false,
      rules: [
        { index: 0, matched: false, fields: [{ field: 'rules[0].from[0].source.principals', values: ['cluster.local/ns/other/sa/db'], actual: CLIENT, matched: false }] },
        { index: 1, matched: false, fields: [
          { field: 'rules[1].from[0].source.principals', values: ['cluster.local/ns/demo/sa/client'], actual: CLIENT, matched: true },
          { field: 'rules[1].to[0].operation.methods', values: ['GET'], actual: 'DELETE', matched: false },
        ] },
      ],
    },
  ],
};

function target(explanation: AuthzExplanation, workload = 'Pod/demo/web-1'): ExplainTarget {
  return {
    workload, node: 'node-a', identity: 'spiffe://cluster.local/ns/demo/sa/web', address: '198.18.1.10', port: 8080, service: 'demo/web', servicePort: 80,
    protocol: 'http', mode: explanation.mode, explanation, notes: ['a target note'],
    attributes: { sourcePrincipal: CLIENT, sourceIp: '198.18.1.11', destinationIp: '198.18.1.10', destinationPort: 8080, request: { method: 'DELETE', path: '/admin/x', host: 'web.demo.svc.cluster.local', headers: { 'x-user': 'bob' } } },
  };
}

function result(...targets: ExplainTarget[]): ExplainResult {
  return {
    source: { query: 'pod/demo/client', workload: 'Pod/demo/client', identity: CLIENT, address: '198.18.1.11', notes: [] },
    destination: 'svc/demo/web:80',
    targets,
    allowed: targets.every((x) => x.explanation.verdict.allowed),
  };
}

t.test('the verdict line comes first, then what was evaluated, then each policy rule by rule', async (t) => {
  const text = renderExplanation(result(target(DENIED)));
  const lines = text.split('\n');
  t.equal(lines[0], 'DENIED  by DENY demo/deny-admin rules[0]');
  t.match(text, /^ {2}source {7}pod\/demo\/client {2}spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client {2}198\.18\.1\.11$/m);
  t.match(text, /^ {2}destination {2}Pod\/demo\/web-1 198\.18\.1\.10:8080 \(Service demo\/web:80\) on node-a$/m);
  t.match(text, /^ {2}evaluated {4}request DELETE \/admin\/x host web\.demo\.svc\.cluster\.local headers x-user: bob \(port protocol http\)$/m);
  t.match(text, /^ {2}audit {8}demo\/audit rules\[2\]$/m);
  t.match(text, /^ {2}note {9}a target note$/m);
  t.match(text, /^ {2}DENY {3}demo\/deny-admin {2}\(selector, security\.istio\.io\/v1\) {2}matched rules\[0\]\n {4}✔ rules\[0\]\n {2}ALLOW/m);
  t.match(text, /^ {2}ALLOW {2}demo\/allow-client {2}\(namespace, meshlet\.io\/v1alpha1\) {2}no rule matched$/m);
  t.match(text, /^ {4}✖ rules\[0\]\n {8}✖ from\[0\]\.source\.principals: "spiffe:\/\/cluster\.local\/ns\/demo\/sa\/client" vs \["cluster\.local\/ns\/other\/sa\/db"\]$/m);
  t.match(text, /^ {4}✖ rules\[1\]\n {8}✖ to\[0\]\.operation\.methods: "DELETE" vs \["GET"\]$/m, 'only the field that failed');
  t.notMatch(text, /destination workloads:/, 'no summary for one target');
});

t.test('verdict lines: allowed with no policy, denied by no match, deferred to the requests', async (t) => {
  t.equal(verdictLine({ allowed: true, reason: 'no ALLOW policy selects the workload', audits: [] }), 'ALLOWED  no ALLOW policy selects the workload');
  t.equal(verdictLine({ allowed: false, reason: 'no ALLOW rule matched', audits: [] }), 'DENIED  no ALLOW rule matched');
  t.equal(
    verdictLine({ allowed: true, decidedBy: { policy: 'a/b', rule: 1, action: 'ALLOW' }, reason: 'x', audits: [], deferred: true }),
    'ALLOWED  by ALLOW a/b rules[1] (for the connection: each request is evaluated again)',
  );
});

t.test('a workload no policy selects says so; several targets end with a summary', async (t) => {
  const none: AuthzExplanation = { mode: 'connection-http', verdict: { allowed: true, reason: 'no policy', audits: [] }, policies: [] };
  const text = renderExplanation(result(target(none, 'Pod/demo/web-1'), target(DENIED, 'Pod/demo/web-2')));
  t.match(text, /^ALLOWED {2}no policy\n/);
  t.match(text, / {2}\(no AuthorizationPolicy selects Pod\/demo\/web-1\)\n/);
  t.match(text, /\nDENIED {2}by DENY demo\/deny-admin rules\[0\]\n/);
  t.match(text, /\n2 destination workloads: 1 allowed, 1 denied\n$/);
});

t.test('a field: unknown in a connection mode, no actual value, many values cut', async (t) => {
  t.equal(renderField(2, { field: 'rules[2].to[0].operation.paths', values: ['/a'], matched: 'unknown', note: 'L7 field in connection-opaque: fails closed' }), '? to[0].operation.paths: (none) vs ["/a"]; L7 field in connection-opaque: fails closed');
  const many = renderField(0, { field: 'rules[0].from[0].source.namespaces', values: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'], actual: 'z', matched: false });
  t.equal(many, '✖ from[0].source.namespaces: "z" vs ["a", "b", "c", "d", "e", "f", … and 2 more]');
  t.equal(renderField(0, { field: 'rules[0].when[0]', values: ['x'], matched: false }), '✖ when[0]: (none) vs ["x"]');
});
