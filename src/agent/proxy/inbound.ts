/**
 * The inbound side: connections arriving for a workload on this node, by one of three ways:
 * - a tunnel CONNECT stream from another node's agent (mTLS, peer identity known);
 * - in-process from our own outbound side (same-node traffic, source identity known);
 * - plaintext captured on :15006 (no identity): allowed only in PERMISSIVE mode.
 * All three pass the same policy check and the same accounting, then connect to the workload;
 * or, when the workload's AuthorizationPolicies have L7 rules that may decide requests on a port
 * declared HTTP, the connection is served as HTTP by the {@link InboundTerminator}, each request
 * checked on its own (`InboundHttp`).
 */
import { constants as h2, type ServerHttp2Stream } from 'node:http2';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { WorkloadInfo } from '../../mesh/types.js';
import { ThrottledLog } from '../../ops/throttled-log.js';
import { connectErrorKind, respond, type ErrorKind } from '../policy/respond.js';
import type { ConnectionRecord, ConnectionTable } from './connection-table.js';
import { originalDst } from './original-dst.js';
import { abort, splice } from './splice.js';
import { forwardedFor, hostPort, parseAuthority, plainAddress } from '../../mesh/address.js';
import type { TunnelRequest } from './tunnel/server.js';
import type { WorkloadIndex } from '../state/workload-index.js';
import { decideInbound, type InboundDecision, type InboundVia } from '../policy/inbound-decision.js';
import { clientHelloSni, MAX_CLIENT_HELLO_BYTES } from '../policy/client-hello.js';
import { DEFAULT_SNIFF_TIMEOUT_MS, sniff } from '../http/sniff.js';
import type { InboundSource } from '../http/inbound-http.js';
import type { InboundTerminator } from '../http/inbound-terminate.js';
import type { Duplex } from 'node:stream';
import type { SourceVia } from '../policy/source-address.js';
import { UpstreamDialer, type SourceOutcome } from './upstream-dial.js';

/** Options of {@link InboundProxy}. */
export interface InboundProxyOptions {
  readonly logger: Logger;
  readonly table: ConnectionTable;
  readonly index: () => WorkloadIndex;
  /** A workload that has not accepted the connection by then counts as connect_failed. */
  readonly connectTimeoutMs?: number;
  /**
   * The agent's own ports (see {@link agentPortSet}): a connection to one of them is refused on
   * any address. A live set: the data plane adds the ports it actually bound.
   */
  readonly agentPorts: ReadonlySet<number>;
  /**
   * Serves a connection as HTTP when its workload's L7 authorization rules must see each request
   * (absent: such a connection is checked as opaque, where L7 rules fail closed).
   */
  readonly terminator?: InboundTerminator;
  /** How long to wait for a client's ClientHello when a policy has `connection.sni` conditions (default the protocol-detection timeout, 200 ms). */
  readonly sniTimeoutMs?: number;
  /**
   * Source address preservation: `on` connects to workloads from their clients' addresses where
   * the mesh vouches for them (`upstream-dial.ts`); default `disabled` (the agent's address).
   */
  readonly preserveSource?: 'on' | 'disabled' | 'not_permitted';
  /** Told each upstream connection's source outcome once (a metric). */
  readonly onSourceOutcome?: (outcome: SourceOutcome) => void;
}

/**
 * The ports of an agent that no inbound connection may reach, whatever the address: admin,
 * metrics, readiness, outbound and inbound capture, tunnel. 0 (an ephemeral port, in tests) is
 * left out; the data plane adds what it bound.
 */
export function agentPortSet(ports: Readonly<Record<string, number>>, extra: readonly number[] = []): Set<number> {
  return new Set([...Object.values(ports), ...extra].filter((p) => p > 0));
}

