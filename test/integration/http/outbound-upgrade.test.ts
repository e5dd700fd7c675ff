/**
 * HTTP/1.1 Upgrade through both agents' code on 127.0.0.1: a captured connection to a Service
 * VIP (OutboundProxy + OutboundHttp, source node `nodea`) whose endpoint is on another node
 * goes as an RFC 8441 extended CONNECT on a real mTLS tunnel (TunnelPool) to the destination
 * side (TunnelServer + InboundHttp of `l7-rig.ts`), which sends the upgrade to a `node:http`
 * workload. Checked: the echo after the 101, route filters on the head, the destination's one
 * request record (status 101, the bytes), a destination policy denial and a workload's 404
 * relayed as HTTP/1.1 responses, a client that goes away mid-stream, a stream reset before the
 * answer, the answer timeout, and an older peer agent (no extended CONNECT): the L4 replay.
 */
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import http2, { type ClientHttp2Stream, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import t from 'tap';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { IdentityManager } from '../../../src/agent/identity/manager.js';
import { OutboundHttp } from '../../../src/agent/http/outbound-http.js';
import type { UpstreamCall } from '../../../src/agent/http/exchange.js';
import { BalancerRegistry } from '../../../src/agent/policy/balancer.js';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy } from '../../../src/agent/proxy/outbound.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { tunnelStreamsReopened } from '../../../src/agent/proxy/tunnel/opening.js';
import { TUNNEL_SETTINGS } from '../../../src/agent/proxy/tunnel/settings.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import { pathPrefix, type HttpRouteInfo, type RouteInfo } from '../../../src/mesh/routes.js';
import type { EndpointInfo, NodeSnapshot, ServiceInfo, WorkloadInfo } from '../../../src/mesh/types.js';
import { waitFor } from '../../helpers/wait-for.js';
import { CLIENT_ID, l7Rig, SERVER_ID, TD, type L7Rig } from '../agent/http/l7-rig.js';
import { captureListener } from './capture-listener.js';

const silent = pino({ level: 'silent' });
const ACCEPT = 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=';

