/**
 * sniff() on real loopback sockets, accepted paused as the data plane accepts them: HTTP in
 * 1-byte chunks is decided and handed whole to Node's HTTP server, an HTTP/2 client to Node's
 * HTTP/2 server; a server-first client waits the timeout (not much less) and then talks
 * normally; EOF, reset and close during the sniff; the byte bound; no byte lost or duplicated.
 */
import t from 'tap';
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import { once } from 'node:events';
import { performance } from 'node:perf_hooks';
import { sniff } from '../../../../src/agent/http/sniff.js';
import { H2_PREFACE } from '../../../../src/agent/http/detect.js';

/** Generous: a passing test never waits this long (a busy 2-core machine is slow, not failing). */
const LONG_MS = 30_000;

interface Pair {
  readonly client: net.Socket;
  readonly server: net.Socket;
}

interface Rig {
  readonly port: number;
  /** The next accepted (paused) socket. */
  accept(): Promise<net.Socket>;
  /** A plain client and its accepted server side. */
  connect(): Promise<Pair>;
}

/** A listener accepting paused sockets as the data plane does (allowHalfOpen, pauseOnConnect). */
async function rig(t: { teardown(fn: () => void): void }): Promise<Rig> {
  const accepted: net.Socket[] = [];
  const waiting: Array<(s: net.Socket) => void> = [];
  const sockets: net.Socket[] = [];
  const listener = net.createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true }, (s) => {
    sockets.push(s);
    const w = waiting.shift();
    if (w === undefined) accepted.push(s);
    else w(s);
  });
  listener.listen(0, '127.0.0.1');
  await once(listener, 'listening');
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    listener.close();
  });
  const port = (listener.address() as net.AddressInfo).port;
  const accept = (): Promise<net.Socket> =>
    new Promise((resolve) => {
      const s = accepted.shift();
      if (s === undefined) waiting.push(resolve);
      else resolve(s);
    });
  return {
    port,
    accept,
    async connect() {
      const server = accept();
      const client = net.connect({ port, host: '127.0.0.1', noDelay: true, allowHalfOpen: true });
      sockets.push(client);
      await once(client, 'connect');
      return { client, server: await server };
    },
  };
}

/** Every byte a socket yields until EOF. */
async function readAll(s: net.Socket): Promise<Buffer> {
  const chunks: Buffer[] = [];
  s.on('data', (c: Buffer) => chunks.push(c));
  await once(s, 'end');
  return Buffer.concat(chunks);
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 1));

const LISTENED = ['readable', 'data', 'end', 'error', 'close'] as const;
const counts = (s: net.Socket): number[] => LISTENED.map((e) => s.listenerCount(e));

