/**
 * Issue 9 finding 11, in-process on loopback: the tunnel server closes a session with no
 * stream after its idle timeout, and destroys a session whose peer vanished (PINGs go
 * unanswered: a cable cut, no FIN) together with its streams and their upstream sockets.
 */
import t from 'tap';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { CLIENT_ID, limitsRig, until } from './tunnel-limits-rig.js';
import { status } from './tunnel-streams.js';

t.test('a session with no stream is closed by the server after the idle timeout', async (t) => {
  const r = await limitsRig(t, { sessionIdleTimeoutMs: 300, pingIntervalMs: 100 });
  const session = r.connect(r.issue(CLIENT_ID));
  await once(session, 'connect');
  await until(() => r.tunnel.sessionCount === 1, 'the session on the server');
  const goaway = once(session, 'goaway');
  await new Promise((resolve) => session.once('close', resolve));
  await goaway;
  await until(() => r.tunnel.sessionCount === 0, 'the server to forget the session');
  t.equal(r.tunnel.connectionCount, 0, 'the server let the idle session go');
  t.equal(r.limitCounts.get('session_idle'), 1, 'counted as session_idle');
});

t.test('a session whose streams are open is not idle', async (t) => {
  const r = await limitsRig(t, { sessionIdleTimeoutMs: 300, pingIntervalMs: 100 });
  const session = r.connect(r.issue(CLIENT_ID));
  const stream = r.connectStream(session);
  t.equal(await status(stream), 200, 'stream open');
  await new Promise((resolve) => setTimeout(resolve, 1_000));
  t.equal(session.closed, false, 'still open after three idle timeouts');
  t.equal(r.limitCounts.get('session_idle'), undefined, 'never idle');
});

/** A TCP relay that can go silent: it keeps both connections but stops moving bytes. */
async function blackholeRelay(t: { teardown(fn: () => void): void }, port: number): Promise<{ port: number; cut(): void }> {
  const pairs: Array<[net.Socket, net.Socket]> = [];
  const relay = net.createServer((inbound) => {
    const outbound = net.connect({ host: '127.0.0.1', port });
    inbound.on('error', () => undefined);
    outbound.on('error', () => undefined);
    inbound.pipe(outbound);
    outbound.pipe(inbound);
    pairs.push([inbound, outbound]);
  });
  relay.listen(0, '127.0.0.1');
  await once(relay, 'listening');
  t.teardown(() => {
    for (const [a, b] of pairs) {
      a.destroy();
      b.destroy();
    }
    relay.close();
  });
  return {
    port: (relay.address() as AddressInfo).port,
    cut() {
      for (const [a, b] of pairs) {
        a.unpipe(b);
        b.unpipe(a);
        a.pause();
        b.pause();
      }
    },
  };
}

t.test('a vanished peer loses its session, its streams and their upstream sockets (server keepalive)', async (t) => {
  const r = await limitsRig(t, { sessionIdleTimeoutMs: 60_000, pingIntervalMs: 200 });
  const relay = await blackholeRelay(t, r.tunnelPort);
  const session = r.connect(r.issue(CLIENT_ID), { port: relay.port });
  const streams = [r.connectStream(session), r.connectStream(session), r.connectStream(session)];
  t.same(await Promise.all(streams.map(status)), [200, 200, 200], 'three streams open');
  await until(() => r.backend.open.size === 3, 'three upstream sockets');
  relay.cut();
  await until(() => r.tunnel.sessionCount === 0, 'the server to drop the silent session');
  await until(() => r.backend.open.size === 0, 'the upstream sockets to be closed');
  t.equal(r.limitCounts.get('ping_timeout'), 1, 'counted as ping_timeout');
  t.equal(r.table.size, 0, 'no connection left in the table');
  const warned = r.warnings.filter((w) => w['reason'] === 'ping_timeout');
  t.equal(warned.length, 1, 'one warning line');
});
