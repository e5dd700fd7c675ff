/**
 * What each agent process loads, and its memory by process. `meshlet agent` in static mode
 * (the command itself, as an operator starts it), once as a single process and once with two
 * data-path workers, under a `--import` preload that records every module each process loads
 * (`load-recorder.ts`; the workers inherit it through execArgv). Neither loads the controller
 * client (grpc-js, protobufjs), the Kubernetes client or the CLI's other commands; a worker
 * loads neither node-forge (it signs nothing), nor yaml, nor commander, nor `@opentelemetry/api`
 * (prom-client's index brings it; workers import the metric classes alone, `src/ops/prom.ts`). And the metrics port
 * gives `meshlet_process_memory_bytes` for each process apart. In controller mode (a controller
 * that is not there) the agent loads the controller client, still not the Kubernetes client.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { pino } from 'pino';
import { CertificateAuthority } from '../../../src/ca/authority.js';
import { L7_YAML } from '../../unit/mesh/l7-fixture.js';

const MAIN = fileURLToPath(new URL('../../../src/cli/main.js', import.meta.url));
const RECORDER = fileURLToPath(new URL('./load-recorder.js', import.meta.url));
/** Start-up on a loaded CI machine: generous. */
const READY_MS = 90_000;

/** Packages no agent process uses in static mode. */
const NEVER = ['@grpc/grpc-js', 'protobufjs', '@kubernetes/client-node', 'systeminformation'];
/** Packages a data-path worker does not use on top of those. */
const NOT_IN_WORKER = [...NEVER, 'node-forge', 'yaml', 'commander', '@opentelemetry/api'];
/** The project's own folders a running agent has no use for (other commands' code). */
const OWN_NEVER = ['src/lab/', 'src/cli/policy-', 'src/cli/lab-', 'src/cli/demo-', 'src/controller/auth/'];
const OWN_NOT_IN_WORKER = [...OWN_NEVER, 'src/cli/', 'src/ca/', 'src/controller/'];

interface Loaded {
  readonly packages: ReadonlySet<string>;
  readonly files: readonly string[];
}

