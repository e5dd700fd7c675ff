/**
 * Every live proxied connection, for draining, for the access log and the admin API's `/connections`.
 * Bytes are read from the sockets' own counters once, at close: nothing is counted per chunk.
 */
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from 'pino';
import type { AuthzAttributes, AuthzVerdict } from '../../mesh/authz/types.js';
import { authzLogFields } from '../policy/authz-fields.js';
import type { WorkloadInfo } from '../../mesh/types.js';
import { isNormalDisconnect } from '../../mesh/errors.js';
import type { ConnectionMode, ConnectionOutcome, Direction } from '../policy/outcomes.js';
import { respond, responseFlag, spliceEndKind, type ErrorKind, type ResponseFlag } from '../policy/respond.js';
import { abort, type SpliceOutcome } from './splice.js';

/** A live connection. Mutable fields are filled in as the connection is resolved. */
export interface ConnectionRecord {
  readonly id: number;
  readonly direction: Direction;
  readonly startedAt: number;
  /** Source address:port as seen by the agent. */
  readonly source: string;
  /** Destination the workload dialled (original destination) or the CONNECT target. */
  destination: string;
  mode: ConnectionMode;
  sourceWorkload?: string;
  sourceIdentity?: string;
  destinationWorkload?: string;
  destinationIdentity?: string;
  service?: string;
  /** TLS or not, between the nodes (Istio's security policy label). */
  securityPolicy: 'mutual_tls' | 'plaintext';
  /** The socket facing the source (outbound) or the destination (inbound): bytes come from it. */
  counted?: Socket;
  /** `counted` faces the destination (bytesWritten = sent), not the source. */
  countedFacesDestination: boolean;
  readonly ends: Duplex[];
  /** How it failed, when known before it closes (a CONNECT refused or unanswered); see `respond`. */
  failure?: ErrorKind;
  reason?: string;
  /** Set at close, from the failure (`ok` when there was none). */
  outcome?: ConnectionOutcome;
  /** Set at close: the failure's Envoy-style flag, `-` for none. */
  responseFlag?: ResponseFlag;
  /** Told the failure when the record closes (same-node hand-over: the outbound record). */
  onClose?: (failure: ErrorKind | undefined, reason: string | undefined) => void;
  /** What authorization said: the rule that decided, AUDIT rules that matched (access-log fields). */
  authz?: AuthzVerdict;
  /** An inbound connection authorization admitted: what to evaluate again when the policies change. */
  recheck?: { readonly workload: WorkloadInfo; readonly attributes: AuthzAttributes; readonly mode: 'connection-http' | 'connection-opaque' };
}

/** Told once per closed connection, with its byte counts (metrics). */
export interface ConnectionObserver {
  onClosed(rec: ConnectionRecord, bytesSent: number, bytesReceived: number): void;
}

/** Live traffic for `meshlet tap` (`TapPoint`, `src/agent/tap/tap-point.ts`): told only while `active`. */
export interface ConnectionTap {
  readonly active: boolean;
  opened(rec: ConnectionRecord): void;
  closed(rec: ConnectionRecord, bytesSent: number, bytesReceived: number): void;
}

/** Decides which closed connections get an access-log line (`AccessLogSampler`). */
export interface AccessLogFilter {
  shouldLog(outcome: ConnectionOutcome): boolean;
}

/** Options of {@link ConnectionTable}. */
export interface ConnectionTableOptions {
  /** Which connections get an access-log line (default: all). */
  readonly sampler?: AccessLogFilter;
  readonly observer?: ConnectionObserver;
  /** Live traffic for `meshlet tap`: told of opens and closes only while it is `active`. */
  readonly tap?: ConnectionTap;
}

/** Bytes so far: sent toward the destination and received from it (read from the socket's own counters). */
export function connectionBytes(rec: ConnectionRecord): { sent: number; received: number } {
  const c = rec.counted;
  if (c === undefined) return { sent: 0, received: 0 };
  return rec.countedFacesDestination ? { sent: c.bytesWritten, received: c.bytesRead } : { sent: c.bytesRead, received: c.bytesWritten };
}

