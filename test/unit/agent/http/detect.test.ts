/**
 * Protocol detection over byte prefixes: every prefix of a real request line is need-more until
 * its CRLF, the h2 preface and a TLS ClientHello are recognised, and everything else (server
 * banners, look-alike text protocols, binary) is opaque as early as the bytes allow.
 */
import t from 'tap';
import { METHODS } from 'node:http';
import { classify, DEFAULT_SNIFF_MAX_BYTES, H2_PREFACE, HTTP1_METHODS } from '../../../../src/agent/http/detect.js';

const b = (s: string): Buffer => Buffer.from(s, 'latin1');

/** The answers for every prefix length 1..n of `bytes`. */
function prefixes(bytes: Buffer): string[] {
  return Array.from({ length: bytes.length }, (_, i) => classify(bytes.subarray(0, i + 1)));
}

t.test('an empty buffer needs more', async (t) => {
  t.equal(classify(Buffer.alloc(0)), 'need-more');
});

t.test('every prefix of a real HTTP/1.1 request line needs more until its CRLF', async (t) => {
  const line = 'GET /api/v1/items?id=7&q=a%20b HTTP/1.1\r\n';
  const request = b(`${line}Host: web.demo:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\n\r\n`);
  const answers = prefixes(request);
  t.same(answers.slice(0, line.length - 1), Array(line.length - 1).fill('need-more'), 'need-more up to the LF');
  t.equal(answers[line.length - 1], 'http1', 'decided at the LF');
  t.same(new Set(answers.slice(line.length)), new Set(['http1']), 'and stays decided with headers after it');
});

t.test('HTTP/1.0, absolute-form, authority-form and asterisk-form request lines', async (t) => {
  t.equal(classify(b('GET / HTTP/1.0\r\n')), 'http1');
  t.equal(classify(b('GET http://web.demo/x HTTP/1.1\r\n')), 'http1');
  t.equal(classify(b('CONNECT web.demo:443 HTTP/1.1\r\n')), 'http1');
  t.equal(classify(b('OPTIONS * HTTP/1.1\r\n')), 'http1');
  t.equal(classify(b('PROPFIND /dav/ HTTP/1.1\r\n')), 'http1', 'WebDAV');
  t.equal(classify(b('M-SEARCH * HTTP/1.1\r\n')), 'http1', 'a method with a dash');
  t.equal(classify(b('PURGE /cache/x HTTP/1.1\r\n')), 'http1');
  t.equal(classify(b('GET /caf\xc3\xa9 HTTP/1.1\r\n')), 'http1', 'raw UTF-8 in the target');
});

t.test('every listed method is decided, and every one is a method Node parses', async (t) => {
  t.ok(HTTP1_METHODS.length >= 30, `${HTTP1_METHODS.length} methods`);
  for (const m of HTTP1_METHODS) t.equal(classify(b(`${m} / HTTP/1.1\r\n`)), 'http1', m);
  t.same(HTTP1_METHODS.filter((m) => !METHODS.includes(m)), [], 'none that Node would answer 400');
  t.same(METHODS.filter((m) => !HTTP1_METHODS.includes(m)), [], 'and none of Node\'s missing');
});

t.test('decided opaque at the first byte that cannot be HTTP', async (t) => {
  t.equal(classify(b('G')), 'need-more');
  t.equal(classify(b('GE')), 'need-more');
  t.equal(classify(b('GX')), 'opaque');
  t.equal(classify(b('X')), 'opaque');
  t.equal(classify(b('GET')), 'need-more');
  t.equal(classify(b('GETS')), 'opaque', 'a method must end with SP');
  t.equal(classify(b('GET  / HTTP/1.1\r\n')), 'opaque', 'an empty target');
  t.equal(classify(b('GET /a\tb HTTP/1.1\r\n')), 'opaque', 'a control byte in the target');
  t.equal(classify(b('GET /a\r\n')), 'opaque', 'HTTP/0.9 (no version) is not sent by any client we serve');
  t.equal(classify(b('GET / HTTP/1.2\r\n')), 'opaque', 'unknown minor version');
  t.equal(classify(b('GET / HTTP/2.0\r\n')), 'opaque');
  t.equal(classify(b('GET / HTTP/1.1\n')), 'opaque', 'bare LF');
  t.equal(classify(b('GET / HTTP/1.1 \r\n')), 'opaque', 'trailing space');
  t.equal(classify(b('get / HTTP/1.1\r\n')), 'opaque', 'methods are case-sensitive (memcached `get k`)');
  t.equal(classify(b('GET /key\r\n')), 'opaque', 'Redis inline command with a slash key');
  t.equal(classify(b('SET foo bar\r\n')), 'opaque', 'Redis inline command');
  t.equal(classify(b('*2\r\n$3\r\nGET\r\n$3\r\nfoo\r\n')), 'opaque', 'Redis RESP');
});

