/**
 * The ClientHello server-name reader against real ClientHellos (made by node:tls, TLS 1.2 and
 * 1.3) and hostile bytes: lengths past the buffer, a record over 16 KiB, a split ClientHello, a
 * name that is not a host name. It never throws and never reads past what it was given.
 */
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import tls from 'node:tls';
import fc from 'fast-check';
import t from 'tap';
import { clientHelloSni, MAX_CLIENT_HELLO_BYTES } from '../../../../src/agent/policy/client-hello.js';

/** The first bytes a node:tls client sends with these options (its ClientHello). */
async function helloOf(options: tls.ConnectionOptions): Promise<Buffer> {
  const server = net.createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const got = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) => {
      let buf = Buffer.alloc(0);
      s.on('data', (c: Buffer) => {
        buf = Buffer.concat([buf, c]);
        if (clientHelloSni(buf).state !== 'incomplete') {
          resolve(buf);
          s.destroy();
        }
      });
    });
  });
  const client = tls.connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, rejectUnauthorized: false, ...options });
  client.on('error', () => undefined);
  const bytes = await got;
  client.destroy();
  server.close();
  return bytes;
}

t.test('real ClientHellos: the server name, lowercased; none without one', async (t) => {
  t.same(clientHelloSni(await helloOf({ servername: 'api.example.com' })), { state: 'sni', name: 'api.example.com' });
  t.same(clientHelloSni(await helloOf({ servername: 'API.Example.COM', maxVersion: 'TLSv1.2' })), { state: 'sni', name: 'api.example.com' }, 'TLS 1.2, mixed case');
  t.same(clientHelloSni(await helloOf({ servername: '' })), { state: 'none' }, 'no server_name extension');
});

t.test('partial, foreign and hostile bytes', async (t) => {
  const hello = await helloOf({ servername: 'db.internal' });
  t.same(clientHelloSni(Buffer.alloc(0)), { state: 'incomplete' }, 'nothing yet');
  for (const n of [1, 4, 5, 40, hello.length - 1]) t.same(clientHelloSni(hello.subarray(0, n)), { state: 'incomplete' }, `the first ${n} bytes`);
  t.same(clientHelloSni(Buffer.concat([hello, Buffer.from('more')])), { state: 'sni', name: 'db.internal' }, 'bytes after the record are not read');
  t.same(clientHelloSni(Buffer.from('GET / HTTP/1.1\r\n\r\n')), { state: 'none' }, 'HTTP');
  t.same(clientHelloSni(Buffer.from('SSH-2.0-OpenSSH\r\n')), { state: 'none' }, 'SSH');
  t.same(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x40, 0x01])), { state: 'none' }, 'a record over 16 KiB');
  t.same(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x00])), { state: 'none' }, 'an empty record');
  t.same(clientHelloSni(Buffer.from([0x16, 0x02, 0x00, 0x00, 0x04, 1, 0, 0, 0])), { state: 'none' }, 'not TLS 1.x');
  // The handshake says it is longer than its record: a ClientHello split over records.
  const split = Buffer.from(hello);
  split.writeUInt8(0xff, 6);
  t.same(clientHelloSni(split), { state: 'none' }, 'a split (or lying) handshake length');
  t.same(clientHelloSni(Buffer.from([0x16, 0x03, 0x01, 0x00, 0x01, 0x02])), { state: 'none' }, 'a ServerHello, not a ClientHello');
  t.ok(MAX_CLIENT_HELLO_BYTES >= hello.length, 'a real ClientHello is within the bound the sniff reads');
});

t.test('a server name that is not a host name counts as none', async (t) => {
  const hello = await helloOf({ servername: 'abcdefgh.example' });
  const at = hello.indexOf('abcdefgh.example');
  for (const bad of ['ab\u0000defgh.example', 'ab defgh.example', 'abcdefgh.exampl.']) {
    const b = Buffer.from(hello);
    b.write(bad, at, 'latin1');
    t.same(clientHelloSni(b), { state: 'none' }, JSON.stringify(bad));
  }
});

t.test('any bytes: never throws, an answer of the three kinds', async (t) => {
  const hello = await helloOf({ servername: 'x.example' });
  t.doesNotThrow(() => fc.assert(
    fc.property(fc.uint8Array({ maxLength: 600 }), fc.nat({ max: hello.length }), fc.nat({ max: 255 }), (noise, at, value) => {
      const mutated = Buffer.from(hello);
      if (at < mutated.length) mutated[at] = value;
      for (const b of [Buffer.from(noise), Buffer.concat([Buffer.from([0x16, 0x03, 0x01]), Buffer.from(noise)]), mutated]) {
        const r = clientHelloSni(b);
        if (r.state !== 'sni' && r.state !== 'none' && r.state !== 'incomplete') return false;
        if (r.state === 'sni' && !/^[a-z0-9_.-]+$/.test(r.name)) return false;
      }
      return true;
    }),
    { numRuns: 2000, seed: 12 },
  ), '2,000 inputs, each of the three kinds and never a throw');
});
