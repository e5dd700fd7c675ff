/**
 * One agent's config stream (`StreamConfig`) once its caller is authenticated: the Hello (whose
 * node must be the authenticated one), then snapshot pushes answered by ACK or NACK. At most one
 * push is in flight per stream; states published meanwhile are coalesced and only the newest is
 * sent once the agent answers, so a slow agent costs one pending state, never a queue.
 *
 * A push is a delta from the version the agent last acknowledged (or said it held) when its Hello
 * listed the delta encoding and the controller still keeps that version ({@link ViewHistory});
 * otherwise a full snapshot. A NACK forgets the base (the next push is full); a NACK with
 * `resync` gets a full snapshot of the newest state at once. A delta carries the node's local
 * workloads as the change from the base's set when the agent's Hello listed that capability and
 * this stream sent that set (so knows it); otherwise whole.
 */
import { Metadata, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AgentMessage__Output } from '../../proto/generated/meshlet/v1/AgentMessage.js';
import type { Hello__Output } from '../../proto/generated/meshlet/v1/Hello.js';
import type { ControllerMessage } from '../../proto/generated/meshlet/v1/ControllerMessage.js';
import type { AgentPrincipal, PublishedState } from '../contracts.js';
import { CLUSTER_DELTA_ENCODING, LOCAL_WORKLOADS_CHANGE } from '../../mesh/snapshot-wire/delta-types.js';
import { localWorkloadsChange } from '../../mesh/snapshot-wire/node-part.js';
import type { ClusterViewCache } from './cluster-view-cache.js';
import type { ViewHistory } from './view-history.js';
import { statusError } from './grpc-status.js';
import type { NodeStatsRecord, PushOutcome } from './node-stats.js';

/** The call type of `StreamConfig` on the server. */
export type ConfigCall = ServerDuplexStream<AgentMessage__Output, ControllerMessage>;

/** Longest NACK reason kept and logged: enough to name the fields, bounded for memory. */
const MAX_REASON_CHARS = 2_000;

/** What a stream needs from its server. */
export interface ConfigStreamHost {
  readonly logger: Logger;
  readonly views: ClusterViewCache;
  readonly history: ViewHistory;
  readonly trustBundlePem: string;
  readonly onPush: ((outcome: PushOutcome) => void) | undefined;
  /** How long an authenticated stream may stay without a Hello. */
  readonly helloTimeoutMs: number;
  /** Why an agent of this version is refused (the version-skew policy), or undefined. */
  agentVersionRefusal(agentVersion: string): string | undefined;
  /** The stream said a valid Hello: register it and {@link ConfigStream.begin} pushing. */
  accepted(stream: ConfigStream, hello: Hello__Output): void;
  /** Called once when the stream is over, however it ended. */
  ended(stream: ConfigStream): void;
}

/** A node's accepted config stream. */
export class ConfigStream {
  readonly node: string;
  private readonly log: Logger;
  /** Sent, not yet answered, and whether as a delta. */
  private inflight: PublishedState | undefined;
  private inflightDelta = false;
  /** The version the agent holds as far as this stream knows: a delta's base. */
  private base: string | undefined;
  /** The agent's Hello listed the delta encoding this controller writes. */
  private takesDeltas = false;
  /** The agent's Hello listed {@link LOCAL_WORKLOADS_CHANGE}. */
  private takesLocalChange = false;
  /** The local workload uids of `base` as this stream sent them (undefined: not known here). */
  private baseLocal: readonly string[] | undefined;
  /** The local workload uids of `inflight`. */
  private inflightLocal: readonly string[] | undefined;
  /** Newest state published while `inflight` was unanswered. */
  private pending: PublishedState | undefined;
  private helloTimer: NodeJS.Timeout | undefined;
  private greeted = false;
  private done = false;

