/**
 * What one small message costs the agent's heap, in-process on 127.0.0.1: round trips of a
 * small message through TunnelPool -> TunnelServer -> InboundProxy -> an echo sink and back,
 * with V8's sampling heap profiler counting every allocation, garbage included. Allocation
 * per message is what drives the young-generation scavenges that stall the event loop
 * (docs/performance.md, "Where the tail comes from"), so this is the figure to move.
 *
 *   node dist/bench/tunnel-allocations.js [--messages 20000] [--bytes 64] [--top 25] [--depth 3]
 *
 * Prints one JSON line: round trips, heap bytes allocated per round trip (an estimate from
 * samples every 512 bytes, both tunnel ends and the client's own driving code included), CPU
 * per round trip and the minor GC pauses (count per 1,000 round trips, mean and longest,
 * read in a first pass without the profiler, which slows allocation), and the stacks that allocate the most (self bytes per round trip, the allocating function
 * and `--depth` - 1 callers).
 * Both ends run in this process, so a round trip is four crossings of agent code: the client
 * stream's write and read, and the inbound side's two directions.
 */
import { once } from 'node:events';
import { Session } from 'node:inspector';
import { PerformanceObserver } from 'node:perf_hooks';
import { TunnelPool } from '../src/agent/proxy/tunnel/pool.js';
import { gcKind } from '../src/ops/runtime-pauses.js';
import { CLIENT, flags, startTunnelRig } from './tunnel-rig.js';

const args = flags(process.argv);
const MESSAGES = Number(args.get('messages') ?? 20_000);
const BYTES = Number(args.get('bytes') ?? 64);
const TOP = Number(args.get('top') ?? 25);
/** Frames shown per allocating stack: the allocating function and its callers. */
const DEPTH = Number(args.get('depth') ?? 3);
/** Round trips before sampling starts: lets the JIT and the connection settle. */
const WARMUP = 2_000;
const SAMPLING_INTERVAL = 512;

interface SamplingNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: SamplingNode[];
}

function post<T>(session: Session, method: string, params?: object): Promise<T> {
  return new Promise((resolve, reject) => {
    session.post(method, params ?? {}, (err: Error | null, result: unknown) => (err ? reject(err) : resolve(result as T)));
  });
}

const rig = await startTunnelRig((s) => {
  // An echo: every message comes straight back.
  s.pipe(s);
});
const pool = new TunnelPool({ identities: rig.clientIds, logger: rig.logger, tunnelPort: rig.tunnelPort });
const stream = await pool.open(CLIENT, rig.target);
await once(stream, 'response');
const message = Buffer.alloc(BYTES, 7);

/** `n` round trips, one message in flight at a time (the latency scenario's pattern). */
async function roundTrips(n: number): Promise<void> {
  let left = n;
  let pending = 0;
  await new Promise<void>((resolve) => {
    const onData = (chunk: Buffer): void => {
      pending -= chunk.length;
      if (pending > 0) return;
      left -= 1;
      if (left === 0) {
        stream.off('data', onData);
        resolve();
        return;
      }
      pending = BYTES;
      stream.write(message);
    };
    stream.on('data', onData);
    pending = BYTES;
    stream.write(message);
  });
}

await roundTrips(WARMUP);

// First the round trips alone, with the GC pauses they cause (the heap profiler below slows
// allocation, so pauses and CPU are read without it).
const pauses: number[] = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) if (gcKind(e as { detail?: unknown }) === 'minor') pauses.push(e.duration * 1000);
});
observer.observe({ entryTypes: ['gc'] });
const plainCpu0 = process.cpuUsage();
const plainT0 = performance.now();
await roundTrips(MESSAGES);
const plainWallMs = performance.now() - plainT0;
const plainCpu = process.cpuUsage(plainCpu0);
await new Promise((r) => setImmediate(r));
observer.disconnect();
pauses.sort((a, b) => a - b);

const session = new Session();
session.connect();
await post(session, 'HeapProfiler.enable');
await post(session, 'HeapProfiler.startSampling', {
  samplingInterval: SAMPLING_INTERVAL,
  includeObjectsCollectedByMajorGC: true,
  includeObjectsCollectedByMinorGC: true,
});
await roundTrips(MESSAGES);
const { profile } = await post<{ profile: { head: SamplingNode } }>(session, 'HeapProfiler.stopSampling');
session.disconnect();

const byFunction = new Map<string, number>();
let total = 0;
const frameName = (node: SamplingNode): string => {
  const f = node.callFrame;
  const file = f.url.replace(/^.*\/(node_modules\/[^/]+|dist\/[^?]+|[^/]+)$/, '$1');
  return `${f.functionName || '(anonymous)'} ${file}:${f.lineNumber + 1}`;
};
/** Self bytes keyed by the allocating frame and its callers, `DEPTH` frames deep. */
const walk = (node: SamplingNode, callers: readonly string[]): void => {
  const path = [frameName(node), ...callers].slice(0, DEPTH);
  if (node.selfSize > 0) {
    const key = path.join(' < ');
    byFunction.set(key, (byFunction.get(key) ?? 0) + node.selfSize);
    total += node.selfSize;
  }
  for (const c of node.children) walk(c, path);
};
walk(profile.head, []);
const top = [...byFunction.entries()]
  .sort((a, b) => b[1] - a[1])
  .slice(0, TOP)
  .map(([fn, bytes]) => ({ fn, bytesPerRoundTrip: Math.round(bytes / MESSAGES) }));
process.stdout.write(
  `${JSON.stringify({
    roundTrips: MESSAGES,
    messageBytes: BYTES,
    heapBytesPerRoundTrip: Math.round(total / MESSAGES),
    cpuMicrosPerRoundTrip: Math.round(((plainCpu.user + plainCpu.system) / MESSAGES) * 10) / 10,
    wallMicrosPerRoundTrip: Math.round(((plainWallMs * 1000) / MESSAGES) * 10) / 10,
    minorGcPerThousandRoundTrips: Math.round((pauses.length / MESSAGES) * 1000 * 100) / 100,
    minorGcMeanMicros: pauses.length === 0 ? 0 : Math.round(pauses.reduce((a, b) => a + b, 0) / pauses.length),
    minorGcMaxMicros: Math.round(pauses[pauses.length - 1] ?? 0),
    execArgv: process.execArgv,
    node: process.version,
    top,
  })}\n`,
);
stream.end();
pool.close();
process.exit(0);
