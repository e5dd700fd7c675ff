/**
 * The outbound side: a connection a meshed local workload opened, captured on :15001.
 * Original destination -> {@link planOutbound} (source workload, Service VIP round robin or
 * direct address) -> same node (in-process to the inbound side), other node (mTLS tunnel),
 * plaintext when the snapshot says the destination is not meshed, or a reset: never plaintext
 * for a meshed workload, and nothing at all before the first snapshot.
 */
import type { ClientHttp2Stream, IncomingHttpHeaders, IncomingHttpStatusHeader } from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WorkloadInfo } from '../../mesh/types.js';
import type { ConnectionRecord, ConnectionTable } from './connection-table.js';
import type { InboundProxy } from './inbound.js';
import type { SocketAddress } from '../../mesh/types.js';
import { originalDst } from './original-dst.js';
import { hasSnapshot, planOutbound, type OutboundPlan } from '../policy/outbound-plan.js';
import { BalancerRegistry } from '../policy/balancer.js';
import { connectErrorKind, refusalKind, respond, tunnelAnswerKind } from '../policy/respond.js';
import { isMeshletError } from '../../mesh/errors.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { abort, splice } from './splice.js';
import { hostPort, plainAddress } from '../../mesh/address.js';
import type { TunnelPool } from './tunnel/pool.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { OutboundHttp } from '../http/outbound-http.js';
import { upgradeViaTunnel } from '../http/outbound-upgrade.js';
import { portProtocol, type PortProtocol } from '../../mesh/port-protocol.js';
import { DEFAULT_SNIFF_TIMEOUT_MS, sniff } from '../http/sniff.js';

/** Options of {@link OutboundProxy}. */
export interface OutboundProxyOptions {
  readonly logger: Logger;
  readonly table: ConnectionTable;
  readonly index: () => WorkloadIndex;
  readonly inbound: InboundProxy;
  readonly tunnels: TunnelPool;
  /** The agent's own listener ports: a connection whose original destination is one of them would loop. */
  readonly ownPorts: ReadonlySet<number>;
  /** How long a peer agent may take to answer a CONNECT (it connects to the workload first). */
  readonly responseTimeoutMs?: number;
  /**
   * Where a captured connection came from and was going (default {@link capturedAddresses}: its
   * peer address and `SO_ORIGINAL_DST`). Tests on loopback, which have no REDIRECT, inject it.
   */
  readonly captured?: (socket: Socket) => CapturedAddresses;
  /** The Services' balancers (default: round robin, owned by this proxy); they outlive snapshots. */
  readonly balancers?: BalancerRegistry;
  /**
   * The L7 side: connections to a Service port that is HTTP (declared, or detected) are served
   * there. Absent: every connection is opaque TCP.
   */
  readonly http?: OutboundHttp;
  /** How long detection waits for a client's first bytes (default {@link DEFAULT_SNIFF_TIMEOUT_MS}). */
  readonly sniffTimeoutMs?: number;
}

/** A captured connection's source address and original destination. */
export interface CapturedAddresses {
  readonly source: string;
  readonly destination: SocketAddress;
}

/**
 * The kernel's view of a captured connection: the peer address and `SO_ORIGINAL_DST`.
 * @throws MeshletError MESHLET_ERR_ORIGINAL_DST when the original destination cannot be read.
 */
export function capturedAddresses(socket: Socket): CapturedAddresses {
  return { source: plainAddress(socket.remoteAddress), destination: originalDst(socket) };
}

/** Handles captured outbound connections. */
export class OutboundProxy {
  private readonly logger: Logger;
  private readonly table: ConnectionTable;
  private readonly index: () => WorkloadIndex;
  private readonly inbound: InboundProxy;
  private readonly tunnels: TunnelPool;
  private readonly ownPorts: ReadonlySet<number>;
  private readonly responseTimeoutMs: number;
  private readonly captured: (socket: Socket) => CapturedAddresses;
  private readonly balancers: BalancerRegistry;
  private readonly http: OutboundHttp | undefined;
  private readonly sniffTimeoutMs: number;
  /** A pod can open refused connections at will: one warning a minute (each has its access-log line). */
  private readonly refusedLog: ThrottledLog;
  /** Peer agents refuse CONNECTs as their policy says, possibly for every connection: throttled too. */
  private readonly tunnelRefusedLog: ThrottledLog;

  constructor(opts: OutboundProxyOptions) {
    this.logger = opts.logger;
    this.table = opts.table;
    this.index = opts.index;
    this.inbound = opts.inbound;
    this.tunnels = opts.tunnels;
    this.ownPorts = opts.ownPorts;
    // Longer than the peer's own 10 s connect timeout, so its 503/504 arrives first.
    this.responseTimeoutMs = opts.responseTimeoutMs ?? 15_000;
    this.captured = opts.captured ?? capturedAddresses;
    this.balancers = opts.balancers ?? new BalancerRegistry();
    this.http = opts.http;
    this.sniffTimeoutMs = opts.sniffTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS;
    this.refusedLog = new ThrottledLog(opts.logger, 'outbound: captured connection refused rather than sent in plaintext');
    this.tunnelRefusedLog = new ThrottledLog(opts.logger, 'outbound: the peer agent refused the tunnel CONNECT');
  }

