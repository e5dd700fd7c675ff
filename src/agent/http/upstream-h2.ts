/**
 * HTTP/2 with prior knowledge (h2c) toward a workload, for requests the application made in
 * HTTP/2 (gRPC needs it: trailers, long streams). Node's http2 client: a few sessions per
 * `address:port`, each carrying many streams; a session with no stream is closed after the idle
 * timeout. Server push is off (SETTINGS_ENABLE_PUSH 0).
 */
import http2, { constants as h2, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import { PassThrough, Writable } from 'node:stream';
import { connectErrorKind, type ErrorKind } from '../policy/respond.js';
import { UpstreamError, type HeaderMap, type RequestHead, type UpstreamResponse } from './exchange.js';
import type { MeteredCall } from './upstream-h1.js';
import { endToEnd } from './wire.js';

/** Limits of {@link H2Target}. */
export interface H2Limits {
  readonly connectTimeoutMs: number;
  readonly idleTimeoutMs: number;
  /** Sessions per target at most; beyond, new streams share the least loaded one. */
  readonly maxSessions: number;
  /** Streams per session before a sibling is opened (or the peer's SETTINGS_MAX_CONCURRENT_STREAMS, if lower). */
  readonly maxStreamsPerSession: number;
}

interface Entry {
  readonly session: ClientHttp2Session;
  streams: number;
  connected: boolean;
  /** errno name of the connect failure, if the session failed before connecting. */
  connectCode: string | undefined;
  idleTimer: NodeJS.Timeout | undefined;
}

function noop(): void {}

/** The sessions toward one h2c workload address:port. */
export class H2Target {
  private readonly entries: Entry[] = [];
  private closed = false;

  constructor(
    private readonly authority: string,
    private readonly limits: H2Limits,
  ) {}

  /** Open sessions. */
  get size(): number {
    return this.entries.length;
  }

  /** Streams in flight over every session. */
  get busy(): number {
    let n = 0;
    for (const e of this.entries) n += e.streams;
    return n;
  }

  call(head: RequestHead, endStream: boolean): H2Call {
    const entry = this.pick();
    entry.streams += 1;
    if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
    entry.idleTimer = undefined;
    const c = new H2Call(entry, head, endStream);
    c.stream.once('close', () => this.release(entry));
    return c;
  }

  private pick(): Entry {
    let least: Entry | undefined;
    for (const e of this.entries) {
      // Closing (idle, GOAWAY on its way): a new request on it would throw.
      if (e.session.closed || e.session.destroyed) continue;
      const peerMax = e.connected ? e.session.remoteSettings.maxConcurrentStreams : undefined;
      if (e.streams < Math.min(this.limits.maxStreamsPerSession, peerMax ?? Infinity)) return e;
      if (least === undefined || e.streams < least.streams) least = e;
    }
    if (least !== undefined && this.entries.filter(isOpen).length >= this.limits.maxSessions) return least;
    return this.connect();
  }

  private connect(): Entry {
    const session = http2.connect(`http://${this.authority}`, { settings: { enablePush: false } });
    const entry: Entry = { session, streams: 0, connected: false, connectCode: undefined, idleTimer: undefined };
    this.entries.push(entry);
    const timer = setTimeout(() => {
      entry.connectCode = 'ETIMEDOUT';
      session.destroy(Object.assign(new Error(`h2c connect to ${this.authority} timed out`), { code: 'ETIMEDOUT' }));
    }, this.limits.connectTimeoutMs);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      entry.connected = true;
    });
    session.on('error', (err: NodeJS.ErrnoException) => {
      if (!entry.connected) entry.connectCode ??= err.code;
    });
    session.once('goaway', () => this.drop(entry));
    session.once('close', () => {
      clearTimeout(timer);
      if (entry.idleTimer !== undefined) clearTimeout(entry.idleTimer);
      this.drop(entry);
    });
    return entry;
  }

  private release(entry: Entry): void {
    entry.streams -= 1;
    if (entry.streams > 0 || entry.session.destroyed) return;
    if (this.closed) {
      entry.session.close();
      return;
    }
    entry.idleTimer = setTimeout(closeIdle, this.limits.idleTimeoutMs, entry);
    entry.idleTimer.unref();
  }

  private drop(entry: Entry): void {
    const i = this.entries.indexOf(entry);
    if (i >= 0) this.entries.splice(i, 1);
  }

  /** No new stream; sessions close once their streams finish. */
  close(): void {
    this.closed = true;
    for (const e of [...this.entries]) if (e.streams === 0) e.session.close();
    this.entries.length = 0;
  }

  destroy(): void {
    this.closed = true;
    for (const e of [...this.entries]) e.session.destroy();
    this.entries.length = 0;
  }
}