function workload(name: string, address: string, node: string, identity: string): WorkloadInfo {
  return {
    uid: `Pod/demo/${name}`, kind: 'Pod', name, namespace: 'demo', addresses: [address], node,
    nodeAddress: '127.0.0.1', serviceAccount: name, identity, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

const client = workload('client', '127.0.0.2', 'nodea', CLIENT_ID);
/** The destination rig's workload: 127.0.0.1 on nodeb. */
const server = workload('server', '127.0.0.1', 'nodeb', SERVER_ID);
/** On nodeb in the source's view, unknown to the destination agent: its policy denies it. */
const ghost = workload('ghost', '127.0.0.7', 'nodeb', SERVER_ID);

function sourceIndex(workloadPort: number): WorkloadIndex {
  const endpoint = (w: WorkloadInfo): EndpointInfo => ({ workload: w.uid, address: w.addresses[0] as string, node: w.node, nodeAddress: w.nodeAddress, meshed: true, identity: w.identity, targetPorts: { 80: workloadPort } });
  const service = (name: string, vip: string, backend: WorkloadInfo): ServiceInfo => ({ key: `demo/${name}`, name, namespace: 'demo', vips: [vip], ports: [{ port: 80, targetPort: workloadPort }], endpoints: [endpoint(backend)] });
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodea', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [client], workloads: [client, server, ghost], services: [service('ws', '127.0.0.9', server), service('denied', '127.0.0.10', ghost)],
  };
  return new WorkloadIndex(snapshot, { allowLoopback: true });
}

const rule = (prefix: string, filters: HttpRouteInfo['rules'][number]['filters']): HttpRouteInfo['rules'][number] => ({
  matches: [{ path: pathPrefix(prefix), headers: [], queryParams: [] }], filters, backendRefs: [{ name: 'ws', namespace: 'demo', weight: 1 }], timeouts: {},
});
/** `/v1` rewritten to `/v2` with a header set: the head that crosses is the planned one. */
const routes: RouteInfo[] = [{
  kind: 'HTTPRoute', namespace: 'demo', name: 'ws', creationTimestamp: 0, parents: [{ namespace: 'demo', name: 'ws' }],
  rules: [
    { ...rule('/old', [{ type: 'RequestRedirect', requestRedirect: { statusCode: 301, path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/new' } } }]), backendRefs: [] },
    rule('/v1', [
      { type: 'URLRewrite', urlRewrite: { path: { type: 'ReplacePrefixMatch', replacePrefixMatch: '/v2' } } },
      { type: 'RequestHeaderModifier', requestHeaderModifier: { set: [{ name: 'x-route', value: 'v1' }], add: [], remove: [] } },
    ]),
    rule('/', []),
  ],
}];

type Teardown = { teardown(fn: () => void | Promise<void>): void };

interface Source {
  /** The capture port: connect here to be "captured" toward `vip`:80 from 127.0.0.2. */
  readonly port: number;
  vip: string;
  /** Outbound connection records, as they close. */
  readonly closed: ConnectionRecord[];
  readonly events: EventEmitter;
}

/** The source agent: OutboundProxy + OutboundHttp over `pool`. */
async function sourceAgent(t: Teardown, pool: TunnelPool, workloadPort: number, responseTimeoutMs?: number): Promise<Source> {
  const index = sourceIndex(workloadPort);
  const balancers = new BalancerRegistry();
  const none = (): UpstreamCall => {
    throw new Error('no local or plaintext endpoint in this test');
  };
  const http7 = new OutboundHttp({
    logger: silent,
    index: () => index,
    balancers,
    tunnel: (identity, target, headers, endStream) => pool.request(identity, target, headers, endStream),
    local: none,
    plaintext: none,
    routesOf: (_index, entry) => routes.filter((r) => r.parents.some((p) => `${p.namespace}/${p.name}` === entry.service.key)),
  });
  const events = new EventEmitter();
  const closed: ConnectionRecord[] = [];
  const table = new ConnectionTable(silent, { observer: { onClosed: (rec: ConnectionRecord) => { closed.push(rec); events.emit('closed', rec); } } });
  const inbound = new InboundProxy({ logger: silent, table, index: () => index, agentPorts: new Set() });
  const src: Source = { port: 0, vip: '127.0.0.9', closed, events };
  const outbound = new OutboundProxy({
    logger: silent, table, index: () => index, inbound, tunnels: pool, ownPorts: new Set(), balancers, http: http7,
    ...(responseTimeoutMs === undefined ? {} : { responseTimeoutMs }),
    captured: () => ({ source: '127.0.0.2', destination: { address: src.vip, port: 80, family: 4 } }),
  });
  return Object.assign(src, { port: await captureListener(t, outbound, http7) });
}

/** An application's raw connection: what it wrote and everything that came back. */
interface App {
  readonly socket: Socket;
  text(): string;
  until(what: string, test: (text: string) => boolean): Promise<string>;
  closed: Promise<void>;
}

function application(port: number, path: string, early = '', extra = ''): App {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  let text = '';
  socket.setEncoding('latin1');
  socket.on('data', (d: string) => (text += d));
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  socket.write(`GET ${path} HTTP/1.1\r\nHost: ws.demo\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extra}\r\n${early}`);
  return { socket, text: () => text, until: (what, test) => waitFor(what, () => (test(text) ? text : undefined)), closed };
}

/** The workload side of an upgrade: what it saw and when its socket closed. */
interface Seen {
  req?: IncomingMessage;
  socket?: Duplex;
  socketClosed?: boolean;
}

/** A WebSocket-style echo: 101 (with the path and route header it saw), then every byte back. */
function echo(rig: L7Rig): Seen {
  const seen: Seen = {};
  rig.onUpgrade((req, socket, head) => {
    seen.req = req;
    seen.socket = socket;
    socket.on('error', () => undefined); // a reset from the destination agent is an outcome under test
    socket.once('close', () => (seen.socketClosed = true));
    socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${ACCEPT}\r\nx-path: ${req.url ?? ''}\r\n\r\n`);
    if (head.length > 0) socket.write(head);
    socket.pipe(socket);
  });
  return seen;
}

function nextClosed(src: Source): Promise<ConnectionRecord> {
  return once(src.events, 'closed', { signal: AbortSignal.timeout(30_000) }).then(([rec]) => rec as ConnectionRecord);
}

t.test('a WebSocket-style upgrade on a brand-new tunnel session: 101, echo both ways, one destination record', async (t) => {
  const rig = await l7Rig(t);
  const seen = echo(rig);
  const src = await sourceAgent(t, rig.pool, rig.h1Port);
  t.equal(rig.pool.size, 0, 'no tunnel session before the upgrade: its extended CONNECT waits for the first SETTINGS');
  const record = nextClosed(src);
  const app = application(src.port, '/v1/chat?room=1', 'early|');
  await app.until('the echo of the early bytes', (s) => s.includes('early|'));
  const head = app.text().slice(0, app.text().indexOf('\r\n\r\n') + 4);
  t.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.match(head, new RegExp(`\r\nsec-websocket-accept: ${ACCEPT.replace(/[+/]/g, '\\$&')}\r\n`), 'the workload\'s headers relayed');
  t.match(head, /\r\nconnection: upgrade\r\nupgrade: websocket\r\n\r\n$/);
  t.match(head, /\r\nx-path: \/v2\/chat\?room=1\r\n/, 'the route rewrote the path that crossed');
  t.notMatch(head, /meshlet-/i, 'no meshlet header reaches the application');
  t.match(seen.req?.headers, { host: 'ws.demo', upgrade: 'websocket', 'x-route': 'v1', 'x-forwarded-for': '127.0.0.2', 'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==' });
  t.equal(seen.req?.headers['forwarded'], undefined);
  app.socket.write('later');
  await app.until('the echo of later bytes', (s) => s.endsWith('early|later'));
  app.socket.end();
  await app.closed;
  t.equal(app.text().slice(head.length), 'early|later', 'the half-close reached the workload, which closed its side');
  const rec = await record;
  t.match(rec, { mode: 'tunnel', outcome: 'ok', destinationWorkload: 'Pod/demo/server', destinationIdentity: SERVER_ID, securityPolicy: 'mutual_tls' });
  const stream = rec.ends.find((e): e is ClientHttp2Stream => 'rstCode' in e);
  t.equal(stream?.destroyed, true, 'the tunnel stream is one of the ends, and closed');
  await waitFor('the destination record', () => rig.records.length === 1);
  t.match(rig.records[0], { reporter: 'destination', method: 'GET', path: '/v2/chat?room=1', authority: 'ws.demo', status: 101, requestBytes: 11, responseBytes: 11, sourceIdentity: CLIENT_ID, destinationWorkload: 'Pod/demo/server' });
  t.equal(rig.records[0]?.failure, undefined);
  t.equal(rig.pool.size, 1);
});

t.test("the destination's policy denial reaches the application as a 403 response", async (t) => {
  const rig = await l7Rig(t);
  echo(rig);
  const src = await sourceAgent(t, rig.pool, rig.h1Port);
  src.vip = '127.0.0.10';
  const record = nextClosed(src);
  const app = application(src.port, '/chat', 'early|');
  await app.closed;
  t.match(app.text(), /^HTTP\/1\.1 403 Forbidden\r\n/);
  t.notMatch(app.text(), /meshlet-error/i, 'meshlet-error is the agents\' business');
  t.match(app.text(), /\r\nconnection: close\r\n\r\nmeshlet: policy_denied\n$/);
  t.equal(rig.accepted.h1, 0, 'the workload was never dialled');
  t.match(await record, { outcome: 'denied', failure: 'policy_denied', responseFlag: 'UAEX' });
  await waitFor('the destination record', () => rig.records.length === 1);
  t.match(rig.records[0], { status: 403, failure: 'policy_denied' });
});

t.test("the workload's answer other than 101 is relayed as that response, then the connection closes", async (t) => {
  const rig = await l7Rig(t);
  rig.onUpgrade((_req, socket) => socket.end('HTTP/1.1 404 Not Found\r\ncontent-length: 3\r\nx-why: no-room\r\nconnection: close\r\n\r\nnah'));
  const src = await sourceAgent(t, rig.pool, rig.h1Port);
  const record = nextClosed(src);
  const app = application(src.port, '/chat');
  await app.closed;
  t.match(app.text(), /^HTTP\/1\.1 404 Not Found\r\n/);
  t.match(app.text(), /\r\nx-why: no-room\r\n/);
  t.match(app.text(), /\r\ncontent-length: 3\r\n/);
  t.match(app.text(), /\r\n\r\nnah$/);
  t.match(await record, { outcome: 'ok', mode: 'tunnel' });
  await waitFor('the destination record', () => rig.records.length === 1);
  t.match(rig.records[0], { status: 404, responseBytes: 3 });
});

t.test('a client that goes away mid-stream leaves no stream and no workload socket open', async (t) => {
  const rig = await l7Rig(t);
  const seen = echo(rig);
  const src = await sourceAgent(t, rig.pool, rig.h1Port);
  const record = nextClosed(src);
  const app = application(src.port, '/chat');
  await app.until('the 101', (s) => s.includes('\r\n\r\n'));
  app.socket.write('ping');
  await app.until('the echo', (s) => s.endsWith('ping'));
  app.socket.resetAndDestroy();
  const rec = await record;
  t.match(rec, { outcome: 'reset', failure: 'downstream_reset' });
  const stream = rec.ends.find((e): e is ClientHttp2Stream => 'rstCode' in e);
  t.equal(stream?.destroyed, true, 'the tunnel stream is closed');
  await waitFor('the workload socket closed', () => seen.socketClosed === true);
  await waitFor('the destination record', () => rig.records.length === 1);
  t.match(rig.records[0], { status: 101, failure: 'downstream_reset', requestBytes: 4 });
});

t.test('a tunnel stream reset before the answer: 503 tunnel_reset to the application', async (t) => {
  const rig = await l7Rig(t);
  let asked = false;
  rig.onUpgrade(() => void (asked = true));
  const src = await sourceAgent(t, rig.pool, rig.h1Port);
  const record = nextClosed(src);
  const app = application(src.port, '/chat');
  await waitFor('the workload got the upgrade request', () => asked);
  rig.tunnel.destroy();
  await app.closed;
  t.match(app.text(), /^HTTP\/1\.1 503 Service Unavailable\r\n/);
  t.match(app.text(), /\r\nx-meshlet-failure: tunnel_reset\r\n/);
  t.match(await record, { failure: 'tunnel_reset' });
});

t.test('an extended CONNECT refused before the answer (REFUSED_STREAM) is opened again: 101, the echo', async (t) => {
  const rig = await l7Rig(t);
  const seen = echo(rig);
  const before = tunnelStreamsReopened();
  // The first stream is refused as a draining peer's GOAWAY would have it (REFUSED_STREAM).
  let refusals = 1;
  const pool = Object.create(rig.pool, {
    upgrade: {
      value: async (...args: Parameters<TunnelPool['upgrade']>) => {
        const stream = await rig.pool.upgrade(...args);
        if (stream !== undefined && refusals > 0) {
          refusals -= 1;
          stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
        }
        return stream;
      },
    },
  }) as TunnelPool;
  const src = await sourceAgent(t, pool, rig.h1Port);
  const record = nextClosed(src);
  const app = application(src.port, '/chat', 'early|');
  await app.until('the echo of the early bytes', (s) => s.includes('early|'));
  t.match(app.text(), /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  t.equal(tunnelStreamsReopened() - before, 1, 'one stream opened again, counted');
  t.equal(seen.req?.url, '/chat', 'the workload got the upgrade');
  app.socket.end();
  await app.closed;
  t.match(await record, { mode: 'tunnel', outcome: 'ok' });
});

t.test('no answer within the response timeout: 504 tunnel_timeout, the stream cancelled', async (t) => {
  const rig = await l7Rig(t);
  echo(rig);
  // Generous for a busy machine, yet far below the destination's own 10 s for the workload.
  const src = await sourceAgent(t, rig.pool, rig.h1Port, 1_500);
  // A first upgrade warms the pool (credentials, session, SETTINGS): the timed one below waits
  // for nothing but the answer.
  const warm = application(src.port, '/chat', 'warm');
  await warm.until('the warm-up echo', (s) => s.endsWith('warm'));
  warm.socket.end();
  await warm.closed;
  await waitFor('the warm-up records', () => rig.records.length === 1 && src.closed.length === 1);
  let workloadSocket: Duplex | undefined;
  rig.onUpgrade((_req, socket) => {
    // Never answers; reads on, so the destination agent's close is seen.
    workloadSocket = socket;
    socket.on('end', () => socket.destroy());
    socket.resume();
  });
  const record = nextClosed(src);
  const app = application(src.port, '/chat');
  await app.closed;
  t.ok(workloadSocket !== undefined, 'the workload got the upgrade request, and never answered');
  t.match(app.text(), /^HTTP\/1\.1 504 Gateway Timeout\r\n/);
  t.match(app.text(), /\r\nx-meshlet-failure: tunnel_timeout\r\n/);
  const rec = await record;
  t.match(rec, { failure: 'tunnel_timeout' });
  const stream = rec.ends.find((e): e is ClientHttp2Stream => 'rstCode' in e);
  t.equal(stream?.rstCode, http2.constants.NGHTTP2_CANCEL, 'the stream was cancelled');
  await waitFor('the workload socket closed by the destination agent', () => workloadSocket?.destroyed === true);
  await waitFor('the destination record', () => rig.records.length === 2);
  t.match(rig.records[1], { status: 0, failure: 'downstream_reset' }, 'the destination agent gave the upgrade up too');
});

t.test('an older peer agent (no extended CONNECT): the upgrade goes on as an L4 tunnel, logged once per session', async (t) => {
  const rig = await l7Rig(t);
  const seen = echo(rig);
  // The older agent: the same mTLS, plain CONNECT only, no SETTINGS_ENABLE_CONNECT_PROTOCOL.
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-old-agent-'));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger: silent });
  const signer = { sign: async (csrPem: string, identity: string) => ({ chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const serverIds = new IdentityManager({ signer, logger: silent });
  await serverIds.reconcile(new Set([SERVER_ID]));
  const clientIds = new IdentityManager({ signer, logger: silent });
  const streams: string[] = [];
  const old = http2.createSecureServer({
    requestCert: true, rejectUnauthorized: true, settings: TUNNEL_SETTINGS,
    SNICallback: (name, cb) => cb(null, serverIds.getBySni(name)?.secureContext),
  });
  old.on('stream', (stream: ServerHttp2Stream, headers) => {
    streams.push(`${String(headers[':method'])} ${String(headers[':protocol'] ?? '')}`);
    const upstream = net.connect(Number(String(headers[':authority']).split(':')[1]), '127.0.0.1', () => {
      stream.respond({ ':status': 200 });
      stream.pipe(upstream).pipe(stream);
    });
    upstream.on('error', () => stream.close(http2.constants.NGHTTP2_CONNECT_ERROR));
  });
  old.listen(0, '127.0.0.1');
  await once(old, 'listening');
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const pool = new TunnelPool({ identities: clientIds, logger, tunnelPort: (old.address() as AddressInfo).port });
  t.teardown(() => {
    pool.destroy();
    old.close();
    serverIds.close();
    clientIds.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const src = await sourceAgent(t, pool, rig.h1Port);
  for (const round of [1, 2]) {
    const app = application(src.port, '/v1/chat', `early${round}|`);
    await app.until('the echo', (s) => s.endsWith(`early${round}|`));
    t.match(app.text(), /^HTTP\/1\.1 101 Switching Protocols\r\n/, 'the workload answered 101 itself');
    t.match(app.text(), /\r\nx-path: \/v2\/chat\r\n/, 'the replayed head is the planned one');
    app.socket.end();
    await app.closed;
  }
  t.same(streams, ['CONNECT ', 'CONNECT '], 'plain CONNECTs only: no :protocol was ever sent to the older agent');
  t.match(seen.req?.headers, { upgrade: 'WebSocket' }, 'the application\'s Upgrade header as it sent it');
  t.equal(rig.records.length, 0, 'the destination side of the rig saw no request');
  t.equal(lines.filter((l) => String(l['msg']).includes('does not announce extended CONNECT')).length, 1, 'logged once for the session');
});

t.test('an upgrade the route answers itself (a redirect): the answer, then the connection closes on both sides', async (t) => {
  const rig = await l7Rig(t);
  echo(rig);
  const src = await sourceAgent(t, rig.pool, rig.h1Port);
  const record = nextClosed(src);
  const app = application(src.port, '/old/chat', 'early|');
  await app.until('the redirect', (s) => s.includes('\r\n\r\n'));
  t.match(app.text(), /^HTTP\/1\.1 301 Moved Permanently\r\nlocation: [^\r]*\/new\/chat\r\n/);
  app.socket.end();
  await app.closed;
  t.match(await record, { mode: 'http', outcome: 'ok' }, 'the agent closed its socket too: the record is closed');
  t.equal(rig.pool.size, 0, 'nothing crossed');
});