t.test('HTTP/1.1 arriving in 1-byte chunks is decided and Node\'s HTTP server gets every byte', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  const before = counts(server);
  const body = 'hello=world';
  const request = `POST /submit?x=1 HTTP/1.1\r\nHost: web.demo\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const line = request.slice(0, request.indexOf('\n') + 1);
  const sniffed = sniff(server, { timeoutMs: LONG_MS });
  for (const byte of Buffer.from(line, 'latin1')) {
    client.write(Buffer.from([byte]));
    await tick();
  }
  const result = await sniffed;
  t.equal(result.protocol, 'http1');
  t.equal(result.reason, 'decided');
  t.equal(result.bytes.toString('latin1'), line, 'decided at the end of the request line');
  t.same(counts(server), before, 'its listeners are gone');

  const seen: Array<{ method: string | undefined; url: string | undefined; host: string | undefined; body: string }> = [];
  const app = http.createServer((req, res) => {
    const parts: Buffer[] = [];
    req.on('data', (c: Buffer) => parts.push(c));
    req.on('end', () => {
      seen.push({ method: req.method, url: req.url, host: req.headers.host, body: Buffer.concat(parts).toString() });
      res.end('ok');
    });
  });
  t.teardown(() => app.close());
  server.on('error', () => {});
  app.emit('connection', server);
  client.write(request.slice(line.length));
  let answer = '';
  client.setEncoding('latin1');
  client.on('data', (d: string) => (answer += d));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no answer: ${answer}`)), LONG_MS);
    client.on('data', () => {
      if (answer.endsWith('ok')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  t.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
  t.same(seen, [{ method: 'POST', url: '/submit?x=1', host: 'web.demo', body }]);
});

t.test('an HTTP/2 client is decided h2 and Node\'s HTTP/2 server serves it', async (t) => {
  const r = await rig(t);
  const app = http2.createServer();
  app.on('stream', (stream, headers) => {
    stream.respond({ ':status': 200 });
    stream.end(`path=${String(headers[':path'])}`);
  });
  t.teardown(() => app.close());
  const accepted = r.accept();
  const session = http2.connect(`http://127.0.0.1:${r.port}`);
  session.on('error', () => {});
  t.teardown(() => session.destroy());
  const server = await accepted;
  const result = await sniff(server, { timeoutMs: LONG_MS });
  t.equal(result.protocol, 'h2');
  t.equal(result.reason, 'decided');
  t.same(result.bytes.subarray(0, H2_PREFACE.length), H2_PREFACE, 'the preface, given back');
  server.on('error', () => {});
  app.emit('connection', server);
  const req = session.request({ ':path': '/h2/check' });
  req.setEncoding('utf8');
  let text = '';
  req.on('data', (d: string) => (text += d));
  const [headers] = (await once(req, 'response')) as [http2.IncomingHttpHeaders];
  await once(req, 'end');
  t.equal(headers[':status'], 200);
  t.equal(text, 'path=/h2/check');
});

t.test('a server-first client waits the timeout, gets opaque with no bytes, then talks normally', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  const timeoutMs = 300;
  const started = performance.now();
  const result = await sniff(server, { timeoutMs });
  const waited = performance.now() - started;
  t.equal(result.protocol, 'opaque');
  t.equal(result.reason, 'timeout');
  t.equal(result.bytes.length, 0);
  // Timers never fire early (Node rounds to the millisecond: allow 2 ms); late is only load.
  t.ok(waited >= timeoutMs - 2, `waited ${waited.toFixed(1)} ms, not much before ${timeoutMs}`);
  t.ok(waited < timeoutMs + 10_000, `waited ${waited.toFixed(1)} ms, bounded`);
  // The server speaks first, as SSH does; the client answers; both sides see exact bytes.
  server.write('SSH-2.0-OpenSSH_9.6\r\n');
  const [banner] = (await once(client, 'data')) as [Buffer];
  t.equal(banner.toString(), 'SSH-2.0-OpenSSH_9.6\r\n');
  client.end('SSH-2.0-client\r\n');
  t.equal((await readAll(server)).toString(), 'SSH-2.0-client\r\n');
});

t.test('a client that stalls mid-line times out with its bytes given back', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  client.write('GET /slo');
  const result = await sniff(server, { timeoutMs: 200 });
  t.equal(result.protocol, 'opaque');
  t.equal(result.reason, 'timeout');
  t.equal(result.bytes.toString(), 'GET /slo');
  client.end('w HTTP/1.1\r\n');
  t.equal((await readAll(server)).toString(), 'GET /slow HTTP/1.1\r\n', 'the splice would see every byte once');
});

t.test('EOF before a decision: opaque, eof, bytes given back before the end', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  const before = counts(server);
  client.end('GE');
  const result = await sniff(server, { timeoutMs: LONG_MS });
  t.equal(result.protocol, 'opaque');
  t.equal(result.reason, 'eof');
  t.equal(result.bytes.toString(), 'GE');
  t.same(counts(server), before);
  t.equal((await readAll(server)).toString(), 'GE', 'read back, then the end');
});

t.test('EOF with no bytes at all', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  client.end();
  const result = await sniff(server, { timeoutMs: LONG_MS });
  t.equal(result.reason, 'eof');
  t.equal(result.bytes.length, 0);
  // Node's net socket emits 'end' by itself at EOF on an empty buffer: the consumer checks readableEnded.
  if (!server.readableEnded) await once(server, 'end');
  t.equal(server.readableEnded, true, 'the next consumer can tell the peer half-closed');
});

