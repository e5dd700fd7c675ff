/**
 * An HTTP/gRPC traffic peer that the L7 lab test runs inside pods (`ip netns exec <pod> node
 * http-peer.js ...`). Every client mode prints one JSON line and exits by itself; the server
 * exits after {@link SERVER_LIMIT_MS}. Nothing here is shared with the agent's code: it plays
 * the application on both ends.
 *
 *   serve <pod>                          HTTP/1.1 (and WebSocket echo) + h2c (prior knowledge) on :8080, gRPC on
 *                                        :9090, a server-first banner service on :7000; prints
 *                                        {"listening":...} once all are bound.
 *   requests <url> <n> <conc> [h:v ...]  n GETs, at most conc at once (keep-alive): counts by
 *                                        serving pod, statuses, sockets used, the first answer.
 *   h2 <url> <n>                         n GETs on one h2c (prior knowledge) session.
 *   once <method> <url> [h:v ...]        one request, no redirect followed: status, headers, body.
 *   sessions <url> <sessions> <per> <h>  per requests for each of sessions values of header h:
 *                                        the pods each value reached.
 *   banner <host> <port> [text]          time to the server's first bytes; with text, writes it
 *                                        at once and waits for it echoed after the banner.
 *   grpc <host:port>                     unary, NOT_FOUND and server-streaming calls.
 *   upload <url> <bytes>                 POST bytes (chunked), compare sha256 with the server's.
 *   download <url> <bytes> [pauseAt]     GET and hash; with pauseAt, stop reading after that
 *                                        many bytes, print {"paused":n}, resume on a stdin line
 *                                        (or after PAUSE_LIMIT_MS).
 *   websocket <url> <n>                  WebSocket handshake, then n messages echoed by the server.
 *   metrics <url> <prefix>               the lines of a Prometheus scrape starting with prefix.
 *   raw <host> <port> <base64>           write raw bytes, read until the server closes (at most
 *                                        5 s): what came back, whether it closed, the local port.
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';

const [mode, ...args] = process.argv.slice(2);
/** Client modes end well within the test's own bounds (10,000 requests or 100 MB on a busy 2-core host). */
const CLIENT_LIMIT_MS = 150_000;
/** Servers outlive the lab's subtests; the lab kills them at teardown, this is the backstop. */
const SERVER_LIMIT_MS = 600_000;
/** Longest a paused download waits for the test's go-ahead. */
const PAUSE_LIMIT_MS = 20_000;
const HTTP_PORT = 8080;
const GRPC_PORT = 9090;
const BANNER_PORT = 7000;

setTimeout(
  () => {
    console.log(JSON.stringify({ ok: false, error: `http-peer ${mode ?? ''} time limit reached` }));
    process.exit(3);
  },
  mode === 'serve' ? SERVER_LIMIT_MS : CLIENT_LIMIT_MS,
).unref();

type Json = Record<string, unknown>;

function out(result: Json): never {
  console.log(JSON.stringify(result));
  process.exit(0);
}

function fail(err: unknown): never {
  const e = err as NodeJS.ErrnoException;
  out({ ok: false, error: e.code ?? e.message ?? String(err) });
}

/** Deterministic bytes (xorshift), so both ends can hash the same stream without sending it twice. */
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
const CHUNK = block(11, 64 * 1024);

function chunkOf(left: number): Buffer {
  return left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
}

function expectedHash(total: number): string {
  const h = createHash('sha256');
  for (let left = total; left > 0; left -= CHUNK.length) h.update(chunkOf(left));
  return h.digest('hex');
}

/** Writes `total` deterministic bytes with backpressure, then ends the stream. */
function writeBytes(w: NodeJS.WritableStream, total: number): void {
  let left = total;
  const pump = (): void => {
    while (left > 0) {
      const c = chunkOf(left);
      left -= c.length;
      if (!w.write(c)) {
        w.once('drain', pump);
        return;
      }
    }
    w.end();
  };
  pump();
}

