/**
 * The kubelet's streaming side of the fake Kubernetes API (fake-kube-api.ts), over websockets
 * as the API server proxies them, protocol `v4.channel.k8s.io` (each message starts with its
 * channel number):
 *
 * - `pods/NAME/portforward?ports=P`: channel 0 carries data, channel 1 errors, and the first
 *   message of each carries the port (2 bytes, little-endian); the data goes to 127.0.0.1:P on
 *   this host (the test's agent), and a failed dial is reported on channel 1, as the kubelet does;
 * - `pods/NAME/exec?command=...`: stdout on channel 1, stderr on 2, then a `Status` on 3.
 *
 * The websocket server side is the part of RFC 6455 these need (masked client frames, binary
 * and close frames, one frame per message), written here so the tests need no ws package.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { FakeKubeApi } from './fake-kube-api.js';

const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
const PROTOCOL = 'v4.channel.k8s.io';

/** One accepted websocket, server side. */
class WsConn {
  private buffered = Buffer.alloc(0);
  private closed = false;
  onMessage: (data: Buffer) => void = () => undefined;
  onClose: () => void = () => undefined;

  constructor(private readonly socket: Duplex) {
    socket.on('data', (chunk: Buffer) => this.read(chunk));
    socket.on('close', () => this.finish());
    socket.on('error', () => this.finish());
  }

  /** Sends one binary message: `channel` then `payload`. */
  send(channel: number, payload: Buffer = Buffer.alloc(0)): void {
    if (this.closed) return;
    this.frame(0x2, Buffer.concat([Buffer.from([channel]), payload]));
  }

  /** Sends a close frame and ends the connection. */
  close(): void {
    if (this.closed) return;
    this.frame(0x8, Buffer.from([0x03, 0xe8]));
    this.socket.end();
    this.finish();
  }

  private frame(opcode: number, payload: Buffer): void {
    const n = payload.length;
    const head = n < 126 ? Buffer.from([0x80 | opcode, n]) : n < 65536 ? Buffer.from([0x80 | opcode, 126, n >> 8, n & 0xff]) : Buffer.concat([Buffer.from([0x80 | opcode, 127]), u64(n)]);
    this.socket.write(Buffer.concat([head, payload]));
  }

  private read(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    for (;;) {
      const b = this.buffered;
      if (b.length < 2) return;
      const opcode = (b[0] ?? 0) & 0x0f;
      let len = (b[1] ?? 0) & 0x7f;
      let at = 2;
      if (len === 126) {
        if (b.length < 4) return;
        len = b.readUInt16BE(2);
        at = 4;
      } else if (len === 127) {
        if (b.length < 10) return;
        len = Number(b.readBigUInt64BE(2));
        at = 10;
      }
      if (b.length < at + 4 + len) return;
      const mask = b.subarray(at, at + 4);
      const payload = Buffer.from(b.subarray(at + 4, at + 4 + len));
      for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] ?? 0) ^ (mask[i % 4] ?? 0);
      this.buffered = b.subarray(at + 4 + len);
      if (opcode === 0x8) return this.close();
      if (opcode === 0x9) this.frame(0xa, payload);
      else if (opcode === 0x1 || opcode === 0x2) this.onMessage(payload);
    }
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose();
  }
}

function u64(n: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(BigInt(n));
  return b;
}

