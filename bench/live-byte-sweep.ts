/**
 * Cost of counting TCP bytes as they flow: one `DataPathMetrics.sweepLive()` over many live
 * connections (10,000 by default), as the agent runs it every 5 s and at each scrape. Each
 * record's counted socket is a real TCP socket on 127.0.0.1, accepted from a child process
 * that holds the other ends (one process could not hold both ends of 10,000 connections
 * under the usual 20,000 descriptors): the sweep reads what it reads in the agent.
 *
 *   npm run build && node dist/bench/live-byte-sweep.js [connections] [rounds]
 *
 * Scenarios: every connection idle since the last sweep (only the socket counters are read),
 * and every connection moved bytes (the worst case: each adds to meshlet's and Istio's
 * counters), with `istio_tcp_*` on and off. Prints the median and the range over the rounds
 * of the process CPU time (user + system) and the wall time of one sweep, and the share of one
 * core that a sweep every 5 s takes. Bounded: the connections are made once, each round
 * writes 1,500 bytes on each, and every wait gives up after 60 s.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import net, { type AddressInfo } from 'node:net';
import { Registry } from 'prom-client';
import { DataPathMetrics, LIVE_SWEEP_MS } from '../src/agent/proxy/data-path-metrics.js';
import type { ConnectionRecord } from '../src/agent/proxy/connection-table.js';

/** Distinct workload pairs the connections spread over (series in the tables). */
const PEERS = 50;

/** Bytes each connection moves per round in the scenarios where they move. */
const CHUNK = 1500;
/** Every wait of the bench gives up after this long. */
const WAIT_MS = 60_000;

function records(sockets: readonly net.Socket[]): ConnectionRecord[] {
  return sockets.map((counted, id) => {
    const i = id % PEERS;
    return {
      id, direction: i % 2 === 0 ? 'outbound' : 'inbound', startedAt: 0, source: `10.0.0.${i}:${10_000 + id}`, destination: '10.0.1.1:80',
      mode: 'tunnel', sourceWorkload: `Pod/ns${i % 5}/client-${i}`, destinationWorkload: `Pod/ns${i % 3}/server-${i % 7}`,
      destinationIdentity: `spiffe://cluster.local/ns/ns${i % 3}/sa/server`, service: `ns${i % 3}/svc${i % 7}`,
      securityPolicy: 'mutual_tls', counted, countedFacesDestination: i % 2 === 1, ends: [],
    };
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

interface Figures {
  readonly cpuMs: number[];
  readonly wallMs: number[];
}

/** The child: connects `n` sockets to `port`, then writes CHUNK bytes on each at every 'write'. */
async function clients(port: number, n: number): Promise<void> {
  const socks: net.Socket[] = [];
  for (let i = 0; i < n; i++) {
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('error', () => undefined);
    socks.push(s);
    if (i % 500 === 499) await once(s, 'connect');
  }
  const chunk = Buffer.alloc(CHUNK, 1);
  process.on('message', (msg) => {
    if (msg === 'write') for (const s of socks) s.write(chunk);
    else if (msg === 'exit') process.exit(0);
  });
  process.send?.('connected');
}

/** Resolves when `cond` holds (polled every 10 ms), throws after WAIT_MS. */
async function until(cond: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${WAIT_MS / 1000} s`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** `n` accepted sockets on 127.0.0.1 whose other ends a child process holds. */
async function connections(n: number): Promise<{ sockets: net.Socket[]; child: ChildProcess; server: net.Server }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer((s) => {
    s.on('error', () => undefined);
    s.resume(); // read (and drop) what arrives: bytesRead counts it
    sockets.push(s);
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const child = fork(new URL(import.meta.url), ['clients', String((server.address() as AddressInfo).port), String(n)], { stdio: 'inherit' });
  const [msg] = (await once(child, 'message')) as [unknown];
  if (msg !== 'connected') throw new Error(`the client process said ${String(msg)}`);
  await until(() => sockets.length === n, `${n} connections accepted`);
  return { sockets, child, server };
}

async function run(sockets: readonly net.Socket[], child: ChildProcess, istioTcp: boolean, active: boolean, rounds: number): Promise<Figures> {
  const metrics = new DataPathMetrics(new Registry(), { istioTcp });
  const live = new Map(records(sockets).map((r) => [r.id, r]));
  // The data plane hands over a copy of its live map, as `ConnectionTable.list()` does.
  metrics.watch({ openedByDirection: () => ({ outbound: 0, inbound: 0 }), liveConnections: () => [...live.values()], tunnelSessions: () => 0 });
  const read = (): number => sockets.reduce((a, s) => a + s.bytesRead, 0);
  const move = async (): Promise<void> => {
    if (!active) return;
    const want = read() + sockets.length * CHUNK;
    child.send('write');
    await until(() => read() >= want, 'a round of writes read');
  };
  // Warm-up: the first sweep counts every opening and makes the series.
  for (let i = 0; i < 5; i++) {
    await move();
    metrics.sweepLive();
  }
  const cpuMs: number[] = [];
  const wallMs: number[] = [];
  for (let round = 0; round < rounds; round++) {
    await move();
    const c0 = process.cpuUsage();
    const t0 = process.hrtime.bigint();
    metrics.sweepLive();
    const wall = Number(process.hrtime.bigint() - t0) / 1e6;
    const c = process.cpuUsage(c0);
    cpuMs.push((c.user + c.system) / 1000);
    wallMs.push(wall);
  }
  metrics.close();
  return { cpuMs, wallMs };
}

async function main(): Promise<void> {
  const CONNECTIONS = Number(process.argv[2] ?? 10_000);
  const ROUNDS = Number(process.argv[3] ?? 21);
  if (!Number.isInteger(CONNECTIONS) || CONNECTIONS < 1 || CONNECTIONS > 15_000 || !Number.isInteger(ROUNDS) || ROUNDS < 1) {
    throw new Error(`usage: live-byte-sweep.js [connections 1-15000] [rounds >= 1] (got ${process.argv[2]} ${process.argv[3]})`);
  }
  const { sockets, child, server } = await connections(CONNECTIONS);
  console.log(`one sweep over ${CONNECTIONS} live connections, ${ROUNDS} rounds; median (min-max) ms; share of a core at one sweep every ${LIVE_SWEEP_MS / 1000} s`);
  console.log('| Connections | istio_tcp_* | CPU ms | wall ms | core share |');
  console.log('|---|---|---|---|---|');
  for (const active of [false, true]) {
    for (const istioTcp of [true, false]) {
      const f = await run(sockets, child, istioTcp, active, ROUNDS);
      const share = (median(f.cpuMs) / LIVE_SWEEP_MS) * 100;
      console.log(`| ${active ? 'all moved bytes' : 'all idle'} | ${istioTcp ? 'on' : 'off'} | ${fmt(f.cpuMs)} | ${fmt(f.wallMs)} | ${share.toFixed(2)} % |`);
    }
  }
  child.send('exit');
  for (const s of sockets) s.destroy();
  server.close();
}

const fmt = (xs: number[]): string => `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}-${Math.max(...xs).toFixed(2)})`;
if (process.argv[2] === 'clients') await clients(Number(process.argv[3]), Number(process.argv[4]));
else await main();
