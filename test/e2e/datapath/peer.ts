/**
 * A traffic peer that e2e tests run inside lab pods (`ip netns exec <pod> node peer.js ...`).
 * Every mode is bounded in time and exits by itself (a server after ten minutes, the others
 * after one).
 *
 *   server <port>                      for each connection: read to EOF, hash it, then send
 *                                      the number of bytes the client asked for (first line
 *                                      "<n>\n") and a trailer, then FIN. "ping" lines echo.
 *   send <host> <port> <bytes> <reply> send <bytes> (seeded) then half-close; read the reply
 *                                      to EOF; print JSON with both hashes.
 *   hold <host> <port> <n> <seconds>   open n connections, ping each, print "held", keep them
 *                                      for <seconds> (or until stdin closes), print JSON.
 *   ping <host> <port>                 one ping round trip; print JSON {ok, error}.
 *   marker <host> <port> <text>        send text, half-close, print the reply.
 *   twice <host> <port> <delayMs>      ping, print "first", wait, ping again on the same
 *                                      connection; print JSON {ok, error}.
 *   watch <host> <port> <seconds> [stdin]  ping, print "first", then ping every 100 ms on the
 *                                      same connection until it closes or <seconds> pass (with
 *                                      stdin: or a line comes on stdin after "first"); print
 *                                      JSON {ok: still open at the end, pongs, closedAt (epoch
 *                                      ms) when it closed, error}.
 *   hello <host> <port> <servername>   send a TLS ClientHello with this server name (the other
 *                                      end need not speak TLS); print JSON {ok: still open after
 *                                      1.5 s, error} (a refusal is a reset).
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import tls from 'node:tls';

const [mode, ...args] = process.argv.slice(2);
/** Clients a minute; a server ten (a test with many steps keeps one for its whole run, as http-peer's). */
const LIMIT_MS = mode === 'server' ? 600_000 : 60_000;
setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: 'peer time limit reached' }));
  process.exit(3);
}, LIMIT_MS).unref();

/** Deterministic pseudo-random bytes, so both ends can hash the same stream. */
function block(seed: number, size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b.writeUInt32LE(x >>> 0, i);
  }
  return b;
}
const CHUNK = block(7, 64 * 1024);

function writeBytes(sock: net.Socket, total: number, done: () => void): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!sock.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        sock.once('drain', pump);
        return;
      }
    }
    done();
  };
  pump();
}

function expectedHash(total: number): string {
  const h = createHash('sha256');
  let left = total;
  while (left > 0) {
    const n = Math.min(left, CHUNK.length);
    h.update(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
    left -= n;
  }
  return h.digest('hex');
}

function server(port: number): void {
  const srv = net.createServer({ allowHalfOpen: true }, (sock) => {
    sock.on('error', () => undefined);
    const h = createHash('sha256');
    let head = '';
    let want = -1;
    let received = 0;
    sock.on('data', (chunk: Buffer) => {
      if (want < 0) {
        head += chunk.toString('latin1');
        const nl = head.indexOf('\n');
        if (nl < 0) return;
        const first = head.slice(0, nl);
        if (first === 'ping') {
          sock.write('pong\n');
          head = head.slice(nl + 1);
          return;
        }
        want = Number(first) || 0;
        const rest = Buffer.from(head.slice(nl + 1), 'latin1');
        h.update(rest);
        received += rest.length;
        return;
      }
      h.update(chunk);
      received += chunk.length;
    });
    sock.on('end', () => {
      const digest = h.digest('hex');
      if (want < 0) {
        sock.end(`echo:${head}`);
        return;
      }
      writeBytes(sock, want, () => sock.end(`\n${JSON.stringify({ received, sha256: digest })}\n`));
    });
  });
  srv.listen(port, '0.0.0.0', () => console.log(JSON.stringify({ listening: port })));
}

function send(host: string, port: number, bytes: number, reply: number): void {
  const sock = net.connect({ host, port, allowHalfOpen: true });
  const h = createHash('sha256');
  const chunks: Buffer[] = [];
  let got = 0;
  sock.on('connect', () => {
    sock.write(`${reply}\n`);
    writeBytes(sock, bytes, () => sock.end());
  });
  sock.on('data', (c: Buffer) => {
    // The reply is <reply> bytes then a JSON trailer line; hash the first <reply> bytes.
    const take = Math.max(0, Math.min(c.length, reply - got));
    if (take > 0) h.update(c.subarray(0, take));
    if (take < c.length) chunks.push(c.subarray(take));
    got += c.length;
  });
  sock.on('end', () => {
    const trailer = Buffer.concat(chunks).toString().trim();
    let server: unknown = null;
    try {
      server = JSON.parse(trailer);
    } catch {
      server = trailer;
    }
    console.log(JSON.stringify({ ok: true, sentSha256: expectedHash(bytes), replySha256: h.digest('hex'), expectedReplySha256: expectedHash(reply), receivedBytes: got, server }));
    process.exit(0);
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    console.log(JSON.stringify({ ok: false, error: err.code ?? err.message }));
    process.exit(1);
  });
}

function ping(host: string, port: number): void {
  const sock = net.connect({ host, port });
  const timer = setTimeout(() => finish(false, 'timeout'), 5000);
  let buf = '';
  function finish(ok: boolean, error?: string): void {
    clearTimeout(timer);
    console.log(JSON.stringify({ ok, ...(error ? { error } : {}) }));
    sock.destroy();
    process.exit(0);
  }
  sock.on('connect', () => sock.write('ping\n'));
  sock.on('data', (c: Buffer) => {
    buf += c.toString();
    if (buf.includes('pong\n')) finish(true);
  });
  sock.on('end', () => finish(false, 'closed without answer'));
  sock.on('close', () => finish(false, 'closed without answer'));
  sock.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
}

function hold(host: string, port: number, n: number, seconds: number): void {
  const socks: net.Socket[] = [];
  let ponged = 0;
  let failed = 0;
  const check = (): void => {
    if (ponged + failed < n) return;
    console.log(`held ${ponged} ${failed}`);
    const end = (): void => {
      for (const s of socks) s.destroy();
      console.log(JSON.stringify({ ok: failed === 0, held: ponged, failed }));
      process.exit(0);
    };
    setTimeout(end, seconds * 1000).unref();
    process.stdin.on('end', end);
    process.stdin.resume();
  };
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host, port });
    socks.push(s);
    let done = false;
    s.on('connect', () => s.write('ping\n'));
    s.on('data', () => {
      if (!done) {
        done = true;
        ponged++;
        check();
      }
    });
    s.on('error', () => {
      if (!done) {
        done = true;
        failed++;
        check();
      }
    });
  }
}

