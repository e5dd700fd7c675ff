/**
 * InboundTerminator on 127.0.0.1 with a fake `InboundHttp.call`: HTTP/1.1 keep-alive with a
 * denied request in between, pipelining, h2c prior knowledge, bodies, trailers, 100-continue,
 * a client that goes away, drain; `done` told exactly once per stream.
 */
import { randomBytes, createHash } from 'node:crypto';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import t from 'tap';
import { waitFor } from '../../helpers/wait-for.js';
import { raw, SOURCE, statuses, TARGET, terminateRig } from './inbound-terminate-rig.js';

interface Echo {
  method: string;
  path: string;
  authority: string;
  proto: string;
  headers: Record<string, string>;
  bytes: number;
  sha256: string;
}

/** One HTTP/1.1 request with `agent`: status, headers, body, trailers. */
function request(port: number, agent: http.Agent, path: string, opts: { method?: string; body?: Buffer; headers?: http.OutgoingHttpHeaders } = {}): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string; trailers: NodeJS.Dict<string> }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path, method: opts.method ?? 'GET', agent, headers: { host: 'web.demo:8080', ...opts.headers } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString(), trailers: res.trailers }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

t.test('HTTP/1.1 keep-alive: a denied request gets 403 and the next one on the connection is served', async (t) => {
  const rig = await terminateRig(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const a = await request(rig.port, agent, '/a?x=1');
  const denied = await request(rig.port, agent, '/deny');
  const b = await request(rig.port, agent, '/b');
  t.equal(a.status, 200);
  t.equal(denied.status, 403);
  t.equal(denied.body, 'meshlet: policy_denied\n');
  t.equal(denied.headers['meshlet-error'], undefined, 'meshlet-error stays inside the mesh');
  t.equal(b.status, 200);
  t.equal(rig.fake.calls.length, 3, 'one call per request');
  t.equal(rig.terminator.connectionCount, 1, 'one connection carried all three');
  const echo = JSON.parse(a.body) as Echo;
  t.same({ method: echo.method, path: echo.path, authority: echo.authority, proto: echo.proto }, { method: 'GET', path: '/a?x=1', authority: 'web.demo:8080', proto: 'HTTP/1.1' });
  t.equal(echo.headers['connection'], undefined, 'hop-by-hop headers are not passed on');
  t.equal(echo.headers['host'], undefined, 'host travels as the authority');
  const first = rig.fake.calls[0];
  t.equal(first?.source, SOURCE, 'the source as the caller gave it');
  t.same(first?.target, TARGET);
  t.equal(first?.endStream, true, 'a GET without a body is sent without one');
  t.same(rig.done, [], 'done is not told while the connection is open');
  agent.destroy();
  await waitFor('done', () => rig.done.length === 1);
  t.same(rig.done, [{ failure: undefined, reason: undefined }]);
  t.equal(rig.terminator.connectionCount, 0);
});

t.test('pipelined requests are answered in order, the denied one in its place', async (t) => {
  const rig = await terminateRig(t);
  const req = (path: string, close = false): string => `GET ${path} HTTP/1.1\r\nHost: w\r\n${close ? 'Connection: close\r\n' : ''}\r\n`;
  const answer = await raw(rig.port, req('/one') + req('/deny') + req('/two', true));
  t.same(statuses(answer), [200, 403, 200]);
  t.same(rig.fake.calls.map((c) => c.head.path), ['/one', '/deny', '/two']);
  t.ok(answer.indexOf('"path":"/one"') < answer.indexOf('"path":"/two"'), 'responses in request order');
  await waitFor('done', () => rig.done.length === 1);
});

t.test('h2c with prior knowledge: two concurrent streams on one session', async (t) => {
  const rig = await terminateRig(t);
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  t.teardown(() => session.destroy());
  const get = (path: string): Promise<{ status: number; body: string }> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': path, ':authority': 'web.demo' });
      let status = 0;
      let body = '';
      s.on('response', (h) => (status = Number(h[':status'])));
      s.on('data', (c: Buffer) => (body += c.toString()));
      s.on('end', () => resolve({ status, body }));
      s.on('error', reject);
    });
  // Each /barrier call answers only once both are in flight: one session carries both at once.
  const [x, y] = await Promise.all([get('/barrier'), get('/barrier')]);
  t.equal(x.status, 200);
  t.equal(y.status, 200);
  t.equal((JSON.parse(x.body) as Echo).proto, 'HTTP/2');
  t.equal((JSON.parse(x.body) as Echo).authority, 'web.demo');
  const denied = await get('/deny');
  t.equal(denied.status, 403);
  const after = await get('/after');
  t.equal(after.status, 200, 'the session is still served after a denial');
  t.equal(rig.terminator.connectionCount, 1);
  session.close();
  await waitFor('done', () => rig.done.length === 1);
  t.same(rig.done, [{ failure: undefined, reason: undefined }]);
});

