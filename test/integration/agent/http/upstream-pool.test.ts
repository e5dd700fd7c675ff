/**
 * The destination agent's upstream pools on their own, against loopback workloads: the bounds
 * (targets, sockets per target, h2c sessions and streams) hold under a load past them, and
 * every request still gets its answer.
 */
import t from 'tap';
import { once } from 'node:events';
import http from 'node:http';
import http2 from 'node:http2';
import type { AddressInfo } from 'node:net';
import { pino } from 'pino';
import { HttpUpstreams } from '../../../../src/agent/http/upstream-pool.js';
import type { RequestHead } from '../../../../src/agent/http/exchange.js';
import { waitFor } from '../../../helpers/wait-for.js';
import { readBody } from './l7-rig.js';

const logger = pino({ level: 'silent' });

async function h1Server(t: { teardown(fn: () => void): void }): Promise<{ port: number; accepted: () => number; closed: () => number }> {
  let accepted = 0;
  let closed = 0;
  const server = http.createServer((req, res) => void readBody(req).then(() => res.end(`ok ${req.url ?? ''}`)));
  server.on('connection', (sock: import('node:net').Socket) => {
    accepted++;
    sock.once('close', () => void closed++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    server.closeAllConnections();
    server.close();
  });
  return { port: (server.address() as AddressInfo).port, accepted: () => accepted, closed: () => closed };
}

const GET = (path: string, proto: RequestHead['proto'] = 'HTTP/1.1'): RequestHead => ({ method: 'GET', path, authority: 'svc', proto, headers: {} });

async function text(u: HttpUpstreams, port: number, head: RequestHead): Promise<string> {
  const call = u.call({ address: '127.0.0.1', port }, head, { endStream: true });
  call.body.end();
  const res = await call.response;
  return (await readBody(res.body)).toString();
}

t.test('past maxTargets the least recently used pool is closed, counted, and requests still succeed', async (t) => {
  const servers = await Promise.all([h1Server(t), h1Server(t), h1Server(t)]);
  const u = new HttpUpstreams({ logger, maxTargets: 2 });
  t.teardown(() => u.destroy());
  const got: string[] = [];
  for (const s of [...servers, servers[0]!]) got.push(await text(u, s.port, GET('/x')));
  t.same(got, ['ok /x', 'ok /x', 'ok /x', 'ok /x']);
  t.equal(u.targetCount, 2, 'never more than maxTargets pools');
  t.equal(u.evictions, 2, 'the first target evicted by the third, the second by the first again');
});

t.test('maxConnectionsPerTarget bounds the sockets to one workload; the rest queue and are served', async (t) => {
  const s = await h1Server(t);
  const u = new HttpUpstreams({ logger, maxConnectionsPerTarget: 2 });
  t.teardown(() => u.destroy());
  const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => text(u, s.port, GET(`/${i}`))));
  t.same(answers, Array.from({ length: 20 }, (_, i) => `ok /${i}`));
  t.equal(s.accepted(), 2, 'two sockets for twenty concurrent requests');
});

t.test('h2c: streams beyond maxStreamsPerSession open a sibling, up to maxSessionsPerTarget', async (t) => {
  let accepted = 0;
  const server = http2.createServer();
  const held: Array<() => void> = [];
  server.on('stream', (stream, headers) => {
    held.push(() => {
      stream.respond({ ':status': 200 });
      stream.end(`ok ${String(headers[':path'])}`);
    });
    // Answer once every request is in: all of them are open at the same time.
    if (held.length === 12) for (const f of held) f();
  });
  server.on('connection', () => void accepted++);
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const u = new HttpUpstreams({ logger, maxStreamsPerSession: 4, maxSessionsPerTarget: 2 });
  t.teardown(() => u.destroy());
  const answers = await Promise.all(Array.from({ length: 12 }, (_, i) => text(u, port, GET(`/${i}`, 'HTTP/2'))));
  t.same(answers, Array.from({ length: 12 }, (_, i) => `ok /${i}`));
  t.equal(accepted, 2, 'two sessions: past their stream budget, requests share them');
});

t.test('after close() no new pool is made: the call throws MESHLET_ERR_CLOSED', async (t) => {
  const u = new HttpUpstreams({ logger });
  await u.close();
  t.throws(() => u.call({ address: '127.0.0.1', port: 9 }, GET('/')), { code: 'MESHLET_ERR_CLOSED' });
});

t.test('an idle keep-alive socket and an idle h2c session are closed after idleTimeoutMs; the next request opens anew', async (t) => {
  const s = await h1Server(t);
  let h2Accepted = 0;
  let h2Closed = 0;
  const server = http2.createServer();
  server.on('stream', (stream) => {
    stream.respond({ ':status': 200 });
    stream.end('ok h2');
  });
  server.on('connection', (sock: import('node:net').Socket) => {
    h2Accepted++;
    sock.once('close', () => void h2Closed++);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const h2Port = (server.address() as AddressInfo).port;
  const u = new HttpUpstreams({ logger, idleTimeoutMs: 100 });
  t.teardown(() => u.destroy());
  t.equal(await text(u, s.port, GET('/1')), 'ok /1');
  t.equal(await text(u, h2Port, GET('/1', 'HTTP/2')), 'ok h2');
  await waitFor('the idle h2c session closed', () => h2Closed === 1);
  t.equal(await text(u, h2Port, GET('/2', 'HTTP/2')), 'ok h2');
  t.equal(h2Accepted, 2, 'a new session after the idle one closed');
  await waitFor('the idle keep-alive socket closed', () => s.closed() === 1);
  t.equal(await text(u, s.port, GET('/2')), 'ok /2');
  t.equal(s.accepted(), 2, 'a new socket after the idle one closed');
});
