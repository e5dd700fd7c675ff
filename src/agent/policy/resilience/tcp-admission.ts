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
  on(event: 'close', listener: () => void): unknown;
}

/** A connection as a {@link ConnectionCounts} marks it: the key it counts, by that instance's slot. */
type Counted = Closable & { [slot: symbol]: string | undefined };

/** Open L4 connections per Service port (`namespace/name|port`) in this process (or any other key: per workload too). */
export class ConnectionCounts {
  private readonly counts = new Map<string, number>();
  /** Per instance, so one socket can be held by two counts (its Service port's and its workload's). */
  private readonly slot = Symbol('meshlet.countedConnection');
  /** Made once per instance (not per connection): `this` is the closing connection. */
  private readonly onCountedClose: (this: Counted) => void;

  constructor() {
    const counts = this;
    const slot = this.slot;
    this.onCountedClose = function onCountedClose(this: Counted): void {
      const key = this[slot];
      if (key === undefined) return;
      this[slot] = undefined;
      counts.close(key);
    };
  }

  /** Counts a connection of `key` until `conn` closes (once, however often it says so). */
  holdUntilClosed(key: string, conn: Closable): void {
    this.open(key);
    (conn as Counted)[this.slot] = key;
    // `on`, not `once`: the handler is idempotent (it clears the slot), a connection closes once,
    // and `once` allocates a wrapper per call (about 1 µs per connection against 0.1 µs).
    conn.on('close', this.onCountedClose);
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