t.test('request bodies are piped whole (HTTP/1.1 chunked and with a length, HTTP/2)', async (t) => {
  const rig = await terminateRig(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const body = randomBytes(1024 * 1024 + 17);
  const sha = createHash('sha256').update(body).digest('hex');
  const sized = JSON.parse((await request(rig.port, agent, '/up', { method: 'POST', body })).body) as Echo;
  t.equal(sized.bytes, body.length);
  t.equal(sized.sha256, sha);
  const chunked = await new Promise<Echo>((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: rig.port, path: '/up', method: 'PUT', agent }, (res) => {
      let text = '';
      res.on('data', (c: Buffer) => (text += c.toString()));
      res.on('end', () => resolve(JSON.parse(text) as Echo));
    });
    req.on('error', reject);
    for (let i = 0; i < body.length; i += 100_000) req.write(body.subarray(i, i + 100_000));
    req.end();
  });
  t.equal(chunked.bytes, body.length);
  t.equal(chunked.sha256, sha);
  t.equal(chunked.headers['transfer-encoding'], undefined, 'transfer-encoding is hop-by-hop');
  t.same(rig.fake.calls.map((c) => c.endStream), [false, false]);
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  t.teardown(() => session.destroy());
  const s = session.request({ ':path': '/up', ':method': 'POST' });
  s.end(body);
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString()));
  await once(s, 'end');
  const h2 = JSON.parse(text) as Echo;
  t.equal(h2.bytes, body.length);
  t.equal(h2.sha256, sha);
});

t.test('trailers: HTTP/1.1 chunked trailers; HTTP/2 trailers; gRPC trailers-only for a denial', async (t) => {
  const rig = await terminateRig(t);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  t.teardown(() => agent.destroy());
  const h1 = await request(rig.port, agent, '/trailers', { headers: { te: 'trailers' } });
  t.equal(h1.body, 'payload');
  t.equal(h1.headers['transfer-encoding'], 'chunked');
  t.equal(h1.trailers['x-checksum'], 'abc');
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  t.teardown(() => session.destroy());
  const grpc = (path: string): Promise<{ headers: http2.IncomingHttpHeaders; trailers: http2.IncomingHttpHeaders; data: number }> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':path': path, ':method': 'POST', 'content-type': 'application/grpc', te: 'trailers' });
      let headers: http2.IncomingHttpHeaders = {};
      let trailers: http2.IncomingHttpHeaders = {};
      let data = 0;
      s.on('response', (h) => (headers = h));
      s.on('trailers', (h) => (trailers = h));
      s.on('data', (c: Buffer) => (data += c.length));
      s.on('end', () => resolve({ headers, trailers, data }));
      s.on('error', reject);
      s.end(Buffer.from([0, 0, 0, 0, 0]));
    });
  const ok = await grpc('/trailers');
  t.equal(ok.headers[':status'], 200);
  t.equal(ok.data, 7);
  t.equal(ok.trailers['grpc-status'], '0');
  const denied = await grpc('/deny');
  t.equal(denied.headers[':status'], 200, 'gRPC callers get 200 and a grpc-status');
  t.equal(denied.headers['grpc-status'], '7', 'PERMISSION_DENIED in the head (trailers-only)');
  t.equal(denied.headers['meshlet-error'], undefined);
  t.equal(denied.data, 0);
  t.same(denied.trailers, {}, 'no separate trailers');
});

t.test('Expect: 100-continue is answered at once and not passed on', async (t) => {
  const rig = await terminateRig(t);
  const s = net.connect(rig.port, '127.0.0.1');
  t.teardown(() => s.destroy());
  let text = '';
  s.on('data', (c: Buffer) => (text += c.toString('latin1')));
  s.write('POST /up HTTP/1.1\r\nHost: w\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n');
  await waitFor('100 Continue', () => text.startsWith('HTTP/1.1 100 Continue\r\n'));
  t.equal(rig.fake.calls.length, 1, 'the call is made at the head');
  s.write('hello');
  await waitFor('the final response', () => /\r\n\r\n\{.*\}$/s.test(text));
  t.same(statuses(text), [100, 200]);
  const echo = JSON.parse(text.slice(text.indexOf('{'))) as Echo;
  t.equal(echo.bytes, 5);
  t.equal(echo.headers['expect'], undefined);
});

