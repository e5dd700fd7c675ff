/**
 * The tunnel server on :15008: mutual TLS (the client must present a certificate from the
 * mesh CA; the server answers with the certificate of the identity the client asked for by
 * SNI), HTTP/2, and one CONNECT stream per application connection. Everything after the
 * protocol checks (which target, which policy) is the inbound side's job.
 */
import http2, { constants as h2, type Http2SecureServer, type Http2Session, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Logger } from 'pino';
import { spiffeIdsFromSubjectAltName } from '../mesh/identity.js';
import type { IdentitySource } from './identity-manager.js';
import { applySessionWindow, TUNNEL_SESSION_MEMORY_MB, TUNNEL_SETTINGS } from './tunnel-settings.js';

/** A CONNECT stream that passed the protocol checks. */
export interface TunnelRequest {
  /** The client's SPIFFE identity, from its verified certificate. */
  readonly peerIdentity: string;
  /** The local identity the client asked for (and verified) by SNI. */
  readonly localIdentity: string;
  /** CONNECT target. */
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
  /** A client failed the mTLS handshake (no or a foreign certificate, an unknown server name). */
  readonly onTlsError?: () => void;
  /**
   * 48 bytes that encrypt TLS session tickets. Every process serving this node's tunnel port
   * (the agent's workers) must share them, or a ticket issued by one is refused by another and
   * the client falls back to a full handshake. Default: random, this server's own.
   */
  readonly ticketKeys?: Buffer;
}

/**
 * How long a TLS session ticket can be resumed (seconds). A resumed session keeps the client
 * identity proved when the ticket was issued, so the lifetime is short next to a certificate's
 * (24 h by default): a peer whose workload left this node's authority cannot ride on for long.
 */
export const TLS_TICKET_LIFETIME_S = 300;

const kPeer = Symbol('meshlet.peerIdentity');

interface TunnelSession extends Http2Session {
  [kPeer]?: string;
}

/** Parses a CONNECT authority (`1.2.3.4:80`, `[::1]:80`). */
export function parseAuthority(authority: string | undefined): { address: string; port: number } | undefined {
  if (authority === undefined) return undefined;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([0-9.]+)):(\d{1,5})$/.exec(authority);
  if (m === null) return undefined;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  return { address: (m[1] ?? m[2]) as string, port };
}

/** The tunnel listener. */
export class TunnelServer {
  readonly server: Http2SecureServer;
  private readonly identities: IdentitySource;
  private readonly logger: Logger;
  private readonly onStream: TunnelStreamHandler;
  private readonly sessions = new Set<Http2Session>();

  constructor(opts: TunnelServerOptions) {
    this.identities = opts.identities;
    this.logger = opts.logger;
    this.onStream = opts.onStream;
    this.server = http2.createSecureServer({
      allowHTTP1: false,
      requestCert: true,
      rejectUnauthorized: true,
      settings: TUNNEL_SETTINGS,
      maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
      sessionTimeout: TLS_TICKET_LIFETIME_S,
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
    this.server.on('session', (session: TunnelSession) => this.onSession(session));
    this.server.on('stream', (stream, headers) => this.handleStream(stream, headers));
    const onTlsError = opts.onTlsError;
    this.server.on('tlsClientError', (err: Error, socket: TLSSocket) => {
      onTlsError?.();
      this.logger.warn({ code: 'MESHLET_ERR_TUNNEL_HANDSHAKE', peer: socket.remoteAddress, err: err.message }, 'tunnel handshake refused');
    });
  }

  /** Binds the listener; resolves with the address actually bound. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, host, () => {
        this.server.off('error', reject);
        resolve(this.server.address() as AddressInfo);
      });
    });
  }

  /** Open HTTP/2 sessions. */
  get sessionCount(): number {
    return this.sessions.size;
  }

  private onSession(session: TunnelSession): void {
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.on('error', (err: Error) => this.logger.debug({ err: err.message }, 'tunnel session error'));
    applySessionWindow(session);
    const socket = session.socket as TLSSocket;
    const ids = spiffeIdsFromSubjectAltName(socket.getPeerCertificate().subjectaltname ?? '');
    if (ids.length === 1) session[kPeer] = ids[0] as string;
  }

  private handleStream(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
    const session = stream.session as TunnelSession | undefined;
    const socket = session?.socket as TLSSocket | undefined;
    const peerIdentity = session?.[kPeer];
    const sni = socket?.servername;
    const localIdentity = typeof sni === 'string' ? this.identities.getBySni(sni)?.identity : undefined;
    stream.on('error', noop);
    if (peerIdentity === undefined || localIdentity === undefined) {
      this.refuse(stream, h2.HTTP_STATUS_FORBIDDEN, 'peer certificate carries no single SPIFFE identity', headers);
      return;
    }
    if (headers[':method'] !== 'CONNECT') {
      this.refuse(stream, h2.HTTP_STATUS_METHOD_NOT_ALLOWED, `method ${String(headers[':method'])} is not CONNECT`, headers);
      return;
    }
    const target = parseAuthority(headers[':authority']);
    if (target === undefined) {
      this.refuse(stream, h2.HTTP_STATUS_BAD_REQUEST, `bad CONNECT authority ${String(headers[':authority'])}`, headers);
      return;
    }
    this.onStream(stream, {
      peerIdentity,
      localIdentity,
      address: target.address,
      port: target.port,
      peerAddress: socket?.remoteAddress ?? '',
      headers,
    });
  }

  private refuse(stream: ServerHttp2Stream, status: number, reason: string, headers: IncomingHttpHeaders): void {
    this.logger.warn({ status, reason, authority: headers[':authority'] }, 'tunnel request refused');
    if (!stream.destroyed) stream.respond({ ':status': status }, { endStream: true });
  }

  /** Stops accepting tunnels and asks peers to stop opening streams (GOAWAY). */
  close(): void {
    this.server.close();
    for (const s of this.sessions) s.close();
  }

  /** Tears down every session now. */
  destroy(): void {
    this.server.close();
    for (const s of this.sessions) s.destroy();
  }
}

function noop(): void {}
