/**
 * Connection limits of the agent API, enforced on the raw TCP sockets before grpc-js sees them:
 * how many connections in all and per source address, how many may be unauthenticated at once,
 * and how long a connection may stay unauthenticated. grpc-js has no such limits of its own; the
 * server hands it only the sockets admitted here (`Server.createConnectionInjector`).
 *
 * A connection is unauthenticated until one of its calls passes authentication; one that has
 * not within `authenticateWithinMs` (slow TLS handshakes included) is closed. Each refusal is
 * counted by reason and logged once a minute at most.
 */
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { PeerCounter } from '../../ops/peer-counter.js';

/** What the agent API holds per caller, and for how long. */
export interface AgentApiLimits {
  /** Open connections in all. */
  readonly maxConnections: number;
  /** Open connections from one source address. */
  readonly maxConnectionsPerAddress: number;
  /** Connections not yet authenticated, at once. */
  readonly maxUnauthenticated: number;
  /** How long a connection may stay unauthenticated (TLS handshake included). */
  readonly authenticateWithinMs: number;
  /** HTTP/2 streams (calls) at once per connection. */
  readonly maxConcurrentStreams: number;
  /** A connection with no call for this long is closed. */
  readonly maxConnectionIdleMs: number;
  /** A connection is asked to go away (GOAWAY) at this age... */
  readonly maxConnectionAgeMs: number;
  /** ...and cut this long after, whatever calls it still carries. */
  readonly maxConnectionAgeGraceMs: number;
  /** Largest message the controller accepts. */
  readonly maxReceiveMessageBytes: number;
}

/**
 * Defaults, with reasons:
 * - 8,192 connections: one per agent, for clusters of a few thousand nodes with room for
 *   reconnect overlap; each idle TLS connection holds some tens of KiB, so the cap bounds memory.
 * - 64 per address: an agent needs one (two while it reconnects); a node's pods share its address
 *   only under NAT. One source cannot take the whole budget.
 * - 512 unauthenticated, 10 s to authenticate: a TLS handshake, a first call and a TokenReview
 *   (5 s timeout) fit in 10 s; 512 handshakes in flight cover a whole fleet reconnecting, and
 *   bound what half-open or token-less connections can pin (they used to stay forever).
 * - 100 streams per connection: an agent runs one config stream and a signing call per local
 *   identity at once; 100 is the HTTP/2 recommended minimum and grpc-js's client queues beyond.
 * - idle 5 min: an agent always holds its config stream open, so only connections that make no
 *   call are closed by this.
 * - age 1 h, grace 1 min: every agent reconnects (and is authenticated again, so a revoked token
 *   or a deleted pod loses its stream) at least hourly; grpc-js adds jitter, and the agent
 *   resumes from the version it holds.
 * - 256 KiB received: Hellos, ACKs, NACK reasons (2,000 characters) and CSRs (under 2 KiB).
 */
export const AGENT_API_LIMITS: AgentApiLimits = Object.freeze({
  maxConnections: 8192,
  maxConnectionsPerAddress: 64,
  maxUnauthenticated: 512,
  authenticateWithinMs: 10_000,
  maxConcurrentStreams: 100,
  maxConnectionIdleMs: 5 * 60_000,
  maxConnectionAgeMs: 60 * 60_000,
  maxConnectionAgeGraceMs: 60_000,
  maxReceiveMessageBytes: 256 * 1024,
});

/** Why a connection was refused or closed by the guard (bounded label set for metrics). */
export type ConnectionRefusal = 'max_connections' | 'max_per_address' | 'max_unauthenticated' | 'authentication_timeout';

interface Tracked {
  readonly socket: Socket;
  /** The TLS socket over it once the handshake is done: it owns the file descriptor then. */
  tls: Socket | undefined;
  readonly address: string;
  authenticated: boolean;
  timer: NodeJS.Timeout | undefined;
}

/** Admits, tracks and expires the agent API's connections. */
export class ConnectionGuard {
  private readonly limits: AgentApiLimits;
  private readonly byPeer = new Map<string, Tracked>();
  private readonly perAddress = new PeerCounter();
  private unauthenticatedCount = 0;
  private readonly refusals: Record<ConnectionRefusal, number> = { max_connections: 0, max_per_address: 0, max_unauthenticated: 0, authentication_timeout: 0 };
  private readonly log: ThrottledLog;
  private closedWaiters: Array<() => void> = [];

  constructor(limits: AgentApiLimits, logger: Logger) {
    this.limits = limits;
    this.log = new ThrottledLog(logger, 'agent API connection refused or closed: limit reached');
  }