/** Delivers inbound connections to local workloads. */
export class InboundProxy {
  private readonly logger: Logger;
  private readonly table: ConnectionTable;
  private readonly index: () => WorkloadIndex;
  private readonly connectTimeoutMs: number;
  private readonly agentPorts: ReadonlySet<number>;
  private readonly terminator: InboundTerminator | undefined;
  private readonly sniTimeoutMs: number;
  /** Authorization denials: a client can make them at will, so one line a minute (each has its access-log line). */
  private readonly authzDenied: ThrottledLog;
  private readonly audited: ThrottledLog;
  private readonly dialer: UpstreamDialer;

  constructor(opts: InboundProxyOptions) {
    this.logger = opts.logger;
    this.table = opts.table;
    this.index = opts.index;
    this.connectTimeoutMs = opts.connectTimeoutMs ?? 10_000;
    this.agentPorts = opts.agentPorts;
    this.terminator = opts.terminator;
    this.sniTimeoutMs = opts.sniTimeoutMs ?? DEFAULT_SNIFF_TIMEOUT_MS;
    this.authzDenied = new ThrottledLog(this.logger, 'inbound connections denied by authorization policy (throttled; each has its access-log line)');
    this.audited = new ThrottledLog(this.logger, 'inbound connections matched AUDIT authorization rules (throttled; each has its access-log line)');
    this.dialer = new UpstreamDialer({ logger: this.logger, mode: opts.preserveSource ?? 'disabled', ...(opts.onSourceOutcome === undefined ? {} : { onOutcome: opts.onSourceOutcome }) });
  }


  /**
   * Checks every open inbound connection again under `index`'s AuthorizationPolicies and resets
   * those it denies now (ztunnel does the same): a policy change reaches live connections. A
   * connection it still allows is left alone. A spliced connection is checked as opaque (an L7
   * rule that now applies to it fails closed: the client's next connection is terminated and
   * checked per request); a terminated one as HTTP (its next requests are checked anyway).
   * Returns how many were closed.
   */
  review(index: WorkloadIndex): number {
    let closed = 0;
    for (const rec of this.table.list()) {
      const check = rec.recheck;
      if (check === undefined) continue;
      const workload = index.localWorkload(check.attributes.destinationIp);
      if (workload === undefined || workload.uid !== check.workload.uid) continue;
      const verdict = index.authzOf(workload).evaluate(check.attributes, check.mode);
      rec.authz = verdict;
      if (verdict.allowed) continue;
      for (const end of rec.ends) abort(end);
      const reason = `authorization: ${verdict.reason} (policies changed while it was open)`;
      this.authzDenied.warn({ src: rec.source, dst: rec.destination, identity: rec.sourceIdentity, reason, policy: verdict.decidedBy?.policy, rule: verdict.decidedBy?.rule });
      this.table.close(rec, 'authz_denied', reason);
      closed += 1;
    }
    return closed;
  }

