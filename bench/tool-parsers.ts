/**
 * Readers of the load generators' output: iperf3's JSON, sockperf's summary lines, and the
 * JSON line `bench/wrk-report.lua` makes wrk print. Pure; each throws
 * `MESHLET_ERR_HOST_TOOL` quoting the output when it cannot find what it needs.
 *
 * @module
 */

import { MeshletError } from '../src/mesh/errors.js';

function fail(tool: string, what: string, output: string): never {
  throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${tool}: ${what}; output: ${output.slice(-1500)}`);
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function numberAt(v: unknown, path: readonly string[]): number | undefined {
  let cur: unknown = v;
  for (const key of path) {
    if (!isRecord(cur)) return undefined;
    cur = cur[key];
  }
  return typeof cur === 'number' && Number.isFinite(cur) ? cur : undefined;
}

/** What an iperf3 client run measured. */
export interface IperfResult {
  /** Bits per second the receiver counted (goodput). */
  readonly bitsPerSecond: number;
  /** Bytes the receiver counted. */
  readonly bytes: number;
  readonly seconds: number;
}

/** Reads `iperf3 -J` output (the client's report, which carries the receiver's sums). */
export function parseIperfJson(output: string): IperfResult {
  let doc: unknown;
  try {
    doc = JSON.parse(output);
  } catch {
    fail('iperf3', 'output is not JSON', output);
  }
  if (isRecord(doc) && typeof doc['error'] === 'string') fail('iperf3', `reported "${doc['error']}"`, output);
  const bitsPerSecond = numberAt(doc, ['end', 'sum_received', 'bits_per_second']);
  const bytes = numberAt(doc, ['end', 'sum_received', 'bytes']);
  const seconds = numberAt(doc, ['end', 'sum_received', 'seconds']);
  if (bitsPerSecond === undefined || bytes === undefined || seconds === undefined) fail('iperf3', 'no end.sum_received in the report', output);
  return { bitsPerSecond, bytes, seconds };
}

/** Round-trip times sockperf reported, in microseconds. */
export interface SockperfResult {
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
  readonly observations: number;
  /** Length of the measured part of the run (after sockperf's warm-up). */
  readonly validSeconds: number;
  readonly sent: number;
  readonly received: number;
  readonly dropped: number;
}

// sockperf colours some lines; the numbers are read from the plain text.
const ANSI = /\u001b\[[0-9;]*m/g;

/** Reads the statistics block of `sockperf under-load` (or `ping-pong`). */
export function parseSockperf(output: string): SockperfResult {
  const text = output.replace(ANSI, '');
  const pick = (re: RegExp, what: string): number => {
    const m = re.exec(text);
    const v = m?.[1] === undefined ? Number.NaN : Number(m[1]);
    if (!Number.isFinite(v)) fail('sockperf', `no ${what} in the output`, text);
    return v;
  };
  const percentile = (p: string): number => pick(new RegExp(`percentile ${p.replace('.', '\\.')} =\\s*([0-9.]+)`), `percentile ${p}`);
  return {
    p50Us: percentile('50.000'),
    p90Us: percentile('90.000'),
    p99Us: percentile('99.000'),
    maxUs: pick(/<MAX> observation =\s*([0-9.]+)/, 'maximum'),
    observations: pick(/Total (\d+) observations/, 'observation count'),
    validSeconds: pick(/\[Valid Duration\] RunTime=([0-9.]+) sec/, 'valid duration'),
    sent: pick(/\[Valid Duration\].*SentMessages=(\d+)/, 'sent count'),
    received: pick(/\[Valid Duration\].*ReceivedMessages=(\d+)/, 'received count'),
    dropped: pick(/# dropped messages = (\d+)/, 'dropped count'),
  };
}

/** What a wrk run counted (from `wrk-report.lua`). */
export interface WrkResult {
  readonly requests: number;
  readonly seconds: number;
  readonly bytes: number;
  /** connect + read + write + timeout errors, and non-2xx/3xx answers. */
  readonly errors: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** The marker `wrk-report.lua` puts before its JSON line. */
export const WRK_JSON_MARKER = 'WRK_JSON ';

/** Reads the `WRK_JSON {...}` line printed by `bench/wrk-report.lua`. */
export function parseWrkReport(output: string): WrkResult {
  const line = output.split('\n').find((l) => l.startsWith(WRK_JSON_MARKER));
  if (line === undefined) fail('wrk', `no "${WRK_JSON_MARKER.trim()}" line (is bench/wrk-report.lua loaded?)`, output);
  let doc: unknown;
  try {
    doc = JSON.parse(line.slice(WRK_JSON_MARKER.length));
  } catch {
    fail('wrk', 'report line is not JSON', output);
  }
  const get = (key: string): number => {
    const v = numberAt(doc, [key]);
    if (v === undefined) fail('wrk', `report has no number ${key}`, output);
    return v;
  };
  const errors = ['connect_errors', 'read_errors', 'write_errors', 'status_errors', 'timeouts'].reduce((sum, k) => sum + get(k), 0);
  return {
    requests: get('requests'),
    seconds: get('duration_us') / 1e6,
    bytes: get('bytes'),
    errors,
    p50Us: get('p50_us'),
    p90Us: get('p90_us'),
    p99Us: get('p99_us'),
    maxUs: get('max_us'),
  };
}

/** What an h2load run counted (its summary block). */
export interface H2loadResult {
  /** Length of the measured part of the run. */
  readonly seconds: number;
  /** h2load's own rate: requests done over the measured time. */
  readonly rps: number;
  readonly done: number;
  /** Requests that failed, errored or timed out, and answers that were not 2xx. */
  readonly errors: number;
  /** h2load's `requests:` and `status codes:` lines, to quote when a run is doubtful. */
  readonly counts: string;
}

/** Reads the summary h2load prints (`finished in`, `requests:`, `status codes:`). */
export function parseH2load(output: string): H2loadResult {
  const pick = (re: RegExp, what: string): number => {
    const v = Number(re.exec(output)?.[1] ?? Number.NaN);
    if (!Number.isFinite(v)) fail('h2load', `no ${what} in the output`, output);
    return v;
  };
  const done = pick(/^requests: \d+ total, \d+ started, (\d+) done/m, 'requests done');
  const failed = pick(/^requests: .*\b(\d+) failed\b/m, 'failed count');
  const ok2xx = pick(/^status codes: (\d+) 2xx/m, '2xx count');
  return {
    seconds: pick(/^finished in ([0-9.]+)s,/m, 'duration'),
    rps: pick(/^finished in [0-9.]+s, ([0-9.]+) req\/s/m, 'request rate'),
    done,
    // A failed request (errored and timed-out ones included) is done with no status: count it once.
    errors: Math.max(failed, done - ok2xx),
    counts: output.split('\n').filter((l) => /^(requests|status codes): /.test(l)).join('; '),
  };
}

/** Percentiles of the requests in an h2load `--log-file`, in microseconds. */
export interface RequestTimes {
  readonly count: number;
  /** Rows whose status was not 2xx (h2load logs failed requests with status -1). */
  readonly non2xx: number;
  readonly p50Us: number;
  readonly p90Us: number;
  readonly p99Us: number;
  readonly maxUs: number;
}

/** The nearest-rank percentile `p` (0-100) of ascending `sorted`; NaN when empty. */
export function nearestRank(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1] as number;
}

/**
 * Reads h2load's per-request log (tab-separated: start time in µs since the epoch, status,
 * µs to the end of the response). Throws when it holds no request.
 */
export function parseH2loadLog(text: string): RequestTimes {
  const times: number[] = [];
  let non2xx = 0;
  for (const line of text.split('\n')) {
    const [, status, us] = line.split('\t');
    const t = Number(us);
    if (status === undefined || !Number.isFinite(t)) continue;
    if (!/^2\d\d$/.test(status)) non2xx += 1;
    times.push(t);
  }
  if (times.length === 0) fail('h2load', 'the per-request log holds no request', text);
  times.sort((a, b) => a - b);
  return { count: times.length, non2xx, p50Us: nearestRank(times, 50), p90Us: nearestRank(times, 90), p99Us: nearestRank(times, 99), maxUs: times[times.length - 1] as number };
}