  constructor(
    private readonly call: ConfigCall,
    principal: AgentPrincipal,
    private readonly stats: NodeStatsRecord,
    private readonly host: ConfigStreamHost,
  ) {
    this.node = principal.node;
    this.log = host.logger.child({ node: this.node });
    this.helloTimer = setTimeout(() => this.end(status.DEADLINE_EXCEEDED, `no Hello within ${host.helloTimeoutMs} ms`), host.helloTimeoutMs);
    this.helloTimer.unref();
    call.on('data', (msg: AgentMessage__Output) => this.onMessage(msg));
    call.on('end', () => this.end(status.OK, 'the agent closed the stream'));
    call.on('cancelled', () => this.finish('cancelled by the agent'));
    call.on('error', () => this.finish('stream error'));
    call.on('close', () => this.finish('closed'));
  }

  /** Starts pushing: `current` unless the agent said it holds that version already. */
  begin(current: PublishedState | undefined, heldVersion: string): void {
    if (this.done) return;
    this.stats.connected = true;
    this.stats.connectedSince = new Date();
    // Headers now tell the agent it was accepted, even when there is nothing to push yet.
    this.call.sendMetadata(new Metadata());
    if (heldVersion !== '') this.base = heldVersion;
    if (current !== undefined && current.version === heldVersion) {
      this.stats.lastAckedVersion = heldVersion;
      this.log.info({ version: heldVersion }, 'agent already holds the current snapshot');
      return;
    }
    if (current !== undefined) this.offer(current);
  }

  /** A newly published state: sent now, or kept as the one pending if a push is unanswered. */
  offer(published: PublishedState): void {
    if (this.done) return;
    if (this.inflight !== undefined) {
      this.pending = published;
      return;
    }
    this.send(published);
  }

  /** Ends the stream with `code` (OK ends it cleanly); agents reconnect after either. */
  end(code: status, details: string): void {
    if (this.done) return;
    this.finish(details);
    if (code === status.OK) this.call.end();
    // The call's own error handler turns this into the stream's final status.
    else this.call.emit('error', statusError(code, details));
  }

