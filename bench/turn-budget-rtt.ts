/**
 * What the per-turn budget (`src/agent/proxy/turn-budget.ts`) does to a quiet workload's round
 * trips beside a flood, in-process on 127.0.0.1, no TLS: two workloads are two HTTP/2 sessions
 * to one front whose CONNECT streams are spliced into sockets (as the tunnel server does). One
 * session carries 8 streams writing bulk bytes into a sink, the other 512-byte round trips with
 * an echo server, for 4 seconds. Everything, the load included, runs on one event loop, so it
 * exaggerates what a loaded agent sees; compare settings within one machine state, alternating.
 *
 *   node dist/bench/turn-budget-rtt.js [--budget <bytes>|off]
 *
 * Prints one JSON line: the round trip's p50 and p99 in ms, round trips, the flood's MB/s and
 * the pauses counted.
 */
import { once } from 'node:events';
import http2, { type ClientHttp2Stream, type ServerHttp2Stream } from 'node:http2';
import net, { type AddressInfo } from 'node:net';
import { splice } from '../src/agent/proxy/splice.js';
import { TURN_BUDGET_BYTES, TurnBudget } from '../src/agent/proxy/turn-budget.js';
import { SESSION_WINDOW_BYTES, TUNNEL_SETTINGS } from '../src/agent/proxy/tunnel/settings.js';
import { flags } from './tunnel-rig.js';

const RUN_MS = 4000;
const FLOOD_STREAMS = 8;
const raw = flags(process.argv).get('budget') ?? String(TURN_BUDGET_BYTES);
const budget = raw === 'off' ? null : new TurnBudget(Number(raw));
setTimeout(() => process.exit(3), 60_000).unref();

async function listen(server: net.Server | http2.Http2Server): Promise<number> {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

function ignore(): void {}

const sink = net.createServer((s) => {
  s.on('error', ignore);
  s.resume();
});
const echo = net.createServer((s) => {
  s.on('error', ignore);
  s.pipe(s);
});
const ports = { sink: await listen(sink), echo: await listen(echo) };
const front = http2.createServer({ settings: TUNNEL_SETTINGS });
front.on('session', (s) => s.setLocalWindowSize(SESSION_WINDOW_BYTES));
front.on('stream', (stream: ServerHttp2Stream, headers) => {
  const port = headers[':authority'] === 'sink' ? ports.sink : ports.echo;
  const up = net.connect({ host: '127.0.0.1', port, allowHalfOpen: true });
  up.once('connect', () => {
    stream.respond({ ':status': 200 });
    splice(stream, up, ignore, { turnBudget: budget });
  });
});
const frontPort = await listen(front);

function session(): http2.ClientHttp2Session {
  const s = http2.connect(`http://127.0.0.1:${String(frontPort)}`, { settings: TUNNEL_SETTINGS });
  s.on('error', ignore);
  return s;
}

async function open(s: http2.ClientHttp2Session, authority: string): Promise<ClientHttp2Stream> {
  const stream = s.request({ ':method': 'CONNECT', ':authority': authority });
  await once(stream, 'response');
  return stream;
}

const quiet = await open(session(), 'echo');
const bulkSession = session();
const chunk = Buffer.alloc(256 * 1024);
let stop = false;
let sent = 0;
for (let i = 0; i < FLOOD_STREAMS; i += 1) {
  const b = await open(bulkSession, 'sink');
  void (async () => {
    while (!stop) {
      sent += chunk.length;
      if (!b.write(chunk)) await once(b, 'drain');
    }
  })();
}

const message = Buffer.alloc(512);
let got = 0;
let wanted = 0;
let answered: (() => void) | undefined;
quiet.on('data', (c: Buffer) => {
  got += c.length;
  if (got >= wanted) answered?.();
});
const rtts: number[] = [];
const started = performance.now();
while (performance.now() - started < RUN_MS) {
  wanted += message.length;
  const back = new Promise<void>((r) => (answered = r));
  const t0 = performance.now();
  quiet.write(message);
  await back;
  rtts.push(performance.now() - t0);
}
stop = true;
const seconds = (performance.now() - started) / 1000;
rtts.sort((a, b) => a - b);
const at = (q: number): number => Number((rtts[Math.min(rtts.length - 1, Math.floor(rtts.length * q))] ?? 0).toFixed(3));
console.log(JSON.stringify({
  budget: raw, rttP50Ms: at(0.5), rttP99Ms: at(0.99), roundTrips: rtts.length,
  floodMBps: Math.round(sent / seconds / 1e6), pauses: budget?.pauses ?? 0,
}));
process.exit(0);
