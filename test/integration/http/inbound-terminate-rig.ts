/**
 * The rig of the InboundTerminator tests: a fake `InboundHttp.call` that plays policy and
 * workload by path, a capture listener on 127.0.0.1 whose sockets are served by the terminator,
 * and raw HTTP/1.1 helpers that show what the terminator did with the connection.
 */
import { createHash } from 'node:crypto';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Duplex, PassThrough, Readable, Writable } from 'node:stream';
import { pino } from 'pino';
import type { HeaderMap, RequestHead, RequestTarget, UpstreamCall, UpstreamResponse } from '../../../src/agent/http/exchange.js';
import { localReply, type InboundCallOptions, type InboundSource } from '../../../src/agent/http/inbound-http.js';
import { InboundTerminator } from '../../../src/agent/http/inbound-terminate.js';
import type { HttpServerLimits } from '../../../src/agent/http/outbound-http.js';
import type { ErrorKind } from '../../../src/agent/policy/respond.js';

export const silent = pino({ level: 'silent' });
export const SOURCE: InboundSource = { kind: 'mtls', identity: 'spiffe://cluster.local/ns/demo/sa/client', localIdentity: 'spiffe://cluster.local/ns/demo/sa/server', address: '10.0.0.9:5555' };
export const TARGET: RequestTarget = { address: '10.0.0.20', port: 8080 };

type Teardown = { teardown(fn: () => void | Promise<void>): void };

/** One call the fake saw. */
export interface SeenCall {
  readonly source: InboundSource;
  readonly target: RequestTarget;
  readonly head: RequestHead;
  readonly endStream: boolean;
  aborted: boolean;
}

/** A response whose body is the given chunks and whose trailers come at its end. */
export function response(status: number, headers: HeaderMap, chunks: readonly (Buffer | string)[], trailers: HeaderMap = {}): UpstreamResponse {
  const body = Readable.from(chunks.map((c) => Buffer.from(c)), { objectMode: false });
  const ended = new Promise<HeaderMap>((resolve, reject) => {
    body.once('end', () => resolve(trailers));
    body.once('close', () => reject(new Error('body destroyed')));
  });
  ended.catch(() => undefined);
  return { status, headers, body, trailers: ended };
}

/**
 * The fake destination side, by path: `/deny` is refused as InboundHttp refuses (403, or gRPC
 * trailers-only); `/trailers` answers with trailers; `/slow` streams until aborted; `/hang`
 * never answers until `release()`; `/barrier` answers once two are in flight; anything else
 * echoes what it got (head, body bytes and sha256) as JSON once the body has ended.
 */
export class FakeHttp {
  readonly calls: SeenCall[] = [];
  private readonly hung: (() => void)[] = [];
  private readonly barrier: (() => void)[] = [];

  call(source: InboundSource, target: RequestTarget, head: RequestHead, opts: InboundCallOptions = {}): UpstreamCall {
    const seen: SeenCall = { source, target, head, endStream: opts.endStream === true, aborted: false };
    this.calls.push(seen);
    const hash = createHash('sha256');
    let bytes = 0;
    const body = new Writable({
      write(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        bytes += chunk.length;
        cb();
      },
    });
    const finished = new Promise<void>((resolve) => body.once('finish', () => resolve()));
    const abort = (): void => void (seen.aborted = true);
    const path = head.path;
    if (path === '/deny') return { body, response: Promise.resolve(localReply('policy_denied', head)), abort };
    if (path === '/trailers') {
      const grpc = head.proto === 'HTTP/2';
      const headers: HeaderMap = grpc ? { 'content-type': 'application/grpc' } : { 'content-type': 'text/plain' };
      return { body, response: finished.then(() => response(200, headers, ['pay', 'load'], grpc ? { 'grpc-status': '0' } : { 'x-checksum': 'abc' })), abort };
    }
    if (path === '/slow') {
      const stream = new PassThrough();
      const timer = setInterval(() => stream.write(Buffer.alloc(1024, 1)), 5);
      const res: UpstreamResponse = { status: 200, headers: {}, body: stream, trailers: new Promise(() => undefined) };
      return { body, response: Promise.resolve(res), abort: () => { clearInterval(timer); abort(); stream.destroy(); } };
    }
    if (path === '/hang') {
      return { body, response: new Promise((resolve) => this.hung.push(() => resolve(response(200, { 'content-length': '5' }, ['later'])))), abort };
    }
    const echo = (): UpstreamResponse => {
      const text = JSON.stringify({ method: head.method, path, authority: head.authority, proto: head.proto, headers: head.headers, bytes, sha256: hash.digest('hex') });
      return response(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) }, [text]);
    };
    if (path === '/barrier') {
      const answered = new Promise<UpstreamResponse>((resolve) => this.barrier.push(() => resolve(finished.then(echo))));
      if (this.barrier.length >= 2) for (const go of this.barrier.splice(0)) go();
      return { body, response: answered, abort };
    }
    return { body, response: finished.then(echo), abort };
  }

  /** Answers every `/hang` call so far. */
  release(): void {
    for (const go of this.hung.splice(0)) go();
  }

  get hanging(): number {
    return this.hung.length;
  }
}

