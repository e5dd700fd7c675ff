/**
 * What `meshlet top` shows, computed from the tap stream's events over a sliding window: per
 * pair of source workload and destination (workload, else Service, else address), the request
 * rate, error rate and latency percentiles, and for TCP the connections and bytes. Pure (the
 * clock is passed in) and bounded: at most `maxPairs` pairs (the least recently seen goes), one
 * bucket per second of the window, and at most {@link MAX_SAMPLES_PER_BUCKET} latencies a bucket.
 *
 * Each request and connection is counted once although two sides of this node may report it:
 * requests on the source side (`reporter=source`), or on the destination side when the source
 * is on another node (no source workload); connections outbound, or inbound from another node.
 */

/** One pair's figures over the window. */
export interface PairRow {
  readonly source: string;
  readonly destination: string;
  readonly requests: number;
  /** Requests a second over the window. */
  readonly rps: number;
  readonly errors: number;
  /** Share of requests that did not end `ok` (0..1). */
  readonly errorRate: number;
  /** Latency percentiles in ms; undefined without requests. */
  readonly p50Ms?: number;
  readonly p90Ms?: number;
  readonly p99Ms?: number;
  /** Connections opened in the window, and bytes (both ways) of those closed in it. */
  readonly connections: number;
  readonly bytes: number;
  /** Connections closed in the window that did not end `ok`. */
  readonly connectionErrors: number;
  /** The seconds the rates are over: the window, or the time watched when shorter. */
  readonly seconds: number;
}

/**
 * Latencies kept per pair and second: percentiles of up to 200 samples a second are close
 * enough for a screen (p99 of a busy second is then an estimate), and the memory stays small.
 */
export const MAX_SAMPLES_PER_BUCKET = 200;

interface Bucket {
  second: number;
  requests: number;
  errors: number;
  latencies: number[];
  connections: number;
  connectionErrors: number;
  bytes: number;
}

interface Pair {
  readonly source: string;
  readonly destination: string;
  buckets: Bucket[];
  lastSeen: number;
}

/** Options of {@link TopPairs}. */
export interface TopPairsOptions {
  readonly windowMs: number;
  readonly maxPairs: number;
  /** When watching began: until a whole window has passed, rates are over the time watched. */
  readonly startMs: number;
}

/** A workload uid without its kind (`Pod/demo/client` -> `demo/client`). */
function workloadName(uid: string): string {
  return uid.split('/').slice(-2).join('/');
}

function str(e: Record<string, unknown>, k: string): string | undefined {
  const v = e[k];
  return typeof v === 'string' ? v : undefined;
}

/** The pair an event belongs to. */
export function pairOf(e: Record<string, unknown>): { source: string; destination: string } {
  const srcWorkload = str(e, 'src_workload');
  const srcIdentity = str(e, 'src_identity');
  const source = srcWorkload !== undefined ? workloadName(srcWorkload) : srcIdentity !== undefined ? srcIdentity.replace(/^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/(.+)$/, 'sa:$1/$2') : 'unknown';
  const dstWorkload = str(e, 'dst_workload');
  const service = str(e, 'service');
  const destination = dstWorkload !== undefined ? workloadName(dstWorkload) : service !== undefined ? `svc:${service}` : str(e, 'dst') ?? 'unknown';
  return { source, destination };
}

/** Whether this node's event is the one that counts (see the module comment). */
export function counts(e: Record<string, unknown>): boolean {
  const remoteSource = str(e, 'src_workload') === undefined;
  if (e['type'] === 'request') return e['reporter'] === 'source' || remoteSource;
  if (e['type'] === 'connection.open' || e['type'] === 'connection.close') return e['direction'] === 'outbound' || remoteSource;
  return false;
}