function headerArgs(list: readonly string[]): Record<string, string> {
  const h: Record<string, string> = {};
  for (const a of list) {
    const i = a.indexOf(':');
    if (i > 0) h[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
  }
  return h;
}

// ---------------------------------------------------------------- server

type AnyReq = http.IncomingMessage | http2.Http2ServerRequest;
type AnyRes = http.ServerResponse | http2.Http2ServerResponse;

function handle(pod: string, req: AnyReq, res: AnyRes): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (): void => {
    res.setHeader('x-pod', pod);
    const status = /^\/status\/(\d{3})$/.exec(url.pathname);
    if (req.method === 'POST' && url.pathname === '/upload') {
      const h = createHash('sha256');
      let bytes = 0;
      req.on('data', (c: Buffer) => {
        h.update(c);
        bytes += c.length;
      });
      req.on('end', () => {
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ pod, bytes, sha256: h.digest('hex') }));
      });
      return;
    }
    req.resume();
    if (url.pathname === '/download') {
      const bytes = Number(url.searchParams.get('bytes') ?? '0');
      res.setHeader('content-length', String(bytes));
      res.setHeader('content-type', 'application/octet-stream');
      writeBytes(res as NodeJS.WritableStream, bytes);
      return;
    }
    res.statusCode = status === null ? 200 : Number(status[1]);
    res.setHeader('content-type', 'application/json');
    const authority = 'httpVersionMajor' in req && req.httpVersionMajor === 2 ? req.headers[':authority'] : req.headers.host;
    res.end(JSON.stringify({ pod, method: req.method, url: req.url, host: authority, version: req.httpVersion, xff: req.headers['x-forwarded-for'] ?? null }));
  };
  // `?slow=<pod>&ms=N`: only the named pod answers late (a slow endpoint among fast ones).
  const delay = url.searchParams.get('slow') === pod ? Number(url.searchParams.get('ms') ?? '0') : 0;
  if (delay > 0) setTimeout(send, delay);
  else send();
}

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

/** One WebSocket frame (FIN, payload under 126 bytes): masked from a client, plain from a server. */
function wsFrame(payload: Buffer, mask: boolean): Buffer {
  if (payload.length > 125) throw new Error('frame too long for this peer');
  if (!mask) return Buffer.concat([Buffer.from([0x81, payload.length]), payload]);
  const key = randomBytes(4);
  const masked = Buffer.from(payload.map((b, i) => b ^ (key[i % 4] as number)));
  return Buffer.concat([Buffer.from([0x81, 0x80 | payload.length]), key, masked]);
}

/** Whole small frames out of `buf`: their (unmasked) payloads and the bytes left over. */
function wsParse(buf: Buffer): { payloads: Buffer[]; rest: Buffer } {
  const payloads: Buffer[] = [];
  let at = 0;
  while (at + 2 <= buf.length) {
    const len = (buf[at + 1] as number) & 0x7f;
    const masked = ((buf[at + 1] as number) & 0x80) !== 0;
    const start = at + 2 + (masked ? 4 : 0);
    if (start + len > buf.length) break;
    const p = Buffer.from(buf.subarray(start, start + len));
    if (masked) for (let i = 0; i < len; i++) p[i] = (p[i] as number) ^ (buf[at + 2 + (i % 4)] as number);
    payloads.push(p);
    at = start + len;
  }
  return { payloads, rest: buf.subarray(at) };
}

