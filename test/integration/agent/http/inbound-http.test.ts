/**
 * The destination side of L7 end to end on 127.0.0.1: HTTP/2 requests on the pooled mTLS
 * tunnel session (wire.ts) served by InboundHttp toward an HTTP/1.1 and an h2c workload.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { constants as h2 } from 'node:http2';
import { waitFor } from '../../../helpers/wait-for.js';
import { answer, l7Rig, open, readBody, send } from './l7-rig.js';

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

t.test('GET: Host restored, forwarding headers added, meshlet headers stripped, one record', async (t) => {
  const rig = await l7Rig(t);
  let seen: { method?: string | undefined; url?: string | undefined; headers?: Record<string, unknown>; version?: string } = {};
  rig.onH1((req, res) => {
    seen = { method: req.method, url: req.url, headers: { ...req.headers }, version: req.httpVersion };
    res.setHeader('x-answer', 'yes');
    res.end('hello');
  });
  const a = await send(rig, { port: rig.h1Port, path: '/a/b?c=d', authority: 'server.demo.svc:8080', headers: { 'x-forwarded-for': '10.9.9.9', 'x-request-id': 'req-1' } });
  t.equal(a.status, 200);
  t.equal(a.body.toString(), 'hello');
  t.equal(a.headers['x-answer'], 'yes');
  t.equal(a.headers['meshlet-error'], undefined, 'a workload answer carries no meshlet-error');
  t.same([seen.method, seen.url, seen.version], ['GET', '/a/b?c=d', '1.1']);
  t.equal(seen.headers?.['host'], 'server.demo.svc:8080', 'Host is the application authority');
  t.equal(seen.headers?.['x-forwarded-for'], '10.9.9.9, 127.0.0.9', 'the client address appended, without its port');
  t.equal(seen.headers?.['x-forwarded-proto'], 'http');
  t.equal(seen.headers?.['x-request-id'], 'req-1', 'an x-request-id is kept');
  for (const h of ['meshlet-dst', 'meshlet-proto', 'forwarded', 'expect']) t.equal(seen.headers?.[h], undefined, `${h} does not reach the workload`);
  const rec = rig.records[0];
  t.equal(rig.records.length, 1);
  t.match(rec, { reporter: 'destination', method: 'GET', authority: 'server.demo.svc:8080', path: '/a/b?c=d', proto: 'HTTP/1.1', requestProtocol: 'http', status: 200, sourceIdentity: 'spiffe://cluster.local/ns/demo/sa/client', destinationWorkload: 'Pod/demo/server', securityPolicy: 'mutual_tls', requestBytes: 0, responseBytes: 5 });
  t.equal(rec?.failure, undefined);
  t.equal(rec?.upstream, `127.0.0.1:${rig.h1Port}`);
});

t.test('an x-request-id is made when the request has none', async (t) => {
  const rig = await l7Rig(t);
  let id: unknown;
  rig.onH1((req, res) => {
    id = req.headers['x-request-id'];
    res.end();
  });
  await send(rig, { port: rig.h1Port });
  t.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
});

t.test('POST with a Content-Length body, and a chunked request and chunked response with trailers', async (t) => {
  const rig = await l7Rig(t);
  rig.onH1(async (req, res) => {
    const body = await readBody(req);
    if (req.url === '/chunked') {
      t.equal(req.headers['transfer-encoding'], 'chunked', 'no length known: chunked toward the workload');
      res.writeHead(200, { trailer: 'x-digest' });
      res.write('part1-');
      res.write(`${body.length}`);
      res.addTrailers({ 'x-digest': sha(body) });
      res.end();
      return;
    }
    t.equal(req.headers['content-length'], String(body.length));
    res.end(`got ${req.method} ${body.toString()}`);
  });
  const post = await send(rig, { method: 'POST', port: rig.h1Port, headers: { 'content-length': '5' }, body: Buffer.from('abcde') });
  t.equal(post.body.toString(), 'got POST abcde');
  const parts = [Buffer.from('one,'), Buffer.from('two,'), Buffer.from('three')];
  const chunked = await send(rig, { method: 'PUT', path: '/chunked', port: rig.h1Port, headers: { te: 'trailers' }, body: parts });
  t.equal(chunked.status, 200);
  t.equal(chunked.body.toString(), 'part1-13');
  t.equal(chunked.trailers['x-digest'], sha(Buffer.concat(parts)), 'HTTP/1.1 chunked trailers arrive as HTTP/2 trailers');
  t.equal(rig.records[1]?.requestBytes, 13);
});

t.test('h2c workload: gRPC-shaped request, trailers with grpc-status', async (t) => {
  const rig = await l7Rig(t);
  rig.onH2((stream, headers) => {
    t.equal(headers[':authority'], 'grpc.demo.svc:9000');
    t.equal(headers['te'], 'trailers');
    t.equal(headers['meshlet-dst'], undefined);
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'not found' }));
      stream.end(Buffer.concat(chunks));
    });
  });
  const msg = Buffer.from([0, 0, 0, 0, 3, 1, 2, 3]);
  const a = await send(rig, {
    method: 'POST', path: '/pkg.Svc/Get', authority: 'grpc.demo.svc:9000', proto: 'HTTP/2', port: rig.h2Port,
    headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: msg,
  });
  t.equal(a.status, 200);
  t.same(a.body, msg, 'the message echoed');
  t.same([a.trailers['grpc-status'], a.trailers['grpc-message']], ['5', 'not found']);
  t.equal(rig.accepted.h2, 1);
  t.match(rig.records[0], { proto: 'HTTP/2', requestProtocol: 'grpc', status: 200, grpcStatus: 5, requestBytes: 8, responseBytes: 8 });
});

for (const proto of ['HTTP/1.1', 'HTTP/2'] as const) {
  t.test(`${proto}: 10 MB up and 10 MB down, hashes compared`, async (t) => {
    const rig = await l7Rig(t);
    const down = randomBytes(10 * 1024 * 1024);
    const up = randomBytes(10 * 1024 * 1024);
    rig.onH1(async (req, res) => {
      const body = await readBody(req);
      res.writeHead(200, { 'x-up-sha256': sha(body) });
      res.end(down);
    });
    rig.onH2((stream) => {
      void readBody(stream).then((body) => {
        stream.respond({ ':status': 200, 'x-up-sha256': sha(body) });
        stream.end(down);
      });
    });
    const a = await send(rig, { method: 'POST', proto, port: proto === 'HTTP/2' ? rig.h2Port : rig.h1Port, body: up });
    t.equal(a.headers['x-up-sha256'], sha(up), 'upload intact');
    t.equal(a.body.length, down.length);
    t.equal(sha(a.body), sha(down), 'download intact');
    t.match(rig.records[0], { requestBytes: up.length, responseBytes: down.length });
  });
}

t.test('a slow reader: the agent stops reading the workload, then everything arrives', async (t) => {
  const rig = await l7Rig(t);
  const TOTAL = 128 * 1024 * 1024;
  const chunk = Buffer.alloc(64 * 1024, 7);
  const progress = { written: 0, blocked: 0, done: false };
  rig.onH1((_req, res) => {
    const pump = (): void => {
      while (progress.written < TOTAL) {
        progress.written += chunk.length;
        if (!res.write(chunk)) {
          progress.blocked += 1;
          res.once('drain', pump);
          return;
        }
      }
      progress.done = true;
      res.end();
    };
    pump();
  });
  const stream = await open(rig, { port: rig.h1Port, path: '/big' });
  const [head] = (await once(stream, 'response')) as [Record<string, unknown>];
  t.equal(head[':status'], 200);
  stream.pause();
  // The client reads nothing: wait until the workload's writes stop moving (500 ms unchanged,
  // a bounded check: with no backpressure they would run on to TOTAL).
  let last = -1;
  let still = 0;
  for (let i = 0; i < 600 && still < 10 && !progress.done; i++) {
    await new Promise((r) => setTimeout(r, 50));
    still = progress.written === last ? still + 1 : 0;
    last = progress.written;
  }
  t.equal(progress.done, false, 'the workload could not write the whole body');
  t.ok(progress.blocked > 0, 'the workload saw write() return false');
  t.ok(progress.written < 32 * 1024 * 1024, `bytes the workload got rid of stay bounded (${progress.written})`);
  let received = 0;
  stream.on('data', (c: Buffer) => (received += c.length));
  stream.resume();
  await once(stream, 'end');
  t.equal(received, TOTAL, 'once read, the whole body arrives');
});

t.test('Expect: 100-continue is answered with 100 by the agent; the workload never sees Expect', async (t) => {
  const rig = await l7Rig(t);
  let expect: unknown = 'unset';
  rig.onH1(async (req, res) => {
    expect = req.headers['expect'];
    res.end(`got ${(await readBody(req)).toString()}`);
  });
  const stream = await open(rig, { method: 'PUT', port: rig.h1Port, headers: { expect: '100-continue', 'content-length': '4' }, body: [] });
  const done = answer(stream);
  await once(stream, 'continue');
  stream.end('data');
  const a = await done;
  t.equal(a.status, 200);
  t.equal(a.body.toString(), 'got data');
  t.equal(expect, undefined);
});

t.test('refused by policy: an address that is no local workload is never dialled (403, meshlet-error)', async (t) => {
  const rig = await l7Rig(t);
  const a = await send(rig, { port: rig.h1Port, address: '127.0.0.2' });
  t.equal(a.status, 403);
  t.equal(a.headers['meshlet-error'], 'policy_denied');
  t.equal(rig.accepted.h1, 0, 'nothing was dialled');
  t.match(rig.records[0], { status: 403, failure: 'policy_denied' });
});

t.test('a workload that refuses the connection: 503 with meshlet-error connect_refused; gRPC: 200 + grpc-status 14', async (t) => {
  const rig = await l7Rig(t);
  const port = await rig.closedPort();
  const a = await send(rig, { port });
  t.equal(a.status, 503);
  t.equal(a.headers['meshlet-error'], 'connect_refused');
  const g = await send(rig, { method: 'POST', proto: 'HTTP/2', port, path: '/pkg.Svc/Get', headers: { 'content-type': 'application/grpc', te: 'trailers' }, body: Buffer.alloc(5) });
  t.equal(g.status, 200);
  t.equal(g.headers['grpc-status'], '14', 'trailers-only: grpc-status in the head');
  t.equal(g.headers['meshlet-error'], 'connect_refused');
  t.equal(g.body.length, 0);
  const h1grpc = await send(rig, { method: 'POST', port, headers: { 'content-type': 'application/grpc+proto' }, body: Buffer.alloc(5) });
  t.same([h1grpc.status, h1grpc.headers['grpc-status']], [200, '14']);
  t.match(rig.records, [{ status: 503, failure: 'connect_refused' }, { status: 200, grpcStatus: 14, failure: 'connect_refused' }, { grpcStatus: 14 }]);
});

t.test('keep-alive: 30 requests, one connection to the workload', async (t) => {
  const rig = await l7Rig(t);
  const statuses: number[] = [];
  for (let i = 0; i < 30; i++) statuses.push((await send(rig, { port: rig.h1Port, path: `/${i}` })).status);
  t.same(new Set(statuses), new Set([200]));
  t.equal(statuses.length, 30);
  t.equal(rig.accepted.h1, 1, 'one upstream connection');
  for (let i = 0; i < 10; i++) await send(rig, { proto: 'HTTP/2', port: rig.h2Port });
  t.equal(rig.accepted.h2, 1, 'one h2c session');
});

t.test('a stale keep-alive socket reset on reuse: an idempotent bodyless request is retried once; a POST is not', async (t) => {
  const rig = await l7Rig(t);
  // The workload resets every connection on its second request (a keep-alive race made certain).
  const served = new WeakMap<object, number>();
  rig.onH1((req, res) => {
    const n = (served.get(req.socket) ?? 0) + 1;
    served.set(req.socket, n);
    if (n >= 2) {
      req.socket.resetAndDestroy();
      return;
    }
    res.end('fresh');
  });
  t.equal((await send(rig, { port: rig.h1Port })).body.toString(), 'fresh');
  const post = await send(rig, { method: 'POST', port: rig.h1Port, headers: { 'content-length': '1' }, body: Buffer.from('x') });
  t.equal(post.status, 503, 'a POST with a body is not replayed');
  t.equal(post.headers['meshlet-error'], 'upstream_reset');
  t.equal(rig.accepted.h1, 1);
  t.equal((await send(rig, { port: rig.h1Port })).body.toString(), 'fresh', 'a new connection after the reset');
  t.equal(rig.accepted.h1, 2);
  const retried = await send(rig, { port: rig.h1Port });
  t.equal(retried.status, 200, 'GET retried on a fresh connection');
  t.equal(retried.body.toString(), 'fresh');
  t.equal(rig.accepted.h1, 3);
  t.match(rig.records.map((r) => [r.method, r.status, r.failure]), [['GET', 200, undefined], ['POST', 503, 'upstream_reset'], ['GET', 200, undefined], ['GET', 200, undefined]]);
});

t.test('a client reset aborts the upstream request', async (t) => {
  const rig = await l7Rig(t);
  const closed = new Promise<boolean>((resolve) => {
    rig.onH1((_req, res) => {
      res.writeHead(200);
      res.write('first');
      res.once('close', () => resolve(res.writableFinished));
    });
  });
  const stream = await open(rig, { port: rig.h1Port });
  await once(stream, 'data');
  stream.close(h2.NGHTTP2_CANCEL);
  t.equal(await closed, false, 'the workload saw its response cut');
  await waitFor('the request record', () => rig.records.length > 0);
  t.equal(rig.records[0]?.failure, 'downstream_reset');
});

t.test('the tunnel: a bad meshlet-dst is 400, a non-CONNECT without meshlet-dst 405', async (t) => {
  const rig = await l7Rig(t);
  const target = { nodeAddress: '127.0.0.1', identity: 'spiffe://cluster.local/ns/demo/sa/server', address: '127.0.0.1', port: rig.h1Port };
  // request() sets meshlet-dst from the target; a target address that is no IP makes it bad.
  const bad = await rig.pool.request('spiffe://cluster.local/ns/demo/sa/client', { ...target, address: 'localhost' }, { ':method': 'GET', ':path': '/', ':authority': 'x' }, true);
  t.equal((await answer(bad)).status, 400);
  // A plain GET on the session with no meshlet-dst: CONNECT streams carry a CONNECT method, so
  // open() with an override of the method makes one.
  const plain = await rig.pool.open('spiffe://cluster.local/ns/demo/sa/client', target, { ':method': 'GET', ':path': '/', ':scheme': 'http' });
  plain.end();
  t.equal((await answer(plain)).status, 405);
  t.equal(rig.accepted.h1, 0);
});
