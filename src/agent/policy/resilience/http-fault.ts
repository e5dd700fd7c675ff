/**
 * HTTP fault injection (Envoy's fault filter), decided per request: a delay for `delay.percent`
 * of the requests whose headers match, an abort (the agent answers with the policy's status)
 * for `abort.percent`, drawn independently as Envoy does. Pure: the dice are injected.
 */
import type { FaultPolicy, HeaderCondition } from '../../../mesh/resilience.js';

/** What the fault filter does to one request. */
export interface FaultDecision {
  readonly delayMs: number;
  /** The status to answer with instead of forwarding; undefined: forward. */
  readonly abort?: { readonly httpStatus: number; readonly grpcStatus: number };
}

export const NO_FAULT: FaultDecision = Object.freeze({ delayMs: 0 });

/** gRPC UNAVAILABLE: the status of a gRPC abort that names none. */
const DEFAULT_GRPC_ABORT = 14;

type Headers = Readonly<Record<string, string | readonly string[] | undefined>>;

/** True when every condition holds (a header with several values matches when any value does). */
export function headersMatch(conditions: readonly HeaderCondition[], headers: Headers): boolean {
  for (const c of conditions) {
    const v = headers[c.name];
    if (v === undefined) return false;
    if (c.value === undefined) continue;
    if (typeof v === 'string' ? v !== c.value : !v.includes(c.value)) return false;
  }
  return true;
}

/** The fault for one request. */
export function decideFault(policy: FaultPolicy | undefined, headers: Headers, random: () => number): FaultDecision {
  if (policy === undefined || !headersMatch(policy.headers, headers)) return NO_FAULT;
  const delayMs = policy.delay !== undefined && random() * 100 < policy.delay.percent ? policy.delay.ms : 0;
  const a = policy.abort;
  if (a !== undefined && random() * 100 < a.percent) {
    return { delayMs, abort: { httpStatus: a.httpStatus, grpcStatus: a.grpcStatus ?? DEFAULT_GRPC_ABORT } };
  }
  return delayMs === 0 ? NO_FAULT : { delayMs };
}
