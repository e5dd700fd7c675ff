/**
 * Controller scale benchmark: one real `meshlet controller` process (YAML registry, join
 * tokens) and N simulated agents (real ControllerClients in this process, decoding every
 * snapshot as an agent does). It changes one pod at a time and measures, per change, the time
 * from the file write to the last agent's ACK, and from the controller's publish to each ACK;
 * plus the controller's RSS and CPU and the snapshot size per node.
 *
 *   node dist/bench/controller-scale.js [--agents 50] [--pods 5000] [--services 500] [--changes 30]
 *     [--controller-node-options "--cpu-prof --cpu-prof-dir=/tmp/prof"]
 *
 * Everything runs on 127.0.0.1. Bounded: a fixed number of changes, each waited for at most
 * 30 s, the whole run at most 10 minutes.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync, renameSync } from 'node:fs';
import { tmpdir, cpus, release } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { stringify } from 'yaml';
import { ControllerClient } from '../src/agent/control/client.js';
import { createJoinToken } from '../src/controller/auth/join-token-edit.js';
import { buildClusterState } from '../src/mesh/cluster-state.js';
import { parseObjects } from '../src/mesh/objects/parse.js';
import { computeSnapshot } from '../src/mesh/snapshot.js';
import { decodeSnapshot, encodeClusterView, snapshotToWire } from '../src/mesh/snapshot-wire/encode.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const args = new Map<string, number>();
/** Extra node options for the controller process (`--cpu-prof`, `--max-old-space-size=...`). */
let controllerNodeOptions: string[] = [];
for (let i = 2; i + 1 < process.argv.length; i += 2) {
  const key = (process.argv[i] as string).replace(/^--/, '');
  const value = process.argv[i + 1] as string;
  if (key === 'controller-node-options') controllerNodeOptions = value.split(' ').filter((o) => o !== '');
  else args.set(key, Number(value));
}
const AGENTS = args.get('agents') ?? 50;
const PODS = args.get('pods') ?? 5000;
const SERVICES = args.get('services') ?? 500;
const CHANGES = args.get('changes') ?? 30;
const NAMESPACES = 10;
setTimeout(() => {
  console.error('controller-scale: 10 minute limit reached');
  process.exit(3);
}, 600_000).unref();

const node = (i: number): string => `node${i + 1}`;
const ip = (base: number, i: number): string => `198.${18 + Math.floor(base / 256)}.${base % 256}.${i}`;