/** Package names and files a process loaded, from the recorder's two files for its pid. */
function loadedBy(dir: string, pid: number): Loaded {
  const files: string[] = [];
  for (const ext of ['esm', 'cjs']) {
    const text = readFileSync(join(dir, `${pid}.${ext}`), 'utf8');
    files.push(...text.split('\n').filter((l) => l !== '').map((l) => l.replace(/^file:\/\//, '')));
  }
  const packages = new Set<string>();
  for (const f of files) {
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f);
    if (m?.[1] !== undefined) packages.add(m[1]);
  }
  return { packages, files };
}

interface Run {
  readonly agentPid: number;
  readonly recorded: string;
  readonly memoryLines: readonly string[];
  /** The admin API's `/memory` answer. */
  readonly memoryView: unknown;
}

/** How the agent gets its snapshot: a YAML directory, or a controller (none answers there). */
type Mode = 'static' | 'controller';

/** The agent's mode flags; in controller mode, a CA file and a join token for a controller nobody runs. */
async function modeFlags(root: string, mode: Mode): Promise<string[]> {
  if (mode === 'static') {
    const config = join(root, 'mesh');
    mkdirSync(config);
    writeFileSync(join(config, 'mesh.yaml'), L7_YAML);
    return ['--config', config];
  }
  const ca = await CertificateAuthority.loadOrCreate({ dir: join(root, 'ca'), trustDomain: 'cluster.local', logger: pino({ level: 'silent' }) });
  writeFileSync(join(root, 'controller-ca.pem'), ca.trustBundlePem);
  writeFileSync(join(root, 'join-token'), 'not-a-token\n');
  // Port 1 on loopback: nothing listens, the client retries with backoff until the agent stops.
  return ['--controller', '127.0.0.1:1', '--controller-ca', join(root, 'controller-ca.pem'), '--join-token-file', join(root, 'join-token')];
}

/**
 * Runs `meshlet agent` until it is up (static: ready; controller mode: its ports bound, as it
 * cannot get ready without a controller), scrapes /metrics, stops it with SIGTERM.
 */
async function runAgent(t: Test, workers: number, mode: Mode = 'static'): Promise<Run> {
  const root = mkdtempSync(join(tmpdir(), 'meshlet-loaded-'));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  const recorded = join(root, 'recorded');
  mkdirSync(recorded);
  const ports = ['--outbound-port', '--inbound-port', '--tunnel-port', '--readiness-port', '--admin-port', '--metrics-port'].flatMap((p) => [p, '0']);
  const child = spawn(
    process.execPath,
    ['--import', RECORDER, MAIN, 'agent', ...(await modeFlags(root, mode)), '--node', 'node-a', '--state-dir', join(root, 'state'), '--admin-token-file', join(root, 'token'),
      '--no-iptables', '--workers', String(workers), '--bind', '127.0.0.1', ...ports],
    { env: { ...process.env, MESHLET_LOAD_RECORD_DIR: recorded }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const upMessage = mode === 'static' ? 'agent ready' : 'admin and metrics bound';
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  t.teardown(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let metricsPort: number | undefined;
  let adminPort: number | undefined;
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent not up ("${upMessage}") within ${READY_MS} ms`)), READY_MS);
    child.once('exit', (code) => reject(new Error(`agent exited (code ${code}) before it was ready`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      let rec: { msg?: string; metrics?: { port?: number }; admin?: { port?: number } };
      try {
        rec = JSON.parse(line) as typeof rec;
      } catch {
        return;
      }
      if (typeof rec.metrics?.port === 'number') metricsPort = rec.metrics.port;
      if (typeof rec.admin?.port === 'number') adminPort = rec.admin.port;
      if (rec.msg === upMessage) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  await ready;
  if (metricsPort === undefined || adminPort === undefined) throw new Error('the agent logged no metrics or admin port');
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  const token = readFileSync(join(root, 'token'), 'utf8').trim();
  const memoryView: unknown = await (await fetch(`http://127.0.0.1:${adminPort}/memory`, { headers: { authorization: `Bearer ${token}` } })).json();
  child.kill('SIGTERM');
  t.equal(await exited, 0, 'the agent drained and exited 0');
  return { agentPid: child.pid as number, recorded, memoryLines: text.split('\n').filter((l) => l.startsWith('meshlet_process_memory_bytes{')), memoryView };
}

/** `process` labels with an rss series above zero. */
function processesWithRss(lines: readonly string[]): string[] {
  const out: string[] = [];
  for (const l of lines) {
    const m = /^meshlet_process_memory_bytes\{process="([^"]+)",kind="rss"\} (\d+)$/.exec(l);
    if (m?.[1] !== undefined && Number(m[2]) > 0) out.push(m[1]);
  }
  return out.sort();
}

function checkAbsent(t: Test, what: string, loaded: Loaded, packages: readonly string[], own: readonly string[]): void {
  t.ok(loaded.packages.has('pino'), `${what}: the recorder saw its packages (pino among them)`);
  t.same(packages.filter((p) => loaded.packages.has(p)), [], `${what} loads none of ${packages.join(', ')}`);
  t.same(loaded.files.filter((f) => own.some((o) => f.includes(`/dist/${o}`))), [], `${what} loads none of ${own.join(', ')}`);
}

t.test('a single-process agent in static mode', async (t) => {
  const run = await runAgent(t, 1);
  t.same(processesWithRss(run.memoryLines), ['agent'], 'memory of the one process');
  t.same(readdirSync(run.recorded).sort(), [`${run.agentPid}.cjs`, `${run.agentPid}.esm`], 'one process recorded');
  const loaded = loadedBy(run.recorded, run.agentPid);
  checkAbsent(t, 'the agent', loaded, NEVER, OWN_NEVER);
  t.ok(loaded.packages.has('yaml'), 'static mode reads its YAML (the test would see yaml if loaded)');
});

t.test('an agent with two data-path workers', async (t) => {
  const run = await runAgent(t, 2);
  t.same(processesWithRss(run.memoryLines), ['agent', 'worker-0', 'worker-1'], 'memory of each process apart');
  const view = run.memoryView as Array<{ process: string; rss?: number; rss_anon?: number; heap_used?: number }>;
  t.same(view.map((r) => r.process), ['agent', 'worker-0', 'worker-1'], '/memory: a row per process, the primary first');
  for (const r of view) {
    t.ok((r.rss ?? 0) > (r.rss_anon ?? Number.POSITIVE_INFINITY), `/memory ${r.process}: private memory is part of rss`);
    t.ok((r.heap_used ?? 0) > 0, `/memory ${r.process}: heap in use`);
  }
  const pids = [...new Set(readdirSync(run.recorded).map((f) => Number(f.split('.')[0])))];
  const workerPids = pids.filter((p) => p !== run.agentPid);
  t.equal(workerPids.length, 2, 'two workers recorded');
  checkAbsent(t, 'the primary', loadedBy(run.recorded, run.agentPid), NEVER, OWN_NEVER);
  for (const pid of workerPids) {
    const loaded = loadedBy(run.recorded, pid);
    checkAbsent(t, `worker ${pid}`, loaded, NOT_IN_WORKER, OWN_NOT_IN_WORKER);
    t.ok(loaded.packages.has('prom-client'), `worker ${pid}: its metrics registry (the test would see a package it loads)`);
  }
});

t.test('a controller-mode agent: the controller client, still no Kubernetes client', async (t) => {
  const run = await runAgent(t, 1, 'controller');
  t.same(processesWithRss(run.memoryLines), ['agent'], 'memory of the one process');
  const loaded = loadedBy(run.recorded, run.agentPid);
  t.ok(loaded.packages.has('@grpc/grpc-js'), 'the controller client is loaded (the test sees it)');
  checkAbsent(t, 'the agent', loaded, ['@kubernetes/client-node', 'systeminformation'], OWN_NEVER);
});
