/**
 * One HTTP/1.1 request toward a workload on an undici `Pool` (keep-alive per `address:port`),
 * as an {@link UpstreamCall}. undici's native (v7 "legacy") handler callbacks are used: they
 * are what its HTTP/1.1 client calls without a wrapper, and what the measurement in
 * docs/l7.md timed.
 *
 * - The request body is a pass-through the caller writes into; undici reads it with
 *   backpressure. A request known to have no body is sent without one.
 * - The response body is a Readable fed by `onData`; when it is full, `onData` answers false
 *   and undici stops reading the socket until the reader asks for more (`_read`): a slow
 *   reader never makes the agent buffer more than the stream's high-water mark.
 * - Chunked trailers arrive in `onComplete`; `trailers` resolves once the body has been read
 *   to its end, as `UpstreamResponse` promises.
 * - A reused keep-alive socket that the workload closed as the request went out (the
 *   keep-alive race: a reset before any response byte) is retried once on a fresh connection,
 *   for an idempotent method with no body only, since nothing else can be replayed.
 */
import { PassThrough, Readable, Writable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { connectErrorKind, type ErrorKind } from '../policy/respond.js';
import { UpstreamError, type HeaderMap, type RequestHead, type UpstreamCall, type UpstreamResponse } from './exchange.js';
import { HOP_BY_HOP } from './wire.js';

/** What an upstream call reports besides the contract: the body bytes each way. */
export interface MeteredCall extends UpstreamCall {
  /** Request body bytes handed to the upstream so far. */
  readonly requestBytes: number;
  /** Response body bytes received from the upstream so far. */
  readonly responseBytes: number;
}

/** Methods safe to send twice (RFC 9110 9.2.2): the only ones retried after a stale-socket reset. */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * Response bytes buffered per request before undici is told to stop reading the socket: one
 * 64 KiB read of the socket, so a paused reader holds at most this plus what the kernel keeps.
 */
export const RESPONSE_HIGH_WATER_MARK = 64 * 1024;

/** Errors of an established connection that mean the peer reset or closed it. */
const RESET_CODES = new Set(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE', 'UND_ERR_CLOSED']);

function noop(): void {}

/** The response body: resumes undici's socket when the reader wants more, aborts when destroyed early. */
class H1ResponseBody extends Readable {
  constructor(private readonly call: H1Call) {
    super({ highWaterMark: RESPONSE_HIGH_WATER_MARK });
  }

  override _read(): void {
    this.call.resumeUpstream();
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    if (!this.readableEnded) this.call.abort();
    cb(err);
  }
}

/** A pass-through that counts the request body bytes. */
class CountingBody extends PassThrough {
  bytes = 0;
  override _transform(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    cb(null, chunk);
  }
}

/** The request body of a request that has none: whatever is written is counted and dropped. */
class NoBody extends Writable {
  bytes = 0;
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length;
    cb();
  }
}

/** Parses undici's raw header list (`[name, value, ...]`) into end-to-end headers. */
export function rawHeaderMap(raw: readonly (Buffer | string)[] | null): HeaderMap {
  const out: HeaderMap = {};
  if (raw === null) return out;
  let connection: string | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1').toLowerCase();
    const value = raw[i + 1]!.toString('latin1');
    if (name === 'connection') connection = connection === undefined ? value : `${connection},${value}`;
    if (HOP_BY_HOP.has(name)) continue;
    const had = out[name];
    if (had === undefined) out[name] = value;
    else if (Array.isArray(had)) had.push(value);
    else out[name] = [had, value];
  }
  if (connection !== undefined) for (const n of connection.toLowerCase().split(',')) delete out[n.trim()];
  return out;
}

/** One HTTP/1.1 request in flight on an undici dispatcher. */
export class H1Call implements MeteredCall {
  readonly body: Writable;
  readonly response: Promise<UpstreamResponse>;
  private readonly options: Dispatcher.DispatchOptions;
  private readonly dispatcher: Dispatcher;
  private readonly retryable: boolean;
  private resolveResponse!: (r: UpstreamResponse) => void;
  private rejectResponse!: (e: UpstreamError) => void;
  private resolveTrailers: (t: HeaderMap) => void = noop;
  private rejectTrailers: (e: Error) => void = noop;
  private abortUpstream: ((err?: Error) => void) | undefined;
  private resume: (() => void) | undefined;
  private resBody: H1ResponseBody | undefined;
  private paused = false;
  /** The request went onto a connected socket: bytes may have reached the workload. */
  private written = false;
  private aborted = false;
  private retried = false;
  private received = 0;
  /** How many times the request was handed to a socket (2 after a stale-socket retry). */
  attempts = 0;

