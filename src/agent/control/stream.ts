/**
 * One config stream to the controller, from the Hello to the final status. Each push, a full
 * snapshot or a delta from the version the agent holds, is decoded and validated, handed to the
 * agent, and answered: ACK once the agent applied it, NACK with the reason when it is bad or the
 * agent could not apply it. A delta the agent cannot use (a gap in versions, bad bytes or data)
 * is NACKed with `resync`: the controller answers with a full snapshot. Bad data never reaches
 * the agent, and the agent keeps serving with the last snapshot it applied.
 */
import type { ClientDuplexStream, StatusObject } from '@grpc/grpc-js';
import { status } from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MeshletError } from '../../mesh/errors.js';
import { decodeSnapshot } from '../../mesh/snapshot-wire/encode.js';
import { CLUSTER_DELTA_ENCODING, LOCAL_WORKLOADS_CHANGE } from '../../mesh/snapshot-wire/delta-types.js';
import type { NodeSnapshot } from '../../mesh/types.js';
import { certificateInfo } from '../../mesh/x509.js';
import type { AgentMessage } from '../../proto/generated/meshlet/v1/AgentMessage.js';
import type { ControllerMessage__Output } from '../../proto/generated/meshlet/v1/ControllerMessage.js';
import type { Snapshot__Output } from '../../proto/generated/meshlet/v1/Snapshot.js';
import type { SnapshotDelta__Output } from '../../proto/generated/meshlet/v1/SnapshotDelta.js';
import { ERROR_CODE_METADATA } from './errors.js';
import { applyDeltaPush, heldViewOfSnapshot, type HeldView } from './held-view.js';

/** The call type of `StreamConfig` on the agent. */
export type ControllerCall = ClientDuplexStream<AgentMessage, ControllerMessage__Output>;

/** What came with a snapshot besides the snapshot itself. */
export interface SnapshotMeta {
  /** The mesh roots to verify peers with. */
  readonly trustBundlePem: string;
  /** When the controller accepted the state. */
  readonly publishedAt: Date;
  /** It came as a delta (else as a full snapshot). */
  readonly delta: boolean;
  /** Size of the encoded cluster view or delta it came in. */
  readonly clusterBytes: number;
}

/** Applies a snapshot; a rejection is sent back as the NACK reason. */
export type SnapshotHandler = (snapshot: NodeSnapshot, meta: SnapshotMeta) => Promise<void>;

/** How a stream ended. */
export interface StreamOutcome {
  /** The controller accepted the Hello (sent its headers). */
  readonly accepted: boolean;
  /** The final status as an error (a clean end too: the agent reconnects either way). */
  readonly error: MeshletError;
  /** The gRPC status code, or -1 when no call could be made (credentials unreadable). */
  readonly code: number;
}

/** Longest NACK reason sent: the controller keeps 2,000 characters. */
const MAX_REASON_CHARS = 2_000;

/** What a stream needs from its client. */
export interface ControllerStreamDeps {
  readonly node: string;
  readonly trustDomain: string;
  readonly agentVersion: string;
  readonly logger: Logger;
  readonly onSnapshot: SnapshotHandler;
  /** Ask for deltas (the Hello lists the delta encoding) and keep a view to apply them to. */
  readonly deltas: boolean;
  /** The version the agent holds (sent in the Hello). */
  heldVersion(): string;
  /** The keyed view of the held version, when the agent keeps one. */
  heldView(): HeldView | undefined;
  /** A snapshot was applied and acknowledged; `view` is its keyed view (when deltas are on). */
  applied(version: string, view: HeldView | undefined): void;
  /** The controller accepted the Hello. */
  accepted(): void;
}

/** One StreamConfig call. */
export class ControllerStream {
  /** Settles with the outcome when the call is over. */
  readonly done: Promise<StreamOutcome>;
  /** Snapshots are handled one at a time, in order. */
  private processing: Promise<void> = Promise.resolve();
  private isAccepted = false;
  private over = false;

  constructor(
    private readonly call: ControllerCall,
    private readonly deps: ControllerStreamDeps,
  ) {
    this.done = new Promise((resolve) => {
      call.on('metadata', () => {
        this.isAccepted = true;
        deps.accepted();
      });
      call.on('data', (msg: ControllerMessage__Output) => this.enqueue(msg));
      // 'error' comes before 'status' for a failed call; the status has all that is needed.
      call.on('error', () => undefined);
      call.on('status', (s: StatusObject) => {
        this.over = true;
        resolve({ accepted: this.isAccepted, error: endError(s), code: s.code });
      });
    });
    const deltaEncodings = deps.deltas ? [CLUSTER_DELTA_ENCODING] : [];
    const capabilities = deps.deltas ? [LOCAL_WORKLOADS_CHANGE] : [];
    call.write({ hello: { node: deps.node, agentVersion: deps.agentVersion, heldVersion: deps.heldVersion(), deltaEncodings, capabilities } });
  }

