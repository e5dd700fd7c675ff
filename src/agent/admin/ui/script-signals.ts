/**
 * `/ui/signals.js`: golden signals per workload from the tap's events, computed in the page:
 * rate (per second over the last minute), errors (share of events whose outcome is not `ok`),
 * latency p50/p99 (requests: their duration; connections: how long they lasted), and a count
 * per 10 s over the last 5 minutes for the chart. Each side is counted where it is reported:
 * inbound to a local workload (the destination's view, as Linkerd's per-workload stats) and
 * outbound from one, so a pair on the same node is not counted twice on one row. Bounded: at
 * most 100 rows, 30 buckets and 512 latency samples a row. No DOM: unit tests import it.
 */
export const SIGNALS_JS = String.raw`
export const BUCKET_MS = 10000;
export const BUCKETS = 30;
/** The rate and error share are over the last minute. */
const RECENT_BUCKETS = 6;
export const MAX_ROWS = 100;
export const MAX_SAMPLES = 512;

/** The row an event counts in, or undefined for events that end nothing (an open). */
export function signalKey(e) {
  if (e.type !== 'request' && e.type !== 'connection.close') return undefined;
  const inbound = e.reporter === 'destination' || (e.reporter === undefined && e.direction === 'inbound');
  const workload = inbound ? (e.dst_workload || e.dst || '?') : (e.src_workload || e.src || '?');
  const kind = e.type === 'request' ? 'requests' : 'connections';
  const side = inbound ? 'inbound' : 'outbound';
  return { key: side + ' ' + kind + ' ' + workload, workload, side, kind };
}

/** The q-quantile of sorted numbers (nearest rank), undefined for none. */
export function quantile(sorted, q) {
  if (sorted.length === 0) return undefined;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

export class Signals {
  constructor() {
    this.rowsByKey = new Map();
    /** Events not counted because MAX_ROWS rows exist. */
    this.overflow = 0;
  }

  add(e) {
    const k = signalKey(e);
    if (k === undefined || typeof e.time !== 'number') return;
    let row = this.rowsByKey.get(k.key);
    if (row === undefined) {
      if (this.rowsByKey.size >= MAX_ROWS) { this.overflow++; return; }
      row = { workload: k.workload, side: k.side, kind: k.kind, buckets: new Map(), samples: [] };
      this.rowsByKey.set(k.key, row);
    }
    const b = Math.floor(e.time / BUCKET_MS);
    const bucket = row.buckets.get(b) || { n: 0, errors: 0 };
    bucket.n++;
    if (e.outcome !== 'ok') bucket.errors++;
    row.buckets.set(b, bucket);
    for (const old of row.buckets.keys()) if (old <= b - BUCKETS) row.buckets.delete(old);
    if (typeof e.duration_ms === 'number') {
      row.samples.push([e.time, e.duration_ms]);
      if (row.samples.length > MAX_SAMPLES) row.samples.shift();
    }
  }

  /** One summary per row at 'now' (epoch ms), sorted by workload, side, kind. */
  rows(now) {
    const last = Math.floor(now / BUCKET_MS);
    const out = [];
    for (const row of this.rowsByKey.values()) {
      const counts = [];
      const errors = [];
      for (let i = last - BUCKETS + 1; i <= last; i++) {
        const b = row.buckets.get(i);
        counts.push(b === undefined ? 0 : b.n);
        errors.push(b === undefined ? 0 : b.errors);
      }
      const recent = counts.slice(-RECENT_BUCKETS).reduce((a, v) => a + v, 0);
      const recentErrors = errors.slice(-RECENT_BUCKETS).reduce((a, v) => a + v, 0);
      const since = now - BUCKETS * BUCKET_MS;
      const latency = row.samples.filter(([t]) => t > since).map(([, d]) => d).sort((a, b) => a - b);
      out.push({
        workload: row.workload, side: row.side, kind: row.kind,
        rate: recent / (RECENT_BUCKETS * BUCKET_MS / 1000),
        errorShare: recent === 0 ? 0 : recentErrors / recent,
        total: counts.reduce((a, v) => a + v, 0),
        failed: errors.reduce((a, v) => a + v, 0),
        p50: quantile(latency, 0.5), p99: quantile(latency, 0.99),
        counts, errors,
      });
    }
    return out.sort((a, b) => a.workload.localeCompare(b.workload) || a.side.localeCompare(b.side) || a.kind.localeCompare(b.kind));
  }
}
`;