/** Tracks live connections and writes one access-log line per connection at close. */
export class ConnectionTable {
  private readonly live = new Map<number, ConnectionRecord>();
  private readonly accessLog: Logger;
  private readonly sampler: AccessLogFilter | undefined;
  private readonly observer: ConnectionObserver | undefined;
  /** The process's tap point (`meshlet tap`), when it has one. */
  readonly tap: ConnectionTap | undefined;
  private nextId = 1;
  private idleWaiters: Array<() => void> = [];
  /** Connections opened since start. */
  opened = 0;
  /** The same, per direction (plain numbers: the metrics read them at scrape time). */
  readonly openedByDirection: Record<Direction, number> = { outbound: 0, inbound: 0 };

  constructor(accessLog: Logger, opts: ConnectionTableOptions = {}) {
    this.accessLog = accessLog;
    this.sampler = opts.sampler;
    this.observer = opts.observer;
    this.tap = opts.tap;
  }

  /** Starts tracking a connection. */
  open(direction: Direction, source: string, destination: string, first: Duplex): ConnectionRecord {
    const rec: ConnectionRecord = {
      id: this.nextId++,
      direction,
      startedAt: performance.now(),
      source,
      destination,
      mode: 'passthrough',
      securityPolicy: 'plaintext',
      countedFacesDestination: false,
      ends: [first],
    };
    this.live.set(rec.id, rec);
    this.opened += 1;
    this.openedByDirection[direction] += 1;
    if (this.tap?.active === true) this.tap.opened(rec);
    return rec;
  }

  /**
   * Records the end of a connection (idempotent) and writes its access-log line. Its outcome
   * and response flag come from `failure` or, without one, from how the splice ended.
   */
  close(rec: ConnectionRecord, failure?: ErrorKind, reason?: string, splice?: SpliceOutcome): void {
    if (!this.live.delete(rec.id)) return;
    const kind = failure ?? spliceEndKind(splice);
    if (kind !== undefined) rec.failure = kind;
    rec.outcome = kind === undefined ? 'ok' : respond(kind).outcome;
    rec.responseFlag = responseFlag(kind);
    if (reason !== undefined) rec.reason = reason;
    else if (splice?.error !== undefined && !isNormalDisconnect(splice.error)) rec.reason = splice.error.message;
    const { sent: toDest, received: toSource } = connectionBytes(rec);
    this.observer?.onClosed(rec, toDest, toSource);
    if (this.tap?.active === true) this.tap.closed(rec, toDest, toSource);
    if (this.sampler === undefined || this.sampler.shouldLog(rec.outcome)) this.writeLine(rec, toDest, toSource);
    rec.onClose?.(kind, rec.reason);
    if (this.live.size === 0) this.notifyIdle();
  }

  private writeLine(rec: ConnectionRecord, toDest: number, toSource: number): void {
    this.accessLog.info(
      {
        direction: rec.direction,
        mode: rec.mode,
        src: rec.source,
        dst: rec.destination,
        src_workload: rec.sourceWorkload,
        src_identity: rec.sourceIdentity,
        dst_workload: rec.destinationWorkload,
        dst_identity: rec.destinationIdentity,
        service: rec.service,
        security_policy: rec.securityPolicy,
        bytes_sent: toDest,
        bytes_received: toSource,
        duration_ms: Math.round(performance.now() - rec.startedAt),
        outcome: rec.outcome,
        response_flags: rec.responseFlag,
        reason: rec.reason,
        ...authzLogFields(rec.authz),
      },
      'connection closed',
    );
  }

  /** Live connection count. */
  get size(): number {
    return this.live.size;
  }

  /** Live connections (a snapshot copy). */
  list(): ConnectionRecord[] {
    return [...this.live.values()];
  }

  /** Resolves when no connection is live, or after `timeoutMs`; true when idle. */
  waitIdle(timeoutMs: number): Promise<boolean> {
    if (this.live.size === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), timeoutMs);
      this.idleWaiters.push(() => {
        clearTimeout(timer);
        resolve(true);
      });
    });
  }

  /** Aborts every live connection (end of a drain). */
  abortAll(): void {
    for (const rec of [...this.live.values()]) {
      for (const end of rec.ends) abort(end);
      this.close(rec, 'drained', 'drain deadline reached');
    }
  }

  private notifyIdle(): void {
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }
}
