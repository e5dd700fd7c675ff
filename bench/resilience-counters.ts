/**
 * The `l7-resilience` scenario's check that nothing triggered: the agents' resilience counters
 * (`src/agent/proxy/resilience-metrics.ts`) summed from a Prometheus scrape, and their growth
 * over the run with everything configured. A scrape is another process's output, so it is
 * bounded and every sample is checked. Pure.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';

/** The counters read, by the key the scenario records them under. Any growth means a feature fired. */
export const RESILIENCE_COUNTERS: Readonly<Record<string, string>> = Object.freeze({
  retries: 'meshlet_request_retries_total',
  retriesSuppressed: 'meshlet_request_retries_suppressed_total',
  hedges: 'meshlet_request_hedges_total',
  overflows: 'meshlet_upstream_overflow_total',
  ejections: 'meshlet_outlier_ejections_total',
  faults: 'meshlet_faults_injected_total',
  rateLimited: 'meshlet_rate_limited_total',
  timeouts: 'meshlet_request_timeouts_total',
  mirrored: 'meshlet_requests_mirrored_total',
});

/** The most of a scrape read: an agent's whole /metrics is tens of KiB; the rest is refused. */
export const MAX_SCRAPE_BYTES = 4 * 1024 * 1024;

/** Where a sample's value starts: after the label set (quotes and escapes respected) or the name. */
function valueStart(line: string, from: number): number | undefined {
  if (line[from] !== '{') return from;
  let quoted = false;
  for (let i = from + 1; i < line.length; i += 1) {
    const c = line[i];
    if (quoted && c === '\\') i += 1;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === '}') return i + 1;
  }
  return undefined;
}

/**
 * Sums every sample of each counter in `names` (all label sets) in Prometheus text. A counter
 * with no sample is 0 (prom-client prints none until the first `inc`). Throws
 * `MESHLET_ERR_HOST_TOOL` on an oversized scrape or a sample of these counters that is not a
 * finite number >= 0, naming the line.
 */
export function sumCounters(text: string, names: Readonly<Record<string, string>>): Record<string, number> {
  if (text.length > MAX_SCRAPE_BYTES) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `metrics scrape of ${text.length} bytes, more than ${MAX_SCRAPE_BYTES}`);
  const byName = new Map(Object.entries(names).map(([key, name]) => [name, key]));
  const out: Record<string, number> = Object.fromEntries(Object.keys(names).map((k) => [k, 0]));
  const lines = text.split('\n');
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n] as string;
    if (line === '' || line.startsWith('#')) continue;
    const nameEnd = line.search(/[{ \t]/);
    const key = nameEnd < 0 ? undefined : byName.get(line.slice(0, nameEnd));
    if (key === undefined) continue;
    const at = valueStart(line, nameEnd);
    // The value is the first field after the labels; an optional timestamp may follow.
    const raw = at === undefined ? undefined : line.slice(at).trim().split(/[ \t]+/)[0];
    const value = raw === undefined || raw === '' ? Number.NaN : Number(raw);
    if (!Number.isFinite(value) || value < 0) {
      throw new MeshletError('MESHLET_ERR_HOST_TOOL', `metrics scrape line ${n + 1}: ${JSON.stringify(line.slice(0, 200))} is not a counter sample >= 0`);
    }
    out[key] = (out[key] ?? 0) + value;
  }
  return out;
}

/**
 * How much each counter grew from `before` to `after` (scrapes of the same agents). A counter
 * that went down means an agent restarted between them: that is an error, not a zero.
 */
export function counterGrowth(before: Readonly<Record<string, number>>, after: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(after)) {
    const d = (after[key] ?? 0) - (before[key] ?? 0);
    if (d < 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${RESILIENCE_COUNTERS[key] ?? key} went down from ${before[key]} to ${after[key]}: did an agent restart?`);
    out[key] = d;
  }
  return out;
}

/** The counters that grew, as `name N` words (empty when none did). */
export function triggered(growth: Readonly<Record<string, number>>): string[] {
  return Object.entries(growth)
    .filter(([, v]) => v > 0)
    .map(([key, v]) => `${RESILIENCE_COUNTERS[key] ?? key} ${v}`);
}
