/**
 * The tunnel end to end, in-process on 127.0.0.1: a TunnelPool (node A's client side) talks
 * HTTP/2 CONNECT over mTLS to a TunnelServer + InboundProxy (node B), which connects to a
 * backend standing in for a workload. Certificates come from the real CA.
 */
import t from 'tap';
import { EventEmitter, once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { constants as h2 } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import tls from 'node:tls';
import { createHash, randomBytes } from 'node:crypto';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { ConnectionTable, type ConnectionRecord } from '../../../src/agent/proxy/connection-table.js';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import { sniForIdentity } from '../../../src/agent/identity/sni.js';
import { InboundProxy } from '../../../src/agent/proxy/inbound.js';
import { OutboundProxy, type CapturedAddresses } from '../../../src/agent/proxy/outbound.js';
import { TunnelPool } from '../../../src/agent/proxy/tunnel/pool.js';
import { TunnelServer } from '../../../src/agent/proxy/tunnel/server.js';
import { WorkloadIndex } from '../../../src/agent/state/workload-index.js';
import type { NodeSnapshot, WorkloadInfo } from '../../../src/mesh/types.js';
import { digestBackend, readAll, status } from './tunnel-streams.js';

const logger = pino({ level: 'silent' });
/** The workloads here are sockets on 127.0.0.1: accept loopback workload addresses. */
const LOOPBACK = { allowLoopback: true } as const;
const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;

function signerFor(ca: CertificateAuthority): CertificateSigner {
  return {
    sign: async (csrPem, identity) => ({ chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }),
  };
}

function serverWorkload(address: string): WorkloadInfo {
  return {
    uid: 'Pod/demo/server', kind: 'Pod', name: 'server', namespace: 'demo', addresses: [address], node: 'nodeb',
    nodeAddress: '127.0.0.1', serviceAccount: 'server', identity: SERVER_ID, labels: {}, tlsMode: 'STRICT', namedPorts: [],
  };
}

interface Rig {
  pool: TunnelPool;
  tunnel: TunnelServer;
  tunnelPort: number;
  backendPort: number;
  table: ConnectionTable;
  /** Each inbound record as it closes (the access log's fields). */
  closed: ConnectionRecord[];
  ca: CertificateAuthority;
  dir: string;
  clientIds: IdentityManager;
}

async function rig(
  t: { teardown(fn: () => void | Promise<void>): void },
  onBackend: (s: net.Socket) => void = digestBackend,
  counters: { tlsErrors: number; handshakeErrors: number; resumed?: boolean[] } = { tlsErrors: 0, handshakeErrors: 0 },
): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-tunnel-'));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const backend = net.createServer({ allowHalfOpen: true }, onBackend);
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const backendPort = (backend.address() as AddressInfo).port;

  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [serverWorkload('127.0.0.1')], workloads: [serverWorkload('127.0.0.1')], services: [],
  };
  // Workloads on 127.0.0.1: only in-process tests accept loopback workload addresses.
  const index = new WorkloadIndex(snapshot, LOOPBACK);
  const serverIds = new IdentityManager({ signer: signerFor(ca), logger });
  await serverIds.reconcile(new Set([SERVER_ID]));
  const closed: ConnectionRecord[] = [];
  const table = new ConnectionTable(logger, { observer: { onClosed: (rec) => void closed.push(rec) } });
  const inbound = new InboundProxy({ logger, table, index: () => index, agentPorts: new Set() });
  const tunnel = new TunnelServer({ identities: serverIds, logger, onStream: (s, r) => inbound.onTunnelStream(s, r), onTlsError: () => void counters.tlsErrors++ });
  const bound = await tunnel.listen(0, '127.0.0.1');
  const clientIds = new IdentityManager({ signer: signerFor(ca), logger });
  const pool = new TunnelPool({
    identities: clientIds,
    logger,
    tunnelPort: bound.port,
    onHandshakeError: () => void counters.handshakeErrors++,
    onHandshake: (resumed) => void counters.resumed?.push(resumed),
  });
  t.teardown(() => {
    pool.destroy();
    tunnel.destroy();
    backend.close();
    serverIds.close();
    clientIds.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { pool, tunnel, tunnelPort: bound.port, backendPort, table, closed, ca, dir, clientIds };
}

t.test('bytes go through intact, with half-close, and streams share one session', async (t) => {
  const r = await rig(t);
  const payload = randomBytes(10 * 1024 * 1024);
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };
  const streams = await Promise.all([0, 1, 2, 3, 4].map(() => r.pool.open(CLIENT_ID, target)));
  const results = streams.map((s) => readAll(s));
  t.same(await Promise.all(streams.map(status)), [200, 200, 200, 200, 200]);
  streams[0]?.end(payload);
  for (const s of streams.slice(1)) s.end('small');
  const [big, ...small] = await Promise.all(results);
  t.same(JSON.parse(big ?? '{}'), { n: payload.length, sha256: createHash('sha256').update(payload).digest('hex') }, '10 MB arrive intact');
  for (const s of small) t.equal(JSON.parse(s).n, 5);
  t.equal(r.pool.size, 1, 'one HTTP/2 session for one (source, destination, node)');
  t.equal(r.tunnel.sessionCount, 1, 'the server saw one session');
});