function isOpen(e: Entry): boolean {
  return !e.session.closed && !e.session.destroyed;
}

function closeIdle(entry: Entry): void {
  entry.idleTimer = undefined;
  if (entry.streams === 0) entry.session.close();
}

/** A pass-through that counts bytes. */
class Counting extends PassThrough {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** One HTTP/2 request toward a workload. */
export class H2Call implements MeteredCall {
  readonly body: Writable;
  readonly response: Promise<UpstreamResponse>;
  readonly stream: ClientHttp2Stream;
  private readonly reqCounter: Counting | undefined;
  private readonly resCounter = new Counting();
  private responded = false;
  private aborted = false;

  constructor(
    private readonly entry: Entry,
    head: RequestHead,
    endStream: boolean,
  ) {
    const headers: Record<string, string | string[]> = { ...head.headers, ':method': head.method, ':path': head.path, ':authority': head.authority, ':scheme': 'http' };
    // Answered by the agent itself (docs/l7.md, "Destination side").
    delete headers['expect'];
    const stream = (this.stream = entry.session.request(headers, { endStream }));
    if (endStream) this.body = new Writable({ write: (_c, _e, cb) => cb() });
    else {
      const counter = (this.reqCounter = new Counting());
      counter.on('error', noop);
      counter.pipe(stream);
      this.body = counter;
    }
    const res = this.resCounter;
    res.once('close', () => {
      if (!res.readableEnded && !stream.destroyed) stream.close(h2.NGHTTP2_CANCEL);
    });
    let trailers: HeaderMap = {};
    let resolveTrailers: (t: HeaderMap) => void = noop;
    let rejectTrailers: (e: Error) => void = noop;
    const trailersP = new Promise<HeaderMap>((resolve, reject) => {
      resolveTrailers = resolve;
      rejectTrailers = reject;
    });
    trailersP.catch(noop);
    this.response = new Promise<UpstreamResponse>((resolve, reject) => {
      stream.on('response', (h: IncomingHttpHeaders) => {
        const status = Number(h[':status']);
        if (status < 200) return;
        this.responded = true;
        resolve({ status, headers: endToEnd(h), body: res, trailers: trailersP });
      });
      stream.once('trailers', (h: IncomingHttpHeaders) => (trailers = endToEnd(h)));
      stream.once('end', () => resolveTrailers(trailers));
      stream.on('error', (err: Error & { code?: string; cause?: { code?: string } }) => {
        // A stream still waiting for its session gets ERR_HTTP2_STREAM_CANCEL, the cause inside.
        if (!entry.connected) entry.connectCode ??= err.cause?.code ?? err.code;
      });
      stream.once('close', () => {
        if (stream.rstCode === h2.NGHTTP2_NO_ERROR && stream.readableEnded) return;
        const err = this.failure(stream.rstCode);
        if (!this.responded) reject(err);
        else {
          rejectTrailers(err);
          if (!res.destroyed) res.destroy(err);
        }
      });
    });
    this.response.catch(noop);
    stream.pipe(res);
  }

  get requestBytes(): number {
    return this.reqCounter?.bytes ?? 0;
  }

  get responseBytes(): number {
    return this.resCounter.bytes;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    if (!this.stream.destroyed) this.stream.close(h2.NGHTTP2_CANCEL);
  }

  private failure(rstCode: number | undefined): UpstreamError {
    if (this.aborted) return new UpstreamError('downstream_reset', 'the client went away', !this.entry.connected);
    if (!this.entry.connected) {
      const code = this.entry.connectCode;
      return new UpstreamError(connectErrorKind(code), `h2c connect failed: ${code ?? 'session closed'}`, true);
    }
    // REFUSED_STREAM: the workload did nothing with it (RFC 9113 8.7), safe to send elsewhere.
    const refused = rstCode === h2.NGHTTP2_REFUSED_STREAM && !this.responded;
    const kind: ErrorKind = 'upstream_reset';
    return new UpstreamError(kind, `stream reset by the workload (code ${rstCode ?? 'none'})`, refused);
  }
}
