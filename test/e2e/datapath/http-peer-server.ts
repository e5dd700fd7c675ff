/**
 * The servers of `http-peer.ts serve <pod>`: HTTP/1.1 (with a WebSocket echo) and h2c prior
 * knowledge on one port, a gRPC echo, and a server-first banner service. Every answer names the
 * pod (`x-pod`); `?slow=<pod>&ms=N` makes only that pod answer late.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import http2 from 'node:http2';
import net from 'node:net';
import * as grpc from '@grpc/grpc-js';
import { BANNER_PORT, ECHO_SERVICE, GRPC_PORT, HTTP_PORT, WS_GUID, writeBytes, wsFrame, wsParse, type Json } from './http-peer-common.js';

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


function grpcServer(pod: string, ready: () => void, fail: (err: Error) => void): void {
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
    else ready();
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

/** Starts every server of `pod`; prints `{"listening":[...],"pod":...}` once all are bound. */
export function serve(pod: string, fail: (err: Error) => void): void {
  let pending = 3;
  const up = (): void => {
    if (--pending === 0) console.log(JSON.stringify({ listening: [HTTP_PORT, GRPC_PORT, BANNER_PORT], pod }));
  };
  httpServer(pod).listen(HTTP_PORT, '0.0.0.0', up);
  bannerServer(pod).listen(BANNER_PORT, '0.0.0.0', up);
  grpcServer(pod, up, fail);
}

