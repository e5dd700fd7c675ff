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
 *   metrics <url> <prefix> [accept]      the lines of a Prometheus scrape starting with prefix
 *                                        (accept: the Accept header, e.g. OpenMetrics).
 *   raw <host> <port> <base64> [goaway]  write raw bytes, read until the server closes (at most
 *                                        5 s): what came back, whether it closed, the local port.
 *                                        With goaway, also done 0.5 s after an HTTP/2 GOAWAY frame
 *                                        came back (closed: false if the server had not closed).
 */
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import type * as grpc from '@grpc/grpc-js';
import { ECHO_SERVICE, WS_GUID, expectedHash, goawayCodes, writeBytes, wsFrame, wsParse, type Json } from './http-peer-common.js';
// grpc-js and the server module are loaded by the modes that use them (`grpc`, `serve`): the
// test runs this script about a hundred times, and loading grpc-js doubles a client's start-up.

const [mode, ...args] = process.argv.slice(2);
/** Client modes end well within the test's own bounds (10,000 requests or 100 MB on a busy 2-core host). */
const CLIENT_LIMIT_MS = 150_000;
/** Servers outlive the lab's subtests; the lab kills them at teardown, this is the backstop. */
const SERVER_LIMIT_MS = 600_000;
/** Longest a paused download waits for the test's go-ahead. */
const PAUSE_LIMIT_MS = 20_000;

setTimeout(
  () => {
    console.log(JSON.stringify({ ok: false, error: `http-peer ${mode ?? ''} time limit reached` }));
    process.exit(3);
  },
  mode === 'serve' ? SERVER_LIMIT_MS : CLIENT_LIMIT_MS,
).unref();

function out(result: Json): never {
  console.log(JSON.stringify(result));
  process.exit(0);
}

function fail(err: unknown): never {
  const e = err as NodeJS.ErrnoException;
  out({ ok: false, error: e.code ?? e.message ?? String(err) });
}

function headerArgs(list: readonly string[]): Record<string, string> {
  const h: Record<string, string> = {};
  for (const a of list) {
    const i = a.indexOf(':');
    if (i > 0) h[a.slice(0, i).toLowerCase()] = a.slice(i + 1);
  }
  return h;
}

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
async function metrics(url: string, prefix: string, accept?: string): Promise<void> {
  const a = await request(new http.Agent({ keepAlive: false }), 'GET', url, accept === undefined ? {} : { accept });
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
  const rpc = await import('@grpc/grpc-js');
  const Client = rpc.makeGenericClientConstructor(ECHO_SERVICE, 'Echo');
  const client = new Client(target, rpc.credentials.createInsecure()) as grpc.Client & Record<string, (...a: unknown[]) => unknown>;
  const deadline = (): Date => new Date(Date.now() + 20_000);
  const unary = (req: Json): Promise<Json> =>
    new Promise((resolve) => {
      let trailer: Record<string, unknown> = {};
      const call = (client['Unary'] as (r: Json, m: grpc.Metadata, o: grpc.CallOptions, cb: (e: grpc.ServiceError | null, v?: Json) => void) => grpc.ClientUnaryCall)(
        req,
        new rpc.Metadata(),
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

/** `raw ... goaway`: how long to keep reading after the first GOAWAY frame. */
const GOAWAY_LINGER_MS = 500;

function raw(host: string, port: number, payload: Buffer, untilGoaway: boolean): void {
  const sock = net.connect({ host, port });
  const chunks: Buffer[] = [];
  let localPort = 0;
  let lingering = false;
  const finish = (closed: boolean): never => out({ ok: true, closed, localPort, data: Buffer.concat(chunks).toString('latin1') });
  const timer = setTimeout(() => {
    sock.destroy();
    finish(false);
  }, 5000);
  sock.on('connect', () => {
    localPort = sock.localPort ?? 0;
    sock.write(payload);
  });
  sock.on('data', (c: Buffer) => {
    chunks.push(c);
    // The server's first bytes are its SETTINGS, not the preface: frames from offset 0.
    if (!untilGoaway || lingering || goawayCodes(Buffer.concat(chunks)).length === 0) return;
    // A little longer, so what the server sends right after its GOAWAY is still seen.
    lingering = true;
    clearTimeout(timer);
    setTimeout(() => {
      sock.destroy();
      finish(false);
    }, GOAWAY_LINGER_MS);
  });
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
    import('./http-peer-server.js').then(({ serve }) => serve(str(0), fail), fail);
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
    metrics(str(0), str(1), args[2]).catch(fail);
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
    raw(str(0), num(1), Buffer.from(str(2), 'base64'), str(3) === 'goaway');
    break;
  default:
    console.error('usage: http-peer serve|requests|h2|once|metrics|sessions|banner|grpc|upload|download|websocket|raw ...');
    process.exit(64);
}
