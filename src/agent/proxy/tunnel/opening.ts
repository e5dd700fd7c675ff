/**
 * The opening of an L4 tunnel stream: from the CONNECT until the peer agent answers it.
 *
 * The client's first bytes go into the stream at once, with the CONNECT (a client that speaks
 * first does not wait a round trip between the agents). A stream can still be refused before
 * any answer, with REFUSED_STREAM: by the peer agent's limits, or by our own HTTP/2 session
 * when the peer's GOAWAY (an agent upgrade or drain on that node) came in after the stream was
 * made but before its HEADERS went out (nghttp2 then never sends them). Either way the peer did
 * nothing with it (RFC 9113, 8.7), so the connection is not lost: the stream is opened again
 * (the pool has dropped the session that sent the GOAWAY) and the bytes written to the refused
 * one are written again. To make that possible the bytes are kept until the answer, at most
 * {@link OPENING_HOLD_MAX} of them: past that the client is paused until the answer, which
 * costs nothing a client would see (the peer's stream window holds no more before the answer).
 *
 * Once the peer answers (any status), or the client goes away, or the stream fails in any other
 * way, the opening hands the client socket and the stream to the splice, which does the rest
 * as for any tunnelled connection.
 */
import { constants as h2, type ClientHttp2Stream } from 'node:http2';
import type { IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import type { Socket } from 'node:net';

/** Bytes of the client's kept for a new stream until the peer answers; the client is paused past it. */
export const OPENING_HOLD_MAX = 64 * 1024;
/** Streams opened again after a refusal, per connection: a peer refusing every time is failing. */
export const OPENING_REOPENS_MAX = 2;

let reopened = 0;

/** Tunnel streams opened again after a REFUSED_STREAM before the peer's answer, in this process (read at scrape). */
export function tunnelStreamsReopened(): number {
  return reopened;
}

/** Counts a stream opened again elsewhere (an HTTP upgrade's extended CONNECT). */
export function noteStreamReopened(): void {
  reopened += 1;
}

/** What the opening asks of the connection it serves. */
export interface OpeningHooks {
  /** Opens a new CONNECT stream to the same target. */
  open(): Promise<ClientHttp2Stream>;
  /** A stream was opened for the connection (the first one is given to {@link openTunnel}). */
  opened(stream: ClientHttp2Stream): void;
  /** The opening is over: splice `socket` and `stream` (either may be closed already). */
  splice(stream: ClientHttp2Stream): void;
  /** The peer answered (called right after {@link splice}). */
  answered(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void;
  /** The stream closed before an answer and is not opened again: why (before {@link splice}). */
  lost(stream: ClientHttp2Stream, refused: boolean): void;
  /** Opening a stream again failed: the connection is over (nothing is spliced). */
  failed(err: unknown): void;
}

const enum Phase {
  Open,
  Reopening,
  Done,
}

class Opening {
  phase = Phase.Open;
  held: Buffer[] = [];
  heldBytes = 0;
  clientEnded = false;
  reopens = 0;
  stream: ClientHttp2Stream;
  readonly socket: Socket;
  readonly hooks: OpeningHooks;

  constructor(socket: Socket, stream: ClientHttp2Stream, hooks: OpeningHooks) {
    this.socket = socket;
    this.stream = stream;
    this.hooks = hooks;
  }

  watch(stream: ClientHttp2Stream): void {
    this.stream = stream;
    stream.on('error', noop);
    stream.once('response', this.onResponse);
    stream.once('close', this.onStreamClose);
  }

  unwatch(stream: ClientHttp2Stream): void {
    stream.off('response', this.onResponse);
    stream.off('close', this.onStreamClose);
  }

  readonly onData = (chunk: Buffer): void => {
    this.held.push(chunk);
    this.heldBytes += chunk.length;
    if (this.phase === Phase.Open) this.stream.write(chunk);
    if (this.heldBytes >= OPENING_HOLD_MAX) this.socket.pause();
  };

  readonly onEnd = (): void => {
    this.clientEnded = true;
    if (this.phase === Phase.Open) this.stream.end();
  };

  readonly onSocketClose = (): void => {
    // The client went away (or the response timer reset it): the splice closes the record.
    this.finish();
  };

  readonly onResponse = (headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void => {
    this.finish();
    this.hooks.answered(headers);
  };

  readonly onStreamClose = (): void => {
    if (this.phase !== Phase.Open) return;
    const refused = this.stream.rstCode === h2.NGHTTP2_REFUSED_STREAM;
    if (refused && this.reopens < OPENING_REOPENS_MAX && !this.socket.destroyed) {
      this.reopen();
      return;
    }
    this.hooks.lost(this.stream, refused);
    this.finish();
  };

  reopen(): void {
    this.unwatch(this.stream);
    this.phase = Phase.Reopening;
    this.reopens += 1;
    noteStreamReopened();
    this.hooks.open().then(this.onReopened, this.onReopenFailed);
  }

  readonly onReopened = (stream: ClientHttp2Stream): void => {
    if (this.phase !== Phase.Reopening) {
      // The client went away meanwhile; its record is closed.
      stream.on('error', noop);
      stream.destroy();
      return;
    }
    this.hooks.opened(stream);
    this.phase = Phase.Open;
    this.watch(stream);
    for (const chunk of this.held) stream.write(chunk);
    if (this.clientEnded) stream.end();
  };

  readonly onReopenFailed = (err: unknown): void => {
    if (this.phase !== Phase.Reopening) return;
    this.phase = Phase.Done;
    this.release();
    this.hooks.failed(err);
  };

  /** Ends the opening: the socket and the current stream go to the splice. */
  finish(): void {
    if (this.phase === Phase.Done) return;
    this.phase = Phase.Done;
    this.unwatch(this.stream);
    this.release();
    this.hooks.splice(this.stream);
  }

  /** Stops reading for the opening; the splice's pipe resumes the socket. */
  release(): void {
    const { socket } = this;
    socket.pause();
    socket.off('data', this.onData);
    socket.off('end', this.onEnd);
    socket.off('close', this.onSocketClose);
    socket.off('error', noop);
    this.held = [];
  }
}

/**
 * Watches the opening of `stream` (just opened for `socket`'s connection) until the peer
 * answers; see the module's comment. `hooks.splice` is called exactly once unless
 * `hooks.failed` is.
 */
export function openTunnel(socket: Socket, stream: ClientHttp2Stream, hooks: OpeningHooks): void {
  const o = new Opening(socket, stream, hooks);
  o.watch(stream);
  if (socket.destroyed) {
    o.finish();
    return;
  }
  socket.on('error', noop);
  socket.on('data', o.onData);
  socket.on('end', o.onEnd);
  socket.on('close', o.onSocketClose);
  socket.resume();
}

function noop(): void {}
