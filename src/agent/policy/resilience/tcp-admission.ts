/**
 * What a TrafficPolicy asks of one L4 connection to a Service port, decided before anything is
 * dialled: refused at once when the port already has `circuitBreaker.maxConnections` open
 * connections in this process (overflow, flag UO) or by an injected reset (fault_abort, flag
 * FI); else connected, possibly after an injected delay, with the policy's connect and idle
 * timeouts. Without the sections nothing changes: no limit, no fault, the agent's timeouts.
 * Pure: the open-connection counts are the caller's {@link ConnectionCounts}, the dice injected.
 */
import type { ResiliencePolicy } from '../../../mesh/resilience.js';
import { decideTcpFault } from './tcp-fault.js';

/** One connection's admission. */
export type TcpAdmission =
  | { readonly refuse: 'overflow' | 'fault_abort' }
  | {
      readonly refuse?: undefined;
      /** Wait this long before connecting (an injected delay); 0: at once. */
      readonly delayMs: number;
      /** Bound on the connect (TCP, or the tunnel stream and its answer); undefined: the agent's own. */
      readonly connectTimeoutMs: number | undefined;
      /** The splice's idle timeout; undefined: the agent's default. */
      readonly idleTimeoutMs: number | undefined;
      /** Count the connection against `maxConnections` (the caller releases it when it closes). */
      readonly counted: boolean;
    };

const PLAIN: TcpAdmission = Object.freeze({ delayMs: 0, connectTimeoutMs: undefined, idleTimeoutMs: undefined, counted: false });
const OVERFLOW: TcpAdmission = Object.freeze({ refuse: 'overflow' as const });
const FAULT_RESET: TcpAdmission = Object.freeze({ refuse: 'fault_abort' as const });

/** True when `policy` changes anything for L4 connections (the others skip admission entirely). */
export function hasTcpPolicy(policy: ResiliencePolicy | undefined): boolean {
  return policy !== undefined && (policy.circuitBreaker !== undefined || policy.tcpFault !== undefined || policy.timeout?.connectMs !== undefined || policy.timeout?.tcpIdleMs !== undefined);
}

/** Admits (or refuses) a connection to a Service port that has `open` connections now. */
export function admitTcp(policy: ResiliencePolicy | undefined, open: number, random: () => number): TcpAdmission {
  if (policy === undefined || !hasTcpPolicy(policy)) return PLAIN;
  const max = policy.circuitBreaker?.maxConnections;
  if (max !== undefined && open >= max) return OVERFLOW;
  const fault = decideTcpFault(policy.tcpFault, random);
  if (fault.reset) return FAULT_RESET;
  return {
    delayMs: fault.delayMs,
    connectTimeoutMs: policy.timeout?.connectMs,
    idleTimeoutMs: policy.timeout?.tcpIdleMs,
    counted: max !== undefined,
  };
}

/** What a counted connection is: something that says once when it has closed (a socket). */
interface Closable {
  once(event: 'close', listener: () => void): unknown;
}

const kCounted = Symbol('meshlet.countedConnection');

interface Counted extends Closable {
  [kCounted]?: { readonly counts: ConnectionCounts; readonly key: string } | undefined;
}

/** Module-level, so that a counted connection costs no closure. */
function onCountedClose(this: Counted): void {
  const c = this[kCounted];
  if (c === undefined) return;
  this[kCounted] = undefined;
  c.counts.close(c.key);
}

/** Open L4 connections per Service port (`namespace/name|port`) in this process. */
export class ConnectionCounts {
  private readonly counts = new Map<string, number>();

  /** Counts a connection of `key` until `conn` closes (once, however often it says so). */
  holdUntilClosed(key: string, conn: Closable): void {
    this.open(key);
    (conn as Counted)[kCounted] = { counts: this, key };
    conn.once('close', onCountedClose);
  }

  get(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  open(key: string): void {
    this.counts.set(key, this.get(key) + 1);
  }

  /** One connection closed; a port with none left is forgotten (the map stays as small as the live set). */
  close(key: string): void {
    const n = this.get(key) - 1;
    if (n > 0) this.counts.set(key, n);
    else this.counts.delete(key);
  }

  /** Service ports with open counted connections. */
  get size(): number {
    return this.counts.size;
  }
}