  /** Entry point for a socket accepted on the outbound capture port (paused). */
  onConnection(socket: Socket): void {
    socket.on('error', noop);
    let srcAddress: string;
    let dst: SocketAddress;
    try {
      ({ source: srcAddress, destination: dst } = this.captured(socket));
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, src: socket.remoteAddress }, 'outbound: no original destination');
      socket.destroy();
      return;
    }
    if (this.ownPorts.has(dst.port) && dst.address === plainAddress(socket.localAddress)) {
      // Not redirected: someone dialled the capture port itself. Serving it would loop.
      this.logger.warn({ src: srcAddress, dst: hostPort(dst.address, dst.port) }, 'outbound: direct connection to the capture port refused');
      socket.destroy();
      return;
    }
    const rec = this.table.open('outbound', hostPort(srcAddress, socket.remotePort ?? 0), hostPort(dst.address, dst.port), socket);
    rec.counted = socket;
    const index = this.index();
    // Tells the balancers about a new snapshot the first time one is used (a no-op otherwise).
    this.balancers.apply(index);
    if (this.http !== undefined && hasSnapshot(index)) {
      const source = index.localWorkload(srcAddress);
      const entry = source === undefined ? undefined : index.serviceAt(dst.address, dst.port);
      if (source !== undefined && entry !== undefined && entry.endpoints.length > 0) {
        const protocol = portProtocol(entry.port, { opaquePorts: index.opaquePortsOf(entry.service.key) });
        if (protocol !== 'tcp') {
          this.layer7(rec, socket, source, entry, protocol, srcAddress, dst);
          return;
        }
      }
    }
    this.carryOut(rec, socket, planOutbound(index, srcAddress, dst, this.balancers.pick));
  }

  /**
   * A Service port that is (or may be) HTTP: served at L7 by `OutboundHttp`, each request on its
   * own. HTTP/2 and gRPC ports are HTTP/2 with prior knowledge; other ports are sniffed first
   * (an `http` port too, for its version), and what is not HTTP goes on as opaque TCP.
   */
  private layer7(rec: ConnectionRecord, socket: Socket, source: WorkloadInfo, entry: ServicePortEntry, protocol: Exclude<PortProtocol, 'tcp'>, srcAddress: string, dst: SocketAddress): void {
    const http = this.http as OutboundHttp;
    rec.sourceWorkload = source.uid;
    rec.sourceIdentity = source.identity;
    rec.service = entry.service.key;
    const serve = (version: 'http1' | 'h2'): void => {
      rec.mode = 'http';
      http.serve(socket, {
        source,
        sourceAddress: rec.source,
        sourceIp: srcAddress,
        entry,
        ...(protocol === 'http2' || protocol === 'grpc' ? { upstreamProto: 'HTTP/2' as const } : {}),
        onClose: (failure, reason) => this.table.close(rec, failure, reason),
        upgrade: (sock, target, replay, routed) => {
          // L4 from here, to the endpoint the request was routed to, the request head replayed.
          const l4 = (): void => {
            sock.unshift(replay);
            const service = { service: entry.service };
            if (target.kind === 'plaintext') {
              this.carryOut(rec, sock, { kind: 'direct', mode: 'plaintext', address: target.address, port: target.port, source, ...service });
              return;
            }
            const plan = { source, workload: target.workload, address: target.address, port: target.port, ...service };
            this.carryOut(rec, sock, target.local ? { kind: 'local', ...plan } : { kind: 'tunnel', ...plan });
          };
          const { protocol } = routed;
          if (target.kind === 'plaintext' || target.local || protocol === undefined) {
            l4();
            return;
          }
          // Another node: an extended CONNECT, so the destination agent serves it as a request.
          const dest = target.workload;
          rec.mode = 'tunnel';
          rec.destinationWorkload = dest.uid;
          rec.destinationIdentity = dest.identity;
          rec.securityPolicy = 'mutual_tls';
          upgradeViaTunnel({
            logger: this.logger,
            socket: sock,
            request: { ...routed, protocol },
            sourceIdentity: source.identity,
            sourceAddress: rec.source,
            target: { nodeAddress: dest.nodeAddress, identity: dest.identity, address: target.address, port: target.port },
            responseTimeoutMs: this.responseTimeoutMs,
            open: (identity, to, headers) => this.tunnels.upgrade(identity, to, headers),
            fallback: l4,
            opened: (stream) => void rec.ends.push(stream),
            done: (failure, reason, outcome) => this.table.close(rec, failure, reason, outcome),
          });
        },
      }, version);
    };
    if (protocol === 'http2' || protocol === 'grpc') {
      serve('h2');
      return;
    }
    void sniff(socket, { timeoutMs: this.sniffTimeoutMs }).then((found) => {
      if (found.reason === 'closed') {
        this.table.close(rec, 'downstream_reset', found.error?.message ?? 'closed during protocol detection');
        return;
      }
      if (found.protocol === 'http1' || found.protocol === 'h2') {
        serve(found.protocol);
        return;
      }
      if (protocol === 'http') {
        // Declared HTTP: the sniff only told the version. Whatever is not a request line the
        // detector knows goes to the HTTP/1.1 parser (a 400 there), never around the L7 layer.
        serve('http1');
        return;
      }
      // Not HTTP (or not yet, or TLS): opaque TCP, decided now with the snapshot in force.
      const index = this.index();
      this.balancers.apply(index);
      this.carryOut(rec, socket, planOutbound(index, srcAddress, dst, this.balancers.pick));
    });
  }

  private carryOut(rec: ConnectionRecord, socket: Socket, plan: OutboundPlan): void {
    if (plan.source !== undefined) {
      rec.sourceWorkload = plan.source.uid;
      rec.sourceIdentity = plan.source.identity;
    }
    if (plan.service !== undefined) rec.service = plan.service.key;
    switch (plan.kind) {
      case 'refuse': {
        const failure = refusalKind(plan.why);
        const code = respond(failure).errorCode;
        if (plan.why === 'no-endpoints') {
          this.logger.warn({ code, service: rec.service, dst: rec.destination }, 'outbound: service has no endpoints');
        } else {
          this.refusedLog.warn({ code, why: plan.why, src: rec.source, dst: rec.destination });
        }
        abort(socket);
        this.table.close(rec, failure, plan.reason);
        return;
      }
      case 'direct':
        this.direct(rec, socket, plan.address, plan.port, plan.mode);
        return;
      case 'local':
      case 'tunnel':
        rec.destinationWorkload = plan.workload.uid;
        rec.destinationIdentity = plan.workload.identity;
        rec.securityPolicy = 'mutual_tls';
        if (plan.kind === 'local') {
          rec.mode = 'local';
          // Hand the socket to the inbound side; it keeps its own record (the destination's
          // view), this one closes with the socket.
          this.inbound.deliverLocal(socket, plan.source, plan.address, plan.port, plan.service?.key, (failure, reason) =>
            this.table.close(rec, failure, reason),
          );
          return;
        }
        rec.mode = 'tunnel';
        void this.tunnel(rec, socket, plan.source, plan.workload, plan.address, plan.port);
        return;
    }
  }

  /** Plaintext straight to the destination (not meshed, or not the mesh's business). */
  private direct(rec: ConnectionRecord, socket: Socket, address: string, port: number, mode: 'passthrough' | 'plaintext'): void {
    rec.mode = mode;
    rec.destination = hostPort(address, port);
    const upstream = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    rec.ends.push(upstream);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      splice(socket, upstream, (outcome) => this.table.close(rec, undefined, undefined, outcome));
    });
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (connected) return;
      abort(socket);
      this.table.close(rec, connectErrorKind(err.code), `connect ${hostPort(address, port)}: ${err.code ?? err.message}`);
    });
  }

  private async tunnel(rec: ConnectionRecord, socket: Socket, source: WorkloadInfo, dest: WorkloadInfo, address: string, port: number): Promise<void> {
    let stream: ClientHttp2Stream;
    try {
      stream = await this.tunnels.open(
        source.identity,
        { nodeAddress: dest.nodeAddress, identity: dest.identity, address, port },
        { forwarded: `for="${rec.source}"` },
      );
    } catch (err) {
      // The pool's own code (handshake, identity, ...) when it has one, else the table's.
      const code = isMeshletError(err) ? err.code : respond('tunnel_failed').errorCode;
      this.logger.warn({ code, err: (err as Error).message, dst: rec.destination }, 'outbound: tunnel not opened');
      abort(socket);
      this.table.close(rec, 'tunnel_failed', (err as Error).message);
      return;
    }
    rec.ends.push(stream);
    // One timer per connection: a peer agent that never answers the CONNECT (overloaded,
    // or a workload that never accepts) must not hold the application forever.
    const timer = setTimeout(() => {
      rec.failure = 'tunnel_timeout';
      rec.reason = `no answer to CONNECT within ${this.responseTimeoutMs} ms`;
      abort(socket);
    }, this.responseTimeoutMs);
    timer.unref();
    stream.once('close', () => clearTimeout(timer));
    stream.once('response', (headers: IncomingHttpHeaders & IncomingHttpStatusHeader) => {
      clearTimeout(timer);
      const status = headers[':status'] ?? 0;
      // Any 2xx opens the tunnel (RFC 9110, 9.3.6); a meshlet peer answers 200.
      if (status < 200 || status > 299) {
        rec.failure = tunnelAnswerKind(status);
        rec.reason = `peer agent answered ${String(status)}`;
        this.tunnelRefusedLog.warn({ code: respond(rec.failure).errorCode, status, src: rec.source, dst: rec.destination, identity: rec.destinationIdentity });
        abort(socket);
      }
    });
    splice(socket, stream, (outcome) => {
      if (outcome.reset && rec.failure === undefined && outcome.error !== undefined && outcome.resetBy === 'b') {
        rec.failure = 'tunnel_reset';
        rec.reason = outcome.error.message;
      }
      this.table.close(rec, rec.failure, rec.reason, outcome);
    });
  }
}

function noop(): void {}