/** A WebSocket echo (RFC 6455 handshake; text frames echoed with the pod name in front). */
function wsEcho(pod: string, req: http.IncomingMessage, sock: net.Socket, head: Buffer): void {
  const key = req.headers['sec-websocket-key'];
  if (typeof key !== 'string' || req.headers.upgrade?.toLowerCase() !== 'websocket') {
    sock.end('HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n');
    return;
  }
  const accept = createHash('sha1').update(key + WS_GUID).digest('base64');
  sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\nx-pod: ${pod}\r\n\r\n`);
  let buf = head;
  const onData = (c: Buffer): void => {
    const { payloads, rest } = wsParse(Buffer.concat([buf, c]));
    buf = rest;
    for (const p of payloads) sock.write(wsFrame(Buffer.from(`${pod}:${p.toString('utf8')}`), false));
  };
  sock.on('data', onData);
  sock.on('error', () => undefined);
  if (head.length > 0) onData(Buffer.alloc(0));
}

/** One port for HTTP/1.1 and h2c prior knowledge: the first bytes pick the server. */
function httpServer(pod: string): net.Server {
  const h1 = http.createServer((req, res) => handle(pod, req, res));
  h1.keepAliveTimeout = 30_000;
  h1.on('upgrade', (req: http.IncomingMessage, sock: net.Socket, head: Buffer) => wsEcho(pod, req, sock, head));
  const h2 = http2.createServer((req, res) => handle(pod, req, res));
  const preface = Buffer.from('PRI * HTTP/2.0');
  return net.createServer((sock) => {
    sock.on('error', () => undefined);
    // 'readable' and read(), not 'data': a 'data' listener leaves the socket flowing, and the
    // bytes put back would be emitted to nobody before the server attaches.
    sock.once('readable', () => {
      const first = sock.read() as Buffer | null;
      if (first === null) {
        sock.destroy();
        return;
      }
      sock.unshift(first);
      const n = Math.min(first.length, preface.length);
      const isH2 = first.subarray(0, n).equals(preface.subarray(0, n));
      (isH2 ? h2 : h1).emit('connection', sock);
    });
  });
}

/** Messages are JSON in buffers: no .proto needed. */
const json = {
  serialize: (v: unknown): Buffer => Buffer.from(JSON.stringify(v)),
  deserialize: (b: Buffer): Json => JSON.parse(b.toString('utf8')) as Json,
};
const ECHO_SERVICE: grpc.ServiceDefinition = {
  Unary: {
    path: '/meshlet.test.Echo/Unary',
    requestStream: false,
    responseStream: false,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
  Count: {
    path: '/meshlet.test.Echo/Count',
    requestStream: false,
    responseStream: true,
    requestSerialize: json.serialize,
    requestDeserialize: json.deserialize,
    responseSerialize: json.serialize,
    responseDeserialize: json.deserialize,
  },
};

function grpcServer(pod: string, ready: () => void): void {
  const server = new grpc.Server();
  server.addService(ECHO_SERVICE, {
    Unary: (call: grpc.ServerUnaryCall<Json, Json>, cb: grpc.sendUnaryData<Json>) => {
      const trailer = new grpc.Metadata();
      trailer.set('x-trailer', `from-${pod}`);
      if (call.request['missing'] === true) {
        cb({ code: grpc.status.NOT_FOUND, details: 'no such thing', metadata: trailer });
        return;
      }
      cb(null, { pod, echo: call.request['msg'] }, trailer);
    },
    Count: (call: grpc.ServerWritableStream<Json, Json>) => {
      const n = Number(call.request['n'] ?? 0);
      for (let i = 0; i < n; i++) call.write({ i, pod });
      const trailer = new grpc.Metadata();
      trailer.set('x-count', String(n));
      call.end(trailer);
    },
  });
  server.bindAsync(`0.0.0.0:${GRPC_PORT}`, grpc.ServerCredentials.createInsecure(), (err) => {
    if (err !== null) fail(err);
    ready();
  });
}

/** A server-first protocol (SMTP-like): a banner at connect, then everything echoed. */
function bannerServer(pod: string): net.Server {
  return net.createServer((sock) => {
    sock.on('error', () => undefined);
    sock.write(`220 ${pod} ready\r\n`);
    sock.pipe(sock);
  });
}

function serve(pod: string): void {
  let pending = 3;
  const up = (): void => {
    if (--pending === 0) console.log(JSON.stringify({ listening: [HTTP_PORT, GRPC_PORT, BANNER_PORT], pod }));
  };
  httpServer(pod).listen(HTTP_PORT, '0.0.0.0', up);
  bannerServer(pod).listen(BANNER_PORT, '0.0.0.0', up);
  grpcServer(pod, up);
}

// ---------------------------------------------------------------- clients

interface Answer {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  socket: number;
}

const socketIds = new WeakMap<net.Socket, number>();
let nextSocketId = 0;

function request(agent: http.Agent, method: string, url: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method, agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        let id = socketIds.get(req.socket as net.Socket);
        if (id === undefined) {
          id = nextSocketId++;
          socketIds.set(req.socket as net.Socket, id);
        }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8'), socket: id });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

function parsed(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    return body;
  }
}

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

async function requests(url: string, n: number, conc: number, headers: Record<string, string>): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: conc });
  const pods: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  const sockets = new Set<number>();
  let first: Json | undefined;
  let issued = 0;
  const started = performance.now();
  const worker = async (): Promise<void> => {
    while (issued < n) {
      issued++;
      try {
        const a = await request(agent, 'GET', url, headers);
        bump(pods, String(a.headers['x-pod'] ?? 'none'));
        bump(statuses, String(a.status));
        sockets.add(a.socket);
        first ??= { status: a.status, headers: a.headers, body: parsed(a.body) };
      } catch (err) {
        bump(errors, (err as NodeJS.ErrnoException).code ?? (err as Error).message);
      }
    }
  };
  await Promise.all(Array.from({ length: conc }, worker));
  agent.destroy();
  out({ ok: Object.keys(errors).length === 0, n, pods, statuses, errors, sockets: sockets.size, ms: Math.round(performance.now() - started), first });
}

async function h2(url: string, n: number): Promise<void> {
  const u = new URL(url);
  const session = http2.connect(u.origin);
  session.on('error', fail);
  const pods: Record<string, number> = {};
  const statuses: Record<string, number> = {};
  let first: Json | undefined;
  const one = (): Promise<void> =>
    new Promise((resolve, reject) => {
      const s = session.request({ ':method': 'GET', ':path': u.pathname + u.search });
      let head: http2.IncomingHttpHeaders & http2.IncomingHttpStatusHeader = {};
      const chunks: Buffer[] = [];
      s.on('response', (h) => (head = h));
      s.on('data', (c: Buffer) => chunks.push(c));
      s.on('end', () => {
        bump(pods, String(head['x-pod'] ?? 'none'));
        bump(statuses, String(head[':status'] ?? 0));
        first ??= { status: head[':status'], body: parsed(Buffer.concat(chunks).toString('utf8')) };
        resolve();
      });
      s.on('error', reject);
    });
  for (let i = 0; i < n; i++) await one();
  session.close();
  out({ ok: true, n, pods, statuses, first });
}

async function once(method: string, url: string, headers: Record<string, string>): Promise<void> {
  const agent = new http.Agent({ keepAlive: false });
  const a = await request(agent, method, url, headers);
  out({ ok: true, status: a.status, headers: a.headers, body: parsed(a.body) });
}

/** Only the lines of a Prometheus scrape that start with `prefix` (a full scrape is megabytes). */
async function metrics(url: string, prefix: string): Promise<void> {
  const a = await request(new http.Agent({ keepAlive: false }), 'GET', url, {});
  out({ ok: a.status === 200, status: a.status, lines: a.body.split('\n').filter((l) => l.startsWith(prefix)) });
}

async function sessions(url: string, count: number, per: number, header: string): Promise<void> {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 4 });
  const seen: Record<string, string[]> = {};
  for (let s = 0; s < count; s++) {
    const key = `session-${s}`;
    const pods = new Set<string>();
    await Promise.all(
      Array.from({ length: per }, async () => {
        const a = await request(agent, 'GET', url, { [header]: key });
        pods.add(String(a.headers['x-pod'] ?? `status-${a.status}`));
      }),
    );
    seen[key] = [...pods].sort();
  }
  agent.destroy();
  out({ ok: true, sessions: seen });
}

function banner(host: string, port: number, text: string | undefined): void {
  const started = performance.now();
  const sock = net.connect({ host, port });
  let data = '';
  let firstMs: number | undefined;
  const finish = (): never => {
    sock.destroy();
    out({ ok: firstMs !== undefined, ms: firstMs === undefined ? null : Math.round(firstMs), data });
  };
  const timer = setTimeout(finish, 10_000);
  sock.on('connect', () => {
    if (text !== undefined) sock.write(text);
  });
  sock.on('data', (c: Buffer) => {
    firstMs ??= performance.now() - started;
    data += c.toString('latin1');
    const banned = /^220 .* ready\r\n/.test(data);
    if (banned && (text === undefined || data.endsWith(text))) {
      clearTimeout(timer);
      finish();
    }
  });
  sock.on('error', (err) => {
    clearTimeout(timer);
    fail(err);
  });
}

async function grpcCalls(target: string): Promise<void> {
  const Client = grpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  const client = new Client(target, grpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  const deadline = (): Date => new Date(Date.now() + 20_000);
  const unary = (req: Json): Promise<Json> =>
    new Promise((resolve) => {
      let trailer: Record<string, unknown> = {};
      const call = (client['Unary'] as (r: Json, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Json) => void) => grpc.ClientUnaryCall)(
        req,
        new grpc.Metadata(),
        { deadline: deadline() },
        (err, value) => {
          // The status (with the trailers) may come after the callback: give it a tick.
          setImmediate(() =>
            resolve(err === null ? { code: 0, value: value ?? null, trailer } : { code: err.code, details: err.details, trailer: err.metadata.getMap() }),
          );
        },
      );
      call.on('status', (s: grpc.StatusObject) => (trailer = s.metadata.getMap()));
    });
  const stream = (n: number): Promise<Json> =>
    new Promise((resolve) => {
      const items: number[] = [];
      const call = (client['Count'] as (r: Json, o: grpc.CallOptions) => grpc.ClientReadableStream<Json>)({ n }, { deadline: deadline() });
      call.on('data', (m: Json) => items.push(Number(m['i'])));
      call.on('error', () => undefined);
      call.on('status', (s: grpc.StatusObject) => resolve({ code: s.code, items, trailer: s.metadata.getMap() }));
    });
  const ok = await unary({ msg: 'hello' });
  const missing = await unary({ missing: true });
  const streamed = await stream(200);
  client.close();
  out({ ok: true, unary: ok, notFound: missing, stream: streamed });
}

async function upload(url: string, bytes: number): Promise<void> {
  const started = performance.now();
  const result = await new Promise<Json>((resolve, reject) => {
    const req = http.request(url, { method: 'POST', headers: { 'content-type': 'application/octet-stream' } }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode, server: parsed(Buffer.concat(chunks).toString('utf8')) }));
    });
    req.on('error', reject);
    writeBytes(req, bytes);
  });
  out({ ok: true, sentSha256: expectedHash(bytes), ms: Math.round(performance.now() - started), ...result });
}

function download(url: string, bytes: number, pauseAt: number): void {
  const started = performance.now();
  const h = createHash('sha256');
  let got = 0;
  let paused = false;
  const req = http.get(url, (res) => {
    res.on('data', (c: Buffer) => {
      h.update(c);
      got += c.length;
      if (pauseAt > 0 && !paused && got >= pauseAt) {
        paused = true;
        res.pause();
        console.log(JSON.stringify({ paused: got }));
        const go = (): void => {
          clearTimeout(limit);
          process.stdin.pause();
          res.resume();
        };
        const limit = setTimeout(go, PAUSE_LIMIT_MS);
        process.stdin.once('data', go);
      }
    });
    res.on('end', () =>
      out({ ok: true, status: res.statusCode, bytes: got, sha256: h.digest('hex'), expectedSha256: expectedHash(bytes), ms: Math.round(performance.now() - started) }),
    );
    res.on('error', fail);
  });
  req.on('error', fail);
}

/** A WebSocket client: the handshake, then n text messages, each awaited echoed. */
function websocket(url: string, n: number): void {
  const key = randomBytes(16).toString('base64');
  const req = http.request(url, { headers: { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': key } });
  req.on('response', (res) => out({ ok: false, error: `no upgrade: ${res.statusCode}`, status: res.statusCode }));
  req.on('error', fail);
  req.on('upgrade', (res: http.IncomingMessage, sock: net.Socket, head: Buffer) => {
    const acceptOk = res.headers['sec-websocket-accept'] === createHash('sha1').update(key + WS_GUID).digest('base64');
    const echoes: string[] = [];
    let buf = head;
    let sent = 0;
    const next = (): void => {
      if (sent === n) {
        sock.destroy();
        out({ ok: true, status: res.statusCode, acceptOk, pod: res.headers['x-pod'] ?? null, echoes });
      }
      sock.write(wsFrame(Buffer.from(`message-${sent++}`), true));
    };
    const onData = (c: Buffer): void => {
      const { payloads, rest } = wsParse(Buffer.concat([buf, c]));
      buf = rest;
      for (const p of payloads) {
        echoes.push(p.toString('utf8'));
        next();
      }
    };
    sock.on('data', onData);
    sock.on('error', fail);
    sock.on('close', () => out({ ok: false, error: `closed after ${echoes.length} echoes`, echoes }));
    next();
  });
  req.end();
}

function raw(host: string, port: number, payload: Buffer): void {
  const sock = net.connect({ host, port });
  const chunks: Buffer[] = [];
  let localPort = 0;
  const finish = (closed: boolean): never => out({ ok: true, closed, localPort, data: Buffer.concat(chunks).toString('latin1') });
  const timer = setTimeout(() => {
    sock.destroy();
    finish(false);
  }, 5000);
  sock.on('connect', () => {
    localPort = sock.localPort ?? 0;
    sock.write(payload);
  });
  sock.on('data', (c: Buffer) => chunks.push(c));
  sock.on('close', () => {
    clearTimeout(timer);
    finish(true);
  });
  sock.on('error', () => undefined);
}

const num = (i: number): number => Number(args[i]);
const str = (i: number): string => args[i] ?? '';
switch (mode) {
  case 'serve':
    serve(str(0));
    break;
  case 'requests':
    requests(str(0), num(1), num(2), headerArgs(args.slice(3))).catch(fail);
    break;
  case 'h2':
    h2(str(0), num(1)).catch(fail);
    break;
  case 'once':
    once(str(0), str(1), headerArgs(args.slice(2))).catch(fail);
    break;
  case 'metrics':
    metrics(str(0), str(1)).catch(fail);
    break;
  case 'sessions':
    sessions(str(0), num(1), num(2), str(3)).catch(fail);
    break;
  case 'banner':
    banner(str(0), num(1), args[2]);
    break;
  case 'grpc':
    grpcCalls(str(0)).catch(fail);
    break;
  case 'upload':
    upload(str(0), num(1)).catch(fail);
    break;
  case 'download':
    download(str(0), num(1), args[2] === undefined ? 0 : num(2));
    break;
  case 'websocket':
    websocket(str(0), num(1));
    break;
  case 'raw':
    raw(str(0), num(1), Buffer.from(str(2), 'base64'));
    break;
  default:
    console.error('usage: http-peer serve|requests|h2|once|metrics|sessions|banner|grpc|upload|download|websocket|raw ...');
    process.exit(64);
}