t.test('CONNECT to an address that is not a meshed local workload is refused', async (t) => {
  const r = await rig(t);
  for (const address of ['127.0.0.2', '198.18.99.1']) {
    const s = await r.pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address, port: r.backendPort });
    t.equal(await status(s), h2.HTTP_STATUS_FORBIDDEN, `${address} refused`);
    s.destroy();
  }
  t.same(r.closed.map((rec) => [rec.outcome, rec.responseFlag]), [['denied', 'UAEX'], ['denied', 'UAEX']], 'access log: denied by policy');
});

t.test('a workload that refuses the connection: 503 to the CONNECT, connect_failed with flag UF', async (t) => {
  const r = await rig(t);
  // A port nothing listens on: bound, then closed.
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  const s = await r.pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: closedPort });
  t.equal(await status(s), h2.HTTP_STATUS_SERVICE_UNAVAILABLE);
  s.destroy();
  // The record closes right after the answer is sent, in the same turn of the event loop.
  t.same(r.closed.map((rec) => [rec.outcome, rec.responseFlag, rec.reason]), [['connect_failed', 'UF', `connect 127.0.0.1:${closedPort}: ECONNREFUSED`]]);
});

t.test('the client refuses a server that cannot prove the destination identity', async (t) => {
  const counters = { tlsErrors: 0, handshakeErrors: 0 };
  const r = await rig(t, digestBackend, counters);
  const other = `spiffe://${TD}/ns/demo/sa/impostor`;
  const s = await r.pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: other, address: '127.0.0.1', port: r.backendPort });
  await t.rejects(status(s), 'no stream without the right server identity');
  t.ok(counters.handshakeErrors >= 1, 'the client counted a handshake failure');
  t.ok(counters.tlsErrors >= 1, 'the server counted the refused handshake (unknown server name)');
});

function rawHandshake(port: number, opts: tls.ConnectionOptions): Promise<string> {
  return new Promise((resolve) => {
    const sock = tls.connect({ host: '127.0.0.1', port, ALPNProtocols: ['h2'], rejectUnauthorized: false, ...opts });
    sock.on('secureConnect', () => {
      // TLS 1.3: the server checks the client certificate after the client's Finished; a
      // refusal arrives as an alert on the first read.
      sock.once('data', () => resolve('accepted'));
      setTimeout(() => resolve('accepted'), 1000).unref();
    });
    sock.on('error', (err: Error) => resolve(`refused: ${err.message}`));
    sock.on('close', () => resolve('refused: closed'));
  });
}

