/**
 * `TunnelPool.upgrade` (RFC 8441 extended CONNECT) against peers on 127.0.0.1 with certificates
 * from the real CA: on a fresh session the stream is opened only once the peer's SETTINGS are
 * in (Node's client would send `:protocol` before them); a peer that does not announce
 * SETTINGS_ENABLE_CONNECT_PROTOCOL (an older agent) gets no stream at all; a peer that never
 * sends SETTINGS fails the wait with the session; a session waiting for SETTINGS holds the
 * place of the stream it will carry.
 */
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import http2, { type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import t from 'tap';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { IdentityManager, type CertificateSigner } from '../../../src/agent/identity/manager.js';
import { TunnelPool, type TunnelPoolOptions, type TunnelTarget } from '../../../src/agent/proxy/tunnel/pool.js';
import { TunnelServer } from '../../../src/agent/proxy/tunnel/server.js';
import { TUNNEL_SETTINGS } from '../../../src/agent/proxy/tunnel/settings.js';
import { isMeshletError } from '../../../src/mesh/errors.js';
import { waitFor } from '../../helpers/wait-for.js';

const TD = 'cluster.local';
const CLIENT_ID = `spiffe://${TD}/ns/demo/sa/client`;
const SERVER_ID = `spiffe://${TD}/ns/demo/sa/server`;
const silent = pino({ level: 'silent' });
const HEADERS = { ':protocol': 'websocket', ':path': '/ws', ':authority': 'echo.demo.svc' } as const;

type Teardown = { teardown(fn: () => void | Promise<void>): void };

interface Ids {
  readonly server: IdentityManager;
  readonly client: IdentityManager;
}

async function identities(t: Teardown): Promise<Ids> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-tunnel-upgrade-'));
  const ca = await CertificateAuthority.loadOrCreate({ dir, trustDomain: TD, logger: silent });
  const signer: CertificateSigner = { sign: async (csrPem, identity) => ({ chainPem: ca.sign(csrPem, { identity }).chainPem, trustBundlePem: ca.trustBundlePem }) };
  const server = new IdentityManager({ signer, logger: silent });
  await server.reconcile(new Set([SERVER_ID]));
  const client = new IdentityManager({ signer, logger: silent });
  t.teardown(() => {
    server.close();
    client.close();
    rmSync(dir, { recursive: true, force: true });
  });
  return { server, client };
}

/** A TunnelServer whose upgrades answer `200 + meshlet-status: 101` at once, noting each `:protocol`. */
async function agent(t: Teardown, ids: Ids): Promise<{ port: number; protocols: string[] }> {
  const protocols: string[] = [];
  const server = new TunnelServer({
    identities: ids.server,
    logger: silent,
    onStream: (s) => s.respond({ ':status': 500 }, { endStream: true }),
    onUpgrade: (s, r) => {
      protocols.push(String(r.headers[':protocol']));
      s.respond({ ':status': 200, 'meshlet-status': '101' });
      s.end();
    },
  });
  const bound = await server.listen(0, '127.0.0.1');
  t.teardown(() => server.destroy());
  return { port: bound.port, protocols };
}

/**
 * A TCP relay that holds every chunk from the server back by `delayMs`: the client's TLS
 * handshake ends well before the server's SETTINGS reach it.
 */
