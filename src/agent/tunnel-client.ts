/**
 * The tunnel client: HTTP/2 CONNECT over mutual TLS to another node's agent (the HBONE
 * pattern). One pooled HTTP/2 session per (source identity, destination identity, destination
 * node), carrying one stream per application connection.
 *
 * The client presents the source workload's certificate and accepts the server only if it
 * proves the destination workload's SPIFFE identity, checked against the mesh trust bundle.
 */
import http2, { type ClientHttp2Session, type ClientHttp2Stream } from 'node:http2';
import tls, { type PeerCertificate } from 'node:tls';
import type { Logger } from 'pino';
import { MeshletError } from '../mesh/errors.js';
import { spiffeIdsFromSubjectAltName } from '../mesh/identity.js';
import type { IdentityManager } from './identity-manager.js';
import { sniForIdentity } from './identity-manager.js';
import { applySessionWindow, TUNNEL_SETTINGS, TUNNEL_SESSION_MEMORY_MB } from './tunnel-settings.js';

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
  readonly identities: IdentityManager;
  readonly logger: Logger;
  /** Port of the peer agents' tunnel listener. */
  readonly tunnelPort: number;
  /** An HTTP/2 session with no stream for this long is closed. */
  readonly idleTimeoutMs?: number;
  /** A TLS + HTTP/2 handshake that has not finished by then fails. */
  readonly connectTimeoutMs?: number;
}

interface PoolEntry {
  readonly key: string;
  readonly session: ClientHttp2Session;
}

/** Formats `address:port`, bracketing IPv6. */
export function hostPort(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
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
  private readonly identities: IdentityManager;
  private readonly logger: Logger;
  private readonly tunnelPort: number;
  private readonly idleTimeoutMs: number;
  private readonly connectTimeoutMs: number;
  private readonly entries = new Map<string, PoolEntry>();
  private closed = false;

  constructor(opts: TunnelPoolOptions) {
    this.identities = opts.identities;
    this.logger = opts.logger;
    this.tunnelPort = opts.tunnelPort;
    this.idleTimeoutMs = opts.idleTimeoutMs ?? 60_000;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 5_000;
  }

  /** Number of open (or opening) HTTP/2 sessions. */
  get size(): number {
    return this.entries.size;
  }

  /**
   * Opens a CONNECT stream to `target` as `sourceIdentity`. The stream is returned at once
   * (data written before the peer answers is buffered and sent in order); the caller watches
   * its `response` for the status.
   */
  async open(sourceIdentity: string, target: TunnelTarget, headers: Record<string, string> = {}): Promise<ClientHttp2Stream> {
    if (this.closed) throw new MeshletError('MESHLET_ERR_CLOSED', 'tunnel pool is closed');
    const creds = await this.identities.ensure(sourceIdentity);
    const key = `${sourceIdentity}|${target.identity}|${hostPort(target.nodeAddress, this.tunnelPort)}`;
    let entry = this.entries.get(key);
    if (entry === undefined || entry.session.closed || entry.session.destroyed) {
      entry = this.connect(key, creds.secureContext, target);
    }
    return entry.session.request(
      { ':method': 'CONNECT', ':authority': hostPort(target.address, target.port), ...headers },
      { endStream: false },
    );
  }

  private connect(key: string, secureContext: tls.SecureContext, target: TunnelTarget): PoolEntry {
    const { nodeAddress, identity } = target;
    const port = this.tunnelPort;
    const session = http2.connect(`https://${hostPort(nodeAddress, port)}`, {
      settings: TUNNEL_SETTINGS,
      maxSessionMemory: TUNNEL_SESSION_MEMORY_MB,
      createConnection: () =>
        tls.connect({
          host: nodeAddress,
          port,
          servername: sniForIdentity(identity),
          secureContext,
          ALPNProtocols: ['h2'],
          rejectUnauthorized: true,
          checkServerIdentity: (_host, cert) => verifyPeerIdentity(cert, identity),
        }),
    });
    const entry: PoolEntry = { key, session };
    this.entries.set(key, entry);
    const log = this.logger.child({ peer: hostPort(nodeAddress, port), identity });
    const timer = setTimeout(() => {
      session.destroy(new MeshletError('MESHLET_ERR_TUNNEL_HANDSHAKE', `tunnel to ${hostPort(nodeAddress, port)} not established within ${this.connectTimeoutMs} ms`));
    }, this.connectTimeoutMs);
    timer.unref();
    session.once('connect', () => {
      clearTimeout(timer);
      applySessionWindow(session);
      log.debug('tunnel session established');
    });
    session.setTimeout(this.idleTimeoutMs, () => session.close());
    session.on('error', (err: Error) => {
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

  private drop(entry: PoolEntry): void {
    if (this.entries.get(entry.key) === entry) this.entries.delete(entry.key);
  }

  /** Stops opening streams and closes sessions once their streams finish. Idempotent. */
  close(): void {
    this.closed = true;
    for (const e of this.entries.values()) e.session.close();
  }

  /** Tears every session down now. Idempotent. */
  destroy(): void {
    this.closed = true;
    for (const e of this.entries.values()) e.session.destroy();
    this.entries.clear();
  }
}

export type { ClientHttp2Stream };
