import t from 'tap';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describeErrno, errnoName, libc, setLingerReset, socketFd } from '../../../src/ops/libc.js';

t.test('errno names read like Node error codes, with libc words', async (t) => {
  t.equal(errnoName(98), 'EADDRINUSE');
  t.equal(errnoName(4095), 'errno 4095', 'an unknown errno is named by number');
  t.equal(describeErrno(98), 'EADDRINUSE (Address already in use)');
});

t.test('SO_LINGER 0 is set on a live socket and refused on a closed one', async (t) => {
  const server = net.createServer((s) => s.on('error', () => undefined)).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const sock = net.connect((server.address() as AddressInfo).port, '127.0.0.1');
  await once(sock, 'connect');
  t.teardown(() => void server.close());
  t.equal(setLingerReset(sock), true, 'set');
  const value = Buffer.alloc(8);
  const len = [8];
  t.equal(libc().getsockopt(socketFd(sock), 1, 13, value, len), 0, 'read back');
  t.same([value.readInt32LE(0), value.readInt32LE(4)], [1, 0], 'l_onoff 1, l_linger 0');
  sock.destroy();
  await once(sock, 'close');
  t.equal(socketFd(sock), -1, 'a closed socket has no fd');
  t.equal(setLingerReset(sock), false, 'nothing to set on a closed socket');
});