/** Completes the handshake, or answers 400 when the client offers no channel protocol. */
function accept(req: IncomingMessage, socket: Duplex): WsConn | undefined {
  const offered = String(req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
  if (!offered.includes(PROTOCOL)) {
    socket.end('HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n');
    return undefined;
  }
  const acceptKey = createHash('sha1').update(`${String(req.headers['sec-websocket-key'])}${WS_GUID}`).digest('base64');
  socket.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey}\r\nSec-WebSocket-Protocol: ${PROTOCOL}\r\n\r\n`);
  return new WsConn(socket);
}

/** What a pod's `cat` of its token file answers. */
export interface ExecAnswer {
  readonly stdout?: string | Buffer;
  readonly stderr?: string;
  /** Non-zero: a Failure status with this exit code. */
  readonly exitCode?: number;
}

/** Controls and records of {@link servePodStreams}. */
export interface PodStreams {
  /** Per pod name: what the exec answers (default: exit 1, "No such file or directory"). */
  readonly exec: Map<string, ExecAnswer>;
  /** Subresources answered 403 Forbidden (RBAC): `portforward`, `exec`. */
  readonly forbid: Set<string>;
  /** Per pod: the commands exec'd, and the ports forwarded (one entry per connection). */
  readonly execs: Array<{ pod: string; container: string; command: string[] }>;
  readonly forwards: Array<{ pod: string; port: number }>;
}

/** Serves port-forward and exec on `api` for pods in `namespace`. */
export function servePodStreams(api: FakeKubeApi, namespace: string): PodStreams {
  const streams: PodStreams = { exec: new Map(), forbid: new Set(), execs: [], forwards: [] };
  api.upgrades((req, socket) => {
    const url = new URL(req.url ?? '/', 'http://fake');
    const m = new RegExp(`^/api/v1/namespaces/${namespace}/pods/([^/]+)/(portforward|exec)$`).exec(url.pathname);
    if (m === null) return void socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
    const [, pod = '', sub = ''] = m;
    if (streams.forbid.has(sub)) {
      const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'Forbidden', code: 403, message: `pods "${pod}" is forbidden: User "fake" cannot create resource "pods/${sub}" in API group "" in the namespace "${namespace}"` });
      return void socket.end(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    }
    const conn = accept(req, socket);
    if (conn === undefined) return;
    if (sub === 'exec') serveExec(conn, streams, pod, url);
    else serveForward(conn, streams, pod, Number(url.searchParams.get('ports')));
  });
  return streams;
}

function serveExec(conn: WsConn, streams: PodStreams, pod: string, url: URL): void {
  streams.execs.push({ pod, container: url.searchParams.get('container') ?? '', command: url.searchParams.getAll('command') });
  const answer = streams.exec.get(pod) ?? { stderr: 'cat: /run/meshlet/admin-token: No such file or directory\n', exitCode: 1 };
  if (answer.stdout !== undefined) conn.send(1, Buffer.from(answer.stdout));
  if (answer.stderr !== undefined) conn.send(2, Buffer.from(answer.stderr));
  const code = answer.exitCode ?? 0;
  const status = code === 0
    ? { metadata: {}, status: 'Success' }
    : { metadata: {}, status: 'Failure', message: `command terminated with non-zero exit code: exit status ${code}`, reason: 'NonZeroExitCode', details: { causes: [{ reason: 'ExitCode', message: String(code) }] } };
  conn.send(3, Buffer.from(JSON.stringify(status)));
  conn.close();
}

function serveForward(conn: WsConn, streams: PodStreams, pod: string, port: number): void {
  streams.forwards.push({ pod, port });
  const portBytes = Buffer.from([port & 0xff, port >> 8]);
  conn.send(0, portBytes);
  conn.send(1, portBytes);
  const tcp = net.connect(port, '127.0.0.1');
  tcp.on('data', (d: Buffer) => conn.send(0, d));
  tcp.on('error', (e: NodeJS.ErrnoException) => {
    conn.send(1, Buffer.from(`error forwarding port ${port} to pod ${pod}: dial tcp4 127.0.0.1:${port}: connect: ${e.code === 'ECONNREFUSED' ? 'connection refused' : String(e.code)}`));
    conn.close();
  });
  tcp.on('end', () => conn.close());
  conn.onMessage = (m) => {
    if (m[0] === 0 && m.length > 1) tcp.write(m.subarray(1));
  };
  conn.onClose = () => tcp.end();
}
