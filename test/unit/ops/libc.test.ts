import t from 'tap';
import net, { type AddressInfo } from 'node:net';
import { once } from 'node:events';
import { describeErrno, errnoName, libc, setLingerReset, socketFd, tcpDataSegments } from '../../../src/ops/libc.js';

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

t.test('TCP_INFO data segments count the messages of a live socket; a closed socket gives none', async (t) => {
  const server = net.createServer((s) => s.on('data', (d) => s.write(d)));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => void server.close());
  const sock = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1' });
  sock.setNoDelay(true);
  await once(sock, 'connect');
  const out = { in: -1, out: -1 };
  t.equal(tcpDataSegments(sock, out), true, 'read on a connected socket');
  t.equal(out.in, 0, 'nothing received yet');
  t.equal(out.out, 0, 'nothing sent yet');
  // 20 round trips of 10 bytes: each message is at least one data segment either way.
  for (let i = 0; i < 20; i += 1) {
    sock.write('0123456789');
    await once(sock, 'data');
  }
  t.equal(tcpDataSegments(sock, out), true);
  t.ok(out.out >= 20, `20 messages sent: ${out.out} data segments out`);
  t.ok(out.in >= 20, `20 answers: ${out.in} data segments in`);
  t.ok(out.out <= 40, `not counting ACKs or the handshake: ${out.out}`);
  sock.destroy();
  t.equal(tcpDataSegments(sock, out), false, 'a destroyed socket has no fd');
});
