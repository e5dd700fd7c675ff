/**
 * The inbound side's connection to a workload: from the client's address when source address
 * preservation is on and the mesh vouches for that address (`chooseSource`), else from the
 * agent's own. Every connection counts its outcome once (`meshlet_source_address_total`); a
 * refused claim (a peer naming an address that is not its own workload's) is logged, throttled,
 * with its stable reason. When the kernel refuses IP_TRANSPARENT (no CAP_NET_ADMIN), the
 * process stops trying, says so once and connects from its own address from then on.
 */
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { chooseSource, type SourceFallbackReason, type SourceVia } from '../policy/source-address.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import { transparentConnect, transparentRefusal, TransparentSocketError } from './transparent-connect.js';

/** What a connection's source turned out to be: `preserved`, or why not. */
export type SourceOutcome = 'preserved' | SourceFallbackReason;

/** Options of {@link UpstreamDialer}. */
export interface UpstreamDialerOptions {
  readonly logger: Logger;
  /** `on`: preserve where the mesh vouches for the address; else why it is off for this process. */
  readonly mode: 'on' | 'disabled' | 'not_permitted';
  /** Told each connection's outcome once (a metric). */
  readonly onOutcome?: (outcome: SourceOutcome) => void;
}

/** Source address preservation as configured and as this process can do it (for status and readiness detail). */
export interface SourcePreservation {
  readonly configured: 'on' | 'off';
  /** Whether workloads see their clients' addresses (where the mesh vouches for them). */
  readonly active: boolean;
  /** Why it is not active although configured on (the kernel's refusal of IP_TRANSPARENT). */
  readonly reason?: string;
}

/** Probes this process's capability (one socket opened and closed) when `configured` is on. */
export function sourcePreservation(configured: 'on' | 'off'): SourcePreservation {
  if (configured === 'off') return { configured, active: false };
  const refusal = transparentRefusal();
  return refusal === undefined ? { configured, active: true } : { configured, active: false, reason: refusal };
}

/** The dialer mode of a {@link SourcePreservation}. */
export function dialMode(p: SourcePreservation): UpstreamDialerOptions['mode'] {
  if (p.active) return 'on';
  return p.configured === 'off' ? 'disabled' : 'not_permitted';
}

/** Reasons that mean a peer claimed an address the mesh does not give it: worth a log line. */
const SUSPICIOUS: ReadonlySet<SourceOutcome> = new Set(['unknown_source', 'identity_mismatch', 'node_mismatch']);

/** Opens upstream connections to local workloads. */
export class UpstreamDialer {
  private readonly logger: Logger;
  private readonly onOutcome: (outcome: SourceOutcome) => void;
  private off: 'disabled' | 'not_permitted' | undefined;
  private readonly refusedClaims: ThrottledLog;
  private readonly socketErrors: ThrottledLog;

  constructor(opts: UpstreamDialerOptions) {
    this.logger = opts.logger;
    this.off = opts.mode === 'on' ? undefined : opts.mode;
    this.onOutcome = opts.onOutcome ?? noop;
    this.refusedClaims = new ThrottledLog(this.logger, 'inbound: client address not preserved: the peer claimed an address the mesh does not give it (throttled)');
    this.socketErrors = new ThrottledLog(this.logger, 'inbound: client address not preserved: the transparent socket failed (throttled)');
  }

  /** Whether this process connects from client addresses (false once IP_TRANSPARENT was refused). */
  get preserving(): boolean {
    return this.off === undefined;
  }

  /**
   * A connecting socket to `address`:`port`, as `net.connect` makes it (connect, error and
   * timeout events alike), and the source it comes from (undefined: the agent's own address).
   */
  dial(index: WorkloadIndex, via: SourceVia, address: string, port: number): { socket: Socket; source: string | undefined } {
    const choice = chooseSource(index, via, address, this.off);
    if (!choice.preserve) {
      if (SUSPICIOUS.has(choice.reason) && via.kind === 'mtls') {
        this.refusedClaims.warn({ reason: choice.reason, claimed: via.claimed, peer: via.peerIdentity, peerAddress: via.peerAddress, dst: address });
      }
      return this.fallback(choice.reason, address, port);
    }
    try {
      // A connection captured here is in this node's conntrack table with the client's port.
      const avoid = via.kind === 'mtls' ? {} : { avoidPort: via.port };
      const socket = transparentConnect({ source: choice.address, host: address, port, allowHalfOpen: true, noDelay: true, ...avoid });
      this.onOutcome('preserved');
      return { socket, source: choice.address };
    } catch (err) {
      if (err instanceof TransparentSocketError && err.notPermitted) {
        this.off = 'not_permitted';
        this.logger.warn({ code: err.code, err: err.message }, 'source address preservation off: the kernel refused IP_TRANSPARENT (the agent needs CAP_NET_ADMIN); workloads now see the agent\'s address');
        return this.fallback('not_permitted', address, port);
      }
      this.socketErrors.warn({ code: (err as TransparentSocketError).code, err: (err as Error).message, src: choice.address, dst: address });
      return this.fallback('socket_error', address, port);
    }
  }

  private fallback(reason: SourceFallbackReason, address: string, port: number): { socket: Socket; source: undefined } {
    this.onOutcome(reason);
    return { socket: net.connect({ host: address, port, allowHalfOpen: true, noDelay: true }), source: undefined };
  }
}

function noop(): void {}