/** The registry: one file per node (its pods), plus nodes, namespaces and services. */
function writeRegistry(dir: string, generation: Map<number, number>): void {
  mkdirSync(dir, { recursive: true });
  const docs = (objs: unknown[]): string => objs.map((o) => stringify(o)).join('---\n');
  const namespaces = Array.from({ length: NAMESPACES }, (_, n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns${n}`, labels: { 'meshlet.io/mesh': 'enabled' } } }));
  const nodes = Array.from({ length: AGENTS }, (_, i) => ({ apiVersion: 'v1', kind: 'Node', metadata: { name: node(i) }, status: { addresses: [{ type: 'InternalIP', address: `198.18.0.${10 + i}` }] } }));
  const services = Array.from({ length: SERVICES }, (_, s) => ({
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name: `svc${s}`, namespace: `ns${s % NAMESPACES}` },
    spec: { clusterIP: `198.19.${Math.floor(s / 250)}.${(s % 250) + 1}`, selector: { app: `svc${s}` }, ports: [{ name: 'http', port: 80, targetPort: 8080 }] },
  }));
  writeFileSync(join(dir, 'cluster.yaml'), docs([...namespaces, ...nodes, ...services]));
  for (let n = 0; n < AGENTS; n++) writeNodePods(dir, n, generation);
}

function writeNodePods(dir: string, n: number, generation: Map<number, number>): void {
  const perNode = Math.ceil(PODS / AGENTS);
  const pods = [];
  for (let j = 0; j < perNode && n * perNode + j < PODS; j++) {
    const p = n * perNode + j;
    // Pods are spread over services; a change moves one pod to the next service.
    const svc = (p + (generation.get(p) ?? 0)) % SERVICES;
    pods.push({
      apiVersion: 'v1',
      kind: 'Pod',
      metadata: { name: `pod${p}`, namespace: `ns${svc % NAMESPACES}`, labels: { app: `svc${svc}` } },
      spec: { nodeName: node(n), serviceAccountName: `sa${svc}`, containers: [{ name: 'app', image: 'bench' }] },
      status: { podIP: ip(n + 1 + 256, j + 10), podIPs: [{ ip: ip(n + 1 + 256, j + 10) }] },
    });
  }
  // Atomic replace, as an operator's tooling would.
  writeFileSync(join(dir, `.pods-${n}.tmp`), pods.map((o) => stringify(o)).join('---\n'));
  renameSync(join(dir, `.pods-${n}.tmp`), join(dir, `pods-node${n + 1}.yaml`));
}

function procStat(pid: number): { cpuSeconds: number; rssMb: number; peakRssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
}

function timeDecode(wire: Parameters<typeof decodeSnapshot>[0], nodeName: string): { p50: number; min: number } {
  const runs: number[] = [];
  for (let i = 0; i < 7; i++) {
    const start = process.hrtime.bigint();
    decodeSnapshot(wire, { node: nodeName, trustDomain: 'cluster.local' });
    runs.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  runs.sort((a, b) => a - b);
  return { p50: Number(quantile(runs, 0.5).toFixed(1)), min: Number((runs[0] ?? NaN).toFixed(1)) };
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-scale-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const registry = join(dir, 'registry');
  const generation = new Map<number, number>();
  writeRegistry(registry, generation);
  const tokensFile = join(dir, 'join-tokens.yaml');
  const tokens: string[] = [];
  for (let i = 0; i < AGENTS; i++) tokens.push((await createJoinToken(tokensFile, { node: node(i) })).token);

  // Snapshot size per node, computed the way the controller encodes it.
  const objects = parseObjects(readFileSync(join(registry, 'cluster.yaml'), 'utf8'), 'cluster.yaml');
  for (let n = 0; n < AGENTS; n++) objects.push(...parseObjects(readFileSync(join(registry, `pods-node${n + 1}.yaml`), 'utf8'), 'pods'));
  const state = buildClusterState(objects);
  const shared = encodeClusterView(state, 'size');
  const wire = snapshotToWire(shared, computeSnapshot(state, node(0), 'size'));
  const jsonBytes = Buffer.byteLength(JSON.stringify(computeSnapshot(state, node(0), 'size')));
  // One agent's decode (gunzip + JSON + validation) of that snapshot, alone on a core: what a
  // real agent pays on its own node. The simulated agents here pay it one after another.
  const decodeMs = timeDecode(wire, node(0));

  const controller = spawn(process.execPath, [...controllerNodeOptions, join(REPO, 'dist/src/cli/main.js'), 'controller', '--registry', registry, '--join-tokens', tokensFile, '--listen', '127.0.0.1:0', '--debug-port', '0', '--state-dir', join(dir, 'state'), '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => controller.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    controller.stdout!.on('data', (c: Buffer) => {
      buf += c.toString();
      const m = /"msg":"controller ready"/.test(buf) ? /"port":(\d+)/.exec(buf) : null;
      if (m) resolve(Number(m[1]));
    });
    controller.once('exit', (code) => reject(new Error(`controller exited ${code}`)));
  });
  controller.stdout!.resume();
  const caPem = readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8');
  const cpuStart = procStat(controller.pid as number);

  // version -> ack times (ms since epoch) and the controller's publish time.
  const acks = new Map<string, number[]>();
  const published = new Map<string, number>();
  const logger = pino({ level: 'silent' });
  const clients = tokens.map((token, i) => {
    const c = new ControllerClient({
      address: `127.0.0.1:${port}`,
      caPem,
      node: node(i),
      credentials: async () => token,
      trustDomain: 'cluster.local',
      logger,
      onSnapshot: async (s, meta) => {
        published.set(s.version, meta.publishedAt.getTime());
        const list = acks.get(s.version) ?? [];
        list.push(Date.now());
        acks.set(s.version, list);
      },
    });
    c.start();
    return c;
  });
  const allAcked = async (pred: () => boolean, ms: number): Promise<boolean> => {
    const end = Date.now() + ms;
    while (Date.now() < end) {
      if (pred()) return true;
      await new Promise((r) => setTimeout(r, 5));
    }
    return false;
  };
  const t0 = Date.now();
  await allAcked(() => [...acks.values()].some((l) => l.length >= AGENTS), 120_000);
  const initialMs = Date.now() - t0;

  const endToEnd: number[] = [];
  const publishToLastAck: number[] = [];
  const publishToAck: number[] = [];
  const changeToPublish: number[] = [];
  const changeToFirstAck: number[] = [];
  for (let c = 0; c < CHANGES; c++) {
    const pod = (c * 97) % PODS;
    generation.set(pod, (generation.get(pod) ?? 0) + 1);
    const before = new Set(acks.keys());
    const wrote = Date.now();
    writeNodePods(registry, Math.floor(pod / Math.ceil(PODS / AGENTS)), generation);
    let version: string | undefined;
    const ok = await allAcked(() => {
      version ??= [...acks.keys()].find((v) => !before.has(v));
      return version !== undefined && (acks.get(version)?.length ?? 0) >= AGENTS;
    }, 30_000);
    if (!ok || version === undefined) {
      console.error(`change ${c}: not every agent acked within 30 s`);
      continue;
    }
    const times = acks.get(version) as number[];
    const pub = published.get(version) as number;
    endToEnd.push(Math.max(...times) - wrote);
    changeToPublish.push(pub - wrote);
    changeToFirstAck.push(Math.min(...times) - wrote);
    publishToLastAck.push(Math.max(...times) - pub);
    for (const t of times) publishToAck.push(t - pub);
    await new Promise((r) => setTimeout(r, 300));
  }
  const cpuEnd = procStat(controller.pid as number);
  for (const c of clients) await c.close();
  // Waited for (bounded), so a `--cpu-prof` controller writes its profile before the SIGKILL at exit.
  const exited = new Promise((resolve) => controller.once('exit', resolve));
  controller.kill('SIGTERM');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);

  const s = (a: number[]): number[] => [...a].sort((x, y) => x - y);
  const report = {
    machine: { cores: cpus().length, kernel: release(), node: process.version },
    scale: { agents: AGENTS, pods: PODS, services: SERVICES, changes: endToEnd.length },
    initialSyncMs: initialMs,
    changeToAllAckedMs: { p50: quantile(s(endToEnd), 0.5), p99: quantile(s(endToEnd), 0.99), max: Math.max(...endToEnd) },
    // The controller's share (debounces, read, build, encode) and what one agent waits when it
    // is the first served: the rest of publishToAllAcked is the simulated agents' decodes queued
    // on this process's one thread (real agents decode on their own nodes, in parallel).
    changeToPublishMs: { p50: quantile(s(changeToPublish), 0.5), p99: quantile(s(changeToPublish), 0.99) },
    changeToFirstAckMs: { p50: quantile(s(changeToFirstAck), 0.5), p99: quantile(s(changeToFirstAck), 0.99) },
    publishToAllAckedMs: { p50: quantile(s(publishToLastAck), 0.5), p99: quantile(s(publishToLastAck), 0.99) },
    publishToEachAckMs: { p50: quantile(s(publishToAck), 0.5), p99: quantile(s(publishToAck), 0.99) },
    controller: {
      rssMb: Math.round(cpuEnd.rssMb),
      peakRssMb: Math.round(cpuEnd.peakRssMb),
      cpuSecondsDuringChanges: Number((cpuEnd.cpuSeconds - cpuStart.cpuSeconds).toFixed(2)),
      cpuMsPerChange: Math.round(((cpuEnd.cpuSeconds - cpuStart.cpuSeconds) * 1000) / Math.max(1, endToEnd.length)),
    },
    agentDecodeMsPerSnapshot: decodeMs,
    snapshotPerNode: {
      sharedClusterViewBytesGzip: shared.bytes.length,
      perNodeWireBytes: wire.cluster.length + Buffer.byteLength(JSON.stringify({ ...wire, cluster: undefined })),
      localWorkloadsOfNode1: wire.localWorkloadUids.length,
      uncompressedJsonBytes: jsonBytes,
    },
  };
  console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}

await main();
