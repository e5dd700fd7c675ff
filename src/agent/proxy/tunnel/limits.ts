/**
 * What an untrusted peer may hold on the tunnel port (:15008): connections, handshakes in
 * progress, streams, idle sessions, session age. Every limit is per process: with data-path
 * workers (`--workers N`) each worker enforces them on the connections the kernel gave it, so
 * a node admits up to N times each figure (SO_REUSEPORT spreads a peer's connections over the
 * workers by 4-tuple hash, so a per-peer cap is reached per worker too).
 *
 * The decisions are pure (a counter per peer address, a summary of refusals); the tunnel
 * server does the I/O around them.
 */
/**
 * A TLS handshake on :15008 must finish within this time (absolute, from accept): Node's own
 * default is 120 s of *inactivity*, so a peer that drips a byte now and then held a socket and
 * its TLS state (measured ~54 KB each) forever. 10 s is far above a handshake across a
 * cluster (a few ms, plus a certificate issuance for a workload that just joined, ~100 ms).
 */
export const HANDSHAKE_TIMEOUT_MS = 10_000;

/**
 * Connections to the tunnel port a process holds at once, handshaking or established. At the
 * measured ~54 KB per half-open TLS connection the handshaking share costs at most ~55 MB
 * (see {@link MAX_HANDSHAKES}); established sessions are one per (source identity, destination
 * identity, peer node) pair, so 4,096 leaves room for a large node's peers.
 */
export const MAX_TUNNEL_CONNECTIONS = 4_096;

/**
 * Connections still in the TLS handshake a process holds at once (unauthenticated: anyone who
 * can reach the node can open them). 1,024 × ~54 KB ≈ 55 MB at most, well under the agent's
 * memory limit, and far above what peers need (a handshake lasts milliseconds).
 */
export const MAX_HANDSHAKES = 1_024;

/**
 * Connections still in the TLS handshake from one address. Pods reach node:15008 directly, so
 * without this one pod could fill {@link MAX_HANDSHAKES} and starve every other peer's
 * handshakes. A peer node opening sessions for many workload pairs at once (after a restart)
 * finishes each in milliseconds; 64 in flight from one address is a flood, not a node.
 */
export const MAX_HANDSHAKES_PER_PEER = 64;

/**
 * CONNECT streams (each one an upstream socket to a workload) a process holds for one peer
 * address, over all its sessions. Each stream may buffer up to the stream window
 * (`STREAM_WINDOW_BYTES`) when the workload does not read, so this bounds what one peer can
 * make us hold: 512 × 512 KiB = 256 MiB. A peer node's busiest pairs rarely hold more than a
 * few hundred connections to one node at once; past the cap new streams are refused
 * (REFUSED_STREAM, safe to retry) while the open ones carry on.
 */
export const MAX_STREAMS_PER_PEER = 512;

/**
 * A session with no stream for this long is closed (GOAWAY). Above the clients' own idle
 * timeout (60 s, checked every 10 s: `TunnelPool`) so a well-behaved client normally closes
 * first and never races a server GOAWAY with a new stream.
 */
export const SESSION_IDLE_TIMEOUT_MS = 5 * 60_000;

/**
 * How often the server PINGs a session's peer; a PING still unanswered at the next tick means
 * the peer is gone (node down, cable cut, no FIN), and the session is destroyed with its
 * streams and their upstream sockets. 30 s: a vanished peer is found within a minute, at one
 * small frame per session per 30 s. The same tick checks idleness and age.
 */
export const SESSION_PING_INTERVAL_MS = 30_000;

/**
 * The longest a session lives, whatever its certificates say: it is then closed gracefully
 * (GOAWAY, open streams finish). A session also ends at the earlier notAfter of the two
 * certificates it was made with. One hour, like ztunnel's and Envoy's usual max connection
 * duration: a fresh handshake re-proves both identities against current trust.
 */
export const SESSION_MAX_AGE_MS = 60 * 60_000;

/**
 * Refusals are logged at most once per interval per kind (`ThrottledLog`: the first at once,
 * then one line carrying how many were suppressed), never one line per attacker packet; the
 * metric counts every one.
 */
export const REFUSAL_LOG_INTERVAL_MS = 10_000;

/** Why the tunnel server refused or closed something; the `reason` label of its metric. */
export type TunnelLimitReason =
  /** TLS handshake failed (no or foreign certificate, unknown server name, protocol error). */
  | 'handshake_failed'
  /** TLS handshake not finished within the handshake timeout. */
  | 'handshake_timeout'
  /** The process already holds {@link MAX_TUNNEL_CONNECTIONS}. */
  | 'connection_limit'
  /** The process already holds {@link MAX_HANDSHAKES} unauthenticated connections. */
  | 'handshake_limit'
  /** The peer address already holds its share of unauthenticated connections. */
  | 'peer_handshake_limit'
  /** The peer address already holds its share of streams. */
  | 'peer_stream_limit'
  /** A stream on a session whose peer certificate has expired. */
  | 'peer_cert_expired'
  /** A CONNECT that failed the protocol checks (method, authority, peer identity). */
  | 'bad_request'
  /** A session closed after its idle timeout. */
  | 'session_idle'
  /** A session destroyed because its peer stopped answering PING. */
  | 'ping_timeout'
  /** A session closed at its max age or its certificates' expiry. */
  | 'session_max_age';

/** The tunnel server's limits (see the constants for each default's reasoning). */
export interface TunnelServerLimits {
  readonly handshakeTimeoutMs: number;
  readonly maxConnections: number;
  readonly maxHandshakes: number;
  readonly maxHandshakesPerPeer: number;
  readonly maxStreamsPerPeer: number;
  readonly sessionIdleTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly sessionMaxAgeMs: number;
  readonly refusalLogIntervalMs: number;
}

/** Production defaults. */
export const DEFAULT_TUNNEL_SERVER_LIMITS: TunnelServerLimits = Object.freeze({
  handshakeTimeoutMs: HANDSHAKE_TIMEOUT_MS,
  maxConnections: MAX_TUNNEL_CONNECTIONS,
  maxHandshakes: MAX_HANDSHAKES,
  maxHandshakesPerPeer: MAX_HANDSHAKES_PER_PEER,
  maxStreamsPerPeer: MAX_STREAMS_PER_PEER,
  sessionIdleTimeoutMs: SESSION_IDLE_TIMEOUT_MS,
  pingIntervalMs: SESSION_PING_INTERVAL_MS,
  sessionMaxAgeMs: SESSION_MAX_AGE_MS,
  refusalLogIntervalMs: REFUSAL_LOG_INTERVAL_MS,
});