t.test('HEAD: the head only', async (t) => {
  const rig = await terminateRig(t);
  const answer = await raw(rig.port, 'HEAD /deny HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n');
  t.same(statuses(answer), [403]);
  t.match(answer, /content-length: 23\r\n/i, 'the length of the body a GET would get');
  t.ok(answer.endsWith('\r\n\r\n'), 'no body');
});

t.test('a client that goes away mid-response aborts the call; done once', async (t) => {
  const rig = await terminateRig(t);
  const s = net.connect(rig.port, '127.0.0.1');
  s.on('error', () => undefined);
  let got = 0;
  s.on('data', (c: Buffer) => (got += c.length));
  s.write('GET /slow HTTP/1.1\r\nHost: w\r\n\r\n');
  await waitFor('some of the body', () => got > 4096);
  s.destroy();
  await waitFor('abort', () => rig.fake.calls[0]?.aborted === true);
  await waitFor('done', () => rig.done.length === 1);
  t.equal(rig.done.length, 1);
  t.equal(rig.fake.calls[0]?.aborted, true);
  // The same over HTTP/2: the client resets its stream.
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  t.teardown(() => session.destroy());
  const st = session.request({ ':path': '/slow' });
  let h2got = 0;
  st.on('data', (c: Buffer) => (h2got += c.length));
  await waitFor('some of the h2 body', () => h2got > 4096);
  st.close(http2.constants.NGHTTP2_CANCEL);
  await waitFor('h2 abort', () => rig.fake.calls[1]?.aborted === true);
  t.equal(rig.fake.calls[1]?.aborted, true);
  session.destroy();
  await waitFor('second done', () => rig.done.length === 2);
  t.equal(rig.done.length, 2, 'each stream told once');
});

t.test('a completed response does not abort its call', async (t) => {
  const rig = await terminateRig(t);
  t.same(statuses(await raw(rig.port, 'GET /a HTTP/1.1\r\nHost: w\r\nConnection: close\r\n\r\n')), [200]);
  await waitFor('done', () => rig.done.length === 1);
  t.equal(rig.fake.calls[0]?.aborted, false);
});

t.test('close() drains: in-flight requests finish with Connection: close, idle connections close, new ones are refused', async (t) => {
  const rig = await terminateRig(t);
  const idle = net.connect(rig.port, '127.0.0.1');
  idle.on('error', () => undefined);
  const idleClosed = once(idle, 'close');
  let idleText = '';
  idle.on('data', (c: Buffer) => (idleText += c.toString('latin1')));
  idle.write('GET /a HTTP/1.1\r\nHost: w\r\n\r\n');
  await waitFor('the idle connection answered', () => idleText.includes('"path":"/a"'));
  const busy = net.connect(rig.port, '127.0.0.1');
  busy.on('error', () => undefined);
  let busyText = '';
  busy.on('data', (c: Buffer) => (busyText += c.toString('latin1')));
  const busyClosed = once(busy, 'close');
  busy.write('GET /hang HTTP/1.1\r\nHost: w\r\n\r\n');
  const session = http2.connect(`http://127.0.0.1:${rig.port}`);
  session.on('error', () => undefined);
  const goaway = once(session, 'goaway');
  const h2 = session.request({ ':path': '/hang' });
  let h2status = 0;
  let h2body = '';
  h2.on('response', (h) => (h2status = Number(h[':status'])));
  h2.on('data', (c: Buffer) => (h2body += c.toString()));
  const h2end = once(h2, 'end');
  await waitFor('both requests in flight', () => rig.fake.hanging === 2);
  t.equal(rig.terminator.connectionCount, 3);
  rig.terminator.close();
  await idleClosed;
  t.pass('the idle HTTP/1.1 connection was closed');
  await goaway;
  const late = await raw(rig.port, 'GET /late HTTP/1.1\r\nHost: w\r\n\r\n');
  t.equal(late, '', 'a connection after close() is refused');
  rig.fake.release();
  await busyClosed;
  t.same(statuses(busyText), [200]);
  t.match(busyText, /connection: close\r\n/i, 'the in-flight HTTP/1.1 response says close');
  t.match(busyText, /later$/);
  await h2end;
  t.equal(h2status, 200);
  t.equal(h2body, 'later');
  session.close();
  await waitFor('every connection done', () => rig.done.length === 4);
  t.same(rig.done.filter((d) => d.failure === 'drained').length, 1, 'only the late one is drained');
  t.equal(rig.terminator.connectionCount, 0);
  t.same(rig.fake.calls.map((c) => c.head.path).sort(), ['/a', '/hang', '/hang'], 'the late request never reached the call');
});
