/**
 * InboundTerminator against hostile and unusual input (smuggling, oversized and slow heads,
 * absolute-form targets, CONNECT, upgrades) and on streams that are not sockets: a tunnel
 * CONNECT ServerHttp2Stream (HTTP/1.1 and h2c inside it) and an in-memory Duplex.
 */
import { once } from 'node:events';
import http2, { type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import t from 'tap';
import { waitFor } from '../../helpers/wait-for.js';
import { duplexPair, raw, rawOn, statuses, terminateRig } from './inbound-terminate-rig.js';

const GET = (path: string, close = false): string => `GET ${path} HTTP/1.1\r\nHost: w\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;

t.test('request smuggling (Content-Length with Transfer-Encoding) and bad header bytes: 400, closed, no call', async (t) => {
  const rig = await terminateRig(t);
  const smuggle = await raw(rig.port, 'POST /a HTTP/1.1\r\nHost: w\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /deny HTTP/1.1\r\nHost: w\r\n\r\n');
  t.same(statuses(smuggle), [400]);
  const badBytes = await raw(rig.port, 'GET /a HTTP/1.1\r\nHost: w\r\nX-Bad: a\x01b\r\n\r\n');
  t.same(statuses(badBytes), [400]);
  t.equal(rig.fake.calls.length, 0, 'nothing reached the call');
  await waitFor('done', () => rig.done.length === 2);
  t.same(rig.done.map((d) => d.failure), ['bad_request', 'bad_request']);
});

t.test('a request head past maxHeaderBytes: 431, closed', async (t) => {
  const rig = await terminateRig(t, { maxHeaderBytes: 2048 });
  const answer = await raw(rig.port, `GET /a HTTP/1.1\r\nHost: w\r\nX-Big: ${'a'.repeat(4096)}\r\n\r\n`);
  t.same(statuses(answer), [431]);
  t.equal(rig.fake.calls.length, 0);
});

t.test('a head that does not arrive in time: 408 (slow head, silent client)', async (t) => {
  const rig = await terminateRig(t, { headersTimeoutMs: 300 });
  const started = Date.now();
  const slow = await raw(rig.port, 'GET /a HTTP/1.1\r\nHost: w\r\n');
  t.same(statuses(slow), [408]);
  const silent = await raw(rig.port, []);
  t.same(statuses(silent), [408]);
  t.ok(Date.now() - started < 20_000, 'both within a bounded time');
  t.equal(rig.fake.calls.length, 0);
  await waitFor('done', () => rig.done.length === 2);
  t.same(rig.done.map((d) => d.failure), ['bad_request', 'bad_request']);
});

t.test('absolute-form targets: policy sees the origin-form path and the URL authority; other forms 400', async (t) => {
  const rig = await terminateRig(t);
  const answer = await raw(rig.port, 'GET http://evil.example:8080/admin?x=1 HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n');
  t.same(statuses(answer), [200]);
  t.equal(rig.fake.calls[0]?.head.path, '/admin?x=1', 'the DENY on /admin sees /admin');
  t.equal(rig.fake.calls[0]?.head.authority, 'evil.example:8080');
  const https = await raw(rig.port, 'GET https://evil.example/admin HTTP/1.1\r\nHost: w\r\n\r\n');
  t.same(statuses(https), [400]);
  t.equal(rig.fake.calls.length, 1, 'the refused target never reached the call');
});

t.test('CONNECT 405; a WebSocket upgrade 501; both closed', async (t) => {
  const rig = await terminateRig(t);
  t.same(statuses(await raw(rig.port, 'CONNECT 10.0.0.1:22 HTTP/1.1\r\nHost: 10.0.0.1:22\r\n\r\n')), [405]);
  const ws = await raw(rig.port, 'GET /chat HTTP/1.1\r\nHost: w\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n');
  t.same(statuses(ws), [501]);
  t.equal(rig.fake.calls.length, 0);
  await waitFor('done', () => rig.done.length === 2);
  t.same(rig.done.map((d) => d.failure), ['connect_not_allowed', 'connect_not_allowed']);
});

t.test('an h2c upgrade is declined: served as HTTP/1.1, its chunked body intact, keep-alive kept', async (t) => {
  const rig = await terminateRig(t);
  const answer = await raw(rig.port, 'POST /up HTTP/1.1\r\nHost: w\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n' + GET('/deny', true));
  t.same(statuses(answer), [200, 403]);
  const seen = rig.fake.calls[0];
  t.equal(seen?.head.headers['upgrade'], undefined);
  t.equal(seen?.head.headers['http2-settings'], undefined);
  t.match(answer, /"bytes":5/);
  t.same(rig.fake.calls.map((c) => c.head.path), ['/up', '/deny'], 'the chunked body was not read as a request');
});

/** An h2 server that answers CONNECT 200 and hands the stream to `serve`; a client stream of it. */
async function connectTunnel(t: { teardown(fn: () => void): void }, serve: (s: Duplex) => void): Promise<() => Promise<http2.ClientHttp2Stream>> {
  const server = http2.createServer();
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.respond({ ':status': 200 });
    serve(stream);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const session = http2.connect(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  t.teardown(() => {
    session.destroy();
    server.close();
  });
  return async () => {
    const s = session.request({ ':method': 'CONNECT', ':authority': '10.0.0.20:8080' });
    await once(s, 'response');
    return s;
  };
}

t.test('a tunnel CONNECT stream (not a socket): HTTP/1.1 keep-alive with a denial, then h2c', async (t) => {
  const rig = await terminateRig(t);
  const open = await connectTunnel(t, rig.serve);
  const h1 = await open();
  const answer = await rawOn(h1, [GET('/a') + GET('/deny') + GET('/b', true)]);
  t.same(statuses(answer), [200, 403, 200]);
  await waitFor('done', () => rig.done.length === 1);
  const tunnel = await open();
  const session = http2.connect('http://10.0.0.20:8080', { createConnection: () => tunnel as unknown as net.Socket });
  t.teardown(() => session.destroy());
  const get = (path: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': path });
      let status = 0;
      s.on('response', (h) => (status = Number(h[':status'])));
      s.resume();
      s.on('end', () => resolve(status));
      s.on('error', reject);
    });
  t.same(await Promise.all([get('/barrier'), get('/barrier')]), [200, 200], 'two concurrent streams inside the tunnel stream');
  t.equal(await get('/deny'), 403);
  t.equal(await get('/c'), 200);
  session.close();
  await waitFor('done', () => rig.done.length === 2);
  t.same(rig.done.map((d) => d.failure), [undefined, undefined]);
  t.same(rig.fake.calls.map((c) => c.head.proto), ['HTTP/1.1', 'HTTP/1.1', 'HTTP/1.1', 'HTTP/2', 'HTTP/2', 'HTTP/2', 'HTTP/2']);
});

t.test('an in-memory Duplex (no socket, no setTimeout): HTTP/1.1 keep-alive with a denial', async (t) => {
  const rig = await terminateRig(t);
  const [client, server] = duplexPair();
  rig.serve(server);
  const answer = await rawOn(client, [GET('/a') + GET('/deny') + GET('/b', true)]);
  t.same(statuses(answer), [200, 403, 200]);
  await waitFor('done', () => rig.done.length === 1);
  t.equal(rig.terminator.connectionCount, 0);
});

t.test('a stream already closed, or closed before its first byte: done once, no call', async (t) => {
  const rig = await terminateRig(t);
  const [, dead] = duplexPair();
  dead.destroy();
  rig.serve(dead);
  const [client, server] = duplexPair();
  rig.serve(server);
  client.end();
  await waitFor('done', () => rig.done.length === 2);
  t.equal(rig.fake.calls.length, 0);
  t.equal(rig.terminator.connectionCount, 0);
});

t.test('idle keep-alive: an HTTP/1.1 connection and an HTTP/2 session are closed after keepAliveTimeoutMs', async (t) => {
  const rig = await terminateRig(t, { keepAliveTimeoutMs: 300 });
  const s = net.connect(rig.port, '127.0.0.1');
  s.on('error', () => undefined);
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString('latin1')));
  const closed = once(s, 'close');
  s.write(GET('/a'));
  await closed;
  t.same(statuses(text), [200], 'answered, then closed when idle');
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  session.on('error', () => undefined);
  const goaway = once(session, 'goaway');
  const st = session.request({ ':path': '/a' });
  st.resume();
  await once(st, 'end');
  await goaway;
  t.pass('the idle session got GOAWAY');
  session.close();
  await waitFor('done', () => rig.done.length === 2);
  t.same(rig.done.map((d) => d.failure), [undefined, undefined]);
});

t.test('an HTTP/2 CONNECT is answered 405 and never reaches the call', async (t) => {
  const rig = await terminateRig(t);
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  t.teardown(() => session.destroy());
  const s = session.request({ ':method': 'CONNECT', ':authority': '10.0.0.1:22' });
  const [headers] = (await once(s, 'response')) as [http2.IncomingHttpHeaders];
  t.equal(headers[':status'], 405);
  t.equal(rig.fake.calls.length, 0);
});
