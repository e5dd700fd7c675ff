/**
 * Header hygiene of every L7 hop (wire.ts): hop-by-hop headers, headers named in Connection,
 * pseudo-headers and meshlet's own headers never pass; `te` only as `trailers`.
 */
import t from 'tap';
import { endToEnd, protoOf } from '../../../../src/agent/http/wire.js';

t.test('hop-by-hop headers and pseudo-headers are stripped, end-to-end ones kept', async (t) => {
  const out = endToEnd({
    ':method': 'GET',
    ':path': '/',
    host: 'a.example',
    connection: 'keep-alive',
    'keep-alive': 'timeout=5',
    'proxy-connection': 'keep-alive',
    'proxy-authorization': 'Basic x',
    'transfer-encoding': 'chunked',
    upgrade: 'h2c',
    'http2-settings': 'AAA',
    'content-type': 'text/plain',
    'x-custom': 'v',
    'set-cookie': ['a=1', 'b=2'],
  });
  t.same(out, { 'content-type': 'text/plain', 'x-custom': 'v', 'set-cookie': ['a=1', 'b=2'] });
});

t.test('headers named in Connection are removed, whatever their case and spacing', async (t) => {
  t.same(endToEnd({ connection: 'X-Foo , x-bar', 'x-foo': '1', 'x-bar': '2', 'x-baz': '3' }), { 'x-baz': '3' });
  t.same(endToEnd({ connection: 'close', 'x-foo': '1' }), { 'x-foo': '1' }, 'a Connection option that names no header removes nothing else');
});

t.test('te passes only as trailers', async (t) => {
  t.same(endToEnd({ te: 'trailers' }), { te: 'trailers' });
  t.same(endToEnd({ te: 'gzip, Trailers' }), { te: 'trailers' }, 'trailers among others: only trailers kept');
  t.same(endToEnd({ te: 'gzip' }), {}, 'any other te dropped');
  t.same(endToEnd({ te: 'trailers', connection: 'te' }), {}, 'te named in Connection goes too');
});

t.test("meshlet's own headers are stripped unless kept on purpose", async (t) => {
  const h = { 'meshlet-dst': '10.0.0.1:80', 'meshlet-proto': 'HTTP/2', 'meshlet-error': 'policy_denied', forwarded: 'for="1.2.3.4:5"' };
  t.same(endToEnd(h), { forwarded: 'for="1.2.3.4:5"' });
  t.same(endToEnd(h, new Set(['meshlet-dst'])), { 'meshlet-dst': '10.0.0.1:80', forwarded: 'for="1.2.3.4:5"' });
});

t.test('protoOf: the three versions, anything else is HTTP/1.1', async (t) => {
  t.same(['HTTP/2', 'HTTP/1.0', 'HTTP/1.1', 'HTTP/3', undefined, ['HTTP/2']].map((v) => protoOf(v)), ['HTTP/2', 'HTTP/1.0', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1']);
});