t.test('the HTTP/2 client preface, prefix by prefix', async (t) => {
  const answers = prefixes(H2_PREFACE);
  t.same(answers.slice(0, 23), Array(23).fill('need-more'));
  t.equal(answers[23], 'h2');
  const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
  t.equal(classify(Buffer.concat([H2_PREFACE, settings])), 'h2', 'with the first SETTINGS frame after it');
  t.equal(classify(b('PRI * HTTP/2.0\r\n\r\nXX')), 'opaque', 'a broken preface');
  t.equal(classify(b('PRI * HTTP/1.1\r\n')), 'opaque', 'PRI is not an HTTP/1 method');
  t.equal(classify(b('P')), 'need-more', 'P may be PRI, POST, PUT, PATCH ...');
  t.equal(classify(b('PR')), 'need-more');
  t.equal(classify(b('PO')), 'need-more');
  t.equal(classify(b('PX')), 'opaque');
});

t.test('a TLS ClientHello is tls at its third byte', async (t) => {
  // The record header and the start of a real TLS 1.2/1.3 ClientHello (curl's).
  const hello = Buffer.from('160301020001000200fc0303', 'hex');
  t.same(prefixes(hello.subarray(0, 3)), ['need-more', 'need-more', 'tls']);
  t.equal(classify(hello), 'tls');
  for (const minor of [0, 1, 2, 3, 4]) t.equal(classify(Buffer.from([0x16, 0x03, minor])), 'tls', `3.${minor}`);
  t.equal(classify(Buffer.from([0x16, 0x03, 0x05])), 'opaque');
  t.equal(classify(Buffer.from([0x16, 0x02])), 'opaque');
  t.equal(classify(Buffer.from([0x17, 0x03, 0x03])), 'opaque', 'application data is not a ClientHello');
});

t.test('server-first banners and binary garbage are opaque', async (t) => {
  t.equal(classify(b('SSH-2.0-OpenSSH_9.6\r\n')), 'opaque');
  t.equal(classify(b('220 mail.example.com ESMTP Postfix\r\n')), 'opaque');
  t.equal(classify(b('EHLO client.example.com\r\n')), 'opaque', 'an SMTP client line');
  // MySQL's server greeting starts with a 3-byte length and sequence 0.
  t.equal(classify(Buffer.from('4a0000000a382e302e3336', 'hex')), 'opaque');
  // PostgreSQL's client speaks first: an SSLRequest.
  t.equal(classify(Buffer.from('0000000804d2162f', 'hex')), 'opaque');
  let seed = 42;
  const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const garbage = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(random() * 256)));
  t.equal(classify(garbage), 'opaque');
  t.equal(classify(Buffer.from([0, 0, 0, 0])), 'opaque');
});

t.test('a request line longer than the bound is opaque at the bound, not before', async (t) => {
  const long = b(`GET /${'a'.repeat(DEFAULT_SNIFF_MAX_BYTES)} HTTP/1.1\r\n`);
  t.equal(classify(long.subarray(0, DEFAULT_SNIFF_MAX_BYTES - 1)), 'need-more');
  t.equal(classify(long.subarray(0, DEFAULT_SNIFF_MAX_BYTES)), 'opaque');
  t.equal(classify(long), 'http1', 'given whole, it is a request line (sniff stops reading at the bound)');
  t.equal(classify(b('GET /abc'), 8), 'opaque', 'a smaller bound');
  t.equal(classify(b('GET / HTTP/1.1\r\n'), 8), 'http1', 'a decision within the bytes wins over the bound');
});
