/**
 * The proxy-memory scenario: RSS of each node's proxy idle, then while N idle client
 * connections are held open through it (counted at the server, so every one of them really
 * crosses both proxies), then the connections are closed and the harness waits until the
 * server has seen them all go.
 *
 * Each figure is also taken per process (an agent is a primary and its data-path workers):
 * the largest process's RSS (the per-process bar), the private memory (RssAnon) of all of a
 * proxy's processes together (what really adds up: the binary's pages in RssFile are shared),
 * and in the results JSON each process's own (`rssStartNode1Proc0`: node1's proxy, its first
 * process, the agent primary; `Proc1`... its workers in pid order).
 *
 * @module
 */

import type { ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import { MAX_STREAMS_PER_PEER } from '../src/agent/proxy/tunnel/limits.js';
import { MeshletError } from '../src/mesh/errors.js';
import type { BenchFixture } from './bench-fixture.js';
import { PORTS, type PathTarget } from './bench-topology.js';
import type { LoadOutcome } from './load-runs.js';
import { proxyProcessMemory, type ProcessMemoryRow } from './proc-stats.js';
import { scrapeAgent } from './agent-pauses.js';

const HOLDER = fileURLToPath(new URL('./tools/conn-holder.js', import.meta.url));
/** Connections being set up at once by the holder client: enough to be quick, few enough not to hit the accept backlog. */
const CONNECT_CONCURRENCY = 200;
/** Upper bound on the whole hold (connect, settle, read, close): each holder exits by then. */
const HOLD_LIMIT_S = 180;
/**
 * Most idle connections held through meshlet: all of them cross one tunnel to one peer node,
 * whose agent refuses streams past its per-peer cap (`MAX_STREAMS_PER_PEER`, 512); a few
 * below it, so a connection still closing from an earlier scenario does not push the hold
 * over. More would stall the hold at the cap, not measure memory: the growth per connection
 * is per connection held either way, and `held` shows the count.
 */
const MESHLET_HOLD_MAX = MAX_STREAMS_PER_PEER - 12;
/** Time for both proxies to finish work for the last connections before RSS is read. */
const SETTLE_MS = 1000;

type Json = Record<string, unknown>;

/** JSON lines of a child's stdout, awaited one condition at a time. */
class JsonLines {
  private readonly seen: Json[] = [];
  private wake: (() => void) | undefined;

  constructor(private readonly child: ChildProcess, private readonly what: string) {
    if (child.stdout === null) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${what} has no stdout pipe`);
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        this.seen.push(JSON.parse(line) as Json);
      } catch {
        this.seen.push({ text: line });
      }
      this.wake?.();
    });
    child.once('exit', () => this.wake?.());
  }

  /** How many lines so far: a mark for {@link until}. */
  get count(): number {
    return this.seen.length;
  }

  /** The first line from index `from` on that matches `pred`, waiting up to `timeoutMs` for one. */
  async until(pred: (line: Json) => boolean, timeoutMs: number, from = 0): Promise<Json> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.seen.slice(from).find(pred);
      if (hit !== undefined) return hit;
      const left = deadline - Date.now();
      if (left <= 0 || this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new MeshletError('MESHLET_ERR_HOST_TOOL', `${this.what}: no expected line within ${timeoutMs} ms; last lines: ${JSON.stringify(this.seen.slice(-3))}`);
      }
      await Promise.race([new Promise<void>((resolve) => (this.wake = resolve)), sleep(Math.min(left, 500))]);
    }
  }

  /** The last line that has `key`. */
  lastWith(key: string): Json | undefined {
    return [...this.seen].reverse().find((l) => key in l);
  }
}

const holderServers = new WeakMap<BenchFixture, Map<string, JsonLines>>();

async function holderServer(fixture: BenchFixture, pod: string): Promise<JsonLines> {
  let byPod = holderServers.get(fixture);
  if (byPod === undefined) holderServers.set(fixture, (byPod = new Map()));
  const existing = byPod.get(pod);
  if (existing !== undefined) return existing;
  const child = fixture.lab.spawnNode(pod, HOLDER, ['server', String(PORTS.hold), '3600']);
  const lines = new JsonLines(child, `conn-holder server in ${pod}`);
  await lines.until((l) => l['listening'] === true, 10_000);
  byPod.set(pod, lines);
  return lines;
}

/** Each proxy's processes and their memory now (node1 first). */
type ProxiesMemory = readonly (readonly ProcessMemoryRow[])[];

/** Per-process memory of each path's proxies right after the lab started. */
const startMemory = new WeakMap<BenchFixture, Record<string, ProxiesMemory>>();

function memoryNow(pids: readonly number[]): ProxiesMemory {
  return pids.map(proxyProcessMemory);
}

/** Each proxy's RSS (all its processes), MiB. */
function rssMiB(mem: ProxiesMemory): number[] {
  return mem.map((procs) => procs.reduce((sum, p) => sum + p.rssKiB, 0) / 1024);
}

/** The per-process figures of one moment (`phase`: Start, Idle, Held), MiB, by node. */
export function perProcessValues(phase: string, mem: ProxiesMemory): Record<string, number> {
  const out: Record<string, number> = {};
  mem.forEach((procs, i) => {
    const node = `Node${i + 1}`;
    if (procs.length === 0) return;
    out[`rss${phase}Max${node}`] = Math.max(...procs.map((p) => p.rssKiB)) / 1024;
    out[`priv${phase}${node}`] = procs.reduce((sum, p) => sum + p.anonKiB, 0) / 1024;
    procs.forEach((p, k) => {
      out[`rss${phase}${node}Proc${k}`] = p.rssKiB / 1024;
      out[`priv${phase}${node}Proc${k}`] = p.anonKiB / 1024;
    });
  });
  return out;
}

/** The kinds of `meshlet_process_memory_bytes` that say where an agent's private memory is, and their value keys. */
const HEAP_KINDS = [['heap_total', 'heap'], ['heap_used', 'heapUsed'], ['external', 'ext']] as const;

/**
 * Sums `kind` of `meshlet_process_memory_bytes` over an agent's processes (primary and workers)
 * in a /metrics text, MiB; NaN when the family has no such sample.
 */
export function agentMemoryKindMiB(metricsText: string, kind: string): number {
  let sum = 0;
  let seen = false;
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith('meshlet_process_memory_bytes{') || !line.includes(`kind="${kind}"`)) continue;
    const value = Number(line.slice(line.lastIndexOf('}') + 1).trim().split(' ')[0]);
    if (!Number.isFinite(value)) continue;
    sum += value;
    seen = true;
  }
  return seen ? sum / 1048576 : Number.NaN;
}

/**
 * V8's heap (`heapIdleNode1`, of which `heapUsedIdleNode1` in use) and the memory outside it (`extIdleNode1`: Buffers, TLS) of each
 * node's agent, from its own metrics: which of the two an agent's private memory is. A scrape
 * that fails leaves the figures out (the RSS figures stand on their own).
 */
async function agentsHeapValues(fixture: BenchFixture, phase: string): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  await Promise.all(['node1', 'node2'].map(async (node, i) => {
    const text = await scrapeAgent(fixture.lab, node).catch(() => undefined);
    if (text === undefined) return;
    for (const [kind, key] of HEAP_KINDS) {
      const mib = agentMemoryKindMiB(text, kind);
      if (Number.isFinite(mib)) out[`${key}${phase}Node${i + 1}`] = mib;
    }
  }));
  return out;
}

/**
 * Holds `count` idle connections through a path's proxies and reports their RSS before and
 * during. `startRss` is each proxy's RSS right after the lab started (MiB, node1 first).
 */
/**
 * `settleMs`: quiet time before the "idle after load" read: a proxy that just finished a load
 * is still settling (collections, freeing); the figure is of a proxy at rest, as a node's is
 * most of the time. The agents give malloc's freed memory back after 2-4 s idle, and V8's grown
 * young generation after 30 s of rest (`src/ops/idle-trim.ts`, HEAP_RELEASE_IDLE_MS): the
 * full and quick modes read after both (36 s).
 */
export async function runIdleMemory(fixture: BenchFixture, target: PathTarget, wanted: number, startRss: readonly number[], settleMs: number): Promise<LoadOutcome> {
  const count = target.path === 'meshlet' || target.path === 'meshlet-l7' ? Math.min(wanted, MESHLET_HOLD_MAX) : wanted;
  const pids = fixture.proxyPids[target.path];
  const server = await holderServer(fixture, target.serverPod);
  const open = server.lastWith('open')?.['open'];
  if (open !== undefined && open !== 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `conn-holder server in ${target.serverPod} still holds ${String(open)} connections`);
  const mark = server.count;
  await sleep(settleMs);
  const idleMem = memoryNow(pids);
  const idle = rssMiB(idleMem);
  const idleHeap = target.path === 'meshlet' || target.path === 'meshlet-l7' ? await agentsHeapValues(fixture, 'Idle') : {};
  let heldMem: ProxiesMemory = [];
  const client = fixture.lab.spawnNode(target.clientPod, HOLDER, ['client', target.host, String(PORTS.hold), String(count), String(CONNECT_CONCURRENCY), String(HOLD_LIMIT_S)], {
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const clientLines = new JsonLines(client, `conn-holder client in ${target.clientPod}`);
  let held = 0;
  let error: string | undefined;
  let during: number[] = [];
  try {
    const done = await clientLines.until((l) => typeof l['connected'] === 'number', 120_000);
    held = done['connected'] as number;
    if (done['failed'] !== 0) error = `${String(done['failed'])} of ${count} connections failed: ${String(done['error'])}`;
    await server.until((l) => typeof l['open'] === 'number' && l['open'] >= held, 60_000, mark);
    await sleep(SETTLE_MS);
    heldMem = memoryNow(pids);
    during = rssMiB(heldMem);
  } finally {
    client.stdin?.end();
    await clientLines.until((l) => typeof l['closed'] === 'number', 30_000).catch(() => client.kill('SIGKILL'));
    if (held > 0) await server.until((l) => l['open'] === 0, 60_000, mark);
  }
  const sum = (xs: readonly number[]): number => xs.reduce((a, b) => a + b, 0);
  const values: Record<string, number> = {
    rssStartNode1: startRss[0] ?? Number.NaN,
    rssStartNode2: startRss[1] ?? Number.NaN,
    rssIdleNode1: idle[0] ?? Number.NaN,
    rssIdleNode2: idle[1] ?? Number.NaN,
    rssHeldNode1: during[0] ?? Number.NaN,
    rssHeldNode2: during[1] ?? Number.NaN,
    held,
    ...perProcessValues('Start', startMemory.get(fixture)?.[target.path] ?? []),
    ...perProcessValues('Idle', idleMem),
    ...perProcessValues('Held', heldMem),
    ...idleHeap,
  };
  if (held > 0) values['perConnKiB'] = ((sum(during) - sum(idle)) * 1024) / held;
  return error === undefined ? { values } : { values, error };
}

/**
 * RSS of each proxy of every proxied path now (MiB, node1 first): the "at start" figures. The
 * per-process figures of the same moment are kept for {@link runIdleMemory}.
 */
export function startRssByPath(fixture: BenchFixture): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  const perProcess: Record<string, ProxiesMemory> = {};
  for (const [path, pids] of Object.entries(fixture.proxyPids)) {
    if (pids.length === 0) continue;
    perProcess[path] = memoryNow(pids);
    out[path] = rssMiB(perProcess[path]);
  }
  startMemory.set(fixture, perProcess);
  return out;
}
