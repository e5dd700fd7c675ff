/**
 * The I/O around {@link classify}: reads the first bytes of a paused captured socket until
 * detection decides, the wait ends, the peer closes, or the byte bound is reached; then puts
 * every byte back (`unshift`) so the next consumer (the opaque splice, or Node's HTTP server
 * fed with `emit('connection', socket)`) reads the connection from its first byte. It owns the
 * socket only while it sniffs: its listeners and its timer are gone when the promise settles.
 */
import type { Duplex } from 'node:stream';
import { classify, DEFAULT_SNIFF_MAX_BYTES, type Detected } from './detect.js';

/**
 * How long detection waits for the client's first bytes before it treats the connection as
 * opaque TCP. Only clients of server-first protocols (SSH, SMTP, MySQL; not PostgreSQL, whose
 * client speaks first) ever wait this long, once per connection, on
 * ports that are neither declared HTTP nor declared opaque. A client-first client writes right
 * after `connect` (microseconds; tens of milliseconds on a loaded node or after a GC pause), so
 * 200 ms leaves a wide margin before a slow HTTP client is mistaken for opaque (which is safe:
 * it still works, without L7 features), while adding to a server-first handshake no more than
 * one long-haul round trip, far below any client's connect timeout (MySQL 10 s). For
 * comparison: Linkerd waits 10 s (server-first ports must be marked opaque or skipped); Istio's
 * `protocolDetectionTimeout` has no timeout by default in current releases (server-first ports
 * must be declared). Declare a port `appProtocol: tcp` to skip the wait entirely.
 */
export const DEFAULT_SNIFF_TIMEOUT_MS = 200;

/** Why the sniff ended; callers count these (a metric per reason). */
export type SniffReason =
  /** `classify` decided from the bytes. */
  | 'decided'
  /** No decision within the timeout (a server-first protocol, or a slow client). */
  | 'timeout'
  /** The bytes reached `maxBytes` without a decision. */
  | 'limit'
  /**
   * The peer half-closed before a decision. The bytes (if any) are given back ahead of the
   * EOF; with no bytes, Node has already emitted `end` (a net socket does so by itself at EOF
   * on an empty buffer), so the next consumer checks `socket.readableEnded`.
   */
  | 'eof'
  /** The socket errored or closed during the sniff; nothing was given back. */
  | 'closed';

/** The outcome of a sniff. */
export interface SniffResult {
  readonly protocol: Exclude<Detected, 'need-more'>;
  /** Every byte read during the sniff (already given back to the socket unless `closed`). */
  readonly bytes: Buffer;
  readonly reason: SniffReason;
  /** The socket error, for `reason: 'closed'` after an `error` event. */
  readonly error?: Error;
}

/** Sniff settings; both default to the documented constants. */
export interface SniffOptions {
  /** Milliseconds to wait for a decision; must be positive. */
  readonly timeoutMs?: number;
  /** Bytes to look at before answering opaque. */
  readonly maxBytes?: number;
  /**
   * What the bytes so far say (default {@link classify}: HTTP/1.x, the HTTP/2 preface, TLS);
   * `need-more` keeps reading. Authorization reads a ClientHello's server name with its own.
   */
  readonly decide?: (bytes: Buffer) => Detected;
}

/**
 * Sniffs `socket` (a captured connection, paused or not yet read). Never rejects: an error or
 * a close during the sniff resolves with `reason: 'closed'`. The caller must add its own
 * `error` listener before it hands the socket on.
 */
export function sniff(socket: Duplex, options: SniffOptions = {}): Promise<SniffResult> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS;
  if (!(timeoutMs > 0)) throw new RangeError(`sniff timeoutMs must be positive, got ${timeoutMs}`);
  return new Promise((resolve) => {
    new Sniffer(socket, timeoutMs, options.maxBytes ?? DEFAULT_SNIFF_MAX_BYTES, options.decide ?? classifyAll, resolve).start();
  });
}

/** The default decision: every byte counts until `maxBytes` (the sniffer's own bound). */
function classifyAll(bytes: Buffer): Detected {
  return classify(bytes, Infinity);
}

/** True once the readable side has seen EOF, even before `end` is emitted. */
function readEnded(socket: Duplex): boolean {
  // `readableEnded` only turns true once 'end' has been emitted, and after that `unshift`
  // throws; the state's `ended` flag is set at EOF, while the bytes can still be put back.
  const state = (socket as unknown as { _readableState?: { ended?: unknown } })._readableState;
  return socket.readableEnded || state?.ended === true;
}

/** One sniff: state on an object and handlers bound once (house style for the data path). */
class Sniffer {
  private readonly chunks: Buffer[] = [];
  private length = 0;
  private timer: NodeJS.Timeout | undefined;
  private done = false;

  constructor(
    private readonly socket: Duplex,
    private readonly timeoutMs: number,
    private readonly maxBytes: number,
    private readonly decide: (bytes: Buffer) => Detected,
    private readonly resolve: (r: SniffResult) => void,
  ) {
    this.onReadable = this.onReadable.bind(this);
    this.onTimeout = this.onTimeout.bind(this);
    this.onError = this.onError.bind(this);
    this.onClose = this.onClose.bind(this);
  }

  start(): void {
    if (this.socket.destroyed) {
      this.finish('opaque', 'closed');
      return;
    }
    this.socket.on('error', this.onError);
    this.socket.on('close', this.onClose);
    this.socket.on('readable', this.onReadable);
    // One timer per sniff; unref'd so a pending sniff never keeps the process alive.
    this.timer = setTimeout(this.onTimeout, this.timeoutMs).unref();
  }

  private onReadable(): void {
    // Read only what is buffered: a read() on an empty ended stream emits 'end', which the next
    // consumer, attaching later, would miss (and `unshift` after 'end' throws).
    while (this.socket.readableLength > 0) {
      const chunk = this.socket.read() as Buffer | null;
      if (chunk === null) break;
      this.chunks.push(chunk);
      this.length += chunk.length;
    }
    const bytes = this.bytes();
    const decided = this.decide(bytes);
    if (decided !== 'need-more') this.finish(decided, 'decided');
    else if (this.length >= this.maxBytes) this.finish('opaque', 'limit');
    else if (readEnded(this.socket)) this.finish('opaque', 'eof');
  }

  private onTimeout(): void {
    this.timer = undefined;
    this.finish('opaque', 'timeout');
  }

  private onError(err: Error): void {
    this.finish('opaque', 'closed', err);
  }

  private onClose(): void {
    this.finish('opaque', 'closed');
  }

  /** The bytes read so far as one buffer (the chunks are merged once, then kept merged). */
  private bytes(): Buffer {
    if (this.chunks.length > 1) this.chunks.splice(0, this.chunks.length, Buffer.concat(this.chunks, this.length));
    return this.chunks[0] ?? Buffer.alloc(0);
  }

  private finish(protocol: SniffResult['protocol'], reason: SniffReason, error?: Error): void {
    if (this.done) return;
    this.done = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.socket.off('readable', this.onReadable);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    const bytes = this.bytes();
    const given = reason !== 'closed' && !this.socket.destroyed && !this.socket.readableEnded;
    if (given && bytes.length > 0) this.socket.unshift(bytes);
    this.resolve(error === undefined ? { protocol, bytes, reason } : { protocol, bytes, reason, error });
  }
}
