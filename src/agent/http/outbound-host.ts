/**
 * What an {@link Exchange} needs of the `OutboundHttp` that made it: the calls, the per-Service
 * resilience state, the metrics and outlier detection, the clock and the dice. An interface, so
 * that the exchange (one request) and the server (connections) stay in their own files.
 */
import type { RequestMirror } from '../../mesh/routes.js';
import type { PlannedHead } from '../policy/request-plan.js';
import type { RateLimiter } from '../policy/resilience/rate-limit.js';
import type { ServiceStates } from '../policy/resilience/service-state.js';
import type { ResilienceMetrics } from '../proxy/resilience-metrics.js';
import type { ServicePortEntry, WorkloadIndex } from '../state/workload-index.js';
import type { HttpProto, RequestRecord } from './exchange.js';
import type { ExchangeCalls, HttpConnection } from './outbound-types.js';
import type { Deadlines } from './deadlines.js';
import type { ReplayBody } from './replay-body.js';

/** Outlier detection's intake: one report per try (status 0 when the try got no response head). */
export interface OutlierReporter {
  /** A snapshot is in force (cheap when it is the one already applied). */
  apply(index: WorkloadIndex): void;
  report(entry: ServicePortEntry, endpointKey: string, status: number, gateway: boolean): void;
}

/** A served connection's state, as an exchange sees it. */
export interface HttpConnectionState {
  readonly conn: HttpConnection;
  inFlight: number;
}

export interface ExchangeHost {
  readonly options: ExchangeCalls;
  readonly states: ServiceStates;
  readonly metrics: ResilienceMetrics | undefined;
  readonly outliers: OutlierReporter | undefined;
  /** Uniform in [0, 1). */
  readonly random: () => number;
  /** Where a route's local rate limits take their tokens (the destination side's limiter), if any. */
  readonly rateLimiter: RateLimiter | undefined;
  /** The per-request timers (timeouts, hedges, backoffs, fault delays): one Node timer for all. */
  readonly deadlines: Deadlines;
  /** Monotonic milliseconds (the retry budget's clock). */
  now(): number;
  observe(rec: RequestRecord): void;
  warnFailure(rec: RequestRecord, reason: string): void;
  requestDone(state: HttpConnectionState, res: unknown): void;
  /** Sends a copy of a request to a RequestMirror's backend, fire-and-forget. */
  mirror(index: WorkloadIndex, entry: ServicePortEntry, mirror: RequestMirror, head: PlannedHead, conn: HttpConnection, proto: HttpProto, body: ReplayBody | undefined): void;
}
