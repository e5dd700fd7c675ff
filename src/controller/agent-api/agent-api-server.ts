/**
 * The controller's side of the agent API (`meshlet.v1.AgentApi`, TLS on :15012): per-node
 * config streams fed from the {@link StateFeed}, and workload certificate signing. Every call is
 * authenticated by token; the node a call acts for is always the one its credentials prove.
 */
import { createServer, type Server as NetServer } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import {
  Server,
  ServerCredentials,
  status,
  type Metadata,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import { controllerIdentity } from '../../mesh/snapshot-wire/encode.js';
import { certificateInfo } from '../../mesh/x509.js';
import type { Hello__Output } from '../../proto/generated/meshlet/v1/Hello.js';
import type { SignRequest__Output } from '../../proto/generated/meshlet/v1/SignRequest.js';
import type { SignResponse } from '../../proto/generated/meshlet/v1/SignResponse.js';
import type { AgentAuthenticator, AgentPrincipal, NodeCertificateSigner, PublishedState, StateFeed } from '../contracts.js';
import { agentApiService } from './agent-api-proto.js';
import { ClusterViewCache } from './cluster-view-cache.js';
import { DELTA_BASES, ViewHistory } from './view-history.js';
import { ConfigStream, type ConfigCall, type ConfigStreamHost } from './config-stream.js';
import { statusError, toServiceError } from './grpc-status.js';
import { NodeStatsRecord, type AgentNodeStats, type PushOutcome } from './node-stats.js';
import { agentVersionRefusal } from './version-skew.js';
import { PACKAGE_VERSION } from '../../ops/package-version.js';
import { AGENT_API_LIMITS, ConnectionGuard, type AgentApiLimits, type ConnectionRefusal } from './connection-guard.js';
import { serverChannelOptions } from './server-options.js';
import { listen } from '../../ops/listen.js';
import { ThrottledLog } from '../../ops/throttled-log.js';

export type { AgentNodeStats, PushOutcome } from './node-stats.js';

/** The agent API's port. */
export const AGENT_API_PORT = 15012;

/** Options of {@link AgentApiServer}. */
export interface AgentApiServerOptions {
  readonly feed: StateFeed;
  readonly authenticator: AgentAuthenticator;
  readonly signer: NodeCertificateSigner;
  readonly logger: Logger;
  /**
   * The controller's certificate (it must carry the controller's SPIFFE ID), its key, and the
   * mesh roots; the roots also go to agents in every snapshot as their trust bundle.
   */
  readonly tls: { readonly certPem: string; readonly keyPem: string; readonly trustBundlePem: string };
  readonly trustDomain: string;
  /** Called for every answered push (metrics). */
  readonly onPush?: (outcome: PushOutcome) => void;
  /** How long an authenticated stream may stay silent before its Hello (default 30 s). */
  readonly helloTimeoutMs?: number;
  /** The controller's version, for the version-skew policy (default: meshlet's package version). */
  readonly controllerVersion?: string;
  /** How long close() waits for calls in flight before cutting them (default 5 s). */
  readonly drainTimeoutMs?: number;
  /** Connection and message limits (defaults: {@link AGENT_API_LIMITS}). */
  readonly limits?: Partial<AgentApiLimits>;
  /** Versions kept before the newest to send deltas from (default {@link DELTA_BASES}; 0: full snapshots only). */
  readonly deltaBases?: number;
}

/** What {@link AgentApiServer.start} bound. */
export interface BoundAddress {
  readonly host: string;
  readonly port: number;
}

/** The agent API server. */
export class AgentApiServer {
  private readonly opts: AgentApiServerOptions;
  private readonly log: Logger;
  private readonly server: Server;
  private readonly limits: AgentApiLimits;
  private readonly guard: ConnectionGuard;
  private listener: NetServer | undefined;
  private readonly views = new ClusterViewCache();
  private readonly history: ViewHistory;
  /** Every live stream, greeted or not. */
  private readonly streams = new Set<ConfigStream>();
  /** The one accepted stream per node. */
  private readonly byNode = new Map<string, ConfigStream>();
  private readonly records = new Map<string, NodeStatsRecord>();
  private readonly host: ConfigStreamHost;
  private unsubscribe: (() => void) | undefined;
  /** Refused authentications are the caller's to cause at will: one line a minute. */
  private readonly authLog: ThrottledLog;
  private closing: Promise<void> | undefined;

  constructor(opts: AgentApiServerOptions) {
    const wanted = controllerIdentity(opts.trustDomain);
    if (!certificateInfo(opts.tls.certPem).identities.includes(wanted)) {
      // Agents would refuse this certificate: say so now rather than in every agent's log.
      throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `the controller certificate must carry the SPIFFE ID ${wanted} in its subjectAltName`);
    }
    this.opts = opts;
    this.log = opts.logger.child({ component: 'agent-api' });
    this.limits = Object.freeze({ ...AGENT_API_LIMITS, ...opts.limits });
    this.guard = new ConnectionGuard(this.limits, this.log);
    const bases = opts.deltaBases ?? DELTA_BASES;
    if (!Number.isSafeInteger(bases) || bases < 0 || bases > 64) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `deltaBases must be an integer from 0 to 64, got ${String(bases)}`);
    this.history = new ViewHistory(bases);
    this.authLog = new ThrottledLog(this.log, 'agent API call refused: authentication failed');
    this.server = new Server(serverChannelOptions(this.limits));
    this.server.addService(agentApiService(), {
      StreamConfig: (call: ConfigCall) => void this.acceptStream(call),
      SignCertificate: (call: ServerUnaryCall<SignRequest__Output, SignResponse>, callback: sendUnaryData<SignResponse>) =>
        void this.signCertificate(call, callback),
    });
    this.host = {
      logger: this.log,
      views: this.views,
      history: this.history,
      trustBundlePem: opts.tls.trustBundlePem,
      onPush: opts.onPush,
      helloTimeoutMs: opts.helloTimeoutMs ?? 30_000,
      agentVersionRefusal: (agentVersion) => agentVersionRefusal(agentVersion, opts.controllerVersion ?? PACKAGE_VERSION),
      accepted: (stream, hello) => this.accepted(stream, hello),
      ended: (stream) => this.ended(stream),
    };
  }

  /** Binds `host:port` (port 0: any free port) with TLS and starts following the feed. */
  async start(port: number = AGENT_API_PORT, host = '0.0.0.0'): Promise<BoundAddress> {
    if (this.closing !== undefined) throw new MeshletError('MESHLET_ERR_CLOSED', 'the agent API server is closed');
    const { certPem, keyPem } = this.opts.tls;
    const target = host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
    // Our own listener and TLS, so every socket passes the connection limits before grpc-js sees
    // it, and the guard holds the TLS socket it can close (grpc-js's own TLS hides it). No client
    // certificates: an agent has none before its first CSR; it proves itself by token.
    const injector = this.server.createConnectionInjector(ServerCredentials.createInsecure());
    const secure = createTlsServer({
      cert: certPem,
      key: keyPem,
      ALPNProtocols: ['h2'],
      minVersion: 'TLSv1.2',
      // A backstop only: the guard closes a connection that has not authenticated in time first.
      handshakeTimeout: 2 * this.limits.authenticateWithinMs,
    });
    secure.on('secureConnection', (tlsSocket) => {
      if (this.guard.upgraded(tlsSocket)) injector.injectConnection(tlsSocket);
    });
    // A failed handshake is the caller's; the guard counts and closes what it must.
    secure.on('tlsClientError', (_err, tlsSocket) => tlsSocket.destroy());
    const listener = createServer({ noDelay: true }, (socket) => {
      if (this.closing !== undefined) socket.destroy();
      else if (this.guard.admit(socket)) secure.emit('connection', socket);
    });
    const bound = await listen(listener, { port, host }).then(
      (address) => address.port,
      (err: unknown) => {
        throw new MeshletError('MESHLET_ERR_CONTROLLER', `agent API could not listen on ${target}: ${(err as Error).message}`, { cause: err });
      },
    );
    this.listener = listener;
    this.unsubscribe ??= this.opts.feed.subscribe((s) => this.publish(s));
    this.log.info({ host, port: bound }, 'agent API listening');
    return { host, port: bound };
  }

  /** Every node that ever opened a stream, by name. */
  stats(): AgentNodeStats[] {
    return [...this.records.values()].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0)).map((r) => r.view());
  }

  /** One node's figures, or undefined if it never connected. */
  nodeStats(node: string): AgentNodeStats | undefined {
    return this.records.get(node)?.view();
  }

  /** Connections open now (all, and those not yet authenticated). */
  get connections(): { readonly connections: number; readonly unauthenticated: number } {
    return this.guard.open;
  }

  /** Connections refused or closed by a limit since start, by reason. */
  connectionRefusals(): Readonly<Record<ConnectionRefusal, number>> {
    return this.guard.counters();
  }

  /** How many times a cluster view was encoded (at most one per pushed version, whatever the nodes). */
  get clusterViewEncodings(): number {
    return this.views.encodings;
  }

  /** How many deltas were computed (at most one per version pair, whatever the nodes). */
  get clusterDeltaEncodings(): number {
    return this.history.diffs;
  }

  /**
   * Drains: refuses new calls, ends every config stream (agents reconnect, to this controller
   * when it is back or to another), lets signing calls in flight finish up to the drain timeout.
   */
  close(): Promise<void> {
    this.closing ??= this.drain();
    return this.closing;
  }

  /** Stops at once: every call is cut. */
  destroy(): void {
    this.closing ??= Promise.resolve();
    this.stopFollowing();
    for (const stream of [...this.streams]) stream.end(status.UNAVAILABLE, 'the controller stopped');
    this.stopListening();
    this.server.forceShutdown();
    this.guard.destroyAll();
  }

  private async drain(): Promise<void> {
    this.stopFollowing();
    this.stopListening();
    for (const stream of [...this.streams]) stream.end(status.UNAVAILABLE, 'the controller is shutting down');
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.server.forceShutdown();
        this.guard.destroyAll();
        resolve();
      }, this.opts.drainTimeoutMs ?? 5_000);
      timer.unref();
      this.server.tryShutdown(() => {
        // Connections still in their TLS handshake have no HTTP/2 session to close. The others
        // close as their agents hang up (the timer above bounds the wait).
        this.guard.destroyHandshaking();
        void this.guard.allClosed().then(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    });
    this.log.info('agent API closed');
  }

  /** Stops accepting: the port is free at once (a replacement listener may bind it). */
  private stopListening(): void {
    this.listener?.close();
    this.listener = undefined;
  }

  private stopFollowing(): void {
    this.unsubscribe?.();
    this.unsubscribe = undefined;
  }

  private publish(published: PublishedState): void {
    this.history.remember(published);
    for (const stream of this.byNode.values()) stream.offer(published);
  }

  private async authenticate(metadata: Metadata): Promise<AgentPrincipal> {
    const first = (key: string): string | undefined => {
      const value = metadata.get(key)[0];
      return typeof value === 'string' ? value : undefined;
    };
    const authorization = first('authorization');
    const node = first('x-meshlet-node');
    return this.opts.authenticator.authenticate({
      ...(authorization === undefined ? {} : { authorization }),
      ...(node === undefined ? {} : { node }),
    });
  }

  private async acceptStream(call: ConfigCall): Promise<void> {
    if (this.closing !== undefined) {
      call.emit('error', statusError(status.UNAVAILABLE, 'the controller is shutting down'));
      return;
    }
    let principal: AgentPrincipal;
    try {
      principal = await this.authenticate(call.metadata);
    } catch (err) {
      this.authLog.warn({ err: (err as Error).message, code: (err as { code?: unknown }).code, peer: call.getPeer() });
      call.emit('error', toServiceError(err));
      return;
    }
    this.guard.authenticated(call.getPeer());
    if (call.cancelled || this.closing !== undefined) {
      if (!call.cancelled) call.emit('error', statusError(status.UNAVAILABLE, 'the controller is shutting down'));
      return;
    }
    this.streams.add(new ConfigStream(call, principal, this.record(principal.node), this.host));
  }

  private record(node: string): NodeStatsRecord {
    let record = this.records.get(node);
    if (record === undefined) {
      record = new NodeStatsRecord(node);
      this.records.set(node, record);
    }
    return record;
  }

  private accepted(stream: ConfigStream, hello: Hello__Output): void {
    const previous = this.byNode.get(stream.node);
    this.byNode.set(stream.node, stream);
    if (previous !== undefined) {
      // The agent restarted (or reconnected) before its old stream died: the newest wins.
      this.log.info({ node: stream.node }, 'a newer stream replaces the node\'s previous one');
      previous.end(status.ABORTED, 'replaced by a newer stream from the same node');
    }
    const current = this.opts.feed.current();
    if (current !== undefined) this.history.remember(current);
    stream.begin(current, hello.heldVersion);
  }

  private ended(stream: ConfigStream): void {
    this.streams.delete(stream);
    if (this.byNode.get(stream.node) !== stream) return;
    this.byNode.delete(stream.node);
    const record = this.record(stream.node);
    record.connected = false;
    record.connectedSince = undefined;
  }

  private async signCertificate(call: ServerUnaryCall<SignRequest__Output, SignResponse>, callback: sendUnaryData<SignResponse>): Promise<void> {
    const { csrPem, identity } = call.request;
    let node: string | undefined;
    try {
      const principal = await this.authenticate(call.metadata);
      this.guard.authenticated(call.getPeer());
      node = principal.node;
      if (csrPem === '' || identity === '') throw new MeshletError('MESHLET_ERR_CERT', 'a SignRequest needs both csr_pem and identity');
      const signed = await this.opts.signer.sign(principal.node, csrPem, identity);
      callback(null, { chainPem: signed.chainPem, trustBundlePem: signed.trustBundlePem });
      this.log.info({ node, identity }, 'workload certificate signed');
    } catch (err) {
      // Before authentication anyone can cause this at will: throttled; after, it is the audit trail.
      if (node === undefined) this.authLog.warn({ err: (err as Error).message, code: (err as { code?: unknown }).code, peer: call.getPeer() });
      else this.log.warn({ node, identity, peer: call.getPeer(), err }, 'certificate signing refused');
      callback(toServiceError(err));
    }
  }
}