  constructor(dispatcher: Dispatcher, origin: string, head: RequestHead, endStream: boolean) {
    this.dispatcher = dispatcher;
    this.response = new Promise<UpstreamResponse>((resolve, reject) => {
      this.resolveResponse = resolve;
      this.rejectResponse = reject;
    });
    this.response.catch(noop);
    const headers: Record<string, string | string[]> = { ...head.headers, host: head.authority };
    // Answered by the agent itself (docs/l7.md, "Destination side"); undici refuses the header.
    delete headers['expect'];
    const bodyless = endStream || headers['content-length'] === '0';
    let body: Readable | null = null;
    if (bodyless) this.body = new NoBody();
    else {
      const counting = new CountingBody();
      counting.on('error', noop);
      this.body = body = counting;
    }
    this.retryable = bodyless && IDEMPOTENT.has(head.method);
    this.options = { origin, path: head.path, method: head.method as Dispatcher.HttpMethod, headers, body, idempotent: this.retryable, blocking: true };
    this.dispatcher.dispatch(this.options, this);
  }

  get requestBytes(): number {
    return (this.body as CountingBody | NoBody).bytes;
  }

  get responseBytes(): number {
    return this.received;
  }

  abort(): void {
    if (this.aborted) return;
    this.aborted = true;
    const err = new UpstreamError('downstream_reset', 'the client went away', !this.written);
    this.abortUpstream?.(err);
    if (this.resBody !== undefined && !this.resBody.destroyed && !this.resBody.readableEnded) this.resBody.destroy(err);
  }

  /** @internal The response body's reader wants more. */
  resumeUpstream(): void {
    if (!this.paused) return;
    this.paused = false;
    this.resume?.();
  }

  /** @internal undici: the request is about to be written on a connected socket. */
  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    this.attempts += 1;
    this.written = true;
    if (this.aborted) abort(new UpstreamError('downstream_reset', 'the client went away', true));
  }

  /** @internal undici: the response head (1xx informational heads are skipped). */
  onHeaders(status: number, raw: Buffer[], resume: () => void): boolean {
    if (status < 200) return true;
    this.resume = resume;
    const body = (this.resBody = new H1ResponseBody(this));
    const trailers = new Promise<HeaderMap>((resolve, reject) => {
      this.resolveTrailers = resolve;
      this.rejectTrailers = reject;
    });
    trailers.catch(noop);
    this.resolveResponse({ status, headers: rawHeaderMap(raw), body, trailers });
    return true;
  }

  /** @internal undici: a chunk of the response body; false stops reading the socket. */
  onData(chunk: Buffer): boolean {
    this.received += chunk.length;
    const body = this.resBody;
    if (body === undefined || body.destroyed) return true;
    if (body.push(chunk)) return true;
    this.paused = true;
    return false;
  }

  /** @internal undici: the response ended, with its chunked trailers if any. */
  onComplete(trailers: readonly (Buffer | string)[] | null): void {
    const got = rawHeaderMap(trailers);
    const body = this.resBody;
    if (body === undefined || body.readableEnded) {
      this.resolveTrailers(got);
      return;
    }
    // The contract (exchange.ts): trailers settle once the body has ended, i.e. been read to
    // its end; a body destroyed before that (the client went away) never ends.
    body.once('end', () => this.resolveTrailers(got));
    body.once('close', () => {
      if (!body.readableEnded) this.rejectTrailers(new UpstreamError('downstream_reset', 'the response body was dropped before its end', false));
    });
    body.push(null);
  }

  /** @internal undici: the request failed, before or after the response head. */
  onError(err: Error & { code?: string }): void {
    const body = this.resBody;
    if (body !== undefined) {
      const kind: ErrorKind = this.aborted ? 'downstream_reset' : err.code === 'UND_ERR_BODY_TIMEOUT' ? 'idle_timeout' : 'upstream_reset';
      const wrapped = new UpstreamError(kind, `response body failed: ${err.message}`, false, { cause: err });
      this.rejectTrailers(wrapped);
      if (!body.destroyed) body.destroy(wrapped);
      return;
    }
    if (this.aborted) {
      this.rejectResponse(new UpstreamError('downstream_reset', 'the client went away', !this.written, { cause: err }));
      return;
    }
    if (!this.written) {
      this.rejectResponse(new UpstreamError(connectErrorKind(connectCode(err.code)), `connect failed: ${err.message}`, true, { cause: err }));
      return;
    }
    if (this.retryable && !this.retried && err.code !== undefined && RESET_CODES.has(err.code)) {
      // The keep-alive race: the workload closed an idle socket as this request went out.
      this.retried = true;
      this.written = false;
      this.dispatcher.dispatch(this.options, this);
      return;
    }
    const kind: ErrorKind = err.code === 'UND_ERR_HEADERS_TIMEOUT' ? 'idle_timeout' : 'upstream_reset';
    this.rejectResponse(new UpstreamError(kind, `no response: ${err.message}`, false, { cause: err }));
  }
}

/** undici's connect timeout reads as ETIMEDOUT; errno names pass as they are. */
function connectCode(code: string | undefined): string | undefined {
  return code === 'UND_ERR_CONNECT_TIMEOUT' ? 'ETIMEDOUT' : code;
}