function marker(host: string, port: number, text: string): void {
  const sock = net.connect({ host, port, allowHalfOpen: true });
  let reply = '';
  sock.on('connect', () => sock.end(text));
  sock.on('data', (c: Buffer) => (reply += c.toString()));
  sock.on('end', () => {
    console.log(JSON.stringify({ ok: true, reply }));
    process.exit(0);
  });
  sock.on('error', (err: NodeJS.ErrnoException) => {
    console.log(JSON.stringify({ ok: false, error: err.code ?? err.message }));
    process.exit(1);
  });
}

function twice(host: string, port: number, delayMs: number): void {
  const sock = net.connect({ host, port });
  let buf = '';
  let pongs = 0;
  const finish = (ok: boolean, error?: string): void => {
    console.log(JSON.stringify({ ok, pongs, ...(error ? { error } : {}) }));
    sock.destroy();
    process.exit(0);
  };
  sock.on('connect', () => sock.write('ping\n'));
  sock.on('data', (c: Buffer) => {
    buf += c.toString();
    while (buf.includes('pong\n')) {
      buf = buf.slice(buf.indexOf('pong\n') + 5);
      pongs++;
      if (pongs === 1) {
        console.log('first');
        setTimeout(() => sock.write('ping\n'), delayMs);
      } else {
        finish(true);
      }
    }
  });
  sock.on('close', () => finish(false, `closed after ${pongs} pongs`));
  sock.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
}

function watch(host: string, port: number, seconds: number, untilStdin: boolean): void {
  const sock = net.connect({ host, port });
  let buf = '';
  let pongs = 0;
  let timer: NodeJS.Timeout | undefined;
  const finish = (ok: boolean, error?: string): void => {
    clearInterval(timer);
    console.log(JSON.stringify({ ok, pongs, ...(ok ? {} : { closedAt: Date.now() }), ...(error ? { error } : {}) }));
    sock.destroy();
    process.exit(0);
  };
  sock.on('connect', () => sock.write('ping\n'));
  sock.on('data', (c: Buffer) => {
    buf += c.toString();
    while (buf.includes('pong\n')) {
      buf = buf.slice(buf.indexOf('pong\n') + 5);
      pongs++;
      if (pongs === 1) {
        console.log('first');
        timer = setInterval(() => sock.write('ping\n'), 100);
        setTimeout(() => finish(true), seconds * 1000).unref();
        if (untilStdin) process.stdin.once('data', () => finish(true));
      }
    }
  });
  sock.on('close', () => finish(false, `closed after ${pongs} pongs`));
  sock.on('error', (err: NodeJS.ErrnoException) => finish(false, err.code ?? err.message));
}

function hello(host: string, port: number, servername: string): void {
  const sock = tls.connect({ host, port, servername, rejectUnauthorized: false });
  const done = (ok: boolean, error?: string): void => {
    console.log(JSON.stringify({ ok, ...(error === undefined ? {} : { error }) }));
    sock.destroy();
    process.exit(0);
  };
  sock.on('error', (err: NodeJS.ErrnoException) => done(false, err.code ?? err.message));
  sock.on('close', () => done(false, 'closed'));
  setTimeout(() => done(true), 1500).unref();
}

const n = (i: number): number => Number(args[i]);
switch (mode) {
  case 'server':
    server(n(0));
    break;
  case 'send':
    send(args[0] as string, n(1), n(2), n(3));
    break;
  case 'ping':
    ping(args[0] as string, n(1));
    break;
  case 'hold':
    hold(args[0] as string, n(1), n(2), n(3));
    break;
  case 'twice':
    twice(args[0] as string, n(1), n(2));
    break;
  case 'marker':
    marker(args[0] as string, n(1), args[2] as string);
    break;
  case 'watch':
    watch(args[0] as string, n(1), n(2), args[3] === 'stdin');
    break;
  case 'hello':
    hello(args[0] as string, n(1), args[2] as string);
    break;
  default:
    console.error('usage: peer server|send|ping|hold|marker ...');
    process.exit(64);
}
