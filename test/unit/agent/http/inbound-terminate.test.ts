/**
 * The pure parts of inbound termination: the RequestHead built from a parsed request (paths,
 * authority, hop-by-hop headers, Expect) and the replayed head of a declined h2c upgrade.
 */
import t from 'tap';
import { upgradeReplay } from '../../../../src/agent/http/h1-stream.js';
import { terminatedHead } from '../../../../src/agent/http/terminated-exchange.js';

const target = { address: '10.0.0.20', port: 8080 };
const v6 = { address: 'fd00::20', port: 8080 };

t.test('origin form: path as sent, authority from Host (HTTP/1) or :authority (HTTP/2)', async (t) => {
  t.same(terminatedHead({ method: 'GET', url: '/a/../b?x=%2F', headers: { host: 'web.demo' } }, 'HTTP/1.1', target), {
    method: 'GET', path: '/a/../b?x=%2F', authority: 'web.demo', proto: 'HTTP/1.1', headers: {},
  });
  const h2 = terminatedHead({ method: 'POST', url: '/s', headers: { ':authority': 'grpc.demo:9000', ':path': '/s', ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' } }, 'HTTP/2', target);
  t.same(h2, { method: 'POST', path: '/s', authority: 'grpc.demo:9000', proto: 'HTTP/2', headers: { 'content-type': 'application/grpc', te: 'trailers' } });
});

t.test('no Host (HTTP/1.0): the target address and port', async (t) => {
  const head = terminatedHead({ method: 'GET', url: '/', headers: {} }, 'HTTP/1.0', target);
  t.equal('authority' in head ? head.authority : undefined, '10.0.0.20:8080');
  const head6 = terminatedHead({ method: 'GET', url: '/', headers: { host: '' } }, 'HTTP/1.0', v6);
  t.equal('authority' in head6 ? head6.authority : undefined, '[fd00::20]:8080', 'an empty Host too; IPv6 bracketed');
});

t.test('hop-by-hop headers, those Connection names, meshlet headers and Expect are not passed on', async (t) => {
  const head = terminatedHead({
    method: 'POST', url: '/', headers: {
      host: 'w', connection: 'keep-alive, x-private', 'keep-alive': 'timeout=5', 'x-private': 'p', 'transfer-encoding': 'chunked',
      upgrade: 'h2c', 'proxy-authorization': 'secret', expect: '100-continue', 'meshlet-dst': '1.2.3.4:1', 'meshlet-error': 'x', te: 'gzip', 'x-kept': 'k',
    },
  }, 'HTTP/1.1', target);
  t.same('headers' in head ? head.headers : undefined, { 'x-kept': 'k' });
});

t.test('absolute form: the origin-form path and the URL authority (Host ignored, RFC 9112 3.2.2)', async (t) => {
  const cases: [string, string, string][] = [
    ['http://evil.example/admin', '/admin', 'evil.example'],
    ['HTTP://Evil.Example:81/a?b=c', '/a?b=c', 'Evil.Example:81'],
    ['http://h', '/', 'h'],
    ['http://h?q=1', '/?q=1', 'h'],
    ['http://[fd00::1]:80/x', '/x', '[fd00::1]:80'],
  ];
  for (const [url, path, authority] of cases) {
    const head = terminatedHead({ method: 'GET', url, headers: { host: 'other' } }, 'HTTP/1.1', target);
    t.same('path' in head ? [head.path, head.authority] : head, [path, authority], url);
  }
});

t.test('targets that are neither origin form nor an http URL are refused (never handed to policy as they are)', async (t) => {
  for (const url of ['admin', 'https://h/admin', 'http://user@h/admin', 'http:///admin', 'http://h/a#frag', '*', 'ftp://h/']) {
    t.ok('refused' in terminatedHead({ method: 'GET', url, headers: { host: 'h' } }, 'HTTP/1.1', target), `${url} refused`);
  }
  const star = terminatedHead({ method: 'OPTIONS', url: '*', headers: { host: 'h' } }, 'HTTP/1.1', target);
  t.equal('path' in star ? star.path : undefined, '*', 'OPTIONS * is asterisk form');
  const long = terminatedHead({ method: 'GET', url: `x${'a'.repeat(10_000)}`, headers: {} }, 'HTTP/1.1', target);
  t.ok('refused' in long && long.refused.length < 200, 'the reason quotes a bounded prefix of a hostile target');
});

t.test('upgradeReplay: the request without its upgrade headers, body framing kept', async (t) => {
  const replay = upgradeReplay({
    method: 'POST', url: '/up?x', httpVersion: '1.1',
    rawHeaders: ['Host', 'w', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c', 'HTTP2-Settings', 'AAMA', 'Transfer-Encoding', 'chunked', 'X-A', '1', 'x-a', '2'],
  });
  t.equal(replay.toString('latin1'), 'POST /up?x HTTP/1.1\r\nHost: w\r\nTransfer-Encoding: chunked\r\nX-A: 1\r\nx-a: 2\r\n\r\n');
  t.equal(upgradeReplay({ method: 'GET', url: '/', httpVersion: '1.0', rawHeaders: [] }).toString('latin1'), 'GET / HTTP/1.0\r\n\r\n');
});
