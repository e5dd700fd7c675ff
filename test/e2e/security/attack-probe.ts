/**
 * The hostile peer of the security tests, run inside a lab namespace (`ip netns exec <ns> node
 * attack-probe.js ...`). Every mode is bounded in count and time and exits by itself; each
 * prints one JSON line.
 *
 *   halfopen <host> <port> <count> <holdMs> [early]
 *       opens <count> TCP connections (at most <holdMs> in all), each sending the first bytes of
 *       a TLS ClientHello and never the rest; reports how many the server closed, and how soon.
 *       With early, it also stops once a line came on stdin (the caller is done) and the server
 *       has closed every connection: there is nothing left to hold.
 *   tunnel <ca-dir> <host> <port> <identity> <sni-identity> <ttlSeconds> <waitMs> <target>...
 *       one HTTP/2 session over mutual TLS with a fresh certificate for <identity> (lifetime
 *       <ttlSeconds>), asking for <sni-identity> by SNI; CONNECTs to every <target> (addr:port),
 *       waits <waitMs>, then CONNECTs to every target again on the same session. Reports the
 *       statuses of both rounds ("refused: ..." when the stream or session was refused).
 *   stall-server <port>
 *       accepts connections and never reads from them (a workload that stopped reading).
 *   noread <ca-dir> <host> <port> <identity> <sni-identity> <target> <streams> <seconds>
 *       opens <streams> CONNECT streams to <target> and writes to each as long as flow control
 *       lets it, for <seconds>; reports the streams accepted and the bytes the agent took.
 */
import { generateKeyPairSync } from 'node:crypto';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import net from 'node:net';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { sniForIdentity } from '../../../src/agent/identity/sni.js';
import { createCsr } from '../../../src/mesh/x509.js';

const [mode, ...args] = process.argv.slice(2);
const LIMIT_MS = 120_000;
setTimeout(() => {
  console.log(JSON.stringify({ ok: false, error: 'probe time limit reached' }));
  process.exit(3);
}, LIMIT_MS).unref();

type Json = Record<string, unknown>;

function print(o: Json): void {
  console.log(JSON.stringify(o));
}

/** A TLS record header announcing a 512-byte ClientHello, and the first bytes of it. */
const PARTIAL_HELLO = Buffer.from('160301020001000200fc0303' + '00'.repeat(20), 'hex');

/** Resolves once `done()` holds (polled) or after `ms`. */
async function holdWhile(ms: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline && !done()) await new Promise((r) => setTimeout(r, Math.min(100, deadline - Date.now())));
}

async function halfOpen(host: string, port: number, count: number, holdMs: number, early: boolean): Promise<void> {
  let released = false;
  if (early) {
    process.stdin.on('data', () => (released = true));
    process.stdin.on('end', () => (released = true));
  }
  const started = Date.now();
  const closedAfter: number[] = [];
  let opened = 0;
  let errors = 0;
  const sockets: net.Socket[] = [];
  await new Promise<void>((resolve) => {
    let pending = count;
    for (let i = 0; i < count; i++) {
      const s = net.connect({ host, port });
      sockets.push(s);
      const t0 = Date.now();
      s.once('connect', () => {
        opened += 1;
        s.write(PARTIAL_HELLO);
        if (--pending === 0) resolve();
      });
      s.on('error', () => {
        errors += 1;
      });
      s.once('close', () => {
        closedAfter.push(Date.now() - t0);
        if (s.connecting || opened === 0) {
          if (--pending === 0) resolve();
        }
      });
    }
    setTimeout(resolve, Math.min(holdMs, 20_000)).unref();
  });
  const left = holdMs - (Date.now() - started);
  if (left > 0) await holdWhile(left, () => early && released && sockets.every((s) => s.destroyed));
  const stillOpen = sockets.filter((s) => !s.destroyed && s.readyState === 'open').length;
  for (const s of sockets) s.destroy();
  closedAfter.sort((a, b) => a - b);
  print({ ok: true, requested: count, opened, errors, closedByServer: closedAfter.length, stillOpen, closeMsMin: closedAfter[0] ?? null, closeMsMax: closedAfter.at(-1) ?? null });
}

interface Credentials {
  readonly key: string;
  readonly cert: string;
  readonly ca: string;
}

async function credentials(caDir: string, identity: string, ttlSeconds: number): Promise<Credentials> {
  const ca = await CertificateAuthority.loadOrCreate({ dir: caDir, trustDomain: 'cluster.local', logger: pino({ level: 'silent' }) });
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const issued = ca.sign(createCsr({ identity, privateKeyPem: privateKey }), { identity, ttlSeconds });
  return { key: privateKey, cert: issued.chainPem, ca: ca.trustBundlePem };
}

function session(host: string, port: number, creds: Credentials, sniIdentity: string): Promise<ClientHttp2Session> {
  return new Promise((resolve, reject) => {
    const s = http2.connect(`https://${host.includes(':') ? `[${host}]` : host}:${port}`, {
      key: creds.key,
      cert: creds.cert,
      ca: creds.ca,
      servername: sniForIdentity(sniIdentity),
      // The server's certificate is the SNI identity's; this probe checks the agent, not the name.
      checkServerIdentity: () => undefined,
    });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
    s.once('close', () => reject(new Error('session closed before it connected')));
  });
}

