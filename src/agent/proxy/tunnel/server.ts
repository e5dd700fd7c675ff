/**
 * The tunnel server on :15008: mutual TLS (the client must present a certificate from the
 * mesh CA; the server answers with the certificate of the identity the client asked for by
 * SNI), HTTP/2, and one CONNECT stream per application connection, or one HTTP/2 request
 * per application request (L7, `meshlet-dst`: see `http/wire.ts`). Everything after the
 * protocol checks (which target, which policy) is the inbound side's job.
 *
 * Pods reach this port directly, so it is bounded against untrusted peers (tunnel-limits.ts,
 * every limit per process): a cap on connections, on handshakes in progress (in total and per
 * peer address) and an absolute handshake deadline; per session at most
 * `MAX_CONCURRENT_STREAMS` streams, a keepalive PING, an idle timeout and a maximum age (the
 * earlier of `sessionMaxAgeMs` and either certificate's notAfter); per peer address a cap on
 * open streams, i.e. on the upstream sockets opened for it. A stream refused by a limit gets
 * RST_STREAM(REFUSED_STREAM): nothing was done, the client may retry elsewhere.
 */
import http2, { constants as h2, type Http2SecureServer, type Http2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo, Socket } from 'node:net';
import type { PeerCertificate, TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { parseAuthority } from '../../../mesh/address.js';
import { DST_HEADER } from '../../http/wire.js';
import { spiffeIdsFromSubjectAltName } from '../../../mesh/identity.js';
import { ThrottledLog } from '../../../ops/throttled-log.js';
import type { IdentitySource } from '../../identity/manager.js';
import { respond, type ErrorKind } from '../../policy/respond.js';
import { PeerCounter } from '../../../ops/peer-counter.js';
import { listen } from '../../../ops/listen.js';
import { DEFAULT_TUNNEL_SERVER_LIMITS, type TunnelLimitReason, type TunnelServerLimits } from './limits.js';
import { applySessionWindow, TUNNEL_SESSION_MEMORY_MB, TUNNEL_SETTINGS } from './settings.js';
import type { WindowGovernor } from './window-governor.js';

/** A CONNECT stream, or an L7 request stream, that passed the protocol checks. */
export interface TunnelRequest {
  /** The client's SPIFFE identity, from its verified certificate. */
  readonly peerIdentity: string;
  /** The local identity the client asked for (and verified) by SNI. */
  readonly localIdentity: string;
  /** CONNECT target, or the `meshlet-dst` of an L7 request. */
  readonly address: string;
  readonly port: number;
  /** Address of the peer agent. */
  readonly peerAddress: string;
  readonly headers: IncomingHttpHeaders;
}

/** Handles a CONNECT stream: answers it (2xx and splice, or an error status). */
export type TunnelStreamHandler = (stream: ServerHttp2Stream, req: TunnelRequest) => void;

/** Options of {@link TunnelServer}. */
export interface TunnelServerOptions {
  readonly identities: IdentitySource;
  readonly logger: Logger;
  readonly onStream: TunnelStreamHandler;
  /**
   * Handles an L7 request: a stream that is not CONNECT and carries `meshlet-dst` (`wire.ts`),
   * with `address`/`port` from that header. Without this handler such streams are refused (405).
   */
  readonly onRequest?: TunnelStreamHandler;
  /**
   * Handles an extended CONNECT (RFC 8441: `:protocol`, the server announces
   * SETTINGS_ENABLE_CONNECT_PROTOCOL) that carries `meshlet-dst`: an application's Upgrade.
   * Without this handler such streams are refused (405).
   */
  readonly onUpgrade?: TunnelStreamHandler;
  /** A client failed the mTLS handshake (no or a foreign certificate, an unknown server name). */
  readonly onTlsError?: () => void;
  /** A limit refused a connection or stream, or closed a session (the `reason` of a metric). */
  readonly onLimit?: (reason: TunnelLimitReason) => void;
  /** Overrides of {@link DEFAULT_TUNNEL_SERVER_LIMITS} (tests use short timeouts and small caps). */
  readonly limits?: Partial<TunnelServerLimits>;
  /**
   * 48 bytes that encrypt TLS session tickets. Every process serving this node's tunnel port
   * (the agent's workers) must share them, or a ticket issued by one is refused by another and
   * the client falls back to a full handshake. Default: random, this server's own.
   */
  readonly ticketKeys?: Buffer;
  /** Decides each session's receive window (fairness between workloads); absent: the full window always. */
  readonly windows?: WindowGovernor;
}

/**
 * How long a TLS session ticket can be resumed (seconds). A resumed session keeps the client
 * identity proved when the ticket was issued, so the lifetime is short next to a certificate's
 * (24 h by default): a peer whose workload left this node's authority cannot ride on for long.
 */
export const TLS_TICKET_LIFETIME_S = 300;

const kConn = Symbol('meshlet.tunnelConnection');
const kSession = Symbol('meshlet.tunnelSession');

/** A TCP connection still in its TLS handshake. */
interface Handshaking {
  readonly server: TunnelServer;
  /** `address|port`: how the TLS socket finds it once the handshake is done. */
  readonly key: string;
  readonly peer: string;
  readonly timer: NodeJS.Timeout;
  authenticated: boolean;
}

interface RawConnection extends Socket {
  [kConn]?: Handshaking | undefined;
}

/** What the server keeps per session; the streams find it through the session. */
interface SessionState {
  readonly server: TunnelServer;
  readonly session: TunnelSession;
  readonly peerIdentity: string | undefined;
  readonly peerAddress: string;
  /** Peer certificate notAfter (ms since the epoch): no new stream after it. */
  readonly peerNotAfter: number;
  /** When the session must end: the earlier of its max age and either certificate's notAfter. */
  readonly deadline: number;
  streams: number;
  idleSince: number;
  pingOutstanding: boolean;
  readonly pong: () => void;
  timer: NodeJS.Timeout | undefined;
}

interface TunnelSession extends Http2Session {
  [kSession]?: SessionState | undefined;
}

interface CountedStream extends ServerHttp2Stream {
  [kSession]?: SessionState | undefined;
}

/** The tunnel listener. */
export class TunnelServer {
  readonly server: Http2SecureServer;
  readonly limits: TunnelServerLimits;
  private readonly identities: IdentitySource;
  private readonly logger: Logger;
  private readonly onStream: TunnelStreamHandler;
  private readonly onRequest: TunnelStreamHandler | undefined;
  private readonly onUpgrade: TunnelStreamHandler | undefined;
  private readonly onLimit: (reason: TunnelLimitReason) => void;
  private readonly windows: WindowGovernor | undefined;
  private readonly sessions = new Set<TunnelSession>();
  /** Raw sockets still in their TLS handshake, by `address|port`. */
  private readonly handshaking = new Map<string, RawConnection>();
  /** close() was called: a session whose handshake was under way then gets the two-step GOAWAY as it comes up. */
  private closing = false;
  private readonly handshakesByPeer = new PeerCounter();
  private readonly streamsByPeer = new PeerCounter();
  private connections = 0;
  private readonly refusedConnections: ThrottledLog;
  private readonly refusedStreams: ThrottledLog;
  private readonly lostPeers: ThrottledLog;

  constructor(opts: TunnelServerOptions) {
    this.identities = opts.identities;
    this.logger = opts.logger;
    this.onStream = opts.onStream;
    this.onRequest = opts.onRequest;
    this.onUpgrade = opts.onUpgrade;
    this.onLimit = opts.onLimit ?? noop;
    this.windows = opts.windows;
    const limits = (this.limits = Object.freeze({ ...DEFAULT_TUNNEL_SERVER_LIMITS, ...opts.limits }));
    const every = limits.refusalLogIntervalMs;
    this.refusedConnections = new ThrottledLog(this.logger, 'tunnel connections refused (throttled: one line per interval, the metric counts all)', every);
    this.refusedStreams = new ThrottledLog(this.logger, 'tunnel streams refused (throttled: one line per interval, the metric counts all)', every);
    this.lostPeers = new ThrottledLog(this.logger, 'tunnel peer stopped answering PING; session destroyed (throttled)', every);
    this.server = http2.createSecureServer({
      allowHTTP1: false,
      requestCert: true,
      rejectUnauthorized: true,
      // Extended CONNECT is announced for L7 upgrades; without a handler it is refused (405).
      settings: { ...TUNNEL_SETTINGS, enableConnectProtocol: true },
      maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
      sessionTimeout: TLS_TICKET_LIFETIME_S,
      // Node's own timer measures inactivity, so a peer dripping bytes defeats it; our absolute
      // deadline (onConnection) is the real bound, this one a second line.
      handshakeTimeout: limits.handshakeTimeoutMs,
      ...(opts.ticketKeys === undefined ? {} : { ticketKeys: opts.ticketKeys }),
      // The certificate (and the CA that verifies the client) come from the identity the
      // client names by SNI; an unknown name fails the handshake.
      SNICallback: (servername, cb) => {
        const creds = this.identities.getBySni(servername);
        if (creds !== undefined) {
          cb(null, creds.secureContext);
          return;
        }
        // A workload that just joined: its certificate may still be on its way.
        const pending = this.identities.ensureBySni(servername);
        if (pending === undefined) cb(new Error(`no local identity for server name ${servername}`), undefined);
        else pending.then((c) => cb(null, c.secureContext), (err: Error) => cb(err, undefined));
      },
    });
    this.server.on('connection', (socket: Socket) => this.onConnection(socket));
    this.server.on('secureConnection', (socket: TLSSocket) => this.onAuthenticated(socket));
    this.server.on('session', (session: TunnelSession) => this.onSession(session));
    this.server.on('stream', (stream, headers) => this.handleStream(stream, headers));
    const onTlsError = opts.onTlsError;
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, socket: TLSSocket) => {
      const timedOut = err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT';
      if (timedOut) this.onLimit('handshake_timeout');
      else onTlsError?.();
      this.refusedConnections.warn({ code: 'MESHLET_ERR_TUNNEL_HANDSHAKE', reason: timedOut ? 'handshake_timeout' : 'handshake_failed', peer: socket.remoteAddress, err: err.message });
    });
  }

  /** Binds the listener; resolves with the address actually bound. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return listen(this.server, { port, host });
  }

  /** Open HTTP/2 sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  /** TCP connections held on the tunnel port, handshaking or established. */
  get connectionCount(): number {
    return this.connections;
  }

  /** Connections still in their TLS handshake. */
  get handshakeCount(): number {
    return this.handshaking.size;
  }

  /** Open streams of one peer address (each one an upstream connection). */
  streamsOf(peerAddress: string): number {
    return this.streamsByPeer.get(peerAddress);
  }

  /** A TCP connection was accepted: admit it under the caps, with an absolute handshake deadline. */
  private onConnection(raw: RawConnection): void {
    const peer = raw.remoteAddress ?? '';
    const { limits } = this;
    let refused: TunnelLimitReason | undefined;
    if (this.connections >= limits.maxConnections) refused = 'connection_limit';
    else if (this.handshaking.size >= limits.maxHandshakes) refused = 'handshake_limit';
    else if (!this.handshakesByPeer.tryAdd(peer, limits.maxHandshakesPerPeer)) refused = 'peer_handshake_limit';
    if (refused !== undefined) {
      this.onLimit(refused);
      this.refusedConnections.warn({ code: 'MESHLET_ERR_TUNNEL_LIMIT', reason: refused, peer });
      raw.destroy();
      return;
    }
    this.connections += 1;
    const key = `${peer}|${raw.remotePort ?? 0}`;
    const timer = setTimeout(onHandshakeDeadline, limits.handshakeTimeoutMs, raw);
    timer.unref();
    raw[kConn] = { server: this, key, peer, timer, authenticated: false };
    this.handshaking.set(key, raw);
    raw.once('close', onRawClose);
  }

  /** The TLS handshake finished (the client certificate verified): no longer a handshake. */
  private onAuthenticated(socket: TLSSocket): void {
    const raw = this.handshaking.get(`${socket.remoteAddress ?? ''}|${socket.remotePort ?? 0}`);
    const conn = raw?.[kConn];
    if (conn !== undefined) this.handshakeDone(conn);
  }

  private handshakeDone(conn: Handshaking): void {
    if (conn.authenticated) return;
    conn.authenticated = true;
    clearTimeout(conn.timer);
    this.handshaking.delete(conn.key);
    this.handshakesByPeer.remove(conn.peer);
  }

  /** @internal The handshake deadline passed. */
  handshakeExpired(raw: RawConnection): void {
    const conn = raw[kConn];
    // Destroyed already (Node's own handshake timeout, a refusal): counted there.
    if (conn === undefined || conn.authenticated || raw.destroyed) return;
    this.onLimit('handshake_timeout');
    this.refusedConnections.warn({ code: 'MESHLET_ERR_TUNNEL_LIMIT', reason: 'handshake_timeout', peer: conn.peer, timeoutMs: this.limits.handshakeTimeoutMs });
    raw.destroy();
  }

  /** @internal A connection closed, at any stage. */
  connectionClosed(raw: RawConnection): void {
    const conn = raw[kConn];
    if (conn === undefined) return;
    raw[kConn] = undefined;
    this.handshakeDone(conn);
    this.connections -= 1;
  }

  private onSession(session: TunnelSession): void {
    this.sessions.add(session);
    if (this.closing) closeGracefully(session);
    session.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'tunnel session error'));
    applySessionWindow(session);
    this.windows?.add(session);
    const socket = session.socket as TLSSocket;
    const peerCert = socket.getPeerCertificate();
    const ids = spiffeIdsFromSubjectAltName(peerCert.subjectaltname ?? '');
    const now = Date.now();
    const peerNotAfter = notAfterMs(peerCert.valid_to);
    const local = socket.getCertificate();
    const localNotAfter = notAfterMs(local !== null && 'valid_to' in local ? (local as PeerCertificate).valid_to : undefined);
    const state: SessionState = {
      server: this,
      session,
      peerIdentity: ids.length === 1 ? ids[0] : undefined,
      peerAddress: socket.remoteAddress ?? '',
      peerNotAfter,
      deadline: Math.min(now + this.limits.sessionMaxAgeMs, peerNotAfter, localNotAfter),
      streams: 0,
      idleSince: performance.now(),
      pingOutstanding: false,
      pong: () => {
        state.pingOutstanding = false;
      },
      timer: undefined,
    };
    session[kSession] = state;
    const tick = Math.min(this.limits.pingIntervalMs, this.limits.sessionIdleTimeoutMs);
    state.timer = setInterval(onSessionTick, tick, state);
    state.timer.unref();
    session.once('close', () => {
      clearInterval(state.timer);
      this.sessions.delete(session);
    });
  }

  /**
   * @internal One tick of a session's only timer: end it at its deadline (GOAWAY, open streams
   * finish), close it when idle, destroy it when the previous PING went unanswered, else PING.
   */
  sessionTick(state: SessionState): void {
    const { session } = state;
    if (session.destroyed) return;
    if (!session.closed && Date.now() >= state.deadline) {
      this.onLimit('session_max_age');
      this.logger.debug({ peer: state.peerAddress, identity: state.peerIdentity }, 'tunnel session reached its max age or certificate expiry; GOAWAY');
      session.close();
    }
    if (state.streams === 0 && performance.now() - state.idleSince >= this.limits.sessionIdleTimeoutMs) {
      this.onLimit('session_idle');
      session.close();
      return;
    }
    if (state.pingOutstanding) {
      this.onLimit('ping_timeout');
      this.lostPeers.warn({ code: 'MESHLET_ERR_TUNNEL_LIMIT', reason: 'ping_timeout', peer: state.peerAddress, identity: state.peerIdentity, streams: state.streams });
      session.destroy();
      return;
    }
    try {
      state.pingOutstanding = session.ping(state.pong);
    } catch {
      // Too many PINGs in flight or the session is going: the next tick decides.
    }
  }

  /** @internal A counted stream closed. */
  streamClosed(state: SessionState): void {
    this.streamsByPeer.remove(state.peerAddress);
    state.streams -= 1;
    if (state.streams === 0) state.idleSince = performance.now();
  }

  private handleStream(stream: CountedStream, headers: IncomingHttpHeaders): void {
    const session = stream.session as TunnelSession | undefined;
    const state = session?.[kSession];
    stream.on('error', noop);
    if (state === undefined || session === undefined) {
      this.refuse(stream, 'tunnel_unauthenticated', 'no tunnel session', headers);
      return;
    }
    // Limits first: a refused stream costs nothing more, whatever it asks for.
    if (Date.now() >= state.deadline) {
      this.refuseStream(stream, Date.now() >= state.peerNotAfter ? 'peer_cert_expired' : 'session_max_age', state);
      session.close();
      return;
    }
    if (!this.streamsByPeer.tryAdd(state.peerAddress, this.limits.maxStreamsPerPeer)) {
      this.refuseStream(stream, 'peer_stream_limit', state);
      return;
    }
    state.streams += 1;
    stream[kSession] = state;
    stream.once('close', onCountedStreamClose);
    const socket = session.socket as TLSSocket | undefined;
    const sni = socket?.servername;
    const localIdentity = typeof sni === 'string' ? this.identities.getBySni(sni)?.identity : undefined;
    const peerIdentity = state.peerIdentity;
    if (peerIdentity === undefined || localIdentity === undefined) {
      this.refuse(stream, 'tunnel_unauthenticated', 'peer certificate carries no single SPIFFE identity', headers);
      return;
    }
    // CONNECT: an L4 tunnel to its authority. Any other method: an L7 request (wire.ts) to the
    // endpoint its `meshlet-dst` names, checked the same way; without one, refused.
    // An extended CONNECT (RFC 8441, `:protocol`) is an application's HTTP/1.1 Upgrade, also
    // to the endpoint its `meshlet-dst` names.
    let handler = this.onStream;
    let authority = headers[':authority'];
    let what = 'CONNECT authority';
    const extended = headers[':protocol'] !== undefined;
    if (headers[':method'] !== 'CONNECT' || extended) {
      const l7 = extended ? this.onUpgrade : this.onRequest;
      const dst = headers[DST_HEADER];
      if (l7 === undefined || dst === undefined) {
        this.refuse(stream, 'tunnel_bad_method', `method ${String(headers[':method'])}${extended ? ' with :protocol' : ''} is not a plain CONNECT and names no ${DST_HEADER}`, headers);
        return;
      }
      handler = l7;
      authority = String(dst);
      what = DST_HEADER;
    }
    const target = parseAuthority(authority);
    if (target === undefined) {
      this.refuse(stream, 'tunnel_bad_authority', `bad ${what} ${String(authority).slice(0, 128)}`, headers);
      return;
    }
    handler(stream, {
      peerIdentity,
      localIdentity,
      address: target.address,
      port: target.port,
      peerAddress: state.peerAddress,
      headers,
    });
  }

  /** A limit refused the stream: RST_STREAM(REFUSED_STREAM), nothing was done for it. */
  private refuseStream(stream: ServerHttp2Stream, reason: TunnelLimitReason, state: SessionState): void {
    this.onLimit(reason);
    this.refusedStreams.warn({ code: 'MESHLET_ERR_TUNNEL_LIMIT', reason, peer: state.peerAddress, identity: state.peerIdentity });
    if (!stream.destroyed) stream.close(h2.NGHTTP2_REFUSED_STREAM);
  }

  /** A request the tunnel does not serve: answered with the failure's status (see `respond`). */
  private refuse(stream: ServerHttp2Stream, failure: ErrorKind, reason: string, headers: IncomingHttpHeaders): void {
    const { httpStatus: status, errorCode: code } = respond(failure);
    this.onLimit('bad_request');
    this.refusedStreams.warn({ code, status, reason, authority: headers[':authority'] });
    if (!stream.destroyed) stream.respond({ ':status': status }, { endStream: true });
  }

  /**
   * Stops accepting tunnels and asks peers to stop opening streams, in two steps (RFC 9113,
   * 6.8): a GOAWAY naming the highest stream id first, which stops the peer from opening
   * streams on the session but refuses none it already sent; the final GOAWAY (the real last
   * id) once two PING round trips have shown the peer has seen it and sent what it had queued.
   * A single GOAWAY refuses the streams in flight, and the peer's connections behind them are
   * reset (an upgrade under load saw about one per drain).
   */
  close(): void {
    this.server.close();
    this.closing = true;
    for (const s of this.sessions) closeGracefully(s);
    // Handshakes under way finish (bounded by the handshake timeout, and destroy() at the end
    // of the drain): cutting one would fail the streams the peer is about to open on it.
  }

  /** Tears down every session now. */
  destroy(): void {
    this.server.close();
    for (const s of this.sessions) s.destroy();
    for (const raw of this.handshaking.values()) raw.destroy();
  }
}

