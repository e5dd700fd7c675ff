/**
 * The source agent's L7 side in-process on 127.0.0.1: captured connections to a Service VIP are
 * sniffed and served by OutboundHttp, with the tunnel replaced by a plain h2c server that plays
 * the destination agent (it answers with what it received: meshlet-dst, path, authority,
 * headers). Checked: requests spread over endpoints on one keep-alive connection, HTTP/2 prior
 * knowledge, routes (match, 404, redirect, rewrite, header filters, timeouts), trailers, the
 * retry on a refused endpoint, gRPC failures, streaming bodies, malformed and smuggling requests.
 */
import { createHash, randomBytes } from 'node:crypto';
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import t from 'tap';
import { pino } from 'pino';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy } from '../../../src/agent/proxy/outbound.js';
import type { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { OutboundHttp } from '../../../src/agent/http/outbound-http.js';
import { UpstreamError, type RequestRecord, type UpstreamCall } from '../../../src/agent/http/exchange.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { fullMatch, pathPrefix, type HttpRouteInfo, type RouteInfo } from '../../../src/mesh/routes.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../../src/mesh/types.js';
import { rawGet } from '../../helpers/raw-http.js';

const silent = pino({ level: 'silent' });

function workload(name: string, address: string, node: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: node === 'node1' ? '198.18.0.11' : '198.18.0.12', serviceAccount: name, identity: `spiffe://cluster.local/ns/demo/sa/${name}`,
    labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

const client = workload('client', '127.0.0.2', 'node1');
const servers = [workload('s1', '127.0.0.3', 'node2'), workload('s2', '127.0.0.4', 'node2'), workload('s3', '127.0.0.5', 'node2')];
const canary = workload('canary', '127.0.0.6', 'node2');
const endpoint = (w: WorkloadInfo): EndpointInfo => ({ workload: w.uid, address: w.addresses[0] as string, node: w.node, nodeAddress: w.nodeAddress, meshed: true, identity: w.identity, targetPorts: { 80: 8080 } });
const service = (name: string, vip: string, backends: WorkloadInfo[], portName?: string): ServiceInfo => ({
  key: `demo/${name}`, name, namespace: 'demo', vips: [vip], ports: [{ port: 80, targetPort: 8080, ...(portName === undefined ? {} : { name: portName }) }], endpoints: backends.map(endpoint),
});
/** A workload on this node whose port is a real upgrade-capable server (set once it listens). */
const wsWorkload = workload('ws', '127.0.0.1', 'node1');
let index: WorkloadIndex;
function makeIndex(wsPort: number): void {
  const ws: ServiceInfo = { ...service('ws', '127.0.0.13', []), endpoints: [{ ...endpoint(wsWorkload), targetPorts: { 80: wsPort } }] };
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'node1', nodeAddress: '198.18.0.11', trustDomain: 'cluster.local',
    localWorkloads: [client, wsWorkload], workloads: [client, wsWorkload, ...servers, canary],
    services: [service('web', '127.0.0.9', servers), service('web-canary', '127.0.0.10', [canary]), service('grpc', '127.0.0.11', servers, 'grpc-api'), service('routed', '127.0.0.12', servers), ws, service('declared', '127.0.0.14', servers, 'http-web')],
  };
  index = new WorkloadIndex(snapshot, { allowLoopback: true });
}

const base = { namespace: 'demo', creationTimestamp: 0 } as const;
const rule = (over: Partial<HttpRouteInfo['rules'][number]>): HttpRouteInfo['rules'][number] => ({ matches: [{ path: pathPrefix('/'), headers: [], queryParams: [] }], filters: [], backendRefs: [{ name: 'routed', namespace: 'demo', weight: 1 }], timeouts: {}, ...over });
const routes: RouteInfo[] = [{
  ...base, kind: 'HTTPRoute', name: 'r', parents: [{ namespace: 'demo', name: 'routed' }],
  rules: [
    rule({ matches: [{ path: { type: 'Exact', value: '/canary' }, headers: [], queryParams: [] }], backendRefs: [{ name: 'web-canary', namespace: 'demo', weight: 1 }] }),
    rule({ matches: [{ path: pathPrefix('/api'), headers: [{ name: 'x-user', match: { type: 'RegularExpression', value: 'test-.*', regex: fullMatch('test-.*') } }], queryParams: [] }], backendRefs: [{ name: 'web-canary', namespace: 'demo', weight: 1 }] }),
    rule({ matches: [{ path: pathPrefix('/old'), headers: [], queryParams: [] }], filters: [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }] }),
    rule({
      matches: [{ path: pathPrefix('/v1'), headers: [], queryParams: [] }],
      filters: [
        { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' }, hostname: 'rewritten.demo' } },
        { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-set', value: 'yes' }], add: [], remove: ['x-drop'] } },
        { type: 'ResponseHeaderModifier', responseHeaderModifier: { set: [{ name: 'x-resp', value: 'added' }], add: [], remove: [] } },
      ],
    }),
    rule({ matches: [{ path: pathPrefix('/slow'), headers: [], queryParams: [] }], timeouts: { requestMs: 150 } }),
    rule({ matches: [{ path: pathPrefix('/api'), headers: [], queryParams: [] }] }),
  ],
}];

/** The fake destination agent: answers with what it got; `/slow` never answers; `/trailers` sends trailers. */
function fakeDestination(): http2.Http2Server {
  const server = http2.createServer();
  server.on('stream', (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => {
    stream.on('error', () => undefined);
    const path = String(headers[':path']);
    if (path.startsWith('/slow')) return;
    if (path === '/pkg.Svc/NotFound') {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '5', 'grpc-message': 'no such thing' }, { endStream: true });
      return;
    }
    if (path.startsWith('/dest-refuses') && headers['meshlet-dst'] !== '127.0.0.5:8080') {
      // As the destination agent answers when the workload refused the connect.
      stream.respond({ ':status': 503, 'meshlet-error': 'connect_refused' });
      stream.end('refused\n');
      return;
    }
    const hash = createHash('sha256');
    let bytes = 0;
    stream.on('data', (d: Buffer) => { hash.update(d); bytes += d.length; });
    stream.on('end', () => {
      const seen = { dst: headers['meshlet-dst'], proto: headers['meshlet-proto'], path, authority: headers[':authority'], method: headers[':method'], forwarded: headers['forwarded'], headers, bytes, sha256: hash.digest('hex') };
      if (path === '/trailers') {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.once('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': 'fine' }));
        stream.end('payload');
        return;
      }
      if (path === '/big') {
        stream.respond({ ':status': 200 });
        const chunk = Buffer.alloc(64 * 1024, 7);
        let n = 0;
        const write = (): void => {
          while (n < 160) {
            n++;
            if (!stream.write(chunk)) { stream.once('drain', write); return; }
          }
          stream.end();
        };
        write();
        return;
      }
      stream.respond({ ':status': 200, 'content-type': 'application/json' });
      stream.end(JSON.stringify(seen));
    });
  });
  return server;
}

