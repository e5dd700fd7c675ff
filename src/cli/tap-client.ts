/**
 * What `meshlet tap` and `meshlet top` share: the filter flags, and a client for the agent's
 * `GET /tap` stream (NDJSON, one event a line) on top of the admin client's address, token and
 * errors (`admin-client.ts`).
 */
import http from 'node:http';
import { createInterface } from 'node:readline';
import { Option, type Command } from 'commander';
import { MeshletError } from '../mesh/errors.js';
import { parseTapFilter, TAP_FILTER_PARAMS, TAP_OUTCOMES } from '../agent/tap/tap-filter.js';
import { AdminUnauthorizedError, AdminUnreachableError, tokenRefusal, type AdminEndpoint, type AdminToken } from './admin-client.js';

/** The filter flags, as commander gives them. */
export interface TapFilterFlags {
  readonly namespace?: string;
  readonly workload?: string;
  readonly identity?: string;
  readonly service?: string;
  readonly outcome?: string;
  readonly kind?: string;
}

/** Adds the filter flags (the same names as `GET /tap`'s parameters). */
export function tapFilterOptions(cmd: Command): Command {
  return cmd
    .option('--namespace <ns>', 'source or destination workload, Service or identity in this namespace')
    .option('--workload <name>', 'source or destination workload: name, namespace/name or Kind/namespace/name')
    .option('--identity <id>', 'source or destination identity: a SPIFFE id or namespace/serviceaccount')
    .option('--service <svc>', 'the Service: namespace/name, name.namespace or name')
    .addOption(new Option('--outcome <outcome>', `closed connections and requests with this outcome (failed: any but ok): ${TAP_OUTCOMES.join(', ')}`))
    .addOption(new Option('--kind <kind>', 'connection or request events only').choices(['connection', 'request']));
}

/**
 * The `/tap` query of the flags, checked as the agent checks it (a bad value exits 64 before
 * anything is sent). `extra`: further parameters (`max`, `duration`).
 */
export function tapQuery(flags: TapFilterFlags, extra: Record<string, string> = {}): URLSearchParams {
  const query = new URLSearchParams();
  for (const name of TAP_FILTER_PARAMS) {
    const v = (flags as Record<string, unknown>)[name];
    if (typeof v === 'string') query.set(name, v);
  }
  try {
    parseTapFilter(query);
  } catch (err) {
    throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `--${(err as Error).message}`);
  }
  for (const [k, v] of Object.entries(extra)) query.set(k, v);
  return query;
}

/**
 * Parses a `--duration`: seconds (`30`), or with a unit (`500ms`, `30s`, `5m`, `1h`).
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID naming the flag.
 */
