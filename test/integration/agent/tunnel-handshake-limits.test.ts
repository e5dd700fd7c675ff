/**
 * Issue 9 finding 2, in-process on loopback: half-open TLS connections to the tunnel port are
 * capped (per process and per peer address), closed at an absolute handshake deadline (also
 * when the peer drips bytes), logged in bounded lines, and a legitimate peer's tunnel works
 * meanwhile. Flood sockets come from 127.0.0.2.., the legitimate client from 127.0.0.1.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import net from 'node:net';
import { CLIENT_ID, SERVER_ID, limitsRig, until } from './tunnel-limits-rig.js';
import { readAll, status } from './tunnel-streams.js';

/** The first bytes of a ClientHello announcing a 512-byte record: the server waits for the rest. */
const PARTIAL_HELLO = Buffer.concat([Buffer.from([0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03]), randomBytes(20)]);

interface Flood {
  readonly sockets: net.Socket[];
  closed: number;
  readonly closedAt: number[];
}

/**
 * Opens `count` TCP connections from `localAddress`; even ones send a partial ClientHello,
 * odd ones drip it a byte every 200 ms (which defeats an inactivity timeout, not a deadline).
 */
function flood(port: number, count: number, localAddress: string, t: { teardown(fn: () => void): void }): Flood {
  const f: Flood = { sockets: [], closed: 0, closedAt: [] };
  for (let i = 0; i < count; i++) {
    const s = net.connect({ host: '127.0.0.1', port, localAddress });
    s.on('error', () => undefined);
    s.once('connect', () => {
      if (i % 2 === 0) {
        s.write(PARTIAL_HELLO);
        return;
      }
      let at = 0;
      const drip = setInterval(() => {
        if (s.destroyed || at >= PARTIAL_HELLO.length) clearInterval(drip);
        else s.write(PARTIAL_HELLO.subarray(at, ++at));
      }, 200);
      s.once('close', () => clearInterval(drip));
    });
    s.once('close', () => {
      f.closed += 1;
      f.closedAt.push(performance.now());
    });
    f.sockets.push(s);
  }
  t.teardown(() => {
    for (const s of f.sockets) s.destroy();
  });
  return f;
}

t.test('one peer flooding half-open handshakes holds only its share, each until the deadline, and another peer tunnels meanwhile', async (t) => {
  // Long enough that the flood is fully accepted, and the legitimate tunnel done, before any
  // admitted flood socket times out, even on a loaded machine.
  const HANDSHAKE_MS = 6_000;
  const PER_PEER = 20;
  const FLOOD = 300;
  const r = await limitsRig(t, { maxHandshakesPerPeer: PER_PEER, maxHandshakes: 100, maxConnections: 200, handshakeTimeoutMs: HANDSHAKE_MS, refusalLogIntervalMs: 1_000 });
  const started = performance.now();
  const f = flood(r.tunnelPort, FLOOD, '127.0.0.2', t);

  // (a) past the per-peer cap, connections are closed at once.
  await until(() => f.closed >= FLOOD - PER_PEER, 'the connections past the cap to be closed');
  t.equal(r.tunnel.handshakeCount, PER_PEER, 'the flooding peer holds exactly its share of handshakes');
  t.equal(r.limitCounts.get('peer_handshake_limit'), FLOOD - PER_PEER, 'every connection past the cap was counted');

  // (c) another peer's tunnel works while the flood is held.
  const pool = r.pool();
  const payload = randomBytes(256 * 1024);
  const stream = await pool.open(CLIENT_ID, { nodeAddress: '127.0.0.1', identity: SERVER_ID, address: '127.0.0.1', port: r.backendPort });
  const answer = readAll(stream);
  t.equal(await status(stream), 200, 'the legitimate CONNECT succeeds during the flood');
  stream.end(payload);
  t.same(JSON.parse(await answer), { n: payload.length, sha256: createHash('sha256').update(payload).digest('hex') }, 'its bytes arrive intact');
  const heldMeanwhile = r.tunnel.handshakeCount;
  t.equal(heldMeanwhile, PER_PEER, 'the flood was still held while the legitimate tunnel worked');

  // (b) the admitted half-open ones, dripping or not, are closed at the handshake deadline.
  await until(() => f.closed === FLOOD, 'every flood connection to be closed', HANDSHAKE_MS * 10);
  const last = Math.max(...f.closedAt);
  t.ok(last - started >= HANDSHAKE_MS * 0.9, `the admitted ones lived until the deadline (${Math.round(last - started)} ms)`);
  t.equal(r.limitCounts.get('handshake_timeout'), PER_PEER, 'each admitted half-open connection timed out once');
  t.equal(r.tunnel.handshakeCount, 0, 'no handshake left');
  t.equal(r.tunnel.connectionCount, 1, 'only the legitimate session is still held');

  // (d) bounded log: at most one refusal line per interval, whatever the flood.
  const elapsed = performance.now() - started;
  const lines = r.warnings.filter((w) => typeof w['msg'] === 'string' && (w['msg'] as string).startsWith('tunnel connections refused'));
  t.ok(lines.length >= 1, 'the refusals were logged');
  t.ok(lines.length <= Math.ceil(elapsed / 1_000) + 1, `${lines.length} lines for ${FLOOD} refusals in ${Math.round(elapsed)} ms`);
  t.equal(r.warnings.length, lines.length, 'no other warning line');
});

t.test('many peers together cannot hold more than the process-wide handshake cap', async (t) => {
  const r = await limitsRig(t, { maxHandshakesPerPeer: 10, maxHandshakes: 40, maxConnections: 200, handshakeTimeoutMs: 30_000 });
  const floods: Flood[] = [];
  for (let i = 2; i < 12; i++) floods.push(flood(r.tunnelPort, 10, `127.0.0.${i}`, t));
  const closed = (): number => floods.reduce((n, f) => n + f.closed, 0);
  await until(() => closed() >= 60, '60 connections past the process cap to be closed');
  t.equal(r.tunnel.handshakeCount, 40, 'the process holds its cap of handshakes, no more');
  t.equal(r.limitCounts.get('handshake_limit'), 60, 'the connections past the cap were counted');
});

t.test('connections past the process-wide connection cap are closed, established sessions included', async (t) => {
  const r = await limitsRig(t, { maxConnections: 3, handshakeTimeoutMs: 30_000 });
  const creds = r.issue(CLIENT_ID);
  const sessions = [r.connect(creds), r.connect(creds), r.connect(creds)];
  await Promise.all(sessions.map((s) => new Promise((resolve) => s.once('connect', resolve))));
  await until(() => r.tunnel.sessionCount === 3, 'three sessions on the server');
  const extra = net.connect({ host: '127.0.0.1', port: r.tunnelPort });
  extra.on('error', () => undefined);
  await new Promise((resolve) => extra.once('close', resolve));
  t.equal(r.limitCounts.get('connection_limit'), 1, 'the fourth connection was refused by the cap');
  t.equal(r.tunnel.connectionCount, 3, 'the three sessions stay');
  sessions[0]?.destroy();
  await until(() => r.tunnel.connectionCount === 2, 'the closed session to be released');
  const again = r.connect(creds);
  await new Promise((resolve) => again.once('connect', resolve));
  t.equal(r.tunnel.connectionCount, 3, 'a slot freed is usable again');
});
