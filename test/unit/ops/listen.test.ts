/**
 * The one listen helper (src/ops/listen.ts): a port, an inherited fd (the workers' reuseport
 * sockets, DataPlane.listenOnFds), and a bind error that rejects rather than escaping as an
 * 'error' event.
 */
import net from 'node:net';
import t from 'tap';
import { listen } from '../../../src/ops/listen.js';
import { openReuseportSocket } from '../../../src/agent/workers/reuseport-socket.js';

function close(server: net.Server): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

function connectOnce(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host: '127.0.0.1', port }, () => {
      c.destroy();
      resolve();
    });
    c.once('error', reject);
  });
}

t.test('port 0 resolves with the port actually bound', async (t) => {
  const server = net.createServer((s) => s.destroy());
  t.teardown(() => close(server));
  const address = await listen(server, { port: 0, host: '127.0.0.1' });
  t.equal(address.address, '127.0.0.1');
  t.not(address.port, 0);
  t.equal(server.listenerCount('error'), 0, 'no listener of ours is left on the server');
  await connectOnce(address.port);
});

t.test('a bind error rejects and leaves no error listener behind', async (t) => {
  const first = net.createServer();
  t.teardown(() => close(first));
  const { port } = await listen(first, { port: 0, host: '127.0.0.1' });
  const second = net.createServer();
  await t.rejects(listen(second, { port, host: '127.0.0.1' }), { code: 'EADDRINUSE' });
  t.equal(second.listenerCount('error'), 0);
});

t.test('an inherited fd: the server listens on the socket the fd names', async (t) => {
  const socket = openReuseportSocket({ host: '127.0.0.1', port: 0, listen: true });
  const server = net.createServer((s) => s.destroy());
  // The server owns the fd from here on: closing it closes the socket.
  t.teardown(() => close(server));
  const address = await listen(server, { fd: socket.fd });
  t.equal(address.port, socket.port);
  t.equal(server.listenerCount('error'), 0);
  await connectOnce(socket.port);
});