t.test('a client without a mesh certificate cannot open a tunnel', async (t) => {
  const r = await rig(t);
  const noCert = await rawHandshake(r.tunnelPort, { servername: sniForIdentity(SERVER_ID) });
  t.match(noCert, /^refused/, `no certificate: ${noCert}`);
  const otherDir = mkdtempSync(join(tmpdir(), 'meshlet-other-ca-'));
  t.teardown(() => rmSync(otherDir, { recursive: true, force: true }));
  const otherCa = await CertificateAuthority.loadOrCreate({ dir: otherDir, trustDomain: TD, logger });
  const foreign = new IdentityManager({ signer: signerFor(otherCa), logger });
  t.teardown(() => foreign.close());
  const creds = await foreign.ensure(CLIENT_ID);
  const wrongCa = await rawHandshake(r.tunnelPort, { servername: sniForIdentity(SERVER_ID), secureContext: creds.secureContext });
  t.match(wrongCa, /^refused/, `certificate from another CA: ${wrongCa}`);
  const unknownSni = await rawHandshake(r.tunnelPort, { servername: 'nobody.id.meshlet' });
  t.match(unknownSni, /^refused/, `unknown server name: ${unknownSni}`);
});

t.test('resets propagate both ways through the tunnel', async (t) => {
  // A backend that resets a connection when it receives "reset", and otherwise records how
  // each of its connections ended.
  const ended: string[] = [];
  const r = await rig(t, (sock) => {
    sock.on('data', (c: Buffer) => {
      if (c.toString().includes('reset')) sock.resetAndDestroy();
    });
    sock.on('error', (e: NodeJS.ErrnoException) => ended.push(e.code ?? 'error'));
    sock.on('end', () => ended.push('end'));
  });
  const { pool, table } = r;
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };

  // Workload resets -> the client's stream is reset (RST_STREAM), not ended cleanly.
  const s1 = await pool.open(CLIENT_ID, target);
  t.equal(await status(s1), 200);
  s1.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => s1.on('close', () => resolve()));
  s1.write('reset');
  await closed;
  t.not(s1.rstCode, h2.NGHTTP2_NO_ERROR, `a workload RST arrives as RST_STREAM (code ${s1.rstCode})`);

  // Client resets its stream -> the workload's socket is reset, not FINed.
  const s2 = await pool.open(CLIENT_ID, target);
  t.equal(await status(s2), 200);
  s2.write('hello');
  await new Promise((r) => setTimeout(r, 100));
  const before = ended.length;
  s2.destroy(Object.assign(new Error('reset'), { code: 'ECONNRESET' }));
  for (let i = 0; i < 50 && ended.length === before; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(ended[before], 'ECONNRESET', `a stream reset arrives at the workload as a TCP RST (${ended.join(',')})`);

  // RST_STREAM(NO_ERROR) before END_STREAM is still a reset, not a complete upload.
  const s3 = await pool.open(CLIENT_ID, target);
  t.equal(await status(s3), 200);
  s3.write('partial upload');
  await new Promise((r) => setTimeout(r, 100));
  const mark = ended.length;
  s3.destroy();
  for (let i = 0; i < 50 && ended.length === mark; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(ended[mark], 'ECONNRESET', `RST_STREAM(NO_ERROR) mid-upload resets the workload (${ended.slice(mark).join(',')})`);
  t.equal(table.size, 0, 'both connections left the table');
});