function percentile(sorted: readonly number[], p: number): number | undefined {
  if (sorted.length === 0) return undefined;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** Pairs over a sliding window. */
export class TopPairs {
  private readonly pairs = new Map<string, Pair>();
  private readonly windowMs: number;
  private readonly maxPairs: number;
  private readonly startMs: number;
  /** Pairs forgotten to stay under `maxPairs`. */
  evicted = 0;

  constructor(opts: TopPairsOptions) {
    this.windowMs = opts.windowMs;
    this.maxPairs = opts.maxPairs;
    this.startMs = opts.startMs;
  }

  /** Takes one tap event seen at `nowMs` (events that do not count are ignored). */
  add(e: Record<string, unknown>, nowMs: number): void {
    if (!counts(e)) return;
    const bucket = this.bucket(pairOf(e), nowMs);
    if (e['type'] === 'request') {
      bucket.requests += 1;
      if (e['outcome'] !== 'ok') bucket.errors += 1;
      const d = e['duration_ms'];
      if (typeof d === 'number' && bucket.latencies.length < MAX_SAMPLES_PER_BUCKET) bucket.latencies.push(d);
    } else if (e['type'] === 'connection.open') bucket.connections += 1;
    else {
      const sent = e['bytes_sent'];
      const received = e['bytes_received'];
      bucket.bytes += (typeof sent === 'number' ? sent : 0) + (typeof received === 'number' ? received : 0);
      if (e['outcome'] !== 'ok') bucket.connectionErrors += 1;
    }
  }

  private bucket(p: { source: string; destination: string }, nowMs: number): Bucket {
    const key = `${p.source}\n${p.destination}`;
    let pair = this.pairs.get(key);
    if (pair === undefined) {
      if (this.pairs.size >= this.maxPairs) this.evictOldest();
      pair = { ...p, buckets: [], lastSeen: nowMs };
      this.pairs.set(key, pair);
    }
    pair.lastSeen = nowMs;
    const second = Math.floor(nowMs / 1000);
    let last = pair.buckets[pair.buckets.length - 1];
    if (last === undefined || last.second !== second) {
      last = { second, requests: 0, errors: 0, latencies: [], connections: 0, connectionErrors: 0, bytes: 0 };
      pair.buckets.push(last);
      this.prune(pair, nowMs);
    }
    return last;
  }

  private prune(pair: Pair, nowMs: number): void {
    // A bucket goes once all of its second is older than the window (one that straddles the window's start stays).
    const oldest = Math.floor((nowMs - this.windowMs) / 1000);
    let drop = 0;
    while (drop < pair.buckets.length && (pair.buckets[drop] as Bucket).second < oldest) drop += 1;
    if (drop > 0) pair.buckets.splice(0, drop);
  }

  private evictOldest(): void {
    let oldestKey: string | undefined;
    let oldest = Infinity;
    for (const [k, p] of this.pairs) {
      if (p.lastSeen < oldest) {
        oldest = p.lastSeen;
        oldestKey = k;
      }
    }
    if (oldestKey !== undefined) {
      this.pairs.delete(oldestKey);
      this.evicted += 1;
    }
  }

  /** The pairs with traffic in the window at `nowMs`, busiest first (requests, then connections, then bytes). */
  rows(nowMs: number): PairRow[] {
    const seconds = Math.max(0.001, Math.min(this.windowMs, nowMs - this.startMs) / 1000);
    const rows: PairRow[] = [];
    for (const [key, pair] of this.pairs) {
      this.prune(pair, nowMs);
      if (pair.buckets.length === 0) {
        this.pairs.delete(key);
        continue;
      }
      let requests = 0;
      let errors = 0;
      let connections = 0;
      let connectionErrors = 0;
      let bytes = 0;
      const latencies: number[] = [];
      for (const b of pair.buckets) {
        requests += b.requests;
        errors += b.errors;
        connections += b.connections;
        connectionErrors += b.connectionErrors;
        bytes += b.bytes;
        for (const l of b.latencies) latencies.push(l);
      }
      latencies.sort((a, b) => a - b);
      const p50 = percentile(latencies, 50);
      const p90 = percentile(latencies, 90);
      const p99 = percentile(latencies, 99);
      rows.push({
        source: pair.source,
        destination: pair.destination,
        requests,
        rps: requests / seconds,
        errors,
        errorRate: requests === 0 ? 0 : errors / requests,
        ...(p50 === undefined ? {} : { p50Ms: p50 }),
        ...(p90 === undefined ? {} : { p90Ms: p90 }),
        ...(p99 === undefined ? {} : { p99Ms: p99 }),
        connections,
        connectionErrors,
        bytes,
        seconds,
      });
    }
    return rows.sort((a, b) => b.requests - a.requests || b.connections - a.connections || b.bytes - a.bytes || a.source.localeCompare(b.source));
  }

  /** Pairs held now. */
  get size(): number {
    return this.pairs.size;
  }
}
