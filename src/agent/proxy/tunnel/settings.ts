/**
 * HTTP/2 settings shared by both ends of a tunnel.
 *
 * Throughput: Node's default 64 KiB flow-control windows cap one stream at one window per
 * round trip (measured here: 380 MB/s on one stream with the defaults against 645 MB/s, the
 * same as plain TLS, with 16 MiB windows). In the two-node bench lab (`npm run bench -- --only
 * bulk-1`) 4 MiB per stream carried one stream as fast as 16 and 64 MiB, while 1 MiB lost 10 to
 * 20%.
 *
 * Memory, which decides: the stream window is what a receiver must hold for a stream whose
 * reader stops (a workload that never reads, a peer that floods a paused stream). Node gives
 * back *connection-level* window as soon as bytes arrive, whatever the streams did with them,
 * so the connection window bounds nothing at the receiver: what one session can make us hold
 * is `MAX_CONCURRENT_STREAMS × STREAM_WINDOW_BYTES`, and nothing smaller. Measured before this
 * bound: 100 streams to a backend that never reads held 429 MB with 4 MiB windows. With
 * 512 KiB × 100 streams a session holds at most 50 MiB; a peer address at most
 * `MAX_STREAMS_PER_PEER` (512) × 512 KiB = 256 MiB over all its sessions (tunnel-limits.ts).
 * The price is single-stream bulk throughput on high-latency paths (a 512 KiB window carries
 * 512 MB/s at 1 ms round trip, 5 GB/s on a LAN's 0.1 ms).
 */
import type { Http2Session, Settings } from 'node:http2';

/** Per-stream receive window: the most one stream can make the receiver buffer (see above). */
export const STREAM_WINDOW_BYTES = 512 * 1024;

/**
 * Connection-level receive window. It does not bound the receiver's memory in Node (see
 * above); it only has to be large enough not to throttle several streams at once: 32 stream
 * windows in flight. A session that is bulk while another is active gets less
 * (`window-governor.ts`: fairness between workloads).
 */
export const SESSION_WINDOW_BYTES = 16 * 1024 * 1024;

/**
 * Streams one session may have open at once, announced in SETTINGS and enforced by nghttp2
 * (a stream past it is reset with REFUSED_STREAM). 100 is nghttp2's and Envoy's recommended
 * default for untrusted peers and what Node assumes of a peer before its SETTINGS arrive;
 * with {@link STREAM_WINDOW_BYTES} it bounds a session's receive buffering at 50 MiB. Clients
 * open another session to the same peer when one is full (`TunnelPool`).
 */
export const MAX_CONCURRENT_STREAMS = 100;

/** The most a session can make its receiver buffer: every stream full to its window. */
export const SESSION_RECEIVE_BOUND_BYTES = MAX_CONCURRENT_STREAMS * STREAM_WINDOW_BYTES;

/**
 * nghttp2's session memory budget in MB (`maxSessionMemory`): Node counts outbound data queued
 * for the socket, header-compression tables, streams and unacknowledged PING/SETTINGS; past
 * it, new streams are refused (ENHANCE_YOUR_CALM). It does not count received data (bounded
 * by the windows above). Outbound data is bounded by the peer's windows: 100 streams × a
 * 512 KiB window is 50 MiB; 64 leaves room for a peer still announcing 4 MiB windows to fill a
 * dozen streams during a rollout without tripping it, where Node's default (10) would.
 */
export const TUNNEL_SESSION_MEMORY_MB = 64;

/** SETTINGS sent by both ends. */
export const TUNNEL_SETTINGS: Settings = Object.freeze({
  initialWindowSize: STREAM_WINDOW_BYTES,
  // 64 KiB frames instead of 16 KiB: a quarter of the frame headers and writes for bulk data.
  maxFrameSize: 64 * 1024,
  enablePush: false,
  maxConcurrentStreams: MAX_CONCURRENT_STREAMS,
});

/** Raises the connection-level window once the session is up. */
export function applySessionWindow(session: Http2Session): void {
  try {
    session.setLocalWindowSize(SESSION_WINDOW_BYTES);
  } catch {
    // Session already closing: nothing to tune.
  }
}
