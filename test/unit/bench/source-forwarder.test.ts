/**
 * The controller-scale bench's forwarder: the target sees the chosen loopback source address,
 * bytes pass both ways untouched, and closing it drops the forwarded connections.
 */
import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import t, { type Test } from 'tap';
import { SourceForwarder } from '../../../bench/controller-scale/source-forwarder.js';

async function echoServer(t: Test): Promise<{ port: number; accepted: Socket[] }> {
  const accepted: Socket[] = [];
  const server = createServer((s) => {
    accepted.push(s);
    s.on('error', () => undefined);
    s.pipe(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => {
    for (const s of accepted) s.destroy();
    server.close();
  });
  return { port: (server.address() as { port: number }).port, accepted };
}

t.test('the target sees the source address, and bytes come back unchanged', async (t) => {
  const target = await echoServer(t);
  const forwarder = new SourceForwarder({ host: '127.0.0.1', port: target.port }, '127.1.0.7');
  t.teardown(() => forwarder.close());
  const client = connect({ host: '127.0.0.1', port: await forwarder.start() });
  t.teardown(() => client.destroy());
  await once(client, 'connect');
  client.write('hello');
  const [echoed] = (await once(client, 'data')) as [Buffer];
  t.equal(echoed.toString(), 'hello');
  t.equal(target.accepted[0]?.remoteAddress, '127.1.0.7');
});

t.test('closing the forwarder drops its connections', async (t) => {
  const target = await echoServer(t);
  const forwarder = new SourceForwarder({ host: '127.0.0.1', port: target.port }, '127.1.0.8');
  const client = connect({ host: '127.0.0.1', port: await forwarder.start() });
  t.teardown(() => client.destroy());
  client.on('error', () => undefined);
  client.write('x');
  await once(client, 'data');
  const closed = once(client, 'close');
  forwarder.close();
  await closed;
  t.equal(client.destroyed, true);
});

t.test('a target that refuses ends the client connection', async (t) => {
  // A port nothing listens on: taken, then released.
  const gone = createServer().listen(0, '127.0.0.1');
  await once(gone, 'listening');
  const port = (gone.address() as { port: number }).port;
  await new Promise<void>((resolve) => gone.close(() => resolve()));
  const forwarder = new SourceForwarder({ host: '127.0.0.1', port }, '127.1.0.9');
  t.teardown(() => forwarder.close());
  const client = connect({ host: '127.0.0.1', port: await forwarder.start() });
  client.on('error', () => undefined);
  await once(client, 'close');
  t.equal(client.destroyed, true);
});