/** A workload that takes `Upgrade: echo`: answers 101 with the path it saw, then echoes upper-cased. */
function upgradeServer(): http.Server {
  const server = http.createServer((_req, res) => res.end('not upgraded'));
  server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nupgrade: echo\r\nconnection: upgrade\r\nx-path: ${req.url ?? ''}\r\nx-host: ${req.headers.host ?? ''}\r\n\r\n`);
    if (head.length > 0) socket.write(head.toString().toUpperCase());
    socket.on('data', (d: Buffer) => socket.write(d.toString().toUpperCase()));
    socket.on('end', () => socket.end());
  });
  return server;
}

t.test('OutboundHttp through a fake destination agent', async (t) => {
  const upgrades = upgradeServer();
  upgrades.listen(0, '127.0.0.1');
  await once(upgrades, 'listening');
  makeIndex((upgrades.address() as AddressInfo).port);
  t.teardown(() => upgrades.close());
  const dest = fakeDestination();
  dest.listen(0, '127.0.0.1');
  await once(dest, 'listening');
  const destPort = (dest.address() as AddressInfo).port;
  const sessions: http2.ClientHttp2Session[] = [];
  const session = (): http2.ClientHttp2Session => {
    const open = sessions.find((s) => !s.closed && !s.destroyed);
    if (open !== undefined) return open;
    const s = http2.connect(`http://127.0.0.1:${destPort}`);
    s.on('error', () => undefined);
    sessions.push(s);
    return s;
  };
  /** Endpoints whose "tunnel" fails before a byte was sent (as a refused stream would). */
  const refusing = new Set<string>();
  const records = new EventEmitter();
  const finished: RequestRecord[] = [];
  const balancers = new BalancerRegistry();
  const failLocal = (): UpstreamCall => { throw new Error('no local endpoint in this test'); };
  const http7 = new OutboundHttp({
    logger: silent,
    index: () => index,
    balancers,
    tunnel: (_identity, target, headers, endStream) => {
      if (refusing.has(target.address)) return Promise.reject(new UpstreamError('tunnel_refused', `refused ${target.address}`, true));
      return Promise.resolve(session().request(headers, { endStream }));
    },
    local: failLocal,
    plaintext: failLocal,
    observer: { onRequest: (rec) => { finished.push(rec); records.emit('request', rec); } },
    routesOf: (_index, entry) => routes.filter((r) => r.parents.some((p) => `${p.namespace}/${p.name}` === entry.service.key)),
    // Short, so the idle-session test ends in seconds; no other subtest idles this long.
    limits: { keepAliveTimeoutMs: 3_000 },
  });
  const table = new ConnectionTable(silent, { observer: { onClosed: (rec: ConnectionRecord) => void records.emit('closed', rec) } });
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts: new Set() });
  let vip = '127.0.0.9';
  const outbound = new OutboundProxy({
    logger: silent, table, index: () => index, inbound, tunnels: {} as TunnelPool, ownPorts: new Set(), balancers, http: http7,
    captured: () => ({ source: '127.0.0.2', destination: { address: vip, port: 80, family: 4 } }),
  });
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s: Socket) => outbound.onConnection(s));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  const port = (capture.address() as AddressInfo).port;
  let agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  /** The Service VIP the next connections dial; a fresh keep-alive pool, as a connection keeps its Service. */
  const use = (address: string): void => {
    vip = address;
    agent.destroy();
    agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  };
  t.teardown(() => {
    agent.destroy();
    http7.destroy();
    for (const s of sessions) s.destroy();
    capture.close();
    dest.close();
  });

  async function get(path: string, headers: Record<string, string> = {}, method = 'GET', body?: Buffer): Promise<{ status: number; headers: http.IncomingHttpHeaders; body: string }> {
    return new Promise((resolve, reject) => {
      const req = http.request({ host: '127.0.0.1', port, path, method, agent, headers: { host: 'web.demo', ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  await t.test('keep-alive requests spread over the endpoints, not pinned to one', async (t) => {
    use('127.0.0.9');
    const seen = new Map<string, number>();
    for (let i = 0; i < 30; i++) {
      const r = await get(`/n/${i}`);
      t.equal(r.status, 200);
      const body = JSON.parse(r.body) as { dst: string; proto: string; authority: string; forwarded: string; method: string };
      seen.set(body.dst, (seen.get(body.dst) ?? 0) + 1);
      if (i === 0) t.same({ proto: body.proto, authority: body.authority, method: body.method, forwarded: /^for="127\.0\.0\.2:\d+"$/.test(body.forwarded) }, { proto: 'HTTP/1.1', authority: 'web.demo', method: 'GET', forwarded: true });
    }
    t.same([...seen.keys()].sort(), ['127.0.0.3:8080', '127.0.0.4:8080', '127.0.0.5:8080'], 'every endpoint got requests');
    t.equal(finished.at(-1)?.reporter, 'source');
    t.equal(finished.at(-1)?.status, 200);
    t.equal(finished.at(-1)?.service, 'demo/web');
  });

  await t.test('HTTP/2 with prior knowledge, and trailers come through', async (t) => {
    use('127.0.0.9');
    const c = http2.connect(`http://127.0.0.1:${port}`);
    t.teardown(() => c.destroy());
    const req = c.request({ ':path': '/trailers', 'content-type': 'application/grpc', te: 'trailers' });
    req.end();
    const [headers] = (await once(req, 'response')) as [IncomingHttpHeaders];
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (body += d));
    const [trailers] = (await once(req, 'trailers')) as [IncomingHttpHeaders];
    t.equal(headers[':status'], 200);
    t.equal(body, 'payload');
    t.same({ status: trailers['grpc-status'], message: trailers['grpc-message'] }, { status: '0', message: 'fine' });
  });

  await t.test('routes: match, redirect, rewrite, header filters, no match', async (t) => {
    use('127.0.0.12');
    const canaryHit = JSON.parse((await get('/canary')).body) as { dst: string };
    t.equal(canaryHit.dst, '127.0.0.6:8080', 'Exact path to the canary backend');
    const byHeader = JSON.parse((await get('/api/x', { 'x-user': 'test-1' })).body) as { dst: string };
    t.equal(byHeader.dst, '127.0.0.6:8080', 'a header match wins over the plain prefix');
    const plain = JSON.parse((await get('/api/x', { 'x-user': 'real' })).body) as { dst: string };
    t.not(plain.dst, '127.0.0.6:8080', 'without the header: the main backend');
    const redirect = await get('/old/page?q=1');
    t.same({ status: redirect.status, location: redirect.headers.location }, { status: 301, location: 'http://web.demo/new/page?q=1' });
    const rewritten = await get('/v1/items?a=b', { 'x-drop': 'gone', 'x-keep': 'kept' });
    const body = JSON.parse(rewritten.body) as { path: string; authority: string; headers: Record<string, string> };
    t.same({ path: body.path, authority: body.authority, set: body.headers['x-set'], drop: body.headers['x-drop'], keep: body.headers['x-keep'], resp: rewritten.headers['x-resp'] },
      { path: '/v2/items?a=b', authority: 'rewritten.demo', set: 'yes', drop: undefined, keep: 'kept', resp: 'added' });
    const none = await get('/nothing-here');
    t.same({ status: none.status, failure: none.headers['x-meshlet-failure'] }, { status: 404, failure: 'no_route' });
    t.equal(finished.at(-1)?.failure, 'no_route');
  });

  await t.test('a route timeout answers 504 and frees the connection', async (t) => {
    use('127.0.0.12');
    const slow = await get('/slow');
    t.same({ status: slow.status, failure: slow.headers['x-meshlet-failure'] }, { status: 504, failure: 'request_timeout' });
    const after = await get('/api/after');
    t.equal(after.status, 200, 'the same keep-alive connection serves the next request');
  });

  await t.test('an endpoint refused before any byte: the request goes to another one', async (t) => {
    use('127.0.0.9');
    refusing.add('127.0.0.3');
    refusing.add('127.0.0.4');
    t.teardown(() => refusing.clear());
    for (let i = 0; i < 6; i++) {
      const r = await get(`/retry/${i}`);
      t.equal(JSON.parse(r.body).dst, '127.0.0.5:8080');
    }
    refusing.add('127.0.0.5');
    const none = await get('/retry/none');
    t.equal(none.status, 503, 'every endpoint refused: 503');
    const post = await get('/retry/post', {}, 'POST', Buffer.from('body'));
    t.equal(post.status, 503, 'a request with a body is not replayed');
  });

  await t.test('gRPC: a failure is a 200 with grpc-status', async (t) => {
    use('127.0.0.11');
    refusing.add('127.0.0.3');
    refusing.add('127.0.0.4');
    refusing.add('127.0.0.5');
    t.teardown(() => refusing.clear());
    const c = http2.connect(`http://127.0.0.1:${port}`);
    t.teardown(() => c.destroy());
    const req = c.request({ ':path': '/pkg.Svc/Call', 'content-type': 'application/grpc', te: 'trailers' });
    req.end();
    const [headers] = (await once(req, 'response')) as [IncomingHttpHeaders];
    req.resume();
    await once(req, 'end');
    t.same({ status: headers[':status'], grpc: headers['grpc-status'] }, { status: 200, grpc: '14' });
  });

  await t.test('a 1 MiB upload and a 10 MiB download stream through intact', async (t) => {
    use('127.0.0.9');
    const upload = randomBytes(1024 * 1024);
    const upRes = await get('/upload', { 'content-type': 'application/octet-stream' }, 'POST', upload);
    t.equal(upRes.status, 200, upRes.body);
    const up = JSON.parse(upRes.body) as { bytes: number; sha256: string };
    t.same(up, { ...up, bytes: upload.length, sha256: createHash('sha256').update(upload).digest('hex') });
    const down = await new Promise<number>((resolve, reject) => {
      http.get({ host: '127.0.0.1', port, path: '/big', agent }, (res) => {
        let n = 0;
        res.on('data', (d: Buffer) => (n += d.length));
        res.on('end', () => resolve(n));
      }).on('error', reject);
    });
    t.equal(down, 160 * 64 * 1024);
  });

  await t.test('malformed and smuggling requests: 400 on that connection, others unaffected', async (t) => {
    use('127.0.0.9');
    const raw = async (text: string): Promise<string> => {
      const s = net.connect(port, '127.0.0.1');
      s.on('error', () => undefined);
      let answer = '';
      s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
      s.write(text);
      await once(s, 'close');
      return answer.split('\r\n')[0] ?? '';
    };
    t.equal(await raw('GET /x HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n'), 'HTTP/1.1 400 Bad Request', 'Content-Length with Transfer-Encoding');
    t.equal(await raw(`GET /x HTTP/1.1\r\nHost: a\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`), 'HTTP/1.1 431 Request Header Fields Too Large');
    t.equal(await raw('GET /x HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n'), 'HTTP/1.1 400 Bad Request');
    t.equal(await raw('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n'), 'HTTP/1.1 405 Method Not Allowed', 'an application CONNECT is refused');
    t.equal(await rawGet(port, '/still-fine'), 200, 'a new connection is served');
    t.equal((await get('/keepalive-fine')).status, 200, 'the keep-alive connection is served');
  });

  await t.test('an Upgrade request is routed, replayed to the workload, then spliced', async (t) => {
    use('127.0.0.13');
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    let answer = '';
    s.setEncoding('latin1');
    s.on('data', (d: string) => (answer += d));
    s.write('GET /chat?room=1 HTTP/1.1\r\nHost: ws.demo\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly');
    while (!answer.includes('EARLY')) await once(s, 'data');
    s.write('later');
    while (!answer.includes('LATER')) await once(s, 'data');
    s.end();
    await once(s, 'close');
    t.match(answer, /^HTTP\/1\.1 101 Switching Protocols\r\n/, 'the workload answered 101');
    t.match(answer, /x-path: \/chat\?room=1\r\n/, 'it saw the path');
    t.match(answer, /x-host: ws\.demo\r\n/, 'and the host');
    t.match(answer, /EARLY.*LATER/s, 'bytes sent with the head and after the 101 both went through');
  });

  await t.test('Expect: 100-continue: the client gets 100, then the answer', async (t) => {
    use('127.0.0.9');
    const result = await new Promise<{ continued: boolean; status: number; bytes: number }>((resolve, reject) => {
      let continued = false;
      const req = http.request({ host: '127.0.0.1', port, path: '/expect', method: 'POST', agent, headers: { host: 'web.demo', expect: '100-continue', 'content-length': '5' } }, (res) => {
        let body = '';
        res.on('data', (d: Buffer) => (body += d.toString()));
        res.on('end', () => resolve({ continued, status: res.statusCode ?? 0, bytes: (JSON.parse(body) as { bytes: number }).bytes }));
      });
      req.on('continue', () => {
        continued = true;
        req.end('hello');
      });
      req.on('error', reject);
    });
    t.same(result, { continued: true, status: 200, bytes: 5 });
  });

  await t.test('an HTTP/2 CONNECT from the application is refused', async (t) => {
    use('127.0.0.11');
    const c = http2.connect(`http://127.0.0.1:${port}`);
    t.teardown(() => c.destroy());
    const req = c.request({ ':method': 'CONNECT', ':authority': 'evil.example:443' });
    const [headers] = (await once(req, 'response')) as [IncomingHttpHeaders];
    t.equal(headers[':status'], 405);
    req.close();
  });

  await t.test('Upgrade: h2c is declined: the request is served as HTTP/1.1', async (t) => {
    use('127.0.0.9');
    const r = await get('/h2c-please', { connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'http2-settings': 'AAMAAABkAAQAAP__' });
    t.equal(r.status, 200);
    const body = JSON.parse(r.body) as { path: string; headers: Record<string, string> };
    t.same({ path: body.path, upgrade: body.headers['upgrade'], settings: body.headers['http2-settings'] }, { path: '/h2c-please', upgrade: undefined, settings: undefined });
    t.equal((await get('/after-h2c')).status, 200, 'the connection serves the next request');
  });

  await t.test('gRPC Trailers-Only from upstream: one HEADERS frame with END_STREAM', async (t) => {
    use('127.0.0.11');
    const c = http2.connect(`http://127.0.0.1:${port}`);
    t.teardown(() => c.destroy());
    const req = c.request({ ':path': '/pkg.Svc/NotFound', 'content-type': 'application/grpc', te: 'trailers' });
    req.end();
    const [headers, flags] = (await once(req, 'response')) as [IncomingHttpHeaders, number];
    req.resume();
    await once(req, 'end');
    t.same({ status: headers[':status'], grpc: headers['grpc-status'], message: headers['grpc-message'], endStream: (flags & http2.constants.NGHTTP2_FLAG_END_STREAM) !== 0 },
      { status: 200, grpc: '5', message: 'no such thing', endStream: true });
    t.equal(finished.at(-1)?.grpcStatus, 5, 'the request record has the gRPC status');
  });

  await t.test('the destination side could not reach the workload: another endpoint is tried', async (t) => {
    use('127.0.0.9');
    for (let i = 0; i < 6; i++) {
      const r = await get(`/dest-refuses/${i}`);
      t.same({ status: r.status, dst: (JSON.parse(r.body) as { dst: string }).dst }, { status: 200, dst: '127.0.0.5:8080' });
    }
    const post = await get('/dest-refuses/post', {}, 'POST', Buffer.from('body'));
    t.ok(post.status === 200 || post.status === 503, `a request with a body is answered as the first endpoint said (${post.status})`);
  });

  await t.test('an HTTP/2 client that sends FIN without GOAWAY: the agent closes its side', async (t) => {
    use('127.0.0.11');
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await once(s, 'connect');
    // Preface and an empty SETTINGS frame, then FIN.
    s.end(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0])]));
    s.resume();
    const closed = await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    t.equal(closed, true, 'the connection was closed by the agent');
  });

  await t.test('HTTP/2 garbage: after the agent\'s GOAWAY the idle session is closed', async (t) => {
    use('127.0.0.11');
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    await once(s, 'connect');
    const junk = Buffer.from([0, 0, 4, 0x63, 0xff, 0, 0, 0, 1, 1, 2, 3, 4, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    // Preface, SETTINGS, then a frame of an unknown shape; the socket is NOT ended by the client.
    s.write(Buffer.concat([Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1'), Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]), junk, junk]));
    s.resume();
    const closed = await Promise.race([once(s, 'close').then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), 10_000))]);
    t.equal(closed, true, 'the agent closed the connection after its GOAWAY');
  });

  await t.test('a declared HTTP port: what is not a request line the detector knows goes to the parser, not around it', async (t) => {
    use('127.0.0.14');
    const closedRec = new Promise<ConnectionRecord>((resolve) => {
      const on = (rec: ConnectionRecord): void => {
        if (rec.service !== 'demo/declared') return;
        records.off('closed', on);
        resolve(rec);
      };
      records.on('closed', on);
    });
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    let answer = '';
    s.on('data', (d: Buffer) => (answer += d.toString('latin1')));
    s.write('GET /x y HTTP/1.1\r\nHost: web\r\n\r\n');
    await once(s, 'close');
    const rec = await closedRec;
    t.same({ status: answer.split('\r\n')[0], mode: rec.mode }, { status: 'HTTP/1.1 400 Bad Request', mode: 'http' });
  });

  await t.test('a client that is not HTTP goes on as opaque TCP', async (t) => {
    use('127.0.0.9');
    // Other connections (keep-alive pools of earlier tests) close too: the first one not served at L7.
    const closed = new Promise<[ConnectionRecord]>((resolve) => {
      const on = (rec: ConnectionRecord): void => {
        if (rec.mode === 'http') return;
        records.off('closed', on);
        resolve([rec]);
      };
      records.on('closed', on);
    });
    const s = net.connect(port, '127.0.0.1');
    s.on('error', () => undefined);
    s.write('\x00\x01binary');
    const [rec] = await closed;
    s.destroy();
    t.equal(rec.mode, 'tunnel', 'planned as L4 (the fake has no tunnel pool, so it fails there)');
  });
});