t.test('a peer that stops answering PING loses its session', async (t) => {
  const r = await rig(t);
  // A TCP relay in front of the tunnel server that can be made to swallow everything, like a
  // node that died without a FIN.
  let frozen = false;
  const relay = net.createServer((down) => {
    const up = net.connect({ host: '127.0.0.1', port: r.tunnelPort });
    down.on('data', (c: Buffer) => void (frozen || up.write(c)));
    up.on('data', (c: Buffer) => void (frozen || down.write(c)));
    down.on('error', () => up.destroy());
    up.on('error', () => down.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => relay.close());
  const identities = new IdentityManager({ signer: signerFor(r.ca), logger });
  t.teardown(() => identities.close());
  const pool = new TunnelPool({ identities, logger, tunnelPort: (relay.address() as AddressInfo).port, pingIntervalMs: 100, pingTimeoutMs: 200 });
  t.teardown(() => pool.destroy());
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };
  const s1 = await pool.open(CLIENT_ID, target);
  t.equal(await status(s1), 200);
  t.equal(pool.size, 1);
  await new Promise((res) => setTimeout(res, 400));
  t.equal(pool.size, 1, 'a live peer keeps its session (PINGs answered)');
  s1.on('error', () => undefined);
  frozen = true;
  for (let i = 0; i < 50 && pool.size > 0; i++) await new Promise((res) => setTimeout(res, 20));
  t.equal(pool.size, 0, 'the silent peer\'s session was destroyed');
  frozen = false;
  const s2 = await pool.open(CLIENT_ID, target);
  t.equal(await status(s2), 200, 'the next connection gets a fresh session');
  s2.destroy();
});

t.test('a closed session (retired or draining) keeps its open streams across keepalive ticks', async (t) => {
  const r = await rig(t);
  const identities = new IdentityManager({ signer: signerFor(r.ca), logger });
  t.teardown(() => identities.close());
  const pool = new TunnelPool({ identities, logger, tunnelPort: r.tunnelPort, pingIntervalMs: 50, pingTimeoutMs: 200 });
  t.teardown(() => pool.destroy());
  const s = await pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort });
  t.equal(await status(s), 200);
  s.write('before');
  // What an agent's drain does: GOAWAY on every pooled session, open streams go on.
  pool.close();
  let reset = '';
  s.on('error', (err: Error) => (reset = err.message));
  await new Promise((res) => setTimeout(res, 400));
  t.equal(reset, '', 'no reset after 8 keepalive ticks');
  t.equal(s.destroyed, false, 'the stream is still open');
  if (s.destroyed) return;
  const done = Promise.race([readAll(s), once(s, 'close').then(() => 'closed before its end')]);
  s.end('after');
  const got = await done;
  t.match(got, /^\{"n":11,/, 'the stream carried its bytes to the end');
  t.equal(s.rstCode, 0, 'and ended cleanly');
});

t.test('an idle session is closed after the idle timeout', async (t) => {
  const r = await rig(t);
  const identities = new IdentityManager({ signer: signerFor(r.ca), logger });
  t.teardown(() => identities.close());
  const pool = new TunnelPool({ identities, logger, tunnelPort: r.tunnelPort, idleTimeoutMs: 200, pingIntervalMs: 50 });
  t.teardown(() => pool.destroy());
  const s = await pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort });
  t.equal(await status(s), 200);
  await new Promise((res) => setTimeout(res, 400));
  t.equal(pool.size, 1, 'a session with an open stream is kept');
  const done = readAll(s);
  s.end('x');
  await done;
  for (let i = 0; i < 50 && pool.size > 0; i++) await new Promise((res) => setTimeout(res, 20));
  t.equal(pool.size, 0, 'closed once idle');
});

t.test('a tunnel to a workload whose certificate is still being issued waits for it', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-late-'));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger });
  const slow: CertificateSigner = {
    sign: async (csr, identity) => {
      await new Promise((r) => setTimeout(r, 500));
      return signerFor(ca).sign(csr, identity);
    },
  };
  const backend = net.createServer(digestBackend).listen(0, '127.0.0.1');
  await once(backend, 'listening');
  t.teardown(() => backend.close());
  const index = new WorkloadIndex({
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [serverWorkload('127.0.0.1')], workloads: [serverWorkload('127.0.0.1')], services: [],
  }, LOOPBACK);
  const serverIds = new IdentityManager({ signer: slow, logger });
  const issuing = serverIds.reconcile(new Set([SERVER_ID])); // not awaited: the workload just joined
  const closed: ConnectionRecord[] = [];
  const table = new ConnectionTable(logger, { observer: { onClosed: (rec) => void closed.push(rec) } });
  const inbound = new InboundProxy({ logger, table, index: () => index, agentPorts: new Set() });
  const tunnel = new TunnelServer({ identities: serverIds, logger, onStream: (s, r) => inbound.onTunnelStream(s, r) });
  const bound = await tunnel.listen(0, '127.0.0.1');
  const clientIds = new IdentityManager({ signer: signerFor(ca), logger });
  const pool = new TunnelPool({ identities: clientIds, logger, tunnelPort: bound.port });
  t.teardown(() => {
    pool.destroy();
    tunnel.destroy();
    serverIds.close();
    clientIds.close();
  });
  t.equal(serverIds.get(SERVER_ID), undefined, 'no certificate yet');
  const s = await pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: (backend.address() as AddressInfo).port });
  t.equal(await status(s), 200, 'the handshake waited for the certificate instead of failing');
  s.destroy();
  await issuing;
});

