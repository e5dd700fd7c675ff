/**
 * The tunnel client: HTTP/2 CONNECT over mutual TLS to another node's agent (the HBONE
 * pattern). Pooled HTTP/2 sessions per (source identity and the certificate it presents,
 * destination identity, destination node), each carrying up to `MAX_CONCURRENT_STREAMS`
 * streams, one per application connection; a full session gets a sibling. A session is used
 * for new streams only until the earlier of its max age and either certificate's notAfter:
 * after a renewal new streams go on a session made with the new certificate.
 *
 * The client presents the source workload's certificate and accepts the server only if it
 * proves the destination workload's SPIFFE identity, checked against the mesh trust bundle.
 */
import type { OutgoingHttpHeaders } from 'node:http';
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import tls, { type PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { hostPort } from '../../../mesh/address.js';
import { MeshletError } from '../../../mesh/errors.js';
import { spiffeIdsFromSubjectAltName } from '../../../mesh/identity.js';
import type { IdentityCredentials, IdentitySource } from '../../identity/manager.js';
import { SESSION_MAX_AGE_MS } from './limits.js';
import { sniForIdentity } from '../../identity/sni.js';
import { DST_HEADER } from '../../http/wire.js';
import { applySessionWindow, MAX_CONCURRENT_STREAMS, TUNNEL_SETTINGS, TUNNEL_SESSION_MEMORY_MB } from './settings.js';
import type { WindowGovernor } from './window-governor.js';

/** Where a tunnel stream should end up. */
export interface TunnelTarget {
  /** Tunnel address of the destination node. */
  readonly nodeAddress: string;
  /** Identity the destination agent must prove (the destination workload's). */
  readonly identity: string;
  /** The destination workload address and port, sent as the CONNECT authority. */
  readonly address: string;
  readonly port: number;
}

/** Options of {@link TunnelPool}. */
export interface TunnelPoolOptions {
  readonly identities: IdentitySource;
  readonly logger: Logger;
  /** Port of the peer agents' tunnel listener. */
  readonly tunnelPort: number;
  /** An HTTP/2 session with no stream for this long is closed (checked on the keepalive tick). */
  readonly idleTimeoutMs?: number;
  /** A TLS + HTTP/2 handshake that has not finished by then fails. */
  readonly connectTimeoutMs?: number;
  /** How often an open session PINGs its peer. */
  readonly pingIntervalMs?: number;
  /** A PING not answered by then means the peer is gone. */
  readonly pingTimeoutMs?: number;
  /** A session failed before it was established (TLS handshake, peer identity, timeout). */
  readonly onHandshakeError?: () => void;
  /** A session was established: `resumed` when it took a TLS session ticket instead of a full handshake. */
  readonly onHandshake?: (resumed: boolean) => void;
  /** TLS session tickets kept for resumption, one per pool key (default {@link MAX_TLS_TICKETS}); 0 turns resumption off. */
  readonly maxTickets?: number;
  /** No new stream on a session older than this (default {@link SESSION_MAX_AGE_MS}); it is closed gracefully. */
  readonly sessionMaxAgeMs?: number;
  /** Streams per session before a sibling session is opened (default `MAX_CONCURRENT_STREAMS`, or less if the peer says so). */
  readonly maxStreamsPerSession?: number;
  /** Decides each session's receive window once it is up (fairness between workloads); absent: the full window always. */
  readonly windows?: WindowGovernor;
}

/** Tickets kept at most: one per (source identity and certificate, destination identity, peer node). */
export const MAX_TLS_TICKETS = 4_096;

/**
 * A TLS session ticket from an earlier session with the same peer, as the same source identity
 * with the same certificate. Resuming skips both certificate signatures and checks (the ticket
 * carries the verified peer), so a ticket is only offered with the very credentials it was
 * issued under: a renewed certificate starts afresh.
 */
interface Ticket {
  readonly secureContext: tls.SecureContext;
  readonly session: Buffer;
}

interface PoolEntry {
  readonly key: string;
  readonly session: ClientHttp2Session;
  /** Open streams; the session is closed after `idleTimeoutMs` with none. */
  streams: number;
  idleSince: number;
  /** No new stream from then on (ms since the epoch): max age, our certificate's or the peer's notAfter. */
  expiresAt: number;
}

const kEntry = Symbol('meshlet.poolEntry');

interface PooledStream extends ClientHttp2Stream {
  [kEntry]?: PoolEntry;
}

function onPooledStreamClose(this: PooledStream): void {
  const entry = this[kEntry];
  if (entry === undefined) return;
  entry.streams -= 1;
  if (entry.streams === 0) entry.idleSince = performance.now();
}

/**
 * True once the peer's SETTINGS are in. The server's first frame is its SETTINGS (RFC 9113
 * 3.4), so the acknowledgement of ours, which Node counts in `pendingSettingsAck` from the
 * moment the session is up, comes after it. (While connecting, `pendingSettingsAck` is false:
 * ours are not sent yet.)
 */
function peerSettingsIn(session: ClientHttp2Session): boolean {
  return !session.connecting && !session.pendingSettingsAck;
}

/** Resolves when the peer's SETTINGS (or the acknowledgement of ours) arrive; rejects if the session ends first. */
function peerSettings(session: ClientHttp2Session, peer: string): Promise<void> {
  if (session.closed || session.destroyed) return Promise.reject(sessionGone(peer));
  return new Promise((resolve, reject) => {
    const settled = (): void => {
      session.off('remoteSettings', settled);
      session.off('localSettings', settled);
      session.off('close', gone);
      resolve();
    };
    const gone = (): void => {
      session.off('remoteSettings', settled);
      session.off('localSettings', settled);
      reject(sessionGone(peer));
    };
    session.once('remoteSettings', settled);
    session.once('localSettings', settled);
    session.once('close', gone);
  });
}

function sessionGone(peer: string, how = "ended before the peer's SETTINGS"): MeshletError {
  return new MeshletError('MESHLET_ERR_TUNNEL_HANDSHAKE', `tunnel session to ${peer} ${how}`);
}

/** Returns an Error (the TLS verifier's convention) unless `cert` carries exactly `expected`. */
export function verifyPeerIdentity(cert: PeerCertificate, expected: string): Error | undefined {
  const ids = spiffeIdsFromSubjectAltName(cert.subjectaltname ?? '');
  if (ids.length === 1 && ids[0] === expected) return undefined;
  return new MeshletError(
    'MESHLET_ERR_TUNNEL_IDENTITY',
    `tunnel peer presented ${ids.length === 0 ? 'no SPIFFE identity' : ids.join(', ')}, expected ${expected}`,
  );
}

/** A pool of tunnel sessions to peer agents. */
export class TunnelPool {
  private readonly identities: IdentitySource;
  private readonly logger: Logger;
  private readonly tunnelPort: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly pingIntervalMs: number;
  private readonly pingTimeoutMs: number;
  private readonly sessionMaxAgeMs: number;
  private readonly maxStreamsPerSession: number;
  private readonly windows: WindowGovernor | undefined;
  /** Sessions by pool key; more than one when a session is full. */
  private readonly entries = new Map<string, PoolEntry[]>();
  private readonly onHandshakeError: (() => void) | undefined;
  private readonly onHandshake: ((resumed: boolean) => void) | undefined;
  private readonly tickets = new Map<string, Ticket>();
  private readonly maxTickets: number;
  /** Sessions whose peer refused extended CONNECT, already logged. */
  private readonly noExtendedConnect = new WeakSet<ClientHttp2Session>();
  private closed = false;

  constructor(opts: TunnelPoolOptions) {
    this.identities = opts.identities;
    this.logger = opts.logger;
    this.tunnelPort = opts.tunnelPort;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
    this.pingIntervalMs = opts.pingIntervalMs ?? 10_000;
    this.pingTimeoutMs = opts.pingTimeoutMs ?? 5_000;
    this.onHandshakeError = opts.onHandshakeError;
    this.onHandshake = opts.onHandshake;
    this.maxTickets = opts.maxTickets ?? MAX_TLS_TICKETS;
    this.sessionMaxAgeMs = opts.sessionMaxAgeMs ?? SESSION_MAX_AGE_MS;
    this.maxStreamsPerSession = opts.maxStreamsPerSession ?? MAX_CONCURRENT_STREAMS;
    this.windows = opts.windows;
  }

  /** TLS session tickets held for resumption. */
  get ticketCount(): number {
    return this.tickets.size;
  }

  /** Number of open (or opening) HTTP/2 sessions. */
  get size(): number {
    let n = 0;
    for (const list of this.entries.values()) n += list.length;
    return n;
  }

  /**
   * Opens a CONNECT stream to `target` as `sourceIdentity`. The stream is returned at once
   * (data written before the peer answers is buffered and sent in order); the caller watches
   * its `response` for the status.
   */
  open(sourceIdentity: string, target: TunnelTarget, headers: Record<string, string> = {}): Promise<ClientHttp2Stream> {
    return this.withCredentials(sourceIdentity, (creds) =>
      this.stream(creds, target, { ':method': 'CONNECT', ':authority': hostPort(target.address, target.port), ...headers }, false),
    );
  }

  /**
   * Opens an L7 request (not CONNECT) to `target` on the same pooled session: `headers` carry
   * the application's `:method`, `:path`, `:authority` (and `:scheme`, default `http`),
   * `meshlet-proto`, `forwarded` and the end-to-end headers; `meshlet-dst` is set here from
   * `target.address`/`target.port` (see `http/wire.ts`). `endStream`: the request has no body.
   * The caller writes the body into the stream and reads its `response`.
   */
  request(sourceIdentity: string, target: TunnelTarget, headers: OutgoingHttpHeaders, endStream = false): Promise<ClientHttp2Stream> {
    if (headers[':method'] === 'CONNECT') return Promise.reject(new MeshletError('MESHLET_ERR_TUNNEL_CONNECT', 'TunnelPool.request is for L7 requests; CONNECT goes through open()'));
    return this.withCredentials(sourceIdentity, (creds) =>
      this.stream(creds, target, { ':scheme': 'http', ...headers, [DST_HEADER]: hostPort(target.address, target.port) }, endStream),
    );
  }

  /**
   * Opens an extended CONNECT (RFC 8441) to `target` for an application's HTTP/1.1 Upgrade:
   * `headers` carry `:protocol` (the upgrade token), `:path`, `:authority` and the end-to-end
   * headers; `:method` CONNECT, `:scheme` and `meshlet-dst` are set here. The peer answers 200
   * with `meshlet-status: 101` when the workload switched protocols; the stream then carries
   * the upgraded bytes both ways.
   *
   * RFC 8441 forbids `:protocol` before the peer's SETTINGS enabled it, and Node's client would
   * send it anyway: on a session whose peer SETTINGS are not in yet (still connecting, or our
   * SETTINGS not yet acknowledged) this waits for them first, holding a stream's place on the
   * session meanwhile. A peer that does not announce SETTINGS_ENABLE_CONNECT_PROTOCOL (an
   * agent from before L7 upgrades) gets no stream: the promise resolves `undefined` (logged
   * once per session) and the caller falls back to a plain CONNECT. The wait ends with the
   * session: a peer that never sends SETTINGS stops answering PINGs too (keepalive).
   */
  async upgrade(sourceIdentity: string, target: TunnelTarget, headers: OutgoingHttpHeaders): Promise<ClientHttp2Stream | undefined> {
    if (headers[':protocol'] === undefined) throw new MeshletError('MESHLET_ERR_TUNNEL_CONNECT', 'TunnelPool.upgrade needs a :protocol');
    const creds = this.identities.get(sourceIdentity) ?? (await this.identities.ensure(sourceIdentity));
    const entry = this.entryFor(creds, target);
    const { session } = entry;
    if (!peerSettingsIn(session)) {
      // The place is held so that concurrent callers open a sibling rather than overfill it.
      entry.streams += 1;
      const peer = hostPort(target.nodeAddress, this.tunnelPort);
      const ended = await peerSettings(session, peer).then(() => undefined, (err: unknown) => err);
      entry.streams -= 1;
      if (entry.streams === 0) entry.idleSince = performance.now();
      // Closed meanwhile: that is the reason, whatever became of the session.
      if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'tunnel pool is closed');
      if (ended !== undefined) throw ended;
      // A GOAWAY right after the SETTINGS: no new stream on it.
      if (session.closed || session.destroyed) throw sessionGone(peer, 'closed as its SETTINGS came in');
    }
    if (session.remoteSettings.enableConnectProtocol !== true) {
      if (!this.noExtendedConnect.has(session)) {
        this.noExtendedConnect.add(session);
        this.logger.info({ peer: hostPort(target.nodeAddress, this.tunnelPort), identity: target.identity }, 'peer agent does not announce extended CONNECT (an older agent): HTTP upgrades to it go as plain CONNECT tunnels');
      }
      return undefined;
    }
    return this.streamOn(entry, { ':scheme': 'http', ...headers, ':method': 'CONNECT', [DST_HEADER]: hostPort(target.address, target.port) }, false);
  }

  private withCredentials(sourceIdentity: string, make: (creds: IdentityCredentials) => ClientHttp2Stream): Promise<ClientHttp2Stream> {
    // The usual case, credentials in hand, takes no extra promise hop.
    const have = this.identities.get(sourceIdentity);
    if (have !== undefined) {
      try {
        return Promise.resolve(make(have));
      } catch (err) {
        return Promise.reject(err);
      }
    }
    return this.identities.ensure(sourceIdentity).then(make);
  }

  private stream(creds: IdentityCredentials, target: TunnelTarget, headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream {
    return this.streamOn(this.entryFor(creds, target), headers, endStream);
  }

  /** The session a new stream of `creds` to `target` goes on: a usable one, else a new one. */
  private entryFor(creds: IdentityCredentials, target: TunnelTarget): PoolEntry {
    // Checked after any wait for credentials too: no new session once the pool is closed.
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'tunnel pool is closed');
    // The certificate's serial is part of the key: a renewed certificate never rides on a
    // session made with the previous one.
    const key = `${creds.identity}|${creds.serial}|${target.identity}|${hostPort(target.nodeAddress, this.tunnelPort)}`;
    return this.usable(key) ?? this.connect(key, creds, target);
  }

  private streamOn(entry: PoolEntry, headers: OutgoingHttpHeaders, endStream: boolean): ClientHttp2Stream {
    const stream: PooledStream = entry.session.request(headers, { endStream });
    stream[kEntry] = entry;
    entry.streams += 1;
    stream.once('close', onPooledStreamClose);
    return stream;
  }

  /** A session of `key` that may take one more stream; expired ones are closed on the way. */
  private usable(key: string): PoolEntry | undefined {
    const list = this.entries.get(key);
    if (list === undefined) return undefined;
    const now = Date.now();
    for (const e of list) {
      const { session } = e;
      if (session.closed || session.destroyed) continue;
      if (now >= e.expiresAt) {
        this.retire(e);
        return this.usable(key);
      }
      const peerMax = session.connecting ? undefined : session.remoteSettings.maxConcurrentStreams;
      if (e.streams < Math.min(this.maxStreamsPerSession, peerMax ?? Infinity)) return e;
    }
    return undefined;
  }

  /** No new stream on `entry`: GOAWAY, its streams finish. */
  private retire(entry: PoolEntry): void {
    this.drop(entry);
    entry.session.close();
  }

  private connect(key: string, creds: IdentityCredentials, target: TunnelTarget): PoolEntry {
    const { secureContext } = creds;
    const { nodeAddress, identity } = target;
    const port = this.tunnelPort;
    const ticket = this.tickets.get(key);
    const session = http2.connect(`https://${hostPort(nodeAddress, port)}`, {
      settings: TUNNEL_SETTINGS,
      maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
      createConnection: () => {
        const socket = tls.connect({
          host: nodeAddress,
          port,
          servername: sniForIdentity(identity),
          secureContext,
          ALPNProtocols: ['h2'],
          rejectUnauthorized: true,
          // Not called on a resumed session (Node skips it): the ticket is only ever offered
          // under this same key, i.e. to a peer that proved `identity` when it issued it.
          checkServerIdentity: (_host, cert) => verifyPeerIdentity(cert, identity),
          ...(ticket !== undefined && ticket.secureContext === secureContext ? { session: ticket.session } : {}),
        });
        if (this.maxTickets > 0) socket.on('session', (ticketBytes: Buffer) => this.keepTicket(key, secureContext, ticketBytes));
        return socket;
      },
    });
    const entry: PoolEntry = {
      key,
      session,
      streams: 0,
      idleSince: performance.now(),
      expiresAt: Math.min(Date.now() + this.sessionMaxAgeMs, creds.notAfter.getTime()),
    };
    const list = this.entries.get(key);
    if (list === undefined) this.entries.set(key, [entry]);
    else list.push(entry);
    const log = this.logger.child({ peer: hostPort(nodeAddress, port), identity });
    const timer = setTimeout(() => {
      session.destroy(new MeshletError('MESHLET_ERR_TUNNEL_HANDSHAKE', `tunnel to ${hostPort(nodeAddress, port)} not established within ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      applySessionWindow(session);
      this.windows?.add(session);
      const socket = session.socket as tls.TLSSocket | undefined;
      // The peer's certificate bounds the session too (a resumed session reports the one it proved).
      const peerNotAfter = Date.parse(socket?.getPeerCertificate().valid_to ?? '');
      if (!Number.isNaN(peerNotAfter)) entry.expiresAt = Math.min(entry.expiresAt, peerNotAfter);
      const resumed = socket?.isSessionReused() === true;
      this.onHandshake?.(resumed);
      log.debug({ resumed }, 'tunnel session established');
    });
    this.keepalive(entry, log);
    session.on('error', (err: Error) => {
      if (!session.encrypted || session.connecting) {
        this.onHandshakeError?.();
        // Never offer again a ticket that preceded a failure.
        this.tickets.delete(key);
      }
      const wrapped = err instanceof MeshletError ? err : new MeshletError('MESHLET_ERR_TUNNEL_HANDSHAKE', `tunnel to ${hostPort(nodeAddress, port)} failed: ${err.message}`, { cause: err });
      log.warn({ code: wrapped.code, err: wrapped.message }, 'tunnel session error');
    });
    session.once('goaway', () => this.drop(entry));
    session.once('close', () => {
      clearTimeout(timer);
      this.drop(entry);
    });
    return entry;
  }

  /**
   * PINGs the peer every interval; a peer that does not answer in time is gone (node down,
   * cable cut, no FIN), and its session is destroyed so new connections get a fresh one
   * instead of waiting on a dead socket until TCP gives up (about 15 minutes).
   */
  private keepalive(entry: PoolEntry, log: Logger): void {
    const { session } = entry;
    // PINGs count as activity, so idleness is judged by open streams, on the same tick.
    const tick = Math.min(this.pingIntervalMs, this.idleTimeoutMs);
    const interval = setInterval(() => {
      if (session.destroyed || !session.socket) return;
      if (Date.now() >= entry.expiresAt) {
        this.retire(entry);
        return;
      }
      if (entry.streams === 0 && performance.now() - entry.idleSince >= this.idleTimeoutMs) {
        session.close();
        return;
      }
      // A closed session (GOAWAY sent: retired, or the agent draining) only lets its streams
      // finish. Node refuses to PING it and calls back with ERR_HTTP2_PING_CANCEL, which is no
      // sign of a lost peer: destroying the session for it would reset every stream still open.
      if (session.closed) return;
      const deadline = setTimeout(() => {
        log.warn({ code: 'MESHLET_ERR_TUNNEL_PEER_LOST', timeoutMs: this.pingTimeoutMs }, 'tunnel peer stopped answering PING; closing the session');
        session.destroy();
      }, this.pingTimeoutMs);
      deadline.unref();
      const sent = session.ping((err) => {
        clearTimeout(deadline);
        if (err !== null) session.destroy();
      });
      if (!sent) clearTimeout(deadline);
    }, tick);
    interval.unref();
    session.once('close', () => clearInterval(interval));
  }

  /** Keeps the newest ticket for `key`, the oldest key going first beyond the cap. */
  private keepTicket(key: string, secureContext: tls.SecureContext, session: Buffer): void {
    this.tickets.delete(key);
    this.tickets.set(key, { secureContext, session });
    if (this.tickets.size > this.maxTickets) {
      const oldest = this.tickets.keys().next().value;
      if (oldest !== undefined) this.tickets.delete(oldest);
    }
  }

  private drop(entry: PoolEntry): void {
    const list = this.entries.get(entry.key);
    if (list === undefined) return;
    const i = list.indexOf(entry);
    if (i >= 0) list.splice(i, 1);
    if (list.length === 0) this.entries.delete(entry.key);
  }

  /** Stops opening streams and closes sessions once their streams finish. Idempotent. */
  close(): void {
    this.closed = true;
    for (const list of this.entries.values()) for (const e of list) e.session.close();
  }

  /** Tears every session down now. Idempotent. */
  destroy(): void {
    this.closed = true;
    this.tickets.clear();
    for (const list of this.entries.values()) for (const e of list) e.session.destroy();
    this.entries.clear();
  }
}