  /** A plaintext connection captured on the inbound port. */
  onPlaintext(socket: Socket): void {
    socket.on('error', noop);
    let dst;
    try {
      dst = originalDst(socket);
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, src: socket.remoteAddress }, 'inbound: no original destination');
      socket.destroy();
      return;
    }
    const rec = this.table.open('inbound', hostPort(socket.remoteAddress ?? '', socket.remotePort ?? 0), hostPort(dst.address, dst.port), socket);
    rec.mode = 'plaintext';
    const via: InboundVia = { kind: 'plaintext', sourceAddress: plainAddress(socket.remoteAddress) };
    if (this.needsSni(dst.address)) this.afterSni(rec, socket, (sni) => this.plaintextVia(rec, socket, dst, { ...via, sni }));
    else this.plaintextVia(rec, socket, dst, via);
  }

  private plaintextVia(rec: ConnectionRecord, socket: Socket, dst: { address: string; port: number }, via: InboundVia): void {
    const decision = decideInbound(this.index(), dst, via, this.agentPorts, undefined, this.terminator !== undefined);
    if (!decision.allow) {
      this.refuse(rec, decision);
      abort(socket);
      return;
    }
    this.admit(rec, decision);
    if (decision.terminate) {
      rec.counted = socket;
      this.terminate(rec, socket, { kind: 'plaintext', address: rec.source }, dst);
      return;
    }
    this.connect(rec, socket, { kind: 'plaintext', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }, dst.address, dst.port, noAnswer);
  }

  /** A CONNECT stream from a peer agent. */
  onTunnelStream(stream: ServerHttp2Stream, req: TunnelRequest): void {
    const rec = this.table.open('inbound', forwardedFor(req.headers['forwarded']) ?? hostPort(req.peerAddress, 0), hostPort(req.address, req.port), stream);
    rec.mode = 'tunnel';
    rec.securityPolicy = 'mutual_tls';
    rec.sourceIdentity = req.peerIdentity;
    const claimed = forwardedFor(req.headers['forwarded']);
    const via: InboundVia = { kind: 'mtls', localIdentity: req.localIdentity, peerIdentity: req.peerIdentity, sourceAddress: claimed === undefined ? undefined : parseAuthority(claimed)?.address ?? claimed };
    if (!this.needsSni(req.address)) {
      this.tunnelVia(rec, stream, req, via, false);
      return;
    }
    // The application's first bytes come after the tunnel is up: answer first, read them, then
    // decide; a refusal is then a reset of the stream, not a status.
    if (stream.destroyed) {
      this.table.close(rec, 'upstream_reset', 'the tunnel stream closed before it was answered');
      return;
    }
    stream.respond({ ':status': h2.HTTP_STATUS_OK });
    this.afterSni(rec, stream, (sni) => this.tunnelVia(rec, stream, req, { ...via, sni }, true));
  }

  private tunnelVia(rec: ConnectionRecord, stream: ServerHttp2Stream, req: TunnelRequest, via: InboundVia & { kind: 'mtls' }, answered: boolean): void {
    const decision = decideInbound(this.index(), req, via, this.agentPorts, undefined, this.terminator !== undefined);
    if (!decision.allow) {
      this.refuse(rec, decision, ` (peer ${req.peerIdentity})`);
      if (answered) abort(stream);
      else if (!stream.destroyed) stream.respond({ ':status': respond(decision.kind).httpStatus }, { endStream: true });
      return;
    }
    this.admit(rec, decision);
    if (decision.terminate) {
      // The tunnel is up for the source; what it carries is served here, request by request.
      if (stream.destroyed) {
        this.table.close(rec, 'upstream_reset', 'the tunnel stream closed before it was answered');
        return;
      }
      if (!answered) stream.respond({ ':status': h2.HTTP_STATUS_OK });
      const source: InboundSource = { kind: 'mtls', identity: req.peerIdentity, localIdentity: req.localIdentity, address: forwardedFor(req.headers['forwarded']) ?? hostPort(req.peerAddress, 0) };
      this.terminate(rec, stream, source, { address: req.address, port: req.port });
      return;
    }
    // The peer's claim, as policy read it; chooseSource decides whether the mesh vouches for it.
    const from: SourceVia = { kind: 'mtls', peerIdentity: req.peerIdentity, peerAddress: req.peerAddress, claimed: via.sourceAddress };
    this.connect(rec, stream, from, req.address, req.port, (failure) => {
      if (stream.destroyed) return;
      if (answered) {
        if (failure !== undefined) abort(stream);
      } else if (failure === undefined) stream.respond({ ':status': h2.HTTP_STATUS_OK });
      else stream.respond({ ':status': respond(failure).httpStatus }, { endStream: true });
    });
  }

  /**
   * Same-node traffic handed over by the outbound side: the source identity is known without
   * TLS, the policy is the same as for a tunnel.
   */
  deliverLocal(
    socket: Socket,
    source: WorkloadInfo,
    address: string,
    port: number,
    service: string | undefined,
    onClose: (failure: ErrorKind | undefined, reason: string | undefined) => void,
  ): void {
    const rec = this.table.open('inbound', hostPort(socket.remoteAddress ?? '', socket.remotePort ?? 0), hostPort(address, port), socket);
    // The outbound record of the same connection ends with the same outcome.
    rec.onClose = onClose;
    rec.mode = 'local';
    rec.securityPolicy = 'mutual_tls';
    rec.sourceWorkload = source.uid;
    rec.sourceIdentity = source.identity;
    if (service !== undefined) rec.service = service;
    const via: InboundVia = { kind: 'local', sourceIdentity: source.identity, sourceAddress: plainAddress(socket.remoteAddress) };
    const target = { address, port };
    if (this.needsSni(address)) this.afterSni(rec, socket, (sni) => this.localVia(rec, socket, source, target, service, { ...via, sni }));
    else this.localVia(rec, socket, source, target, service, via);
  }

  private localVia(rec: ConnectionRecord, socket: Socket, source: WorkloadInfo, target: { address: string; port: number }, service: string | undefined, via: InboundVia): void {
    const decision = decideInbound(this.index(), target, via, this.agentPorts, undefined, this.terminator !== undefined);
    if (!decision.allow) {
      this.refuse(rec, decision);
      abort(socket);
      return;
    }
    this.admit(rec, decision);
    if (decision.terminate) {
      rec.counted = socket;
      const from: InboundSource = { kind: 'local', identity: source.identity, workload: source.uid, address: rec.source, ...(service === undefined ? {} : { service }) };
      this.terminate(rec, socket, from, target);
      return;
    }
    this.connect(rec, socket, { kind: 'local', address: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 }, target.address, target.port, noAnswer);
  }

  /** Whether the workload at `address` has a policy with a `connection.sni` condition (the ClientHello must be read first). */
  private needsSni(address: string): boolean {
    const index = this.index();
    const workload = index.localWorkload(address);
    return workload !== undefined && index.authzOf(workload).usesSni;
  }

  /** Reads the server name, then `then(sni)` unless the connection closed meanwhile; a throw resets the connection, never the process. */
  private afterSni(rec: ConnectionRecord, stream: Socket | ServerHttp2Stream, then: (sni: string | undefined) => void): void {
    this.readSni(rec, stream)
      .then((sni) => {
        if (sni !== null) then(sni);
      })
      .catch((err: unknown) => {
        this.logger.warn({ err: (err as Error).message, src: rec.source, dst: rec.destination }, 'inbound: failed after reading the ClientHello');
        abort(stream);
        this.table.close(rec, 'policy_denied', `failed after reading the ClientHello: ${(err as Error).message}`);
      });
  }

  /**
   * Reads the application's first bytes (then gives them back) for the server name of its TLS
   * ClientHello: the name, undefined when there is none (not TLS, no SNI, nothing sent within
   * the detection timeout), or null when the connection closed meanwhile (its record is closed).
   */
  private async readSni(rec: ConnectionRecord, stream: Socket | ServerHttp2Stream): Promise<string | null | undefined> {
    const r = await sniff(stream, { timeoutMs: this.sniTimeoutMs, maxBytes: MAX_CLIENT_HELLO_BYTES, decide: helloDecided });
    if (r.reason === 'closed' || stream.destroyed) {
      abort(stream);
      this.table.close(rec, undefined, 'closed before its first bytes were read');
      return null;
    }
    const hello = clientHelloSni(r.bytes);
    return hello.state === 'sni' ? hello.name : undefined;
  }

  /** An admitted connection: its destination, what authorization said, and what to check again on a policy change. */
  private admit(rec: ConnectionRecord, decision: Extract<InboundDecision, { allow: true }>): void {
    const { workload, authz } = decision;
    rec.destinationWorkload = workload.uid;
    rec.destinationIdentity = workload.identity;
    // Kept even when no policy selects the workload now: one may later.
    rec.recheck = { workload, attributes: decision.attributes, mode: decision.recheckMode };
    if (authz.decidedBy !== undefined || authz.audits.length > 0) rec.authz = authz;
    if (authz.audits.length > 0) this.audited.warn({ src: rec.source, dst: rec.destination, identity: rec.sourceIdentity, audits: authz.audits.map((a) => `${a.policy}#${a.rule}`) });
  }

  /**
   * Serves an admitted connection as HTTP: each request is checked and delivered by
   * `InboundHttp` (its own record and request-log line); the connection's record closes with it.
   */
  private terminate(rec: ConnectionRecord, from: Socket | ServerHttp2Stream, source: InboundSource, target: { address: string; port: number }): void {
    const done = (failure: ErrorKind | undefined, reason: string | undefined): void => this.table.close(rec, failure, reason);
    // decideInbound says `terminate` only when it was told a terminator exists.
    if (this.terminator === undefined) throw new Error('InboundProxy: terminate without a terminator');
    this.terminator.serve(from as Duplex, source, target, done);
  }

  /** A refused connection: logged (authorization denials throttled) and closed with its kind. */
  private refuse(rec: ConnectionRecord, decision: Extract<InboundDecision, { allow: false }>, suffix = ''): void {
    if (decision.authz === undefined) {
      this.deny(rec, decision.kind, decision.reason + suffix);
      return;
    }
    rec.authz = decision.authz;
    const by = decision.authz.decidedBy;
    this.authzDenied.warn({ code: respond(decision.kind).errorCode, src: rec.source, dst: rec.destination, identity: rec.sourceIdentity, reason: decision.reason, policy: by?.policy, rule: by?.rule });
    this.table.close(rec, decision.kind, decision.reason + suffix);
  }

  private deny(rec: ConnectionRecord, kind: ErrorKind, reason: string): void {
    this.logger.warn({ code: respond(kind).errorCode, src: rec.source, dst: rec.destination, identity: rec.sourceIdentity, reason }, 'inbound connection denied');
    this.table.close(rec, kind, reason);
  }

  /**
   * Connects to the workload, from `client`'s address when preservation is on and the mesh
   * vouches for it; `answer` is told how that went (undefined: connected), so a tunnel can reply
   * with the failure's status.
   */
  private connect(
    rec: ConnectionRecord,
    from: Socket | ServerHttp2Stream,
    client: SourceVia,
    address: string,
    port: number,
    answer: (failure: ErrorKind | undefined) => void,
  ): void {
    // The last word before a socket is made, whatever path led here: never a refused address,
    // never an agent port (decideInbound said so already; this holds for any future caller).
    const problem = this.index().addressProblem(address);
    if (problem !== undefined || this.agentPorts.has(port)) {
      answer('policy_denied');
      if (!('respond' in from)) abort(from);
      this.deny(rec, 'policy_denied', `refusing to dial ${hostPort(address, port)}: ${problem ?? 'an agent port'}`);
      return;
    }
    const upstream = this.dialer.dial(this.index(), client, address, port).socket;
    rec.ends.push(upstream);
    rec.counted = upstream;
    rec.countedFacesDestination = true;
    upstream.setTimeout(this.connectTimeoutMs);
    upstream.once('timeout', onConnectTimeout);
    let connected = false;
    upstream.once('connect', () => {
      connected = true;
      upstream.setTimeout(0);
      upstream.off('timeout', onConnectTimeout);
      answer(undefined);
      splice(from, upstream, (outcome) => this.table.close(rec, undefined, undefined, outcome));
    });
    upstream.once('error', (err: NodeJS.ErrnoException) => {
      if (!connected) {
        const failure = connectErrorKind(err.code);
        answer(failure);
        if (!('respond' in from)) abort(from);
        this.table.close(rec, failure, `connect ${hostPort(address, port)}: ${err.code ?? err.message}`);
      }
    });
  }
}

function noop(): void {}

/** The sniff's decision for a ClientHello: read until it is whole (or is not one). */
function helloDecided(bytes: Buffer): 'need-more' | 'opaque' {
  return clientHelloSni(bytes).state === 'incomplete' ? 'need-more' : 'opaque';
}

/** A socket is not answered: it is reset on failure, and simply spliced on success. */
function noAnswer(): void {}

function onConnectTimeout(this: Socket): void {
  this.destroy(Object.assign(new Error('connect timed out'), { code: 'ETIMEDOUT' }));
}
