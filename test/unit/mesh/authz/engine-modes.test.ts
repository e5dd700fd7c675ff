/**
 * The three modes: L7 fields fail closed on opaque connections (ALLOW never, DENY on its other
 * fields), are deferred on HTTP connections, and `deferred` says when requests must be checked.
 */
import t from 'tap';
import { attrs, authz, policy } from './fixture.js';

const denyGet = policy('deny-get', 'DENY', [{ from: [{ source: { namespaces: ['demo'] } }], to: [{ operation: { methods: ['GET'] } }] }]);
const allowGet = policy('allow-get', 'ALLOW', [{ to: [{ operation: { methods: ['GET'] } }] }]);
const allowPort = policy('allow-port', 'ALLOW', [{ to: [{ operation: { ports: ['8080'] } }] }]);

t.test('connection-opaque: an ALLOW rule with an L7 field never matches', async (t) => {
  const v = authz([allowGet]).evaluate(attrs(), 'connection-opaque');
  t.equal(v.allowed, false);
  t.equal(v.reason, 'no ALLOW policy matched (1 selects the workload)');
  t.equal(v.deferred, undefined, 'no deferred outside connection-http');
});

t.test('connection-opaque: a DENY rule with an L7 field matches on its other fields', async (t) => {
  const a = authz([denyGet]);
  t.equal(a.evaluate(attrs(), 'connection-opaque').allowed, false, 'denies more');
  t.equal(a.evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/x' }), 'connection-opaque').allowed, true, 'its L4 part still counts');
});

t.test('connection-opaque: an AUDIT rule with an L7 field matches on its other fields', async (t) => {
  const v = authz([policy('audit-get', 'AUDIT', [{ to: [{ operation: { methods: ['GET'] } }] }])]).evaluate(attrs(), 'connection-opaque');
  t.same(v.audits, [{ policy: 'demo/audit-get', rule: 0 }]);
});

t.test('request mode without request attributes fails closed like opaque', async (t) => {
  t.equal(authz([allowGet]).evaluate(attrs(), 'request').allowed, false);
  t.equal(authz([denyGet]).evaluate(attrs(), 'request').allowed, false);
});

t.test('connection-http: a DENY rule with L7 fields is deferred to the requests', async (t) => {
  const v = authz([denyGet]).evaluate(attrs(), 'connection-http');
  t.equal(v.allowed, true);
  t.equal(v.deferred, true, 'its L4 part matches: requests are checked');
  const other = authz([denyGet]).evaluate(attrs({ sourcePrincipal: 'spiffe://cluster.local/ns/other/sa/x' }), 'connection-http');
  t.equal(other.allowed, true);
  t.equal(other.deferred, false, 'its L4 part does not match: no request can be denied');
});

t.test('connection-http: an ALLOW rule with L7 fields lets the connection in on its L4 part', async (t) => {
  const v = authz([allowGet]).evaluate(attrs(), 'connection-http');
  t.equal(v.allowed, true);
  t.equal(v.deferred, true);
  t.same(v.decidedBy, { policy: 'demo/allow-get', rule: 0, action: 'ALLOW' });
  t.match(v.reason, /its L7 fields are checked on each request/);
});

t.test('connection-http: an L4 ALLOW rule makes the verdict final, even after an L7 one', async (t) => {
  const v = authz([allowGet, allowPort]).evaluate(attrs(), 'connection-http');
  t.same(v.decidedBy, { policy: 'demo/allow-port', rule: 0, action: 'ALLOW' });
  t.equal(v.deferred, false);
  const withDeny = authz([allowPort, denyGet]).evaluate(attrs(), 'connection-http');
  t.equal(withDeny.deferred, true, 'a DENY L7 rule could still deny a request');
});

t.test('connection-http: denied only when no request could be allowed', async (t) => {
  const a = authz([policy('allow-get-web', 'ALLOW', [{ from: [{ source: { principals: ['nobody'] } }], to: [{ operation: { methods: ['GET'] } }] }])]);
  const v = a.evaluate(attrs(), 'connection-http');
  t.equal(v.allowed, false);
  t.equal(v.deferred, false);
  const deny = authz([policy('deny-all', 'DENY', [{}]), allowGet]).evaluate(attrs(), 'connection-http');
  t.equal(deny.allowed, false, 'an L4 DENY decides at once');
  t.equal(deny.deferred, false);
});

t.test('connection-http: an AUDIT policy with an L7 rule defers unless it matched already', async (t) => {
  const l7 = policy('audit-get', 'AUDIT', [{ to: [{ operation: { methods: ['GET'] } }] }]);
  const v = authz([l7]).evaluate(attrs(), 'connection-http');
  t.equal(v.deferred, true);
  t.same(v.audits, [], 'not audited at connection level');
  const both = authz([policy('audit-both', 'AUDIT', [{}, { to: [{ operation: { methods: ['GET'] } }] }])]).evaluate(attrs(), 'connection-http');
  t.same(both.audits, [{ policy: 'demo/audit-both', rule: 0 }]);
  t.equal(both.deferred, false, 'already audited by an L4 rule');
});

t.test('connection-http with no ALLOW policy and no L7 rule is final', async (t) => {
  const v = authz([policy('deny-other', 'DENY', [{ from: [{ source: { namespaces: ['other'] } }] }])]).evaluate(attrs(), 'connection-http');
  t.equal(v.allowed, true);
  t.equal(v.deferred, false);
  t.equal(v.reason, 'no ALLOW policy selects the workload');
});