export function parseDurationFlag(flag: string, text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  const unit = { ms: 0.001, s: 1, m: 60, h: 3600 }[(m?.[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const seconds = m === null ? NaN : Number(m[1]) * unit;
  if (!(seconds > 0) || seconds > 86_400) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${flag} ${JSON.stringify(text)}: want a duration from 1ms to 24h (30, 30s, 500ms, 5m)`);
  return seconds;
}

/**
 * Parses a positive integer flag (`--max`, `--top`).
 * @throws MeshletError MESHLET_ERR_CONFIG_INVALID naming the flag.
 */
export function parseCountFlag(flag: string, text: string, max: number): number {
  const n = /^\d+$/.test(text.trim()) ? Number(text) : NaN;
  if (!(n >= 1 && n <= max)) throw new MeshletError('MESHLET_ERR_CONFIG_INVALID', `${flag} ${JSON.stringify(text)}: want an integer from 1 to ${max}`);
  return n;
}

/** How long the agent has to answer the stream's head (its lines may then be minutes apart). */
const HEAD_TIMEOUT_MS = 5_000;

/** How a stream ended, from the client's side. */
export interface TapEnd {
  /** The `tap.end` line's reason (`max`, `duration`, `slow_reader`, `closing`), or ours: `stopped` (asked), `closed` (the agent hung up without one). */
  readonly reason: string;
  readonly line?: Record<string, unknown>;
}

/**
 * Streams `GET /tap?query` from the agent at `endpoint`, calling `onLine` with each decoded line
 * (events and the stream's own `tap.*` lines), until the agent ends it or `signal` aborts it.
 * @throws AdminUnreachableError, AdminUnauthorizedError, or an Error naming the agent's refusal (429, 400).
 */
export function streamTap(endpoint: AdminEndpoint, query: URLSearchParams, onLine: (line: Record<string, unknown>) => void, signal?: AbortSignal): Promise<TapEnd> {
  const { url: base, token, label } = endpoint;
  const explain = endpoint.explain ?? ((err: AdminUnreachableError): Error => err);
  const headers: Record<string, string> = token !== undefined && 'token' in token ? { authorization: `Bearer ${token.token}` } : {};
  return new Promise<TapEnd>((resolve, reject) => {
    const req = http.get(new URL(`/tap?${query.toString()}`, base), { headers }, (res) => {
      clearTimeout(headTimer);
      if (res.statusCode !== 200) refusal(res, label, token, reject);
      else readLines(res, label, onLine, signal).then(resolve, (err: Error) => {
        req.destroy();
        reject(err);
      });
    });
    const headTimer = setTimeout(() => req.destroy(new Error(`no answer within ${HEAD_TIMEOUT_MS / 1000} s`)), HEAD_TIMEOUT_MS);
    req.on('error', (err: NodeJS.ErrnoException) => {
      clearTimeout(headTimer);
      if (signal?.aborted === true) resolve({ reason: 'stopped' });
      else reject(explain(new AdminUnreachableError(`cannot reach the agent's admin API at ${label} (${err.code ?? err.message})`, { cause: err })));
    });
    signal?.addEventListener('abort', () => req.destroy(), { once: true });
  });
}

/** Reads the stream's lines to its end (or until it is torn down); how it ended. */
async function readLines(res: http.IncomingMessage, origin: string, onLine: (line: Record<string, unknown>) => void, signal: AbortSignal | undefined): Promise<TapEnd> {
  let ended: Record<string, unknown> | undefined;
  try {
    for await (const text of createInterface({ input: res, crlfDelay: Infinity })) {
      if (text.trim() === '') continue;
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(text) as Record<string, unknown>;
      } catch {
        throw new AdminUnreachableError(`${origin}/tap sent a line that is not JSON: is this the agent's admin port?`);
      }
      if (line['type'] === 'tap.end') ended = line;
      onLine(line);
    }
  } catch (err) {
    if (err instanceof AdminUnreachableError) throw err;
    // Torn down (asked to stop, or the agent went away): how it ended is said below.
  }
  if (ended !== undefined) return { reason: String(ended['reason']), line: ended };
  return { reason: signal?.aborted === true ? 'stopped' : 'closed' };
}

/** A non-200 answer to `/tap`, as an error of the admin client's kinds. */
function refusal(res: http.IncomingMessage, origin: string, token: AdminToken | undefined, reject: (e: Error) => void): void {
  let body = '';
  res.setEncoding('utf8');
  res.on('data', (c: string) => {
    if (body.length < 4096) body += c;
  });
  res.on('end', () => {
    const status = res.statusCode ?? 0;
    if (status === 401 || status === 403) {
      reject(new AdminUnauthorizedError(`${origin}/tap answered ${status}: ${tokenRefusal(token, status)}`));
      return;
    }
    let detail = body.trim();
    try {
      const msg = (JSON.parse(body) as { error?: unknown }).error;
      if (typeof msg === 'string') detail = msg;
    } catch {
      // not JSON: shown as it came
    }
    if (status === 404) detail += ' (an agent older than this CLI has no /tap)';
    reject(new Error(`/tap answered ${status}: ${detail}`));
  });
}