t.test('a new session to the same peer resumes TLS with a ticket, and the peer still knows who the client is', async (t) => {
  const counters = { tlsErrors: 0, handshakeErrors: 0, resumed: [] as boolean[] };
  const r = await rig(t, digestBackend, counters);
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };
  const roundTrip = async (): Promise<void> => {
    const s = await r.pool.open(CLIENT_ID, target);
    const result = readAll(s);
    t.equal(await status(s), 200);
    const inbound = r.table.list().find((rec) => rec.direction === 'inbound');
    t.equal(inbound?.sourceIdentity, CLIENT_ID, 'the server side names the client identity');
    s.end('hello');
    t.equal(JSON.parse(await result).n, 5);
    const session = s.session;
    session?.close();
    if (session !== undefined && !session.closed) await once(session, 'close');
  };
  await roundTrip();
  // TLS 1.3 tickets arrive after the handshake; the first session has had its round trip.
  t.equal(r.pool.ticketCount, 1, 'a ticket was kept');
  await roundTrip();
  t.same(counters.resumed, [false, true], 'the first session was a full handshake, the second resumed');

  // A renewed certificate means a new secure context: its first session is a full handshake.
  await r.clientIds.reconcile(new Set());
  await roundTrip();
  t.same(counters.resumed, [false, true, false], 'new credentials do not ride on the old ticket');
  t.equal(counters.tlsErrors + counters.handshakeErrors, 0);
});

t.test('a ticket from another server (keys not shared) falls back to a full handshake, and shared keys resume', async (t) => {
  const counters = { tlsErrors: 0, handshakeErrors: 0, resumed: [] as boolean[] };
  const r = await rig(t, digestBackend, counters);
  const target = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort };
  const once1 = async (): Promise<void> => {
    const s = await r.pool.open(CLIENT_ID, target);
    const result = readAll(s);
    t.equal(await status(s), 200);
    s.end('x');
    await result;
    s.session?.close();
    if (s.session !== undefined && !s.session.closed) await once(s.session, 'close');
  };
  await once1();
  t.equal(r.pool.ticketCount, 1);
  // The same port, a new server process stand-in: different ticket keys.
  const keysA = randomBytes(48);
  const port = r.tunnelPort;
  r.tunnel.destroy();
  await once(r.tunnel.server, 'close').catch(() => undefined);
  const serverIds = new IdentityManager({ signer: signerFor(r.ca), logger });
  await serverIds.reconcile(new Set([SERVER_ID]));
  const inbound = new InboundProxy({ logger, table: r.table, index: () => new WorkloadIndex({
    version: 'v1', node: 'nodeb', nodeAddress: '127.0.0.1', trustDomain: TD,
    localWorkloads: [serverWorkload('127.0.0.1')], workloads: [serverWorkload('127.0.0.1')], services: [],
  }, LOOPBACK), agentPorts: new Set() });
  const servers = [keysA, keysA].map((ticketKeys) => new TunnelServer({ identities: serverIds, logger, onStream: (st, q) => inbound.onTunnelStream(st, q), ticketKeys }));
  t.teardown(() => {
    for (const s of servers) s.destroy();
    serverIds.close();
  });
  await servers[0]?.listen(port, '127.0.0.1');
  await once1();
  t.same(counters.resumed, [false, false], 'a foreign ticket is refused without failing the handshake');
  // Another server with the same keys (a second worker on the same port) resumes it.
  servers[0]?.destroy();
  await servers[1]?.listen(port, '127.0.0.1');
  await once1();
  t.same(counters.resumed, [false, false, true], 'shared ticket keys: resumed across servers');
  t.equal(counters.tlsErrors + counters.handshakeErrors, 0);
});

