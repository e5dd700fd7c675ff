/**
 * Controller scale benchmark: one real `meshlet controller` process (YAML registry, join
 * tokens) and N simulated agents spread over agent hosts (child processes, `--hosts`), each agent
 * a real ControllerClient decoding and applying every push as an agent does, each dialling the
 * controller from its own loopback address (127.1.0.1, ...), so the controller's limit of
 * connections per source address applies as it would to real nodes. Nodes, Services and pods
 * take addresses in 198.18.0.0/15 (`controller-scale/address-plan.ts`).
 *
 * It changes one pod at a time and measures, per change, the time from the file write to the
 * first, each and the last agent's ACK, and from the controller's publish to each ACK; the
 * controller's RSS and CPU, the agent hosts' CPU per agent per change, the bytes each node
 * received per change (deltas after the first full snapshot; `--deltas 0`: full snapshots
 * only), and one agent's decode of a full snapshot and of a one-pod change, alone on a core.
 *
 *   node dist/bench/controller-scale.js [--agents 50] [--pods 5000] [--services 500] [--changes 30]
 *     [--deltas 1] [--hosts ceil(agents/125)] [--limit-minutes 10] [--change-timeout-seconds 30]
 *     [--controller-node-options "--cpu-prof --cpu-prof-dir=/tmp/prof"]
 *
 * Bounded: each change waited for at most `--change-timeout-seconds`, the initial sync and the whole run by
 * `--limit-minutes`; the controller and the hosts are killed on every exit path.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createJoinToken } from '../src/controller/auth/join-token-edit.js';
import { EXIT_USAGE, MeshletError } from '../src/mesh/errors.js';
import { addressPlan } from './controller-scale/address-plan.js';
import { AgentHosts } from './controller-scale/agent-hosts.js';
import { fullSnapshotWork, oneChangeWork, quantile } from './controller-scale/agent-work.js';
import type { HostedAgent } from './controller-scale/host-messages.js';
import { nodeName, RegistryFiles } from './controller-scale/registry-files.js';
import { agentsOfHosts, scaleOptions, type ScaleOptions } from './controller-scale/scale-options.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));

function procStat(pid: number): { cpuSeconds: number; rssMb: number; peakRssMb: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key: string): number => Number(new RegExp(`${key}:\\s+(\\d+)`).exec(status)?.[1] ?? 0);
  return { cpuSeconds: ticks / 100, rssMb: kb('VmRSS') / 1024, peakRssMb: kb('VmHWM') / 1024 };
}

const stats = (list: number[]): { p50: number; p99: number; max: number } => {
  const s = [...list].sort((x, y) => x - y);
  return { p50: quantile(s, 0.5), p99: quantile(s, 0.99), max: s.length === 0 ? NaN : (s[s.length - 1] as number) };
};

/** Starts the controller; resolves its agent API port. */
async function startController(o: ScaleOptions, dir: string, registry: string, tokensFile: string): Promise<{ pid: number; port: number; stop: () => Promise<void> }> {
  const controller = spawn(process.execPath, [...o.controllerNodeOptions, join(REPO, 'dist/src/cli/main.js'), 'controller', '--registry', registry, '--join-tokens', tokensFile, '--listen', '127.0.0.1:0', '--debug-port', '0', '--state-dir', join(dir, 'state'), '--log-level', 'info'], { stdio: ['ignore', 'pipe', 'inherit'] });
  process.on('exit', () => controller.kill('SIGKILL'));
  const port = await new Promise<number>((resolve, reject) => {
    let buf = '';
    controller.stdout!.on('data', (c: Buffer) => {
      if (process.env['SCALE_DEBUG'] !== undefined) process.stderr.write(c);
      buf += c.toString();
      // The agent API's port is in the "controller ready" line (other listeners log theirs first).
      const line = buf.split('\n').find((l) => l.includes('"msg":"controller ready"'));
      const m = line === undefined ? null : /"address":\{[^}]*"port":(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    controller.once('exit', (code) => reject(new Error(`controller exited ${code}`)));
  });
  const stop = async (): Promise<void> => {
    // Waited for (bounded), so a `--cpu-prof` controller writes its profile before the SIGKILL at exit.
    const exited = new Promise((resolve) => controller.once('exit', resolve));
    controller.kill('SIGTERM');
    await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  };
  return { pid: controller.pid as number, port, stop };
}

async function main(o: ScaleOptions): Promise<void> {
  const deadline = Date.now() + o.limitMinutes * 60_000;
  setTimeout(() => {
    console.error(`controller-scale: the ${o.limitMinutes} minute limit was reached`);
    process.exit(3);
  }, o.limitMinutes * 60_000).unref();
  const dir = mkdtempSync(join(tmpdir(), 'meshlet-scale-'));
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }));
  const plan = addressPlan(o);
  const files = new RegistryFiles(join(dir, 'registry'), o, plan);
  files.writeAll();
  const tokensFile = join(dir, 'join-tokens.yaml');
  const agents: HostedAgent[] = [];
  for (let i = 0; i < o.agents; i++) {
    agents.push({ index: i, node: nodeName(i), token: (await createJoinToken(tokensFile, { node: nodeName(i) })).token, source: plan.agentSource(i) });
  }
  const state = files.state();
  const full = fullSnapshotWork(state, nodeName(0), o.pods > 20_000 ? 3 : 7);

  const controller = await startController(o, dir, files.dir, tokensFile);
  const caPem = readFileSync(join(dir, 'state', 'ca', 'ca.crt'), 'utf8');
  const hosts = new AgentHosts();
  const cpuBeforeSync = procStat(controller.pid);
  const t0 = Date.now();
  await hosts.start(agentsOfHosts(o.agents, o.hosts).map((g) => g.map((i) => agents[i] as HostedAgent)), { port: controller.port, caPem, deltas: o.deltas, limitMs: deadline - Date.now() });
  const synced = await hosts.until(() => [...hosts.acks.values()].some((v) => v.at.length >= o.agents), deadline - Date.now() - 60_000);
  const initialMs = Date.now() - t0;
  if (!synced) {
    const best = Math.max(0, ...[...hosts.acks.values()].map((v) => v.at.length));
    throw new Error(`the initial sync did not reach every agent (${best} of ${o.agents} on one version after ${Math.round(initialMs / 1000)} s)`);
  }

  const cpuStart = procStat(controller.pid);
  const hostStart = await hosts.usage();
  const initialSync = {
    ms: initialMs,
    // The controller's part of it, and the simulated agents' (full decodes, one host per core at best).
    controllerCpuMs: Math.round((cpuStart.cpuSeconds - cpuBeforeSync.cpuSeconds) * 1000),
    hostCpuMsPerAgent: Math.round(hostStart.cpuMs / o.agents),
  };
  const m = { toAll: [] as number[], toPublish: [] as number[], toFirst: [] as number[], toEach: [] as number[], pubToAll: [] as number[], pubToEach: [] as number[], bytes: [] as number[], deltas: 0 };
  for (let c = 0; c < o.changes; c++) {
    const before = new Set(hosts.acks.keys());
    const wrote = Date.now();
    files.change((c * 97) % o.pods);
    let version: string | undefined;
    const ok = await hosts.until(() => {
      version ??= [...hosts.acks.keys()].find((v) => !before.has(v));
      return version !== undefined && (hosts.acks.get(version)?.at.length ?? 0) >= o.agents;
    }, Math.min(o.changeTimeoutSeconds * 1000, deadline - Date.now() - 30_000));
    const v = version === undefined ? undefined : hosts.acks.get(version);
    if (!ok || v === undefined) {
      console.error(`change ${c}: not every agent acked within ${o.changeTimeoutSeconds} s (${v?.at.length ?? 0} of ${o.agents}); not counted`);
      // Let it land before the next change, so its late version is not taken for the next one's.
      await hosts.until(() => {
        const newest = [...hosts.acks.values()].at(-1);
        return newest !== undefined && newest.at.length >= o.agents && Date.now() - Math.max(...newest.at) > 2_000;
      }, Math.min(o.changeTimeoutSeconds * 1000, deadline - Date.now() - 30_000));
      continue;
    }
    m.toAll.push(Math.max(...v.at) - wrote);
    m.toPublish.push(v.publishedAt - wrote);
    m.toFirst.push(Math.min(...v.at) - wrote);
    for (const at of v.at) m.toEach.push(at - wrote);
    m.bytes.push(...v.clusterBytes);
    m.deltas += v.deltas;
    m.pubToAll.push(Math.max(...v.at) - v.publishedAt);
    for (const at of v.at) m.pubToEach.push(at - v.publishedAt);
    await new Promise((r) => setTimeout(r, 300));
  }
  const cpuEnd = procStat(controller.pid);
  const hostEnd = await hosts.usage();
  await hosts.close(10_000);
  await controller.stop();
  const change = oneChangeWork(state, files.state(new Map([[0, 1]])), nodeName(0), caPem, 7);
  const changes = Math.max(1, m.toAll.length);

  const report = {
    machine: { cores: cpus().length, kernel: release(), node: process.version },
    scale: { agents: o.agents, pods: o.pods, services: o.services, hosts: o.hosts, changes: m.toAll.length, changesAsked: o.changes },
    initialSync,
    changeToAllAckedMs: stats(m.toAll),
    // The controller's share (debounces, read, build, encode); the rest is the wire and the
    // simulated agents' decodes, queued on the hosts' threads (real agents decode in parallel).
    changeToPublishMs: stats(m.toPublish),
    changeToFirstAckMs: stats(m.toFirst),
    changeToEachAckMs: stats(m.toEach),
    publishToAllAckedMs: stats(m.pubToAll),
    publishToEachAckMs: stats(m.pubToEach),
    controller: {
      rssMb: Math.round(cpuEnd.rssMb),
      peakRssMb: Math.round(cpuEnd.peakRssMb),
      cpuSecondsDuringChanges: Number((cpuEnd.cpuSeconds - cpuStart.cpuSeconds).toFixed(2)),
      cpuMsPerChange: Math.round(((cpuEnd.cpuSeconds - cpuStart.cpuSeconds) * 1000) / changes),
    },
    agentHosts: {
      rssMbTotal: Math.round(hostEnd.rssMb),
      // Every simulated agent's own work per change (stream, decode, apply), averaged.
      cpuMsPerAgentPerChange: Number(((hostEnd.cpuMs - hostStart.cpuMs) / changes / o.agents).toFixed(2)),
    },
    agentDecodeMsPerSnapshot: full.decodeMs,
    // A one-pod change as node1 gets it (deltas on): decode, validate, apply, list the view again.
    agentDecodeMsPerChange: change.decodeMs,
    perChange: {
      deltas: o.deltas,
      pushesThatWereDeltas: `${m.deltas} of ${m.bytes.length}`,
      // The cluster part of each node's push (a delta, or the full view), gzipped.
      clusterBytesPerNode: { p50: quantile([...m.bytes].sort((x, y) => x - y), 0.5), max: Math.max(...m.bytes) },
      // node1's whole SnapshotDelta message for the first change, protobuf-encoded (trust bundle
      // and local workload uids included): what a node receives per change, less gRPC framing.
      deltaMessageBytesOfNode1: change.messageBytes,
      deltaBytesGzip: change.deltaBytesGzip,
    },
    snapshotPerNode: {
      sharedClusterViewBytesGzip: full.sharedBytesGzip,
      perNodeWireBytes: full.perNodeWireBytes,
      localWorkloadsOfNode1: full.localWorkloads,
      uncompressedJsonBytes: full.jsonBytes,
    },
  };
  console.log(JSON.stringify(report, null, 2));
  process.exit(0);
}

// A signal runs the exit handlers too (they kill the controller and the hosts, remove the files).
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => process.exit(130));
let options: ScaleOptions;
try {
  options = scaleOptions(process.argv.slice(2));
} catch (err) {
  console.error((err as MeshletError).message);
  process.exit(EXIT_USAGE);
}
await main(options).catch((err: Error) => {
  console.error(`controller-scale: ${err.message}`);
  process.exit(1);
});