/** What `done` was told, per stream. */
export interface DoneCall {
  readonly failure: ErrorKind | undefined;
  readonly reason: string | undefined;
}

export interface TerminateRig {
  readonly fake: FakeHttp;
  readonly terminator: InboundTerminator;
  readonly port: number;
  /** `done` calls, in order, all streams. */
  readonly done: DoneCall[];
  /** Serves a stream that is not a captured socket. */
  serve(stream: Duplex): void;
}

/** A terminator behind a capture listener on 127.0.0.1:0. */
export async function terminateRig(t: Teardown, limits: Partial<HttpServerLimits> = {}): Promise<TerminateRig> {
  const fake = new FakeHttp();
  const terminator = new InboundTerminator({ logger: silent, http: fake, limits });
  const done: DoneCall[] = [];
  const serve = (stream: Duplex): void => terminator.serve(stream, SOURCE, TARGET, (failure, reason) => void done.push({ failure, reason }));
  const capture = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, serve);
  capture.listen(0, '127.0.0.1');
  await once(capture, 'listening');
  t.teardown(() => {
    terminator.destroy();
    capture.close();
  });
  return { fake, terminator, port: (capture.address() as AddressInfo).port, done, serve };
}

/** Writes `text` on a fresh connection (or `stream`) and collects everything until it closes. */
export async function raw(port: number, text: string | readonly string[]): Promise<string> {
  const s = net.connect(port, '127.0.0.1');
  s.on('error', () => undefined);
  return rawOn(s, text);
}

/** Writes `text` (parts one after another) on `s` and collects everything until it closes. */
export async function rawOn(s: Duplex, text: string | readonly string[]): Promise<string> {
  let answer = '';
  s.on('data', (c: Buffer) => (answer += c.toString('latin1')));
  const closed = once(s, 'close');
  // The server ended its side (Connection: close): so does a client.
  s.once('end', () => s.end());
  for (const part of typeof text === 'string' ? [text] : text) s.write(part);
  await closed;
  return answer;
}

/** The status codes of the HTTP/1.1 responses in `text`, in order. */
export function statuses(text: string): number[] {
  return [...text.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1]));
}

/**
 * Two connected in-memory Duplex ends (Node 20 has no `duplexPair`): what one writes the other
 * reads; ending one ends the other's readable side; destroying one destroys the other. Neither
 * is a socket: no `setTimeout`, no handle.
 */
export function duplexPair(): [Duplex, Duplex] {
  const ends: Duplex[] = [];
  const make = (peer: () => Duplex): Duplex =>
    new Duplex({
      read() {},
      write(chunk: Buffer, _enc, cb) {
        peer().push(chunk);
        cb();
      },
      final(cb) {
        peer().push(null);
        cb();
      },
      destroy(err, cb) {
        const p = peer();
        if (!p.destroyed) p.destroy();
        cb(err);
      },
    });
  ends.push(make(() => ends[1] as Duplex), make(() => ends[0] as Duplex));
  return [ends[0] as Duplex, ends[1] as Duplex];
}