  /** Takes a new connection in, or destroys it and answers false when a limit is reached. */
  admit(socket: Socket): boolean {
    // A peer that resets is a connection outcome, never an exception in the controller.
    socket.on('error', ignore);
    const address = socket.remoteAddress ?? 'unknown';
    const refusal =
      this.byPeer.size >= this.limits.maxConnections
        ? 'max_connections'
        : this.perAddress.get(address) >= this.limits.maxConnectionsPerAddress
          ? 'max_per_address'
          : this.unauthenticatedCount >= this.limits.maxUnauthenticated
            ? 'max_unauthenticated'
            : undefined;
    if (refusal !== undefined) {
      this.refuse(refusal, address);
      socket.destroy();
      return false;
    }
    const key = peerKey(socket);
    const tracked: Tracked = { socket, tls: undefined, address, authenticated: false, timer: undefined };
    tracked.timer = setTimeout(() => this.expire(tracked), this.limits.authenticateWithinMs);
    tracked.timer.unref();
    this.byPeer.set(key, tracked);
    this.perAddress.add(address);
    this.unauthenticatedCount++;
    socket.once('close', () => this.forget(key, tracked));
    return true;
  }

  /**
   * The TLS handshake of an admitted connection finished: `tls` is what the guard closes from now
   * on. False (and `tls` destroyed) when the connection is no longer tracked.
   */
  upgraded(tls: Socket): boolean {
    const tracked = this.byPeer.get(peerKey(tls));
    if (tracked === undefined || tracked.socket.destroyed) {
      tls.destroy();
      return false;
    }
    tracked.tls = tls;
    return true;
  }

  /** A call on the connection `peer` (grpc-js `call.getPeer()`) passed authentication. */
  authenticated(peer: string): void {
    const tracked = this.byPeer.get(peer);
    if (tracked === undefined || tracked.authenticated) return;
    tracked.authenticated = true;
    clearTimeout(tracked.timer);
    tracked.timer = undefined;
    this.unauthenticatedCount--;
  }

  /** Connections open now, and how many of them are unauthenticated. */
  get open(): { readonly connections: number; readonly unauthenticated: number } {
    return { connections: this.byPeer.size, unauthenticated: this.unauthenticatedCount };
  }

  /** Refusals since start, by reason. */
  counters(): Readonly<Record<ConnectionRefusal, number>> {
    return { ...this.refusals };
  }

  /** Destroys every connection (the server stops). */
  destroyAll(): void {
    for (const tracked of [...this.byPeer.values()]) close(tracked);
  }

  /** Destroys the connections still in their TLS handshake: they carry no call to finish. */
  destroyHandshaking(): void {
    for (const tracked of [...this.byPeer.values()]) if (tracked.tls === undefined) close(tracked);
  }

  /**
   * Resolves once every tracked connection has closed. A drained HTTP/2 session half-closes its
   * socket and waits for the agent to hang up; destroying it earlier would answer the agent's
   * last frames with a reset, which makes the agent's kernel drop what it had not read yet (the
   * controller's final status among it).
   */
  allClosed(): Promise<void> {
    if (this.byPeer.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.closedWaiters.push(resolve));
  }

  private expire(tracked: Tracked): void {
    tracked.timer = undefined;
    if (tracked.authenticated || tracked.socket.destroyed) return;
    this.refuse('authentication_timeout', tracked.address);
    close(tracked);
  }

  private forget(key: string, tracked: Tracked): void {
    clearTimeout(tracked.timer);
    if (this.byPeer.get(key) === tracked) this.byPeer.delete(key);
    this.perAddress.remove(tracked.address);
    if (!tracked.authenticated) this.unauthenticatedCount--;
    if (this.byPeer.size === 0 && this.closedWaiters.length > 0) {
      const waiters = this.closedWaiters;
      this.closedWaiters = [];
      for (const resolve of waiters) resolve();
    }
  }

  private refuse(reason: ConnectionRefusal, address: string): void {
    this.refusals[reason]++;
    this.log.warn({ reason, address, counts: this.refusals });
  }
}

function ignore(): void {}

function close(tracked: Tracked): void {
  tracked.tls?.destroy();
  tracked.socket.destroy();
}

/** The key grpc-js's `call.getPeer()` gives the same connection (`<address>:<port>`). */
function peerKey(socket: Socket): string {
  return socket.remotePort === undefined ? (socket.remoteAddress ?? 'unknown') : `${socket.remoteAddress}:${socket.remotePort}`;
}
