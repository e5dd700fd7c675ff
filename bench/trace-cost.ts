/**
 * What tracing costs per request, in-process on 127.0.0.1: requests from a client through the
 * source agent (OutboundHttp), the mTLS tunnel and the destination agent (InboundHttp) to an
 * HTTP/1.1 workload (the two-agent rig of the tracing tests), with tracing off (no Telemetry),
 * on at 1% (propagation, ids, 1 span in 100 exported) and on at 100% (every request makes two
 * spans, encoded and exported). The collector is a child process that reads and discards each
 * export, so its CPU is not counted. Modes alternate round by round; each round's figure is
 * this process's CPU time (user + system) per request, everything in it included (client,
 * both agents, workload), so the differences between modes are tracing's cost.
 *
 *   npm run build && node dist/bench/trace-cost.js [--requests 4000] [--rounds 5] [--concurrency 8]
 *
 * Prints a Markdown table: per mode, the median and range of CPU microseconds per request, and
 * of its difference from the same round's "off" figure (paired, so the shared machine's drift
 * cancels); spans exported and dropped.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { tracingRig, type TracingRig } from '../test/integration/http/tracing-rig.js';
import { flags } from './tunnel-rig.js';

const args = flags(process.argv);
const REQUESTS = Number(args.get('requests') ?? 4000);
const ROUNDS = Number(args.get('rounds') ?? 5);
const CONCURRENCY = Number(args.get('concurrency') ?? 8);

/** A collector that discards: a child process, so its CPU is not ours. */
const SINK = `
const http = require('node:http');
const s = http.createServer((req, res) => { req.resume(); req.on('end', () => res.end()); });
s.listen(0, '127.0.0.1', () => process.stdout.write(String(s.address().port) + '\\n'));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`;

async function startSink(): Promise<{ url: string; stop: () => void }> {
  const child = spawn(process.execPath, ['-e', SINK], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [data] = (await once(child.stdout, 'data')) as [Buffer];
  return { url: `http://127.0.0.1:${data.toString().trim()}`, stop: () => child.stdin.end() };
}

type Mode = 'off' | 'on, 1%' | 'on, 100%';
const MODES: readonly Mode[] = ['off', 'on, 1%', 'on, 100%'];

async function round(rig: TracingRig, sink: string, mode: Mode): Promise<number> {
  if (mode === 'off') {
    rig.source.configure([]);
    rig.destination.configure([]);
  } else {
    rig.telemetry(sink, mode === 'on, 1%' ? 1 : 100);
  }
  let next = 0;
  const cpu = process.cpuUsage();
  const worker = async (): Promise<void> => {
    while (next < REQUESTS) {
      next++;
      const r = await rig.get('/api/orders/7');
      if (r.status !== 200) throw new Error(`status ${r.status}`);
    }
  };
  await Promise.all(Array.from({ length: CONCURRENCY }, worker));
  await Promise.all([rig.source.flush(), rig.destination.flush()]);
  const used = process.cpuUsage(cpu);
  return (used.user + used.system) / REQUESTS;
}

const median = (xs: readonly number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const teardowns: Array<() => void | Promise<void>> = [];
const sink = await startSink();
try {
  const rig = await tracingRig({ teardown: (fn) => void teardowns.push(fn) }, { batchDelayMs: 1000 });
  rig.telemetry(sink.url, 100);
  for (const mode of MODES) await round(rig, sink.url, mode); // warm-up
  rig.records.length = 0;
  rig.seen.length = 0;
  const results = new Map<Mode, number[]>(MODES.map((m) => [m, []]));
  const counts = { exported: rig.counts.exported, dropped: rig.counts.dropped.export_failed + rig.counts.dropped.queue_full };
  for (let r = 0; r < ROUNDS; r++) {
    for (const mode of MODES) {
      results.get(mode)?.push(await round(rig, sink.url, mode));
      rig.records.length = 0;
      rig.seen.length = 0;
    }
  }
  const exported = rig.counts.exported - counts.exported;
  const dropped = rig.counts.dropped.export_failed + rig.counts.dropped.queue_full - counts.dropped;
  process.stdout.write(`requests per round: ${REQUESTS}, concurrency ${CONCURRENCY}, ${ROUNDS} rounds per mode, alternating; node ${process.version}\n\n`);
  // Each round's "on" figure less the "off" one of the same round: the machine's drift cancels.
  const off = results.get('off') ?? [];
  process.stdout.write('| tracing | CPU µs per request, median | range | more than off, same round: median | range |\n|---|---|---|---|---|\n');
  for (const [mode, xs] of results) {
    const diffs = xs.map((x, i) => x - (off[i] as number));
    const paired = mode === 'off' ? '- | -' : `${median(diffs).toFixed(1)} | ${Math.min(...diffs).toFixed(1)} to ${Math.max(...diffs).toFixed(1)}`;
    process.stdout.write(`| ${mode} | ${median(xs).toFixed(1)} | ${Math.min(...xs).toFixed(1)}-${Math.max(...xs).toFixed(1)} | ${paired} |\n`);
  }
  process.stdout.write(`\nspans exported ${exported}, dropped ${dropped}\n`);
} finally {
  for (const fn of teardowns.reverse()) await fn();
  sink.stop();
}