  private send(published: PublishedState): void {
    let message: ControllerMessage;
    let delta = false;
    let local: readonly string[];
    try {
      const wire = this.host.views.nodePart(published, this.node);
      local = wire.localWorkloadUids;
      const node = { node: wire.node, nodeAddress: wire.nodeAddress, trustBundlePem: this.host.trustBundlePem, publishedAtMs: published.publishedAt };
      const encoded = this.takesDeltas && this.base !== undefined ? this.host.history.deltaTo(this.base, published) : undefined;
      if (encoded !== undefined) {
        delta = true;
        // The change of the local set only when this stream knows what the agent holds.
        const asChange = this.takesLocalChange && this.baseLocal !== undefined;
        const localPart = asChange
          ? { localWorkloadsAsChange: true, localWorkloadUids: [], ...localWorkloadsChange(this.baseLocal as readonly string[], local) }
          : { localWorkloadUids: [...local] };
        message = { delta: { version: published.version, fromVersion: encoded.fromVersion, clusterEncoding: encoded.encoding, clusterDelta: encoded.bytes, ...node, ...localPart } };
      } else {
        const full = this.host.views.get(published);
        message = { snapshot: { version: full.version, clusterEncoding: full.encoding, cluster: full.bytes, ...node, localWorkloadUids: [...local] } };
      }
    } catch (err) {
      // The state was validated when it was published: this is a bug, not bad input. The agent
      // keeps what it has; the next state gets a new attempt.
      this.log.error({ err, version: published.version }, 'could not encode a snapshot; not sent');
      return;
    }
    this.inflight = published;
    this.inflightDelta = delta;
    this.inflightLocal = local;
    this.stats.lastSentVersion = published.version;
    this.stats.snapshotsSent += 1;
    if (delta) this.stats.deltasSent += 1;
    this.call.write(message);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ version: published.version, from: delta ? this.base : undefined }, delta ? 'delta sent' : 'snapshot sent');
  }

  private onMessage(msg: AgentMessage__Output): void {
    if (this.done) return;
    if (!this.greeted) {
      this.onHello(msg);
      return;
    }
    if (msg.message === 'ack' && msg.ack) this.answered(msg.ack.version, 'ack', '');
    else if (msg.message === 'nack' && msg.nack) this.answered(msg.nack.version, 'nack', msg.nack.reason.slice(0, MAX_REASON_CHARS), msg.nack.resync);
    else this.end(status.INVALID_ARGUMENT, `expected an Ack or a Nack, got ${msg.message ?? 'an empty message'}`);
  }

  private onHello(msg: AgentMessage__Output): void {
    const hello = msg.message === 'hello' ? msg.hello : undefined;
    if (hello === undefined || hello === null) {
      this.end(status.INVALID_ARGUMENT, `the first message must be a Hello, got ${msg.message ?? 'an empty message'}`);
      return;
    }
    if (hello.node !== this.node) {
      // A token for one node used to ask for another node's snapshot: refused, and worth a look.
      this.log.warn({ claimed: hello.node }, 'agent claimed another node than its credentials prove; refused');
      this.end(status.PERMISSION_DENIED, `credentials are for node ${JSON.stringify(this.node)}, not ${JSON.stringify(hello.node)}`);
      return;
    }
    // A string from every decoded Hello; anything else is no version at all.
    const agentVersion = typeof hello.agentVersion === 'string' ? hello.agentVersion.slice(0, 64) : '';
    this.stats.agentVersion = agentVersion;
    const refusal = this.host.agentVersionRefusal(agentVersion);
    if (refusal !== undefined) {
      // Outside the skew policy: the agent keeps serving with what it holds and retries with
      // backoff; its log and `meshlet proxy-status` say which side to upgrade.
      this.log.warn({ agentVersion }, `agent refused: ${refusal}`);
      this.end(status.FAILED_PRECONDITION, refusal);
      return;
    }
    this.greeted = true;
    clearTimeout(this.helloTimer);
    // Repeated strings off the wire: only the one this controller writes matters.
    this.takesDeltas = Array.isArray(hello.deltaEncodings) && hello.deltaEncodings.includes(CLUSTER_DELTA_ENCODING);
    this.takesLocalChange = this.takesDeltas && Array.isArray(hello.capabilities) && hello.capabilities.includes(LOCAL_WORKLOADS_CHANGE);
    this.log.info({ agentVersion: hello.agentVersion, heldVersion: hello.heldVersion, deltas: this.takesDeltas, localChange: this.takesLocalChange }, 'agent connected');
    this.host.accepted(this, hello);
  }

  private answered(version: string, outcome: 'ack' | 'nack', reason: string, resync = false): void {
    const inflight = this.inflight;
    if (inflight === undefined || inflight.version !== version) {
      this.log.warn({ version, expected: inflight?.version }, `ignored an unexpected ${outcome.toUpperCase()}`);
      return;
    }
    const latencyMs = Math.max(0, Date.now() - inflight.publishedAt);
    const delta = this.inflightDelta;
    if (outcome === 'ack') {
      this.base = version;
      this.baseLocal = this.inflightLocal;
      this.stats.lastAckedVersion = version;
      this.stats.lastPushLatencyMs = latencyMs;
      this.stats.lastNackVersion = undefined;
      this.stats.lastNackReason = undefined;
      this.stats.acks += 1;
    } else {
      // What the agent holds is no longer sure: the next push is a full snapshot.
      this.base = undefined;
      this.baseLocal = undefined;
      this.stats.lastNackVersion = version;
      this.stats.lastNackReason = reason;
      this.stats.nacks += 1;
      this.log.warn({ version, reason, delta, resync, held: this.stats.lastAckedVersion }, 'agent refused a snapshot (NACK); it keeps its last good one');
    }
    this.host.onPush?.({ node: this.node, version, outcome, latencyMs, delta });
    this.inflight = undefined;
    this.inflightLocal = undefined;
    // A resync is answered at once with the newest state in full. Only after a delta: a full
    // snapshot refused is refused for its data, and resending it would loop.
    const next = this.pending ?? (outcome === 'nack' && resync && delta ? inflight : undefined);
    if (outcome === 'nack' && resync && delta) this.stats.resyncs += 1;
    this.pending = undefined;
    if (next !== undefined) this.send(next);
  }

  private finish(why: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.helloTimer);
    this.inflight = undefined;
    this.pending = undefined;
    this.base = undefined;
    this.baseLocal = undefined;
    if (this.greeted) this.log.info({ why }, 'config stream ended');
    this.host.ended(this);
  }
}
