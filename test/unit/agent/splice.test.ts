import t from 'tap';
import net, { type AddressInfo, type Socket } from 'node:net';
import { once } from 'node:events';
import { abort, splice, type SpliceOutcome } from '../../../src/agent/proxy/splice.js';

/**
 * A client <-> [proxy: splice(accepted, upstream)] <-> server chain on loopback, the same shape
 * as the agent's plaintext paths.
 */
async function chain(t: { teardown(fn: () => void): void }): Promise<{ client: Socket; server: Socket; outcome: Promise<SpliceOutcome> }> {
  const backend = net.createServer({ allowHalfOpen: true });
  backend.listen(0, '127.0.0.1');
  await once(backend, 'listening');
  const serverSide = once(backend, 'connection') as Promise<[Socket]>;
  let resolveOutcome!: (o: SpliceOutcome) => void;
  const outcome = new Promise<SpliceOutcome>((r) => (resolveOutcome = r));
  const proxy = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (accepted) => {
    const upstream = net.connect({ port: (backend.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
    upstream.once('connect', () => splice(accepted, upstream, resolveOutcome));
  });
  proxy.listen(0, '127.0.0.1');
  await once(proxy, 'listening');
  const client = net.connect({ port: (proxy.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  client.on('error', () => undefined);
  const [server] = await serverSide;
  server.on('error', () => undefined);
  t.teardown(() => {
    client.destroy();
    server.destroy();
    proxy.close();
    backend.close();
  });
  return { client, server, outcome };
}

function collect(s: Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  return once(s, 'end').then(() => Buffer.concat(chunks));
}

t.test('bytes flow both ways and half-close keeps the other direction open', async (t) => {
  const { client, server, outcome } = await chain(t);
  const serverGot = collect(server);
  client.end('hello from client');
  t.equal((await serverGot).toString(), 'hello from client', 'server sees the data and the FIN');
  // The client has half-closed; the server can still answer.
  const clientGot = collect(client);
  server.write('answer after client FIN');
  server.end();
  t.equal((await clientGot).toString(), 'answer after client FIN', 'reverse direction still flows');
  const o = await outcome;
  t.equal(o.reset, false, 'clean close');
});

t.test('a reset on one side resets the other', async (t) => {
  const { client, server, outcome } = await chain(t);
  client.write('x');
  await once(server, 'data');
  const errored = new Promise<string>((resolve) => client.once('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')));
  server.resetAndDestroy();
  t.equal(await Promise.race([errored, new Promise<string>((r) => setTimeout(() => r('no error'), 2000))]), 'ECONNRESET', 'client sees a reset');
  const o = await outcome;
  t.equal(o.reset, true, 'outcome flags the reset');
});

t.test('splicing with a side that is already gone aborts the other and reports a reset', async (t) => {
  const server = net.createServer((s) => s.on('error', () => undefined));
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.teardown(() => server.close());
  const port = (server.address() as AddressInfo).port;
  const alive = net.connect({ port, host: '127.0.0.1' });
  alive.on('error', () => undefined);
  await once(alive, 'connect');
  const gone = net.connect({ port, host: '127.0.0.1' });
  gone.on('error', () => undefined);
  await once(gone, 'connect');
  gone.destroy();
  const outcome = await new Promise<SpliceOutcome>((resolve) => splice(gone, alive, resolve));
  t.equal(outcome.reset, true);
  t.equal(outcome.resetBy, 'a');
  t.ok(alive.destroyed, 'the live side was not left open');
});

t.test('abort resets a socket whose FIN is still queued behind bytes the peer does not read', async (t) => {
  // libuv refuses to reset a socket with a shutdown pending, and Node then leaks the handle:
  // no 'close', ever. abort() must close it and still send a reset.
  const server = net.createServer({ allowHalfOpen: true });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const accepted = once(server, 'connection') as Promise<[Socket]>;
  const sock = net.connect({ port: (server.address() as AddressInfo).port, host: '127.0.0.1', allowHalfOpen: true });
  sock.on('error', () => undefined);
  await once(sock, 'connect');
  const [peer] = await accepted;
  peer.pause();
  t.teardown(() => {
    sock.destroy();
    peer.destroy();
    server.close();
  });
  // More than the loopback socket buffers hold, then our FIN behind it.
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < 32; i++) sock.write(chunk);
  sock.end();
  // No pause needed: 32 MiB cannot leave through the loopback buffers before anyone reads, so
  // right after end() the FIN is queued behind them. Asserted apart, to print each value.
  t.equal(sock.writableEnded, true, 'end() was called');
  t.equal(sock.writableFinished, false, 'the FIN is still queued');
  const closed = once(sock, 'close');
  abort(sock);
  await closed;
  t.equal(sock.destroyed, true, "the socket closed (its 'close' came)");
  // A reset leaves the peer's socket closed at once, so its next write fails; after a FIN the
  // same write would still be accepted by its kernel (the FIN waits behind the unread bytes).
  peer.on('error', () => undefined);
  // The paused peer reads nothing, so no event tells when its kernel took the reset; on loopback
  // that is within the close, and this pause only covers a softirq that runs late.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const wrote = await new Promise<string>((resolve) => {
    peer.write('x', (err) => resolve(err ? ((err as NodeJS.ErrnoException).code ?? 'error') : 'the write was accepted'));
  });
  // Both are a reset seen: ECONNRESET while the socket's pending error is unread, EPIPE once
  // something (a poll by libuv) has consumed it and only the closed state remains.
  t.match(wrote, /^(EPIPE|ECONNRESET)$/, 'the peer saw a reset');
});