t.test("a peer agent's refusal of the CONNECT: the outbound record and a TUNNEL_CONNECT warning, from the table", async (t) => {
  const r = await rig(t);
  // The client node: its workload on 127.0.0.2; the server workload is on the rig's node.
  const client: WorkloadInfo = { ...serverWorkload('127.0.0.2'), uid: 'Pod/demo/client', name: 'client', node: 'nodea', serviceAccount: 'client', identity: CLIENT_ID };
  const snapshot: NodeSnapshot = {
    version: 'v1', node: 'nodea', nodeAddress: '127.0.0.2', trustDomain: TD,
    localWorkloads: [client], workloads: [client, serverWorkload('127.0.0.1'), serverWorkload('127.0.0.3')], services: [],
  };
  const index = new WorkloadIndex(snapshot, LOOPBACK);
  const lines: Array<Record<string, unknown>> = [];
  const sink = new Writable({ write(chunk: Buffer, _enc, done) { lines.push(JSON.parse(chunk.toString()) as Record<string, unknown>); done(); } });
  const outboundLog = pino({ level: 'warn' }, sink);
  const closed = new EventEmitter();
  const table = new ConnectionTable(logger, { observer: { onClosed: (rec) => void closed.emit(rec.direction, rec) } });
  const inbound = new InboundProxy({ logger, table, index: () => index, agentPorts: new Set() });
  let next: CapturedAddresses | undefined;
  const outbound = new OutboundProxy({
    logger: outboundLog, table, index: () => index, inbound, tunnels: r.pool, ownPorts: new Set(),
    captured: () => next as CapturedAddresses,
  });
  const capture = net.createServer({ pauseOnConnect: true, allowHalfOpen: true }, (s) => outbound.onConnection(s));
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => capture.close());
  const probe = net.createServer().listen(0, '127.0.0.1');
  await once(probe, 'listening');
  const closedPort = (probe.address() as AddressInfo).port;
  await new Promise<void>((resolve) => probe.close(() => resolve()));

  async function connectThrough(address: string, port: number): Promise<ConnectionRecord> {
    next = { source: '127.0.0.2', destination: { address, port, family: 4 } };
    const record = once(closed, 'outbound', { signal: AbortSignal.timeout(20_000) }) as Promise<[ConnectionRecord]>;
    const sock = net.connect((capture.address() as AddressInfo).port, '127.0.0.1');
    sock.on('error', () => undefined);
    sock.write('hello');
    const [rec] = await record;
    sock.destroy();
    return rec;
  }

  // 127.0.0.3 is not a workload of the peer's node: its policy answers 403.
  const denied = await connectThrough('127.0.0.3', r.backendPort);
  t.same([denied.mode, denied.outcome, denied.responseFlag, denied.reason], ['tunnel', 'denied', 'UAEX', 'peer agent answered 403']);
  // The peer's workload refuses the connection: the peer answers 503.
  const refused = await connectThrough('127.0.0.1', closedPort);
  t.same([refused.outcome, refused.responseFlag, refused.reason], ['connect_failed', 'UF', 'peer agent answered 503']);
  const warnings = lines.filter((l) => l['msg'] === 'outbound: the peer agent refused the tunnel CONNECT');
  t.equal(warnings.length, 1, 'one line: the second refusal within the interval is only counted');
  t.match(warnings[0], { code: 'MESHLET_ERR_TUNNEL_CONNECT', status: 403, identity: SERVER_ID });
});
