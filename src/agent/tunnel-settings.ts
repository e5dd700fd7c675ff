/**
 * HTTP/2 settings shared by both ends of a tunnel.
 *
 * Node's default 64 KiB flow-control windows cap one stream at one window per round trip:
 * measured on this kind of machine, 380 MB/s on one stream with the defaults against 645 MB/s
 * (the same as plain TLS) with 16 MiB windows. The connection-level window must be raised
 * too, or all streams of a session share 64 KiB in flight.
 *
 * How large: in the two-node bench lab (`npm run bench -- --only bulk-1`, 3 rounds each, run
 * twice), 4 MiB per stream and 16 MiB per session carried one stream as fast as 16 and 64 MiB
 * (0.62x and 0.70x HAProxy against 0.61x and 0.73x), while 1 MiB and 8 MiB lost 10 to 20%
 * (0.54x, 0.56x). The window is also what a receiver may have to hold for a workload that
 * stops reading: a quarter of it bounds that at 16 MiB per tunnel session instead of 64.
 */
import type { Http2Session, Settings } from 'node:http2';

/** Per-stream receive window. */
export const STREAM_WINDOW_BYTES = 4 * 1024 * 1024;
/** Connection-level receive window: room for several bulk streams at full speed at once. */
export const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;
/**
 * nghttp2's session memory budget in MB. Node's default (10) counts buffered outbound data
 * too, and a fast sender with large windows would trip it (ENHANCE_YOUR_CALM).
 */
export const TUNNEL_SESSION_MEMORY_MB = 256;

/** SETTINGS sent by both ends. */
export const TUNNEL_SETTINGS: Settings = Object.freeze({
  initialWindowSize: STREAM_WINDOW_BYTES,
  // 64 KiB frames instead of 16 KiB: a quarter of the frame headers and writes for bulk data.
  maxFrameSize: 64 * 1024,
  enablePush: false,
  // Many application connections share one session; the server does not cap them.
  maxConcurrentStreams: 100_000,
});

/** Raises the connection-level window once the session is up. */
export function applySessionWindow(session: Http2Session): void {
  try {
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
  } catch {
    // Session already closing: nothing to tune.
  }
}
