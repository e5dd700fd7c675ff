/** The SO_REUSEPORT socket helper: two sockets share a port and both take connections; a port held without SO_REUSEPORT is a clear error. */
import t from 'tap';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { closeSocketFd, openReuseportSocket, SocketCallError } from '../../../src/agent/workers/reuseport-socket.js';

function serve(fd: number, name: string): Promise<net.Server> {
  const server = net.createServer((s) => s.end(name));
  return new Promise((resolve) => server.listen({ fd }, () => resolve(server)));
}

function fetchName(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(port, '127.0.0.1');
    let text = '';
    c.on('data', (d: Buffer) => (text += d.toString()));
    c.on('end', () => resolve(text));
    c.on('error', reject);
  });
}

t.test('two listening sockets on one port (port 0 learnt from a bound-only reservation)', async (t) => {
  const reserve = openReuseportSocket({ host: '127.0.0.1', port: 0, listen: false });
  t.teardown(() => closeSocketFd(reserve.fd));
  t.ok(reserve.port > 0, `the kernel picked port ${reserve.port}`);
  const a = openReuseportSocket({ host: '127.0.0.1', port: reserve.port, listen: true });
  const b = openReuseportSocket({ host: '127.0.0.1', port: reserve.port, listen: true });
  t.equal(a.port, reserve.port);
  t.equal(b.port, reserve.port);
  const sa = await serve(a.fd, 'a');
  const sb = await serve(b.fd, 'b');
  t.teardown(() => void sa.close());
  t.teardown(() => void sb.close());
  t.equal((sa.address() as AddressInfo).port, reserve.port, 'the Node server reports the port');
  const seen = new Set<string>();
  // The kernel hashes each connection's 4-tuple to a socket: 64 tries miss one with odds 2^-63.
  for (let i = 0; i < 64 && seen.size < 2; i++) seen.add(await fetchName(reserve.port));
  t.same([...seen].sort(), ['a', 'b'], 'both sockets accepted connections');
});

t.test('IPv6 with IPV6_V6ONLY beside IPv4 on the same port', async (t) => {
  const v4 = openReuseportSocket({ host: '0.0.0.0', port: 0, listen: true });
  t.teardown(() => closeSocketFd(v4.fd));
  let v6;
  try {
    v6 = openReuseportSocket({ host: '::', port: v4.port, listen: true });
  } catch (err) {
    const name = (err as SocketCallError).errnoName;
    if (name === 'EAFNOSUPPORT' || name === 'EADDRNOTAVAIL') {
      t.comment('no IPv6 on this host');
      return;
    }
    throw err;
  }
  t.teardown(() => closeSocketFd(v6.fd));
  t.equal(v6.port, v4.port, ':: and 0.0.0.0 are two listeners on one port');
});

t.test('a port taken without SO_REUSEPORT gives a clear error', async (t) => {
  const plain = net.createServer().listen(0, '127.0.0.1');
  await once(plain, 'listening');
  t.teardown(() => void plain.close());
  const port = (plain.address() as AddressInfo).port;
  try {
    openReuseportSocket({ host: '127.0.0.1', port, listen: true });
    t.fail('should throw');
  } catch (err) {
    t.ok(err instanceof SocketCallError);
    const e = err as SocketCallError;
    t.equal(e.syscall, 'bind');
    t.equal(e.errnoName, 'EADDRINUSE');
    t.equal(e.code, 'MESHLET_ERR_LISTEN');
    t.match(e.message, new RegExp(`listener 127\\.0\\.0\\.1:${port}: bind\\(\\) failed: EADDRINUSE`));
  }
});

t.test('not an address', async (t) => {
  t.throws(() => openReuseportSocket({ host: 'localhost', port: 0, listen: true }), { code: 'MESHLET_ERR_CONFIG_INVALID' });
});
