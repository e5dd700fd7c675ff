/**
 * One data-path process's live resilience state, for `/resilience`: the source side's counters
 * per Service port (`OutboundHttp.describeResilience`: requests, pending and retries in flight,
 * the retry budget and what it allows now, recent latencies) and the destination side's adaptive
 * concurrency limits per workload port (`InboundGate.limits`), under the process's pid. Each
 * process keeps its own (as each Envoy keeps its own thresholds), so the admin API shows one
 * block per process. A worker builds its block with {@link processResilience} to answer the
 * primary's `resilience` query; the primary checks it with {@link parseProcessResilience}
 * before use, as it checks every worker message (a worker is not trusted).
 */
import { isBoundedString, isCount, isPortNumber } from '../../mesh/validate/formats.js';
import { isFields, type Fields } from '../../mesh/validate/values.js';
import type { ServicePortView } from '../policy/resilience/service-state.js';

/** An adaptive concurrency limit in force at the destination. */
export interface AdaptiveLimitView {
  /** The workload's name as the metrics label it (`namespace/name`). */
  readonly workload: string;
  readonly port: number;
  /** Requests the gradient controller lets in at once now. */
  readonly limit: number;
}

/** One process's live state. */
export interface ProcessResilience {
  /** The pid of the process (the agent's own without worker processes). */
  readonly worker: number;
  readonly servicePorts: readonly ServicePortView[];
  readonly adaptiveLimits: readonly AdaptiveLimitView[];
}

/** Where a process's state comes from: the data plane's public `outboundHttp` and `inboundHttp`. */
export interface ResilienceStateSource {
  readonly outboundHttp: { describeResilience(): ServicePortView[] } | undefined;
  readonly inboundHttp: { readonly gate: { limits(): Array<{ labels: Record<string, string>; value: number }> } };
}

/** This process's block (`worker` is its pid). */
export function processResilience(source: ResilienceStateSource, worker: number): ProcessResilience {
  return {
    worker,
    servicePorts: source.outboundHttp?.describeResilience() ?? [],
    adaptiveLimits: source.inboundHttp.gate.limits().map((l) => ({ workload: l.labels['workload'] ?? '', port: Number(l.labels['port']), limit: l.value })),
  };
}

/**
 * Rows one process may send. A node's snapshot has at most a few thousand Service ports and
 * local workload ports; 20,000 is far above any real one and keeps a broken or hostile worker
 * from making `/resilience` (and the CLI's table) arbitrarily large.
 */
export const MAX_RESILIENCE_ROWS = 20_000;
/** A Service port key `namespace/name|port` (253 + 1 + 63 + 6) or a workload name, with room. */
const MAX_KEY = 330;

const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isNonNegative = (v: unknown): v is number => isFiniteNumber(v) && v >= 0;
const optionalNonNegative = (v: unknown): boolean => v === undefined || isNonNegative(v);

function budgetProblem(b: unknown): string | undefined {
  if (b === undefined) return undefined;
  if (!isFields(b)) return 'retryBudget must be an object';
  const ok = isNonNegative(b['ratio']) && b['ratio'] <= 1 && isNonNegative(b['minPerSecond']) && isNonNegative(b['ttlMs']) && isFiniteNumber(b['available']);
  return ok ? undefined : 'retryBudget: ratio in [0, 1], minPerSecond and ttlMs non-negative, available a number';
}

function servicePortProblem(r: Fields): string | undefined {
  if (!isBoundedString(r['servicePort'], MAX_KEY)) return 'servicePort must be a short string';
  if (!isCount(r['requests']) || !isCount(r['pending']) || !isCount(r['retries'])) return 'requests, pending and retries must be counts';
  if (!optionalNonNegative(r['latencyP50Ms']) || !optionalNonNegative(r['latencyP99Ms'])) return 'latencies must be non-negative numbers';
  return budgetProblem(r['retryBudget']);
}

function limitProblem(r: Fields): string | undefined {
  if (!isBoundedString(r['workload'], MAX_KEY)) return 'workload must be a short string';
  if (!isPortNumber(r['port'])) return 'port must be a port number';
  return isCount(r['limit']) ? undefined : 'limit must be a count';
}

function listProblem(v: unknown, name: string, rowProblem: (r: Fields) => string | undefined): string | undefined {
  if (!Array.isArray(v)) return `${name} must be a list`;
  if (v.length > MAX_RESILIENCE_ROWS) return `${name}: ${v.length} rows, more than ${MAX_RESILIENCE_ROWS}`;
  for (let i = 0; i < v.length; i++) {
    const row: unknown = v[i];
    const why = isFields(row) ? rowProblem(row) : 'not an object';
    if (why !== undefined) return `${name}[${i}]: ${why}`;
  }
  return undefined;
}

/**
 * Checks a worker's answer to the `resilience` query.
 * @returns the block (only its known fields, copied), or a sentence saying what is wrong (for the log).
 */
export function parseProcessResilience(value: unknown): ProcessResilience | string {
  if (!isFields(value)) return 'not an object';
  if (!isCount(value['worker'])) return 'worker must be a pid';
  const why = listProblem(value['servicePorts'], 'servicePorts', servicePortProblem) ?? listProblem(value['adaptiveLimits'], 'adaptiveLimits', limitProblem);
  if (why !== undefined) return why;
  const ports = value['servicePorts'] as ServicePortView[];
  const limits = value['adaptiveLimits'] as AdaptiveLimitView[];
  return {
    worker: value['worker'],
    servicePorts: ports.map((p) => ({
      servicePort: p.servicePort,
      requests: p.requests,
      pending: p.pending,
      retries: p.retries,
      ...(p.retryBudget === undefined ? {} : { retryBudget: { ratio: p.retryBudget.ratio, minPerSecond: p.retryBudget.minPerSecond, ttlMs: p.retryBudget.ttlMs, available: p.retryBudget.available } }),
      ...(p.latencyP50Ms === undefined ? {} : { latencyP50Ms: p.latencyP50Ms }),
      ...(p.latencyP99Ms === undefined ? {} : { latencyP99Ms: p.latencyP99Ms }),
    })),
    adaptiveLimits: limits.map((l) => ({ workload: l.workload, port: l.port, limit: l.limit })),
  };
}

/**
 * The workers' answers to a `resilience` query (`WorkerPool.query`), checked: a malformed one
 * is reported through `refused` (for the log) and left out, the others kept in pid order.
 */
export function mergeWorkerResilience(answers: readonly unknown[], refused: (why: string) => void): ProcessResilience[] {
  const out: ProcessResilience[] = [];
  for (const a of answers) {
    const block = parseProcessResilience(a);
    if (typeof block === 'string') refused(block);
    else out.push(block);
  }
  return out.sort((a, b) => a.worker - b.worker);
}
