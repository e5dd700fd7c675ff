/**
 * The outbound side: a connection a meshed local workload opened, captured on :15001.
 * Original destination -> {@link planOutbound} (source workload, Service VIP round robin or
 * direct address) -> same node (in-process to the inbound side), other node (mTLS tunnel),
 * plaintext when the snapshot says the destination is not meshed, or a reset: never plaintext
 * for a meshed workload, and nothing at all before the first snapshot.
 */
import type { ClientHttp2Stream } from 'node:http2';
import net, { type Socket } from 'node:net';
import type { Logger } from 'pino';
import type { EndpointInfo, TrafficPolicyInfo, WorkloadInfo } from '../../mesh/types.js';
import type { ConnectionRecord, ConnectionTable } from './connection-table.js';
import type { InboundProxy } from './inbound.js';
import type { SocketAddress } from '../../mesh/types.js';
import { originalDst } from './original-dst.js';
import { hasSnapshot, planOutbound, type OutboundPlan } from '../policy/outbound-plan.js';
import { BalancerRegistry } from '../policy/balancer.js';
import { connectErrorKind, refusalKind, respond, tunnelAnswerKind, type ErrorKind } from '../policy/respond.js';
import type { OutlierRegistry } from './outlier-registry.js';
import { admitTcp, ConnectionCounts, hasTcpPolicy } from '../policy/resilience/tcp-admission.js';
import type { ResilienceMetrics } from './resilience-metrics.js';
import { isMeshletError } from '../../mesh/errors.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { abort, splice, type SpliceOptions } from './splice.js';
import { hostPort, plainAddress } from '../../mesh/address.js';
import type { TunnelPool } from './tunnel/pool.js';
import { openTunnel } from './tunnel/opening.js';
import type { EndpointPicker, ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { OutboundHttp } from '../http/outbound-http.js';
import { upgradeViaTunnel } from '../http/outbound-upgrade.js';
import { portProtocol, type PortProtocol } from '../../mesh/port-protocol.js';
import { DEFAULT_SNIFF_TIMEOUT_MS, sniff } from '../http/sniff.js';
import { admitsConnection, defaultMaxConnections, processCap, workloadCap } from '../policy/workload-limit.js';
import { openFilesLimit } from '../../ops/open-files-limit.js';
import { attachThrottle, throttleOf, type BandwidthLimiter } from './bandwidth-throttle.js';

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
  /**
   * Passive health: each L4 connect to a Service endpoint is reported (a failure as a gateway
   * error), and its ejections skip endpoints of this proxy's balancers too.
   */
  readonly outliers?: OutlierRegistry;
  /** Counts refusals by `maxConnections` and injected TCP faults. */
  readonly resilience?: Pick<ResilienceMetrics, 'overflow' | 'fault'>;
  /** The dice of TCP fault injection, uniform in [0, 1) (default `Math.random`). */
  readonly random?: () => number;
  /** Per-workload connection caps (docs/workload-limits.md); default: this process alone, the cap sized from its open-files limit. */
  readonly workloadLimits?: WorkloadLimitOptions;
}

/** How this process applies the per-workload connection caps. */
export interface WorkloadLimitOptions {
  /** The cap of a workload with no `meshlet.io/max-connections`, agent-wide ({@link defaultMaxConnections}). */
  readonly defaultMaxConnections: number;
  /** Data-path processes sharing the capture port: this one admits its part of each cap ({@link processCap}). */
  readonly workers: number;
  /** Told once per refused connection, with the workload's uid (a metric). */
  readonly refused?: (workload: string) => void;
  /** The byte buckets of workloads with a `meshlet.io/max-bandwidth` (this process); absent: none is limited. */
  readonly bandwidth?: BandwidthLimiter;
}

/**
 * How one L4 connection to a Service port is carried out: the endpoint picked (for passive
 * health) and the TrafficPolicy's timeouts (undefined: the agent's own).
 */
interface L4Target {
  readonly entry: ServicePortEntry | undefined;
  readonly endpoint: EndpointInfo | undefined;
  readonly connectTimeoutMs: number | undefined;
  readonly idleTimeoutMs: number | undefined;
}