function connect(s: ClientHttp2Session, target: string): Promise<number | string> {
  return new Promise((resolve) => {
    if (s.closed || s.destroyed) {
      resolve('refused: session closed');
      return;
    }
    let stream: ClientHttp2Stream;
    try {
      stream = s.request({ ':method': 'CONNECT', ':authority': target });
    } catch (err) {
      resolve(`refused: ${(err as Error).message}`);
      return;
    }
    const timer = setTimeout(() => {
      stream.destroy();
      resolve('refused: no answer in 10 s');
    }, 10_000);
    stream.once('response', (h) => {
      clearTimeout(timer);
      resolve(Number(h[':status']));
      stream.destroy();
    });
    stream.once('error', (err) => {
      clearTimeout(timer);
      resolve(`refused: ${(err as Error).message}`);
    });
    stream.once('close', () => {
      clearTimeout(timer);
      resolve(`refused: stream closed (code ${stream.rstCode})`);
    });
  });
}

async function tunnel(rest: string[]): Promise<void> {
  const [caDir, host, port, identity, sniIdentity, ttl, wait, ...targets] = rest as [string, string, string, string, string, string, string, ...string[]];
  const creds = await credentials(caDir, identity, Number(ttl));
  let s: ClientHttp2Session;
  try {
    s = await session(host, Number(port), creds, sniIdentity);
  } catch (err) {
    print({ ok: true, handshake: `refused: ${(err as Error).message}` });
    return;
  }
  let sessionClosed = false;
  s.on('close', () => (sessionClosed = true));
  s.on('goaway', () => (sessionClosed = true));
  s.on('error', () => undefined);
  const first: Json = {};
  for (const target of targets) first[target] = await connect(s, target);
  await new Promise((r) => setTimeout(r, Number(wait)));
  const second: Json = {};
  for (const target of targets) second[target] = await connect(s, target);
  print({ ok: true, handshake: 'ok', first, second, sessionClosed });
  s.destroy();
}

function stallServer(port: number): void {
  const server = net.createServer({ pauseOnConnect: true }, (sock) => {
    sock.on('error', () => undefined);
  });
  server.listen(port, () => print({ ok: true, listening: port }));
}

async function noRead(rest: string[]): Promise<void> {
  const [caDir, host, port, identity, sniIdentity, target, streams, seconds] = rest as [string, string, string, string, string, string, string, string];
  const creds = await credentials(caDir, identity, 3600);
  const s = await session(host, Number(port), creds, sniIdentity);
  s.on('error', () => undefined);
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const deadline = Date.now() + Number(seconds) * 1000;
  let written = 0;
  const pumps: Promise<void>[] = [];
  // All at once: past the server's concurrent-stream limit the client queues a stream until
  // another closes, which these never do, so a stream not answered by the deadline is "queued".
  const statuses = await Promise.all(
    Array.from({ length: Number(streams) }, () =>
      new Promise<number | 'queued'>((resolve) => {
        let stream: ClientHttp2Stream;
        try {
          stream = s.request({ ':method': 'CONNECT', ':authority': target });
        } catch {
          resolve(0);
          return;
        }
        setTimeout(() => resolve('queued'), Math.max(0, deadline - Date.now())).unref();
        stream.on('error', () => resolve(0));
        stream.once('close', () => resolve(0));
        stream.once('response', (h) => {
          const code = Number(h[':status']);
          resolve(code);
          if (code !== 200) return;
          pumps.push(
            new Promise<void>((done) => {
              const pump = (): void => {
                while (Date.now() < deadline && !stream.destroyed) {
                  written += chunk.length;
                  if (!stream.write(chunk)) {
                    stream.once('drain', pump);
                    return;
                  }
                }
                done();
              };
              stream.once('close', () => done());
              pump();
              setTimeout(done, Math.max(0, deadline - Date.now())).unref();
            }),
          );
        });
      }),
    ),
  );
  const accepted = statuses.filter((x) => x === 200).length;
  const queued = statuses.filter((x) => x === 'queued').length;
  const refused = statuses.length - accepted - queued;
  await Promise.all(pumps);
  print({ ok: true, accepted, queued, refused, writtenBytes: written });
  s.destroy();
}

switch (mode) {
  case 'halfopen':
    await halfOpen(args[0] as string, Number(args[1]), Number(args[2]), Number(args[3]), args[4] === 'early');
    process.exit(0);
    break;
  case 'tunnel':
    await tunnel(args);
    process.exit(0);
    break;
  case 'stall-server':
    stallServer(Number(args[0]));
    break;
  case 'noread':
    await noRead(args);
    process.exit(0);
    break;
  default:
    print({ ok: false, error: `unknown mode ${String(mode)}` });
    process.exit(2);
}
