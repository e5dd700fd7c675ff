/** The hash key of a request: header, cookie or source IP, the first source that yields one. */
import t from 'tap';
import { cookieValue, hashKeyOf } from '../../../../../src/agent/policy/balancers/hash-key.js';

const req = (headers: Record<string, string | string[]>, sourceAddress = '10.0.0.7') => ({ headers, sourceAddress });

t.test('header, cookie, source IP', async (t) => {
  t.equal(hashKeyOf([{ kind: 'header', name: 'X-User' }], req({ 'x-user': 'alice' })), 'alice', 'header names are case-insensitive');
  t.equal(hashKeyOf([{ kind: 'header', name: 'x-user' }], req({ 'x-user': ['a', 'b'] })), 'a,b', 'repeated headers joined');
  t.equal(hashKeyOf([{ kind: 'cookie', name: 'session' }], req({ cookie: 'theme=dark; session=s-42 ; x=1' })), 's-42');
  t.equal(hashKeyOf([{ kind: 'source-ip' }], req({})), '10.0.0.7');
});

t.test('the first source with a value wins; none gives no key', async (t) => {
  const sources = [{ kind: 'header', name: 'x-user' }, { kind: 'cookie', name: 'session' }, { kind: 'source-ip' }] as const;
  t.equal(hashKeyOf(sources, req({ cookie: 'session=s-1' })), 's-1');
  t.equal(hashKeyOf(sources, req({ 'x-user': '' , cookie: 'other=1' })), '10.0.0.7', 'an empty header and a missing cookie fall through');
  t.equal(hashKeyOf(sources.slice(0, 2), req({})), undefined);
  t.equal(hashKeyOf([], req({ 'x-user': 'a' })), undefined);
});

t.test('cookie parsing', async (t) => {
  t.equal(cookieValue('a=1;b=2', 'b'), '2');
  t.equal(cookieValue('ab=1; b=2', 'b'), '2', 'not a prefix match');
  t.equal(cookieValue('flag; b=x=y', 'b'), 'x=y', 'a value may hold =');
  t.equal(cookieValue('a=1', 'b'), undefined);
});