t.test('a complete request line and EOF together are decided, and all bytes stay readable', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  client.end('GET / HTTP/1.0\r\n\r\n');
  const result = await sniff(server, { timeoutMs: LONG_MS });
  t.equal(result.protocol, 'http1');
  t.equal((await readAll(server)).toString(), 'GET / HTTP/1.0\r\n\r\n');
});

t.test('a reset during the sniff resolves closed (never rejects, never hangs)', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  // What reached the server decides the right answer: an RST is 'closed'. Node and the kernel do
  // not always send one (with a write still queued, or under load, the close can go out as a
  // FIN), and a FIN is rightly 'eof': the test asserts what the socket itself saw.
  let sawReset = false;
  server.on('error', (err: NodeJS.ErrnoException) => (sawReset ||= err.code === 'ECONNRESET'));
  const before = counts(server);
  const sniffed = sniff(server, { timeoutMs: LONG_MS });
  await new Promise<void>((resolve, reject) => client.write('GE', (err) => (err ? reject(err) : resolve())));
  await tick();
  client.resetAndDestroy();
  const result = await sniffed;
  t.equal(result.protocol, 'opaque');
  t.equal(result.reason, sawReset ? 'closed' : 'eof', `the sniff says what the socket saw (reset: ${sawReset})`);
  t.same(counts(server), before, 'its listeners are gone');
});

t.test('the agent closing the socket during the sniff resolves closed', async (t) => {
  const { connect } = await rig(t);
  const { server } = await connect();
  const sniffed = sniff(server, { timeoutMs: LONG_MS });
  server.destroy();
  const result = await sniffed;
  t.equal(result.reason, 'closed');
  t.equal(result.error, undefined);
  const again = await sniff(server, { timeoutMs: LONG_MS });
  t.equal(again.reason, 'closed', 'sniffing a destroyed socket answers at once');
});

t.test('the byte bound: a request line longer than maxBytes is opaque, every byte kept', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  // The line so far is still a valid prefix (no version yet): only the bound can end the wait.
  const head = `GET /${'a'.repeat(200)}`;
  const line = `${head} HTTP/1.1\r\n`;
  client.write(head);
  const result = await sniff(server, { timeoutMs: LONG_MS, maxBytes: 64 });
  t.equal(result.protocol, 'opaque');
  t.equal(result.reason, 'limit');
  t.ok(result.bytes.length >= 64, `${result.bytes.length} bytes read, at least the bound`);
  client.end(' HTTP/1.1\r\n');
  t.equal((await readAll(server)).toString(), line);
});

t.test('a TLS ClientHello is tls', async (t) => {
  const { connect } = await rig(t);
  const { client, server } = await connect();
  client.write(Buffer.from('160301020001000200fc0303', 'hex'));
  const result = await sniff(server, { timeoutMs: LONG_MS });
  t.equal(result.protocol, 'tls');
});

for (const [name, head] of [
  ['opaque', Buffer.from([0x00, 0x01])],
  ['HTTP', Buffer.from('PUT /blob HTTP/1.1\r\nContent-Length: 65536\r\n\r\n')],
] as const) {
  t.test(`64 KiB after an ${name} start: identical bytes after the unshift`, async (t) => {
    const { connect } = await rig(t);
    const { client, server } = await connect();
    const payload = Buffer.concat([head, randomBytes(64 * 1024)]);
    const sniffed = sniff(server, { timeoutMs: LONG_MS });
    client.end(payload);
    const result = await sniffed;
    t.equal(result.reason, 'decided');
    t.equal(result.protocol, name === 'HTTP' ? 'http1' : 'opaque');
    const received = await readAll(server);
    t.equal(received.length, payload.length, 'no byte lost or duplicated');
    t.equal(sha(received), sha(payload), 'same hash');
  });
}

t.test('a non-positive timeout is refused', async (t) => {
  const { connect } = await rig(t);
  const { server } = await connect();
  t.throws(() => sniff(server, { timeoutMs: 0 }), RangeError);
});