  /** Cancels the call (close). */
  cancel(): void {
    this.call.cancel();
  }

  /** Resolves once the snapshot being handled (if any) is done. */
  idle(): Promise<void> {
    return this.processing;
  }

  private enqueue(msg: ControllerMessage__Output): void {
    this.processing = this.processing.then(() => this.handle(msg));
  }

  private async handle(msg: ControllerMessage__Output): Promise<void> {
    if (msg.message === 'delta' && msg.delta) return this.handleDelta(msg.delta);
    const wire = msg.message === 'snapshot' ? msg.snapshot : undefined;
    if (wire === undefined || wire === null) {
      // A newer controller may send message kinds this agent does not know: skip them.
      this.deps.logger.debug({ message: msg.message }, 'ignored an unknown controller message');
      return;
    }
    let snapshot: NodeSnapshot;
    let held: HeldView | undefined;
    try {
      snapshot = decodeSnapshot(wire, { node: this.deps.node, trustDomain: this.deps.trustDomain });
      checkTrustBundle(wire);
      held = this.deps.deltas ? heldViewOfSnapshot(snapshot) : undefined;
    } catch (err) {
      this.nack(wire.version, (err as Error).message, false);
      return;
    }
    await this.use(snapshot, held, wire, { delta: false, clusterBytes: wire.cluster.length });
  }

  private async handleDelta(wire: SnapshotDelta__Output): Promise<void> {
    if (!this.deps.deltas) {
      // Never asked for: a controller bug. Refused, and a full snapshot asked for.
      this.nack(wire.version, 'a SnapshotDelta, but this agent asked for full snapshots only', true);
      return;
    }
    let applied;
    try {
      applied = applyDeltaPush(wire, this.deps.heldView(), { node: this.deps.node, trustDomain: this.deps.trustDomain });
      checkTrustBundle(wire);
    } catch (err) {
      this.nack(wire.version, (err as Error).message, true);
      return;
    }
    await this.use(applied.snapshot, applied.held, wire, { delta: true, clusterBytes: wire.clusterDelta.length });
  }

  /** Hands a decoded snapshot to the agent and answers: ACK once it is in use, else NACK. */
  private async use(
    snapshot: NodeSnapshot,
    held: HeldView | undefined,
    wire: { readonly version: string; readonly trustBundlePem: string; readonly publishedAtMs: number },
    how: Pick<SnapshotMeta, 'delta' | 'clusterBytes'>,
  ): Promise<void> {
    try {
      await this.deps.onSnapshot(snapshot, { trustBundlePem: wire.trustBundlePem, publishedAt: new Date(wire.publishedAtMs), ...how });
    } catch (err) {
      this.nack(wire.version, `the agent could not apply it: ${(err as Error).message}`, false);
      return;
    }
    this.deps.applied(wire.version, held);
    this.send({ ack: { version: wire.version } });
  }

  private nack(version: string, reason: string, resync: boolean): void {
    this.deps.logger.warn({ version, reason, resync, held: this.deps.heldVersion() }, 'snapshot refused (NACK); keeping the last good one');
    this.send({ nack: { version, reason: reason.slice(0, MAX_REASON_CHARS), resync } });
  }

  private send(message: AgentMessage): void {
    // After the final status the answer has nowhere to go; the next Hello says what the agent holds.
    if (!this.over && this.call.writable) this.call.write(message);
  }
}

/** The trust bundle must hold at least one readable certificate. */
function checkTrustBundle(wire: Snapshot__Output | SnapshotDelta__Output): void {
  try {
    certificateInfo(wire.trustBundlePem);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONTROLLER', `snapshot ${JSON.stringify(wire.version)} is invalid: trustBundlePem: ${(err as Error).message}`);
  }
}

/** The final status of a stream as a MeshletError (the controller's own code when it sent one). */
function endError(s: StatusObject): MeshletError {
  const carried = s.metadata.get(ERROR_CODE_METADATA)[0];
  const name = status[s.code] ?? String(s.code);
  const message = `config stream ended: ${name}${s.details === '' ? '' : `: ${s.details}`}`;
  if (carried === 'MESHLET_ERR_UNAUTHENTICATED' || s.code === status.UNAUTHENTICATED) {
    return new MeshletError('MESHLET_ERR_UNAUTHENTICATED', message);
  }
  return new MeshletError('MESHLET_ERR_CONTROLLER', message);
}
