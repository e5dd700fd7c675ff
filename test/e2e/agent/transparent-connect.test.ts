/**
 * The transparent connect: the workload sees the chosen source address; refusals, time-outs and
 * a missing CAP_NET_ADMIN are reported as net.connect's are. A namespace test: it needs root
 * (IP_TRANSPARENT) and makes a netns of its own for the port test; the rest runs on loopback,
 * with 127.0.0.0/8 source addresses (local, so no return-path rules are needed).
 */
import t from 'tap';
import { requireNamespaces } from '../helpers/require-root.js';
import { createNetns, inNetns } from '../iptables/netns-fixture.js';
import { once } from 'node:events';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import net, { type AddressInfo } from 'node:net';
import { transparentConnect, TransparentSocketError } from '../../../src/agent/proxy/transparent-connect.js';
import { closeSocketFd, openReuseportSocket } from '../../../src/agent/workers/reuseport-socket.js';

if (requireNamespaces(t)) {
  t.test('the server sees the source address; data flows both ways', async (t) => {
    const seen: string[] = [];
    const server = net.createServer((s) => {
      seen.push(s.remoteAddress ?? '');
      s.end(`hello ${s.remoteAddress ?? ''}`);
    });
    server.listen(0, '127.0.0.1');
    await once(server, 'listening');
    t.teardown(() => void server.close());
    const { port } = server.address() as AddressInfo;
    const socket = transparentConnect({ source: '127.0.0.77', host: '127.0.0.1', port, noDelay: true });
    t.equal(socket.connecting, true, 'connecting, as net.connect');
    await once(socket, 'connect');
    t.equal(socket.localAddress, '127.0.0.77');
    t.ok((socket.localPort ?? 0) > 0, 'the kernel picked a port at connect');
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    await once(socket, 'end');
    t.equal(text, 'hello 127.0.0.77');
    t.same(seen, ['127.0.0.77']);
    socket.destroy();
  });

  t.test('a refused connection is an ECONNREFUSED error event', async (t) => {
    const reserve = openReuseportSocket({ host: '127.0.0.1', port: 0, listen: false });
    t.teardown(() => closeSocketFd(reserve.fd));
    const socket = transparentConnect({ source: '127.0.0.78', host: '127.0.0.1', port: reserve.port });
    const [err] = (await once(socket, 'error').catch((e: unknown) => [e])) as [NodeJS.ErrnoException];
    t.equal(err.code, 'ECONNREFUSED');
    t.equal(socket.destroyed, true);
  });

  t.test('a connection nobody answers times out through setTimeout', async (t) => {
    // A listener with backlog 0 that never accepts: once one connection fills its queue (Linux
    // lets backlog + 1 in), the kernel drops further SYNs, so the next connect neither succeeds
    // nor fails.
    const full = openReuseportSocket({ host: '127.0.0.1', port: 0, listen: true, backlog: 0 });
    t.teardown(() => closeSocketFd(full.fd));
    const filler = net.connect(full.port, '127.0.0.1');
    filler.on('error', () => undefined);
    t.teardown(() => filler.destroy());
    await once(filler, 'connect');
    const socket = transparentConnect({ source: '127.0.0.79', host: '127.0.0.1', port: full.port });
    t.teardown(() => socket.destroy());
    socket.on('error', () => undefined);
    socket.setTimeout(300);
    let connected = false;
    socket.once('connect', () => (connected = true));
    await once(socket, 'timeout');
    t.equal(connected, false, 'timed out before any connect');
  });

  t.test('bad addresses are refused before any socket is made', async (t) => {
    t.throws(() => transparentConnect({ source: '::1', host: '127.0.0.1', port: 1 }), { code: 'MESHLET_ERR_CONFIG_INVALID' });
    t.throws(() => transparentConnect({ source: 'example.org', host: '127.0.0.1', port: 1 }), { code: 'MESHLET_ERR_CONFIG_INVALID' });
  });

  t.test('IPv6: the server sees the source address', async (t) => {
    const server = net.createServer((s) => s.end(s.remoteAddress ?? ''));
    server.listen(0, '::1');
    const ready = await once(server, 'listening').then(() => true, () => false);
    t.teardown(() => void server.close());
    if (!ready) return;
    const { port } = server.address() as AddressInfo;
    // ::1 is the only IPv6 loopback address: with IP_TRANSPARENT the bind goes through either way.
    const socket = transparentConnect({ source: '::1', host: '::1', port });
    let text = '';
    socket.on('data', (d: Buffer) => (text += d.toString()));
    await once(socket, 'end');
    t.equal(text, '::1');
  });

  t.test('without CAP_NET_ADMIN and CAP_NET_RAW the error is EPERM, as a TransparentSocketError', async (t) => {
    const script = fileURLToPath(new URL('./transparent-eperm-probe.js', import.meta.url));
    const r = spawnSync('setpriv', ['--inh-caps=-net_admin,-net_raw', '--bounding-set=-net_admin,-net_raw', process.execPath, script], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 0, r.stderr);
    t.same(JSON.parse(r.stdout.trim()), { code: 'MESHLET_ERR_TRANSPARENT_SOCKET', errno: 'EPERM', notPermitted: true, syscall: 'setsockopt(IP_TRANSPARENT)' });
  });

  t.test('avoidPort: never the client\'s own port, even when the kernel offers it', async (t) => {
    // A netns of its own with a two-port ephemeral range (a per-netns sysctl; the host's is
    // untouched): bind() prefers the parity opposite to the range's start (connect() keeps the
    // other), so it offers 40001, the avoided one, every time.
    const ns = createNetns(t);
    inNetns(ns, 'ip', ['link', 'set', 'lo', 'up']);
    inNetns(ns, 'sysctl', ['-qw', 'net.ipv4.ip_local_port_range=40000 40001']);
    const script = fileURLToPath(new URL('./transparent-avoid-probe.js', import.meta.url));
    const r = spawnSync('ip', ['netns', 'exec', ns, process.execPath, script, '40001', '12'], { encoding: 'utf8', timeout: 60_000 });
    t.equal(r.status, 0, r.stderr);
    const ports = JSON.parse(r.stdout.trim()) as number[];
    t.equal(ports.length, 12);
    t.same([...new Set(ports)], [40000]);
  });

  t.test('TransparentSocketError tells EPERM apart', async (t) => {
    t.equal(new TransparentSocketError('bind()', 99, 'x').notPermitted, false);
    t.equal(new TransparentSocketError('setsockopt(IP_TRANSPARENT)', 1, 'x').notPermitted, true);
  });
}
