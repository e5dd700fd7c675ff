/**
 * TCP fault injection (a TrafficPolicy's `tcpFault`), decided per connection: a reset at once
 * for `resetPercent` of the connections, else a delay before connecting for `delay.percent` of
 * them, drawn independently. Pure: the dice are injected (uniform in [0, 1)).
 */
import type { TcpFaultPolicy } from '../../../mesh/resilience.js';

/** What the fault does to one connection: reset it, or connect after `delayMs` (0: at once). */
export type TcpFaultDecision = { readonly reset: true } | { readonly reset: false; readonly delayMs: number };

export const NO_TCP_FAULT: TcpFaultDecision = Object.freeze({ reset: false, delayMs: 0 });
const RESET: TcpFaultDecision = Object.freeze({ reset: true });

/** The fault for one connection (no policy: none). */
export function decideTcpFault(policy: TcpFaultPolicy | undefined, random: () => number): TcpFaultDecision {
  if (policy === undefined) return NO_TCP_FAULT;
  // A percentage of 0 draws nothing, so that a policy with only a delay costs one draw.
  if (policy.resetPercent > 0 && random() * 100 < policy.resetPercent) return RESET;
  const d = policy.delay;
  if (d !== undefined && d.percent > 0 && d.ms > 0 && random() * 100 < d.percent) return { reset: false, delayMs: d.ms };
  return NO_TCP_FAULT;
}