function onHandshakeDeadline(raw: RawConnection): void {
  raw[kConn]?.server.handshakeExpired(raw);
}

function onRawClose(this: RawConnection): void {
  this[kConn]?.server.connectionClosed(this);
}

function onSessionTick(state: SessionState): void {
  state.server.sessionTick(state);
}

function onCountedStreamClose(this: CountedStream): void {
  const state = this[kSession];
  if (state === undefined) return;
  this[kSession] = undefined;
  state.server.streamClosed(state);
}

/** A certificate's `valid_to` as ms since the epoch; unknown or unparsable: no bound. */
function notAfterMs(validTo: string | undefined): number {
  if (validTo === undefined) return Infinity;
  const ms = Date.parse(validTo);
  return Number.isNaN(ms) ? Infinity : ms;
}

function noop(): void {}

/** The highest stream id (2^31 - 1): a GOAWAY naming it refuses nothing. */
const MAX_STREAM_ID = 2 ** 31 - 1;
/** A peer that does not answer the PINGs meanwhile gets the final GOAWAY anyway. */
const GOAWAY_NOTICE_MAX_MS = 2_000;

/** The two-step GOAWAY of {@link TunnelServer.close}. */
function closeGracefully(session: Http2Session): void {
  if (session.closed || session.destroyed) return;
  const finish = (): void => {
    clearTimeout(timer);
    if (!session.closed && !session.destroyed) session.close();
  };
  const timer = setTimeout(finish, GOAWAY_NOTICE_MAX_MS);
  timer.unref();
  try {
    session.goaway(h2.NGHTTP2_NO_ERROR, MAX_STREAM_ID);
  } catch {
    return finish();
  }
  const sent = session.ping((err: Error | null) => (err === null && session.ping(() => finish()) ? undefined : finish()));
  if (!sent) finish();
}