async function slowRelay(t: Teardown, port: number, delayMs: number): Promise<number> {
  const relay = net.createServer((down) => {
    const up = net.connect(port, '127.0.0.1');
    for (const s of [up, down]) s.on('error', () => undefined);
    down.pipe(up);
    up.on('data', (d: Buffer) => setTimeout(() => down.write(d), delayMs));
    up.on('close', () => setTimeout(() => down.destroy(), delayMs));
    down.on('close', () => up.destroy());
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => void relay.close());
  return (relay.address() as AddressInfo).port;
}

function pool(t: Teardown, ids: Ids, port: number, opts: Partial<TunnelPoolOptions> = {}): TunnelPool {
  const p = new TunnelPool({ identities: ids.client, logger: silent, tunnelPort: port, ...opts });
  t.teardown(() => p.destroy());
  return p;
}

const target: TunnelTarget = { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: 8080 };

t.test('on a fresh session the extended CONNECT goes out only after the peer SETTINGS enabled it', async (t) => {
  const ids = await identities(t);
  const peer = await agent(t, ids);
  const p = pool(t, ids, await slowRelay(t, peer.port, 150));
  const stream = await p.upgrade(CLIENT_ID, target, HEADERS);
  if (stream === undefined) throw new Error('no stream: the peer announces extended CONNECT');
  t.equal(stream.session?.remoteSettings.enableConnectProtocol, true, 'the peer SETTINGS were in when the stream was opened');
  const [head] = (await once(stream, 'response')) as [IncomingHttpHeaders];
  t.same([head[':status'], head['meshlet-status']], [200, '101']);
  t.same(peer.protocols, ['websocket']);
  // A second upgrade on the session, its SETTINGS known: no wait, same session.
  const again = await p.upgrade(CLIENT_ID, target, HEADERS);
  t.equal(again?.session, stream.session);
  t.equal(p.size, 1);
});

t.test('an older peer agent (no SETTINGS_ENABLE_CONNECT_PROTOCOL): no stream, undefined, logged once per session', async (t) => {
  const ids = await identities(t);
  const streams: string[] = [];
  const old = http2.createSecureServer({
    requestCert: true, rejectUnauthorized: true, settings: TUNNEL_SETTINGS,
    SNICallback: (name, cb) => cb(null, ids.server.getBySni(name)?.secureContext),
  });
  old.on('stream', (s: ServerHttp2Stream, h: IncomingHttpHeaders) => {
    streams.push(`${String(h[':method'])} ${String(h[':protocol'])}`);
    s.respond({ ':status': 200 }, { endStream: true });
  });
  old.listen(0, '127.0.0.1');
  await once(old, 'listening');
  t.teardown(() => old.close());
  const lines: Array<Record<string, unknown>> = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const p = new TunnelPool({ identities: ids.client, logger, tunnelPort: (old.address() as AddressInfo).port });
  t.teardown(() => p.destroy());
  t.equal(await p.upgrade(CLIENT_ID, target, HEADERS), undefined, 'a fresh session: undefined once its SETTINGS are in');
  t.equal(await p.upgrade(CLIENT_ID, target, HEADERS), undefined, 'the same session again');
  // The session still carries plain CONNECTs: the caller's fallback.
  const connect = await p.open(CLIENT_ID, target);
  connect.end();
  const [head] = (await once(connect, 'response')) as [IncomingHttpHeaders];
  t.equal(head[':status'], 200);
  t.same(streams, ['CONNECT undefined'], 'no :protocol ever reached the older agent');
  t.equal(p.size, 1);
  const logged = lines.filter((l) => String(l['msg']).includes('does not announce extended CONNECT'));
  t.equal(logged.length, 1, 'one line for the session');
  t.match(logged[0], { identity: SERVER_ID });
});

t.test('a peer that never sends SETTINGS: the wait ends with the session (keepalive), MESHLET_ERR_TUNNEL_HANDSHAKE', async (t) => {
  const ids = await identities(t);
  // TLS and ALPN h2 as an agent would, then silence: no SETTINGS, no PING answer.
  const held: tls.TLSSocket[] = [];
  const mute = tls.createServer({ ALPNProtocols: ['h2'], requestCert: true, rejectUnauthorized: true, SNICallback: (name, cb) => cb(null, ids.server.getBySni(name)?.secureContext) }, (s) => {
    s.on('error', () => undefined);
    held.push(s);
  });
  mute.listen(0, '127.0.0.1');
  await once(mute, 'listening');
  t.teardown(() => {
    for (const s of held) s.destroy();
    mute.close();
  });
  const p = pool(t, ids, (mute.address() as AddressInfo).port, { pingIntervalMs: 200, pingTimeoutMs: 200 });
  const started = performance.now();
  const err: unknown = await p.upgrade(CLIENT_ID, target, HEADERS).then(() => undefined, (e: unknown) => e);
  t.ok(isMeshletError(err), `a MeshletError (${String(err)})`);
  t.equal(isMeshletError(err) ? err.code : undefined, 'MESHLET_ERR_TUNNEL_HANDSHAKE');
  t.match(String((err as Error).message), /ended before the peer's SETTINGS/);
  t.equal(held.length, 1, 'the TLS handshake was done: the wait was for SETTINGS');
  t.ok(performance.now() - started >= 200, 'not before the PING deadline');
  t.equal(p.size, 0, 'the dead session left the pool');
});

t.test('a session waiting for SETTINGS holds the place of its stream: a concurrent upgrade opens a sibling', async (t) => {
  const ids = await identities(t);
  const peer = await agent(t, ids);
  const p = pool(t, ids, await slowRelay(t, peer.port, 100), { maxStreamsPerSession: 1 });
  const [a, b] = await Promise.all([p.upgrade(CLIENT_ID, target, HEADERS), p.upgrade(CLIENT_ID, target, HEADERS)]);
  t.not(a?.session, undefined);
  t.not(a?.session, b?.session, 'two sessions, one stream each');
  await Promise.all([once(a as NonNullable<typeof a>, 'response'), once(b as NonNullable<typeof b>, 'response')]);
  t.same(peer.protocols, ['websocket', 'websocket']);
});

t.test('a pool closed while a session waits for SETTINGS opens no stream', async (t) => {
  const ids = await identities(t);
  const peer = await agent(t, ids);
  const p = pool(t, ids, await slowRelay(t, peer.port, 150));
  const pending = p.upgrade(CLIENT_ID, target, HEADERS);
  // Credentials first, then the session: close once the session exists (its SETTINGS are held back).
  await waitFor('the session', () => p.size === 1);
  p.close();
  const err: unknown = await pending.then(() => undefined, (e: unknown) => e);
  t.equal(isMeshletError(err) ? err.code : String(err), 'MESHLET_ERR_CLOSED');
  t.same(peer.protocols, []);
});
