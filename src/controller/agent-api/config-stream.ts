/**
 * One agent's config stream (`StreamConfig`) once its caller is authenticated: the Hello (whose
 * node must be the authenticated one), then snapshot pushes answered by ACK or NACK. At most one snapshot is in flight per stream; states
 * published meanwhile are coalesced and only the newest is sent once the agent answers, so a
 * slow agent costs one pending state, never a queue.
 */
import { Metadata, status, type ServerDuplexStream } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import type { AgentMessage__Output } from '../../proto/generated/meshlet/v1/AgentMessage.js';
import type { Hello__Output } from '../../proto/generated/meshlet/v1/Hello.js';
import type { ControllerMessage } from '../../proto/generated/meshlet/v1/ControllerMessage.js';
import type { AgentPrincipal, PublishedState } from '../contracts.js';
import type { ClusterViewCache } from './cluster-view-cache.js';
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
  /** Sent, not yet answered. */
  private inflight: PublishedState | undefined;
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
    try {
      const wire = this.host.views.wireFor(published, this.node);
      message = {
        snapshot: {
          ...wire,
          localWorkloadUids: [...wire.localWorkloadUids],
          trustBundlePem: this.host.trustBundlePem,
          publishedAtMs: published.publishedAt,
        },
      };
    } catch (err) {
      // The state was validated when it was published: this is a bug, not bad input. The agent
      // keeps what it has; the next state gets a new attempt.
      this.log.error({ err, version: published.version }, 'could not encode a snapshot; not sent');
      return;
    }
    this.inflight = published;
    this.stats.lastSentVersion = published.version;
    this.stats.snapshotsSent += 1;
    this.call.write(message);
    if (this.log.isLevelEnabled('debug')) this.log.debug({ version: published.version }, 'snapshot sent');
  }

  private onMessage(msg: AgentMessage__Output): void {
    if (this.done) return;
    if (!this.greeted) {
      this.onHello(msg);
      return;
    }
    if (msg.message === 'ack' && msg.ack) this.answered(msg.ack.version, 'ack', '');
    else if (msg.message === 'nack' && msg.nack) this.answered(msg.nack.version, 'nack', msg.nack.reason.slice(0, MAX_REASON_CHARS));
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
    this.log.info({ agentVersion: hello.agentVersion, heldVersion: hello.heldVersion }, 'agent connected');
    this.host.accepted(this, hello);
  }

  private answered(version: string, outcome: 'ack' | 'nack', reason: string): void {
    const inflight = this.inflight;
    if (inflight === undefined || inflight.version !== version) {
      this.log.warn({ version, expected: inflight?.version }, `ignored an unexpected ${outcome.toUpperCase()}`);
      return;
    }
    const latencyMs = Math.max(0, Date.now() - inflight.publishedAt);
    if (outcome === 'ack') {
      this.stats.lastAckedVersion = version;
      this.stats.lastPushLatencyMs = latencyMs;
      this.stats.lastNackVersion = undefined;
      this.stats.lastNackReason = undefined;
      this.stats.acks += 1;
    } else {
      this.stats.lastNackVersion = version;
      this.stats.lastNackReason = reason;
      this.stats.nacks += 1;
      this.log.warn({ version, reason, held: this.stats.lastAckedVersion }, 'agent refused a snapshot (NACK); it keeps its last good one');
    }
    this.host.onPush?.({ node: this.node, version, outcome, latencyMs });
    this.inflight = undefined;
    const next = this.pending;
    this.pending = undefined;
    if (next !== undefined) this.send(next);
  }

  private finish(why: string): void {
    if (this.done) return;
    this.done = true;
    clearTimeout(this.helloTimer);
    this.inflight = undefined;
    this.pending = undefined;
    if (this.greeted) this.log.info({ why }, 'config stream ended');
    this.host.ended(this);
  }
}