const NO_TARGET: L4Target = Object.freeze({ entry: undefined, endpoint: undefined, connectTimeoutMs: undefined, idleTimeoutMs: undefined });

/** Failures that say the endpoint could not be reached (passive health counts them). */
const CONNECT_FAILURES: ReadonlySet<ErrorKind | undefined> = new Set<ErrorKind | undefined>(['connect_refused', 'connect_failed', 'connect_timeout']);

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
  private readonly outliers: OutlierRegistry | undefined;
  private readonly resilience: OutboundProxyOptions['resilience'];
  private readonly random: () => number;
  /** Open connections per Service port that has a `maxConnections` (this process). */
  readonly openConnections = new ConnectionCounts();
  /** Open connections per local source workload uid (this process), against its cap. */
  readonly workloadConnections = new ConnectionCounts();
  private readonly workloadLimits: WorkloadLimitOptions;
  /** A workload over its cap may retry in a loop: one warning a minute (each refusal has its access-log line and metric). */
  private readonly limitLog: ThrottledLog;
  /** The endpoint the last L4 pick chose (set synchronously inside `planOutbound`). */
  private picked: EndpointInfo | undefined;
  /** The L4 balancers' pick, remembering the endpoint for passive health (one closure per proxy). */
  private readonly pickL4: EndpointPicker = (entry) => (this.picked = this.balancers.pick(entry));

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
    this.outliers = opts.outliers;
    this.resilience = opts.resilience;
    this.random = opts.random ?? Math.random;
    this.workloadLimits = opts.workloadLimits ?? { defaultMaxConnections: defaultMaxConnections(openFilesLimit()), workers: 1 };
    this.limitLog = new ThrottledLog(opts.logger, 'outbound: a workload reached its connection limit; its excess connections are refused');
    this.outliers?.attach(this.balancers);
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
    this.outliers?.apply(index);
    const source = hasSnapshot(index) ? index.localWorkload(srcAddress) : undefined;
    if (source !== undefined && !this.holdForWorkload(rec, socket, source)) return;
    if (this.http !== undefined && source !== undefined) {
      const entry = index.serviceAt(dst.address, dst.port);
      if (entry !== undefined && entry.endpoints.length > 0) {
        const protocol = portProtocol(entry.port, { opaquePorts: index.opaquePortsOf(entry.service.key) });
        if (protocol !== 'tcp') {
          this.layer7(rec, socket, source, entry, protocol, srcAddress, dst);
          return;
        }
      }
    }
    this.planAndCarryOut(rec, socket, index, srcAddress, dst);
  }

  /**
   * Counts the connection against its source workload's cap until it closes (and marks it with
   * the workload's bandwidth throttle when it has a limit), or refuses it at
   * once (reset, `workload_limit`, flag UO) when the workload already holds its part of the cap
   * in this process: the excess of that workload only, before anything is dialled or parsed.
   */
  private holdForWorkload(rec: ConnectionRecord, socket: Socket, source: WorkloadInfo): boolean {
    const open = this.workloadConnections.get(source.uid);
    const cap = processCap(workloadCap(source, this.workloadLimits.defaultMaxConnections), this.workloadLimits.workers);
    if (admitsConnection(open, cap)) {
      this.workloadConnections.holdUntilClosed(source.uid, socket);
      // Limited: every splice this socket becomes a side of charges both ways to the workload.
      const throttle = this.workloadLimits.bandwidth?.forWorkload(source);
      if (throttle !== undefined) attachThrottle(socket, throttle);
      return true;
    }
    rec.sourceWorkload = source.uid;
    rec.sourceIdentity = source.identity;
    this.workloadLimits.refused?.(source.uid);
    const limit = source.limits?.maxConnections === undefined ? 'the default per-workload cap' : 'meshlet.io/max-connections';
    this.limitLog.warn({ code: respond('workload_limit').errorCode, workload: source.uid, open, cap, limit });
    abort(socket);
    this.table.close(rec, 'workload_limit', `${source.uid} has ${open} connections open through this agent process, its part of ${limit}`);
    return false;
  }

  /** Plans an opaque TCP connection with the snapshot in force and carries the plan out. */
  private planAndCarryOut(rec: ConnectionRecord, socket: Socket, index: WorkloadIndex, srcAddress: string, dst: SocketAddress): void {
    this.picked = undefined;
    const plan = planOutbound(index, srcAddress, dst, this.pickL4);
    const entry = plan.service === undefined ? undefined : index.serviceAt(dst.address, dst.port);
    this.carryOut(rec, socket, plan, entry, this.picked);
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
      const throttle = throttleOf(socket);
      http.serve(socket, {
        source,
        ...(throttle === undefined ? {} : { throttle }),
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
              this.carryOut(rec, sock, { kind: 'direct', mode: 'plaintext', address: target.address, port: target.port, source, ...service }, entry);
              return;
            }
            const plan = { source, workload: target.workload, address: target.address, port: target.port, ...service };
            this.carryOut(rec, sock, target.local ? { kind: 'local', ...plan } : { kind: 'tunnel', ...plan }, entry);
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
      this.outliers?.apply(index);
      this.planAndCarryOut(rec, socket, index, srcAddress, dst);
    });
  }

  /**
   * Carries a plan out. `entry`: the Service port dialled (a VIP), whose TrafficPolicy may refuse
   * the connection (maxConnections, an injected reset), delay it, or bound its connect and idle
   * time; `endpoint`: the endpoint the L4 balancer picked there, for passive health.
   */
  private carryOut(rec: ConnectionRecord, socket: Socket, plan: OutboundPlan, entry?: ServicePortEntry, endpoint?: EndpointInfo): void {
    if (plan.source !== undefined) {
      rec.sourceWorkload = plan.source.uid;
      rec.sourceIdentity = plan.source.identity;
    }
    if (plan.service !== undefined) rec.service = plan.service.key;
    if (plan.kind === 'refuse') {
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
    if (entry === undefined) {
      this.connect(rec, socket, plan, NO_TARGET);
      return;
    }
    const policy = this.index().trafficPolicyOf(entry.service.key);
    if (!hasTcpPolicy(policy)) {
      // Without passive health either, nothing is allocated for the connection.
      this.connect(rec, socket, plan, endpoint === undefined || this.outliers === undefined ? NO_TARGET : { ...NO_TARGET, entry, endpoint });
      return;
    }
    this.admit(rec, socket, plan, entry, endpoint, policy as TrafficPolicyInfo);
  }

  /**
   * A connection to a Service port with a TrafficPolicy for L4: refused at once over
   * `maxConnections` (UO) or by an injected reset (FI), else counted while it lives and
   * connected, after an injected delay if one is drawn.
   */
  private admit(rec: ConnectionRecord, socket: Socket, plan: Exclude<OutboundPlan, { kind: 'refuse' }>, entry: ServicePortEntry, endpoint: EndpointInfo | undefined, policy: TrafficPolicyInfo): void {
    const open = this.openConnections.get(entry.key);
    const a = admitTcp(policy, open, this.random);
    const service = entry.service.key;
    if (a.refuse !== undefined) {
      if (a.refuse === 'overflow') this.resilience?.overflow(service, 'max_connections');
      else this.resilience?.fault(service, 'reset');
      abort(socket);
      this.table.close(rec, a.refuse, a.refuse === 'overflow' ? `${open} connections open to ${entry.key}: circuitBreaker.maxConnections reached` : 'tcpFault: connection reset injected');
      return;
    }
    if (a.counted) this.openConnections.holdUntilClosed(entry.key, socket);
    const target: L4Target = { entry, endpoint, connectTimeoutMs: a.connectTimeoutMs, idleTimeoutMs: a.idleTimeoutMs };
    if (a.delayMs === 0) {
      this.connect(rec, socket, plan, target);
      return;
    }
    this.resilience?.fault(service, 'delay');
    setTimeout(onDelayed, a.delayMs, this, rec, socket, plan, target);
  }

  /** After an injected delay (called by the delay's timer): the client may have gone meanwhile. */
  delayed(rec: ConnectionRecord, socket: Socket, plan: Exclude<OutboundPlan, { kind: 'refuse' }>, target: L4Target): void {
    if (socket.destroyed) {
      this.table.close(rec, 'downstream_reset', 'the client went away during an injected delay');
      return;
    }
    this.connect(rec, socket, plan, target);
  }

  /** Reports a connect's result to passive health (a failure is a gateway error without a status). */
  private reportConnect(target: L4Target, status: number): void {
    if (this.outliers === undefined || target.entry === undefined || target.endpoint === undefined) return;
    this.outliers.reportEndpoint(target.entry, target.endpoint, status, status === 0);
  }

  private connect(rec: ConnectionRecord, socket: Socket, plan: Exclude<OutboundPlan, { kind: 'refuse' }>, target: L4Target): void {
    switch (plan.kind) {
      case 'direct':
        this.direct(rec, socket, plan.address, plan.port, plan.mode, target);
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
          this.inbound.deliverLocal(socket, plan.source, plan.address, plan.port, plan.service?.key, (failure, reason) => {
            // Known only at the end here: a connect failure, or a connection that was made.
            if (CONNECT_FAILURES.has(failure)) this.reportConnect(target, 0);
            else if (failure === undefined) this.reportConnect(target, 200);
            this.table.close(rec, failure, reason);
          });
          return;
        }
        rec.mode = 'tunnel';
        void this.tunnel(rec, socket, plan.source, plan.workload, plan.address, plan.port, target);
        return;
    }
  }

  /** Plaintext straight to the destination (not meshed, or not the mesh's business). */
  private direct(rec: ConnectionRecord, socket: Socket, address: string, port: number, mode: 'passthrough' | 'plaintext', target: L4Target): void {
    rec.mode = mode;
    rec.destination = hostPort(address, port);
    const upstream = net.connect({ host: address, port, allowHalfOpen: true, noDelay: true });
    rec.ends.push(upstream);
    let connected = false;
    const connectMs = target.connectTimeoutMs;
    if (connectMs !== undefined) {
      // The socket's own inactivity timer bounds the connect (no timer of ours); off once connected.
      upstream.setTimeout(connectMs);
      upstream.once('timeout', () => {
        if (connected) return;
        upstream.destroy();
        abort(socket);
        this.reportConnect(target, 0);
        this.table.close(rec, 'connect_timeout', `connect ${hostPort(address, port)}: not connected within ${connectMs} ms`);
      });
    }
    upstream.once('connect', () => {
      connected = true;
      if (connectMs !== undefined) upstream.setTimeout(0);
      this.reportConnect(target, 200);
      splice(socket, upstream, (outcome) => this.table.close(rec, undefined, undefined, outcome), spliceOptions(target));
    });
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (connected) return;
      abort(socket);
      this.reportConnect(target, 0);
      this.table.close(rec, connectErrorKind(err.code), `connect ${hostPort(address, port)}: ${err.code ?? err.message}`);
    });
  }

  /**
   * Through a tunnel stream. Without a connect timeout the peer has `responseTimeoutMs` to answer
   * the CONNECT once the stream is open (tunnel_timeout); with one, opening the stream and its
   * answer together must fit in it (connect_timeout).
   */
  private async tunnel(rec: ConnectionRecord, socket: Socket, source: WorkloadInfo, dest: WorkloadInfo, address: string, port: number, target: L4Target): Promise<void> {
    const connectMs = target.connectTimeoutMs;
    let stream: ClientHttp2Stream | undefined;
    let timer: NodeJS.Timeout | undefined;
    let expired = false;
    // One timer per connection: a peer agent that never answers the CONNECT (overloaded,
    // or a workload that never accepts) must not hold the application forever.
    const expire = (): void => {
      expired = true;
      const kind = connectMs === undefined ? 'tunnel_timeout' : 'connect_timeout';
      rec.failure = kind;
      rec.reason = connectMs === undefined ? `no answer to CONNECT within ${this.responseTimeoutMs} ms` : `tunnel stream not open and answered within ${connectMs} ms`;
      this.reportConnect(target, 0);
      abort(socket);
      // Before the stream exists nothing is spliced yet to close the record.
      if (stream === undefined) this.table.close(rec, kind, rec.reason);
    };
    if (connectMs !== undefined) {
      timer = setTimeout(expire, connectMs);
      timer.unref();
    }
    try {
      stream = await this.tunnels.open(
        source.identity,
        { nodeAddress: dest.nodeAddress, identity: dest.identity, address, port },
        { forwarded: `for="${rec.source}"` },
      );
    } catch (err) {
      clearTimeout(timer);
      if (expired) return;
      // The pool's own code (handshake, identity, ...) when it has one, else the table's.
      const code = isMeshletError(err) ? err.code : respond('tunnel_failed').errorCode;
      this.logger.warn({ code, err: (err as Error).message, dst: rec.destination }, 'outbound: tunnel not opened');
      abort(socket);
      this.reportConnect(target, 0);
      this.table.close(rec, 'tunnel_failed', (err as Error).message);
      return;
    }
    if (expired) {
      // The connect timeout passed while the stream was being opened: the connection is gone.
      abort(stream);
      return;
    }
    rec.ends.push(stream);
    if (timer === undefined) {
      timer = setTimeout(expire, this.responseTimeoutMs);
      timer.unref();
    }
    const t = timer;
    // Until the peer answers, a refused stream is opened again (tunnel/opening.ts).
    openTunnel(socket, stream, {
      open: () => this.tunnels.open(source.identity, { nodeAddress: dest.nodeAddress, identity: dest.identity, address, port }, { forwarded: `for="${rec.source}"` }),
      opened: (reopened) => {
        this.logger.debug({ dst: rec.destination }, 'outbound: tunnel stream refused before an answer; opened again');
        rec.ends.push(reopened);
      },
      answered: (headers) => {
        clearTimeout(t);
        const status = headers[':status'] ?? 0;
        // Any 2xx opens the tunnel (RFC 9110, 9.3.6); a meshlet peer answers 200.
        if (status < 200 || status > 299) {
          rec.failure = tunnelAnswerKind(status);
          rec.reason = `peer agent answered ${String(status)}`;
          this.tunnelRefusedLog.warn({ code: respond(rec.failure).errorCode, status, src: rec.source, dst: rec.destination, identity: rec.destinationIdentity });
          // A policy refusal (403) says nothing of the endpoint's health; the peer's failed connect does.
          if (rec.failure !== 'tunnel_denied') this.reportConnect(target, 0);
          abort(socket);
        } else {
          this.reportConnect(target, 200);
        }
      },
      lost: (lost, refused) => {
        if (rec.failure !== undefined) return;
        rec.failure = refused ? 'tunnel_refused' : 'tunnel_reset';
        rec.reason = `tunnel stream closed before the peer answered (code ${lost.rstCode ?? 0})`;
      },
      splice: (final) => {
        final.once('close', () => clearTimeout(t));
        splice(socket, final, (outcome) => {
          if (outcome.reset && rec.failure === undefined && outcome.error !== undefined && outcome.resetBy === 'b') {
            rec.failure = 'tunnel_reset';
            rec.reason = outcome.error.message;
          }
          this.table.close(rec, rec.failure, rec.reason, outcome);
        }, spliceOptions(target));
      },
      failed: (err) => {
        clearTimeout(t);
        const code = isMeshletError(err) ? err.code : respond('tunnel_failed').errorCode;
        this.logger.warn({ code, err: (err as Error).message, dst: rec.destination }, 'outbound: tunnel not opened again after a refused stream');
        abort(socket);
        this.reportConnect(target, 0);
        this.table.close(rec, 'tunnel_failed', (err as Error).message);
      },
    });
  }
}

/** The splice's options for a target: its idle timeout when the policy sets one. */
function spliceOptions(target: L4Target): SpliceOptions {
  return target.idleTimeoutMs === undefined ? NO_SPLICE_OPTIONS : { idleTimeoutMs: target.idleTimeoutMs };
}

const NO_SPLICE_OPTIONS: SpliceOptions = Object.freeze({});

/** The timer of an injected delay (module-level: no closure per connection). */
function onDelayed(proxy: OutboundProxy, rec: ConnectionRecord, socket: Socket, plan: Exclude<OutboundPlan, { kind: 'refuse' }>, target: L4Target): void {
  proxy.delayed(rec, socket, plan, target);
}

function noop(): void {}
