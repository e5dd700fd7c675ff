/**
 * `meshlet proxy-status`: every agent the controller knows, with what it was sent, what it
 * acknowledged or refused (and why), as istioctl's proxy-status does for Envoys. The rows are
 * pure ({@link proxyStatusView}); the controller's debug port serves them.
 */
import type { AgentNodeStats } from './agent-api/node-stats.js';

/** Where an agent stands against the state version in force. */
export type SyncState =
  /** Acknowledged the version in force. */
  | 'SYNCED'
  /** Connected, but has not acknowledged the version in force yet (in flight, or behind). */
  | 'STALE'
  /** Refused a snapshot and has not acknowledged a newer one since: it serves an older one. */
  | 'NACKED'
  /** No config stream now: it serves what it last held. */
  | 'DISCONNECTED';

/** One agent's row. */
export interface ProxyStatusRow {
  readonly node: string;
  readonly state: SyncState;
  readonly connected: boolean;
  /** ISO time the stream was accepted; absent while disconnected. */
  readonly connectedSince?: string;
  readonly agentVersion: string;
  readonly sentVersion?: string;
  readonly ackedVersion?: string;
  readonly nackedVersion?: string;
  readonly nackReason?: string;
  /** From the version's publication to the agent's ACK, for its last acknowledged push. */
  readonly pushLatencyMs?: number;
  readonly snapshotsSent: number;
  /**
   * Of `snapshotsSent`, how many were deltas and how many full snapshots, and how many NACKs of
   * a delta asked for a full resync (issue 17). Optional: a controller before deltas leaves them
   * out, and the CLI shows `-`.
   */
  readonly deltas?: number;
  readonly fullSnapshots?: number;
  readonly resyncs?: number;
  readonly acks: number;
  readonly nacks: number;
}

/** What the debug port answers at `/debug/proxy-status`. */
export interface ProxyStatusView {
  /** `version`: the state version in force; `meshletVersion`: the controller's software. */
  readonly controller: { readonly version?: string; readonly role: string; readonly meshletVersion?: string };
  readonly agents: readonly ProxyStatusRow[];
}

/** The state of one agent against the version in force (`current`, undefined before the first). */
export function syncState(s: AgentNodeStats, current: string | undefined): SyncState {
  if (!s.connected) return 'DISCONNECTED';
  if (s.lastNackVersion !== undefined) return 'NACKED';
  return current !== undefined && s.lastAckedVersion === current ? 'SYNCED' : 'STALE';
}

/** Every agent's row, by node name, with the controller's version in force and role. */
export function proxyStatusView(stats: readonly AgentNodeStats[], current: string | undefined, role: string, meshletVersion?: string): ProxyStatusView {
  const agents = [...stats]
    .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0))
    .map((s): ProxyStatusRow => ({
      node: s.node,
      state: syncState(s, current),
      connected: s.connected,
      ...(s.connectedSince === undefined ? {} : { connectedSince: s.connectedSince.toISOString() }),
      agentVersion: s.agentVersion,
      ...(s.lastSentVersion === undefined ? {} : { sentVersion: s.lastSentVersion }),
      ...(s.lastAckedVersion === undefined ? {} : { ackedVersion: s.lastAckedVersion }),
      ...(s.lastNackVersion === undefined ? {} : { nackedVersion: s.lastNackVersion }),
      ...(s.lastNackReason === undefined ? {} : { nackReason: s.lastNackReason }),
      ...(s.lastPushLatencyMs === undefined ? {} : { pushLatencyMs: s.lastPushLatencyMs }),
      snapshotsSent: s.snapshotsSent,
      deltas: s.deltasSent,
      fullSnapshots: s.snapshotsSent - s.deltasSent,
      resyncs: s.resyncs,
      acks: s.acks,
      nacks: s.nacks,
    }));
  return { controller: { ...(current === undefined ? {} : { version: current }), role, ...(meshletVersion === undefined ? {} : { meshletVersion }) }, agents };
}
