/**
 * A request body on its way to one try at a time, kept (up to a bound) so that a retry or a
 * hedge can be sent it again, and copied to mirrors that must never slow it down. Reading starts
 * when the first try is attached, so a body no one takes is never read. Backpressure is the
 * current try's: when its stream is full the client's body is paused until it drains. A mirror
 * that cannot keep up is dropped rather than waited for.
 *
 * Past `limit` bytes the kept chunks are let go and the body is no longer replayable: a retry
 * after that point is refused (`retryStop: body`), as Envoy does past its buffer limit.
 */
import type { Readable, Writable } from 'node:stream';

export class ReplayBody {
  private readonly req: Readable;
  private readonly limit: number;
  private readonly onBytes: (n: number) => void;
  private chunks: Buffer[] = [];
  private bytes = 0;
  private overflowed = false;
  private reading = false;
  private ended = false;
  private sink: Writable | undefined;
  private readonly tees = new Map<Writable, () => void>();
  private readonly resume = (): void => {
    this.req.resume();
  };

  /** `limit`: bytes kept for a replay (0: none kept; a replay is possible only while nothing was read). */
  constructor(req: Readable, limit: number, onBytes: (n: number) => void) {
    this.req = req;
    this.limit = limit;
    this.onBytes = onBytes;
  }

  /** True while every byte read so far is still kept (or none was read). */
  get replayable(): boolean {
    return !this.overflowed;
  }

  /** True once the whole body was read and is kept: a hedge may send it. */
  get complete(): boolean {
    return this.ended && !this.overflowed;
  }

  /** Sends the body (what was kept, then the rest as it comes) to `sink`, the current try's; the previous one is let go. */
  attach(sink: Writable): void {
    this.detach();
    this.sink = sink;
    for (const chunk of this.chunks) if (!sink.destroyed) sink.write(chunk);
    if (this.ended) {
      if (!sink.writableEnded && !sink.destroyed) sink.end();
      return;
    }
    if (!this.reading) this.start();
    else if (this.req.isPaused()) this.req.resume();
  }

  /** Lets the current try go (it failed or was cancelled): nothing more is written to it. */
  detach(): void {
    this.sink?.off('drain', this.resume);
    this.sink = undefined;
  }

  /**
   * Copies the body to a mirror. Only from the first byte: false when some was already read and
   * not kept. A mirror whose stream is full is ended and forgotten (`onSlow`).
   */
  tee(mirror: Writable, onSlow: () => void): boolean {
    if (this.bytes > 0 && this.overflowed) return false;
    for (const chunk of this.chunks) mirror.write(chunk);
    if (this.ended) mirror.end();
    else {
      this.tees.set(mirror, onSlow);
      mirror.once('close', () => this.tees.delete(mirror));
      if (!this.reading) this.start();
    }
    return true;
  }

  private start(): void {
    this.reading = true;
    this.req.on('data', (chunk: Buffer) => this.onData(chunk));
    this.req.once('end', () => this.onEnd());
    this.req.resume();
  }

  private onData(chunk: Buffer): void {
    this.bytes += chunk.length;
    this.onBytes(chunk.length);
    if (!this.overflowed) {
      if (this.bytes > this.limit) {
        this.overflowed = true;
        this.chunks = [];
      } else {
        this.chunks.push(chunk);
      }
    }
    for (const [mirror, onSlow] of this.tees) {
      if (mirror.destroyed || !mirror.write(chunk)) {
        this.tees.delete(mirror);
        onSlow();
      }
    }
    const sink = this.sink;
    if (sink === undefined) {
      // Between two tries: hold the client until the next one is attached.
      this.req.pause();
      return;
    }
    if (!sink.destroyed && !sink.write(chunk)) {
      this.req.pause();
      sink.once('drain', this.resume);
    }
  }

  private onEnd(): void {
    this.ended = true;
    for (const mirror of this.tees.keys()) if (!mirror.destroyed) mirror.end();
    this.tees.clear();
    const sink = this.sink;
    if (sink !== undefined && !sink.writableEnded && !sink.destroyed) sink.end();
  }
}
