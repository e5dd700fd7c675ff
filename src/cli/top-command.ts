/**
 * `meshlet top`: the busiest workload pairs on this node, from the agent's `/tap` stream over a
 * sliding window (`top-pairs.ts`): request rate, error rate and latency percentiles, and for
 * TCP connections and bytes. Refreshes every `--interval`; `--once` prints one table (after
 * one interval of traffic) and exits; `-o json` prints the figures as one JSON line per
 * refresh, `-o yaml` as one YAML document per refresh (`---` between them). The table is fitted
 * to the terminal; through a pipe it is never cut, and the screen is cleared only on a terminal.
 */
import type { Command } from 'commander';
import { adminOptions, processIo, runAdminAction, withUsageExits } from './admin-client.js';
import { nodeOptions, withAdmin, type NodeFlags } from './admin-session.js';
import { formatRecord, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { renderTable, type TableOptions } from './table.js';
import { parseCountFlag, parseDurationFlag, streamTap, tapFilterOptions, tapQuery, type TapFilterFlags } from './tap-client.js';
import { shortBytes } from './tap-command.js';
import { TopPairs, type PairRow } from './top-pairs.js';

/** `meshlet top`'s flags. */
export interface TopFlags extends NodeFlags, TapFilterFlags, OutputFlags {
  readonly interval?: string;
  readonly window?: string;
  readonly once?: boolean;
  readonly rows?: string;
}

/**
 * Pairs held at once: a node runs tens of workloads, each talking to a few others; 1,000 pairs
 * of at most a window's buckets is a few MiB at worst, and the least recently seen go first.
 */
const MAX_PAIRS = 1000;

/** Adds `meshlet top`. */
export function registerTopCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = outputOptions(withUsageExits(program.command('top'), io), 'top', { text: 'a table per refresh', stream: true })
    .description("the busiest workload pairs on this node (or --node NAME): request rate, errors and latency, connections and bytes (from the agent's live traffic)")
    .option('--interval <d>', 'refresh every (1s, 500ms, 5)', '1s')
    .option('--window <d>', 'rates and percentiles over the last (10s, 1m); with --once: the interval', '10s')
    .option('--once', 'watch for one interval, print one table and exit')
    .option('--rows <n>', 'show at most this many pairs', '20')
    .addHelpText('after', '\nExamples:\n  meshlet top\n  meshlet top --namespace demo --window 1m\n  meshlet top --once --interval 5s -o json\n');
  nodeOptions(adminOptions(tapFilterOptions(cmd))).action((opts: TopFlags) => runAdminAction(io, 'top', () => top(io, opts)));
}

/** Runs `top` until stopped (`--once`, Ctrl-C, `signal`); answers the exit code. */
export async function top(io: OutputIo, flags: TopFlags, signal?: AbortSignal): Promise<number> {
  const ctx = outputContext(io, 'top', flags);
  const intervalMs = parseDurationFlag('--interval', flags.interval ?? '1s') * 1000;
  const windowMs = flags.once === true ? intervalMs : parseDurationFlag('--window', flags.window ?? '10s') * 1000;
  const rows = parseCountFlag('--rows', flags.rows ?? '20', MAX_PAIRS);
  const query = tapQuery(flags);
  // The way to the agent first: finding a node's pod must not eat into the first interval.
  return withAdmin(flags, async (admin) => {
    const pairs = new TopPairs({ windowMs, maxPairs: MAX_PAIRS, startMs: Date.now() });
    const ctl = new AbortController();
    signal?.addEventListener('abort', () => ctl.abort(), { once: true });
    const onInt = (): void => ctl.abort();
    if (io === processIo) process.once('SIGINT', onInt);
    // Clearing the screen is an escape code: a terminal's only, and not with NO_COLOR/--no-color/TERM=dumb.
    const clear = ctx.tty && ctx.color && flags.once !== true;
    const print = (): void => {
      const now = Date.now();
      const shown = pairs.rows(now).slice(0, rows);
      if (ctx.format !== 'text') io.stdout(formatRecord(ctx.format, topJson(shown, windowMs, pairs.evicted, now)));
      else io.stdout(`${clear ? '\x1b[H\x1b[2J' : ''}${topTable(shown, admin.label, windowMs, { maxWidth: ctx.width })}`);
    };
    const timer = setInterval(() => {
      print();
      if (flags.once === true) ctl.abort();
    }, intervalMs);
    try {
      const end = await streamTap(admin, query, (line) => pairs.add(line, Date.now()), ctl.signal);
      if (end.reason !== 'stopped') {
        io.stderr(`meshlet top: the agent ended the stream: ${end.reason}\n`);
        return 1;
      }
      return 0;
    } finally {
      clearInterval(timer);
      process.off('SIGINT', onInt);
    }
  });
}

const round = (n: number, digits: number): number => Math.round(n * 10 ** digits) / 10 ** digits;

/** The `-o json` object of one refresh. Pure. */
export function topJson(rows: readonly PairRow[], windowMs: number, evicted: number, now: number): Record<string, unknown> {
  return {
    time: now,
    window_s: windowMs / 1000,
    pairs: rows.map((r) => ({
      source: r.source,
      destination: r.destination,
      requests: r.requests,
      rps: round(r.rps, 3),
      errors: r.errors,
      error_rate: round(r.errorRate, 4),
      ...(r.p50Ms === undefined ? {} : { p50_ms: r.p50Ms, p90_ms: r.p90Ms, p99_ms: r.p99Ms }),
      connections: r.connections,
      connection_errors: r.connectionErrors,
      bytes: r.bytes,
    })),
    pairs_evicted: evicted,
  };
}

const ms = (v: number | undefined): string => (v === undefined ? '-' : v < 10 ? v.toFixed(2) : v.toFixed(0));

/** The table of one refresh, fitted to `table.maxWidth` (default 140). Pure. */
export function topTable(rows: readonly PairRow[], admin: string, windowMs: number, table: TableOptions = { maxWidth: 140 }): string {
  const head = `meshlet top  ${admin}  window ${windowMs / 1000}s  ${new Date().toISOString().slice(11, 19)}Z\n\n`;
  if (rows.length === 0) return `${head}no traffic in the window\n`;
  return head + renderTable(
    ['SOURCE', 'DESTINATION', 'RPS', 'ERR%', 'P50ms', 'P90ms', 'P99ms', 'CONN/s', 'BYTES/s'],
    rows.map((r) => [
      r.source,
      r.destination,
      r.rps.toFixed(r.rps < 10 ? 2 : 0),
      r.requests === 0 ? '-' : (r.errorRate * 100).toFixed(1),
      ms(r.p50Ms),
      ms(r.p90Ms),
      ms(r.p99Ms),
      (r.connections / r.seconds).toFixed(2),
      shortBytes(Math.round(r.bytes / r.seconds)),
    ]),
    table,
  );
}
