/**
 * The closed lists of reasons the resilience decisions name (and the metrics count as labels):
 * here, with the decisions, so that `policy/` needs nothing from the data path.
 */

/** Why a failed try got no retry (the access log's `retry_stop`). */
export type RetryStopReason = 'budget' | 'attempts' | 'method' | 'body' | 'breaker';
/** Which threshold refused: Envoy's four circuit-breaker thresholds, or the adaptive limit. */
export type OverflowThreshold = 'max_connections' | 'max_pending_requests' | 'max_requests' | 'max_retries' | 'adaptive_concurrency';
/** Why outlier detection ejected an endpoint. */
export type EjectionReason = 'consecutive_5xx' | 'consecutive_gateway_errors' | 'success_rate';
/** What fault injection did. */
export type FaultKind = 'delay' | 'abort' | 'reset';
