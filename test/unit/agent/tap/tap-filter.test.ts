/** The tap's filters: parsing `GET /tap`'s query (every refusal names the parameter) and matching. */
import t from 'tap';
import { matchesFacts, parseTapFilter, isTapFilter } from '../../../../src/agent/tap/tap-filter.js';

const parse = (q: string) => parseTapFilter(new URLSearchParams(q), ['max', 'duration']);

t.test('a query becomes a filter; the stream parameters are not filters', async (t) => {
  t.same(parse('namespace=demo&workload=client&identity=demo/client&service=web.demo&outcome=failed&kind=request&max=3&duration=1'), {
    namespace: 'demo', workload: 'client', identity: 'demo/client', service: 'web.demo', outcome: 'failed', kind: 'request',
  });
  t.same(parse(''), {}, 'nothing: everything');
  t.ok(Object.isFrozen(parse('kind=connection')), 'frozen');
});

t.test('bad queries are refused naming the parameter', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['kind=both', /^kind="both": must be connection or request$/],
    ['namespace=-x', /^namespace="-x": not a namespace name/],
    ['workload=Pod/demo/', /^workload="Pod\/demo\/": want name/],
    ['identity=client', /^identity="client": want a SPIFFE id/],
    ['service=a/b/c', /^service="a\/b\/c": want namespace\/name/],
    ['outcome=OK', /^outcome="OK": must be one of/],
    ['namespace=', /^namespace="": empty/],
    [`workload=${'a'.repeat(600)}`, /^workload="a{80}": longer than 512 characters$/],
    ['kind=request&kind=request', /^kind="request": given more than once/],
    ['nmespace=demo', /^nmespace: unknown parameter \(did you mean namespace\?\)$/],
  ];
  for (const [q, want] of cases) t.throws(() => parse(q), { code: 'MESHLET_ERR_CONFIG_INVALID', message: want }, q);
});

t.test('matching: every field given must match, on either side', async (t) => {
  const m = (q: string, facts: Partial<{ kind: 'connection' | 'request'; sw: string; dw: string; si: string; di: string; svc: string; outcome: string }>) =>
    matchesFacts(parse(q), facts.kind ?? 'connection', facts.sw, facts.dw, facts.si, facts.di, facts.svc, facts.outcome);
  const client = 'Pod/demo/client';
  const server = 'Pod/prod/server';
  t.equal(m('workload=client', { sw: client }), true, 'a name matches the uid');
  t.equal(m('workload=demo/client', { dw: client }), true, 'namespace/name, destination side');
  t.equal(m('workload=Pod/demo/client', { sw: client }), true, 'the uid itself');
  t.equal(m('workload=lient', { sw: client }), false, 'not a suffix of a name');
  t.equal(m('workload=client', {}), false, 'no workload known: no match');
  t.equal(m('namespace=prod', { sw: client, dw: server }), true, 'the destination namespace');
  t.equal(m('namespace=prod', { sw: client, svc: 'prod/web' }), true, "the Service's namespace");
  t.equal(m('namespace=prod', { sw: client }), false);
  t.equal(m('namespace=prod', { si: 'spiffe://td/ns/prod/sa/client' }), true, "a remote source's identity");
  t.equal(m('namespace=prod', { si: 'spiffe://td/ns/production/sa/client' }), false, 'not a namespace that starts alike');
  t.equal(m('identity=demo/client', { si: 'spiffe://td/ns/demo/sa/client' }), true, 'namespace/serviceaccount');
  t.equal(m('identity=spiffe://td/ns/demo/sa/client', { di: 'spiffe://td/ns/demo/sa/client' }), true, 'a SPIFFE id, destination side');
  t.equal(m('identity=demo/client', { si: 'spiffe://td/ns/demo/sa/client2' }), false);
  t.equal(m('service=web', { svc: 'demo/web' }), true, 'a name in any namespace');
  t.equal(m('service=web.demo.svc.cluster.local', { svc: 'demo/web' }), true, 'a DNS name');
  t.equal(m('service=demo/web', { svc: 'prod/web' }), false);
  t.equal(m('kind=request', { kind: 'connection' }), false);
  t.equal(m('outcome=ok', {}), false, 'an opened connection has no outcome yet');
  t.equal(m('outcome=failed', { outcome: 'denied' }), true, 'failed: anything but ok');
  t.equal(m('outcome=failed', { outcome: 'ok' }), false);
  t.equal(m('outcome=denied&workload=client', { sw: client, outcome: 'denied' }), true, 'both fields');
  t.equal(m('outcome=denied&workload=server', { sw: client, outcome: 'denied' }), false, 'one of two fields fails');
});

t.test('a filter crossing the worker channel is checked', async (t) => {
  t.equal(isTapFilter({ kind: 'request' }), true);
  t.equal(isTapFilter({ kind: 1 }), false, 'a value not a string');
  t.equal(isTapFilter({ evil: 'x' }), false, 'an unknown field');
  t.equal(isTapFilter([]), false, 'not an object');
});
