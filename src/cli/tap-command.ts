/**
 * `meshlet tap`: the node agent's traffic as it happens, from its admin API's `/tap` stream:
 * connections opened and closed, requests finished, filtered at the agent. One human line per
 * event by default, `-o json` for the NDJSON lines as they come (scripts), `-o yaml` for one
 * YAML document per line (`---` between them); `--max` and
 * `--duration` stop it by itself. Exits 0 when it stopped as asked (flags, Ctrl-C), 1 when the
 * agent cannot be reached, refuses the token or ends the stream itself (a slow reader, a
 * shutdown), 64 for a bad flag.
 */
import type { Command } from 'commander';
import { adminOptions, processIo, runAdminAction, withUsageExits, type AdminIo } from './admin-client.js';
import { nodeOptions, withAdmin, type NodeFlags } from './admin-session.js';
import { formatRecord, outputContext, outputOptions, type OutputFlags, type OutputIo } from './output.js';
import { parseCountFlag, parseDurationFlag, streamTap, tapFilterOptions, tapQuery, type TapFilterFlags } from './tap-client.js';

/** `meshlet tap`'s flags. */
export interface TapFlags extends NodeFlags, TapFilterFlags, OutputFlags {
  readonly max?: string;
  readonly duration?: string;
}

/** The most events one `--max` may ask for (the agent's own bound). */
const MAX_EVENTS = 1_000_000;

/** Adds `meshlet tap`. */
export function registerTapCommand(program: Command, io: OutputIo = processIo): void {
  const cmd = outputOptions(withUsageExits(program.command('tap'), io), 'tap', { text: 'one line per event', stream: true })
    .description("stream this node's (or --node NAME's) traffic as it happens: connections opened and closed, requests finished (filtered at the agent)")
    .option('--max <n>', 'stop after this many events')
    .option('--duration <d>', 'stop after this long (30, 30s, 500ms, 5m)')
    .addHelpText('after', '\nExamples:\n  meshlet tap --namespace demo\n  meshlet tap --workload client --kind request --outcome failed\n  meshlet tap -o json --max 100 | jq .\n');
  nodeOptions(adminOptions(tapFilterOptions(cmd))).action((opts: TapFlags) => runAdminAction(io, 'tap', () => tap(io, opts)));
}

/** Runs `tap` until it stops (flags, the agent, or `signal`); answers the exit code. */
export async function tap(io: OutputIo, flags: TapFlags, signal?: AbortSignal): Promise<number> {
  const { format } = outputContext(io, 'tap', flags);
  const extra: Record<string, string> = {};
  if (flags.max !== undefined) extra['max'] = String(parseCountFlag('--max', flags.max, MAX_EVENTS));
  const seconds = flags.duration === undefined ? undefined : parseDurationFlag('--duration', flags.duration);
  if (seconds !== undefined) extra['duration'] = String(seconds);
  const query = tapQuery(flags, extra);
  const stop = stopSignal(signal, io);
  const end = await withAdmin(flags, (admin) => streamTap(admin, query, (line) => {
    if (format !== 'text') io.stdout(formatRecord(format, line));
    else {
      const text = tapLine(line);
      if (text !== undefined) io.stdout(`${text}\n`);
      else if (line['type'] === 'tap.start') io.stderr(`tapping ${admin.label} (${String(line['processes'])} data-path process(es)); Ctrl-C to stop\n`);
      else if (line['type'] === 'tap.dropped') io.stderr(`(${String(line['count'])} events dropped at the agent: over its per-second cap)\n`);
    }
  }, stop.signal));
  stop.done();
  if (end.reason === 'max' || end.reason === 'duration' || end.reason === 'stopped') return 0;
  io.stderr(`meshlet tap: the agent ended the stream: ${end.reason}${typeof end.line?.['detail'] === 'string' ? ` (${end.line['detail']})` : ''}\n`);
  return 1;
}

/** An abort signal for Ctrl-C (the real process only) joined with the caller's. */
function stopSignal(signal: AbortSignal | undefined, io: AdminIo): { signal: AbortSignal; done: () => void } {
  const ctl = new AbortController();
  signal?.addEventListener('abort', () => ctl.abort(), { once: true });
  if (io !== processIo) return { signal: ctl.signal, done: () => undefined };
  const onInt = (): void => ctl.abort();
  process.once('SIGINT', onInt);
  return { signal: ctl.signal, done: () => process.off('SIGINT', onInt) };
}

/**
 * A side of the connection as short as it stays clear: the workload uid without its kind
 * (`Pod/demo/client` -> `demo/client`), else the identity (`sa:demo/client`), else the address.
 */
function who(uid: unknown, identity: unknown, address: unknown): string {
  if (typeof uid === 'string') return uid.split('/').slice(-2).join('/');
  if (typeof identity === 'string') return identity.replace(/^spiffe:\/\/[^/]+\/ns\/([^/]+)\/sa\/(.+)$/, 'sa:$1/$2');
  return typeof address === 'string' ? address : '?';
}

/** Bytes as a short figure (`812B`, `3.4KiB`, `1.2MiB`). */
export function shortBytes(n: number): string {
  if (n < 1024) return `${n}B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)}KiB`;
  return `${(n / 1024 / 1024).toFixed(1)}MiB`;
}

/** The human line of an event; undefined for the stream's own `tap.*` lines. Pure. */
export function tapLine(e: Record<string, unknown>): string | undefined {
  const time = typeof e['time'] === 'number' ? new Date(e['time']).toISOString().slice(11, 23) : '--:--:--.---';
  const service = typeof e['service'] === 'string' ? ` svc=${e['service']}` : '';
  const pair = `${who(e['src_workload'], e['src_identity'], e['src'])} -> ${who(e['dst_workload'], e['dst_identity'], e['dst'])}`;
  switch (e['type']) {
    case 'connection.open':
      return `${time} open    ${String(e['direction'])} ${String(e['mode'])}  ${pair}${service}  ${String(e['src'])} -> ${String(e['dst'])}`;
    case 'connection.close': {
      const bytes = `sent=${shortBytes(Number(e['bytes_sent']))} recv=${shortBytes(Number(e['bytes_received']))}`;
      return `${time} close   ${String(e['direction'])} ${String(e['mode'])}  ${pair}${service}  ${bytes} ${String(e['duration_ms'])}ms ${String(e['outcome'])} flags=${String(e['response_flags'])}`;
    }
    case 'request': {
      const route = typeof e['route'] === 'string' && e['route'] !== '-' ? ` route=${e['route']}` : '';
      return `${time} request ${String(e['reporter'])}  ${pair}${service}  ${String(e['method'])} ${String(e['authority'])}${String(e['path'])} ${String(e['status'])} ${String(e['duration_ms'])}ms ${String(e['outcome'])} flags=${String(e['response_flags'])}${route}`;
    }
    default:
      return undefined;
  }
}
