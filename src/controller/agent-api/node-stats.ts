/**
 * What the controller knows about each node's config stream, for `meshlet status` and metrics.
 */

/** One node's config stream, as the controller sees it. */
export interface AgentNodeStats {
  readonly node: string;
  readonly connected: boolean;
  /** When the current stream was accepted; undefined while disconnected. */
  readonly connectedSince: Date | undefined;
  /** What the agent reported in its Hello. */
  readonly agentVersion: string;
  /** Newest snapshot version sent to the node. */
  readonly lastSentVersion: string | undefined;
  /** Newest version the node acknowledged (or held already when it said Hello). */
  readonly lastAckedVersion: string | undefined;
  /** Newest version the node refused, and why (cleared by a later ACK of a newer version). */
  readonly lastNackVersion: string | undefined;
  readonly lastNackReason: string | undefined;
  /** From the state's publication to the node's ACK, for the last acknowledged push. */
  readonly lastPushLatencyMs: number | undefined;
  /** Pushes sent, full snapshots and deltas. */
  readonly snapshotsSent: number;
  /** Of those, deltas (the rest were full snapshots). */
  readonly deltasSent: number;
  /** NACKs of a delta asking for a full snapshot (a gap or a delta the agent could not apply). */
  readonly resyncs: number;
  readonly acks: number;
  readonly nacks: number;
}

/** The outcome of one push, for metrics (push latency histograms, NACK counters). */
export interface PushOutcome {
  readonly node: string;
  readonly version: string;
  readonly outcome: 'ack' | 'nack';
  /** publishedAt -> answer. */
  readonly latencyMs: number;
  /** The push was a delta (else a full snapshot). */
  readonly delta: boolean;
}

/** The mutable record behind {@link AgentNodeStats}. */
export class NodeStatsRecord {
  connected = false;
  connectedSince: Date | undefined;
  agentVersion = '';
  lastSentVersion: string | undefined;
  lastAckedVersion: string | undefined;
  lastNackVersion: string | undefined;
  lastNackReason: string | undefined;
  lastPushLatencyMs: number | undefined;
  snapshotsSent = 0;
  deltasSent = 0;
  resyncs = 0;
  acks = 0;
  nacks = 0;

  constructor(readonly node: string) {}

  /** A frozen copy. */
  view(): AgentNodeStats {
    return Object.freeze({
      node: this.node,
      connected: this.connected,
      connectedSince: this.connectedSince,
      agentVersion: this.agentVersion,
      lastSentVersion: this.lastSentVersion,
      lastAckedVersion: this.lastAckedVersion,
      lastNackVersion: this.lastNackVersion,
      lastNackReason: this.lastNackReason,
      lastPushLatencyMs: this.lastPushLatencyMs,
      snapshotsSent: this.snapshotsSent,
      deltasSent: this.deltasSent,
      resyncs: this.resyncs,
      acks: this.acks,
      nacks: this.nacks,
    });
  }
}
