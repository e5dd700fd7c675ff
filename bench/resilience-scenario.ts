/**
 * The `l7-resilience` scenario's run: the `l7-h1-rps` load twice per round over the same lab and
 * agents, once with nothing configured and once with the TrafficPolicy and HTTPRoute of
 * `resilience-policy.ts` (every feature on, none able to trigger), the order alternating by
 * round (A B, B A, A B, ...) so drift on a shared machine hits both alike. Before each load a
 * probe request with the fault header shows which configuration is in force; around the
 * configured load the agents' resilience counters are scraped, and any growth marks the round
 * doubtful (it measured something that fired). Every load runs on a snapshot of its own (a
 * marker Service changes with each), so both configurations pay alike for a snapshot change.
 * Each round ends with nothing configured, so the
 * scenarios after it run as before. Before the first round on a lab, both configurations run
 * once unrecorded, so that neither round-1 run meets cold code.
 *
 * @module
 */

import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { stringify } from 'yaml';
import { loadStaticSnapshot } from '../src/cli/static-source.js';
import type { Lab } from '../src/lab/index.js';
import { MeshletError } from '../src/mesh/errors.js';
import { scrapeAgent } from './agent-pauses.js';
import { httpPort, MESHED_NAMESPACE, SERVICE_NAME, type PathTarget } from './bench-topology.js';
import { counterGrowth, RESILIENCE_COUNTERS, sumCounters, triggered } from './resilience-counters.js';
import { FAULT_HEADER, FAULT_HEADER_VALUE, FAULT_PROBE_STATUS, RESILIENCE_CONFIG_FILE, resilienceConfigYaml } from './resilience-policy.js';
import { combineRuns, type VariantOutcome } from './resilience-report.js';

/** The run the scenario wraps (`l7H1Runner`), typed here to keep `load-runs.ts` out of this module's imports. */
export type InnerRunner = (lab: Lab, target: PathTarget, pids: readonly number[], seconds: number) => Promise<VariantOutcome>;

/** The lab's trust domain (its SPIFFE ids are `spiffe://cluster.local/...`). */
const TRUST_DOMAIN = 'cluster.local';
/** Both agents: the source one (node1) enforces most sections, the destination one (node2) the rest. */
const NODES = ['node1', 'node2'] as const;
/** How long both agents may take to apply a changed config directory (the watcher debounces). */
const APPLY_TIMEOUT_MS = 30_000;
const APPLY_POLL_MS = 100;
/** After the primary logged the snapshot, its workers get it over IPC; this leaves them ample time. */
const SETTLE_MS = 1_000;
/** The agent log is read in pieces of this size (it holds one access-log line per request). */
const LOG_CHUNK_BYTES = 1 << 20;

function noteVersions(text: string, state: { version: string | undefined }): void {
  for (const line of text.split('\n')) {
    if (!line.includes('"snapshot applied"')) continue;
    try {
      const v = (JSON.parse(line) as { version?: unknown }).version;
      if (typeof v === 'string') state.version = v;
    } catch {
      // not a JSON line
    }
  }
}

/**
 * The version of the last `snapshot applied` line of an agent's JSON log. Each `read()` reads
 * only what was appended since the last one, in bounded pieces: the log holds one access-log
 * line per request, hundreds of MiB after a long run. A partial last line is read once whole;
 * a line longer than a piece is skipped (a snapshot line is far shorter).
 */
export class AppliedVersionReader {
  private offset = 0;
  version: string | undefined;
  private readonly buf: Buffer;
  private readonly file: string;

  constructor(file: string, chunkBytes = LOG_CHUNK_BYTES) {
    this.file = file;
    this.buf = Buffer.alloc(chunkBytes);
  }

  /** Reads what is new and returns the last version seen (undefined: none yet). */
  read(): string | undefined {
    let fd: number;
    try {
      fd = openSync(this.file, 'r');
    } catch {
      return this.version; // not written yet
    }
    try {
      const size = fstatSync(fd).size;
      while (this.offset < size) {
        const n = readSync(fd, this.buf, 0, Math.min(this.buf.length, size - this.offset), this.offset);
        if (n === 0) break;
        const end = this.buf.lastIndexOf(0x0a, n - 1);
        if (end < 0 && n < this.buf.length) break; // a partial last line: read it whole next time
        if (end >= 0) noteVersions(this.buf.toString('utf8', 0, end + 1), this);
        this.offset += end < 0 ? n : end + 1;
      }
    } finally {
      closeSync(fd);
    }
    return this.version;
  }
}

/** One reader per lab and node, so each wait reads only the log written since the last. */
const readers = new WeakMap<Lab, Map<string, AppliedVersionReader>>();

function appliedVersion(lab: Lab, node: string): string | undefined {
  const byNode = readers.get(lab) ?? new Map<string, AppliedVersionReader>();
  readers.set(lab, byNode);
  const reader = byNode.get(node) ?? new AppliedVersionReader(join(lab.paths.logsDir, `${node}.log`));
  byNode.set(node, reader);
  return reader.read();
}

/**
 * Writes a scenario's config file (`file` in the lab's `config/`) and waits until both agents
 * have applied what it yields. Shared with the `l7-tracing` scenario.
 */
export async function applyConfig(lab: Lab, yamlText: string, file = RESILIENCE_CONFIG_FILE): Promise<void> {
  lab.writeConfig(file, yamlText);
  const want = await Promise.all(NODES.map(async (n) => (await loadStaticSnapshot(lab.paths.configDir, n, TRUST_DOMAIN)).version));
  const deadline = Date.now() + APPLY_TIMEOUT_MS;
  while (!NODES.every((n, i) => appliedVersion(lab, n) === want[i])) {
    if (Date.now() > deadline) {
      const have = NODES.map((n) => `${n} ${appliedVersion(lab, n) ?? 'none'}`).join(', ');
      throw new MeshletError('MESHLET_ERR_LAB', `the agents did not apply ${file} within ${APPLY_TIMEOUT_MS} ms (want ${want.join(', ')}; applied ${have}); see their logs`);
    }
    await sleep(APPLY_POLL_MS);
  }
  await sleep(SETTLE_MS);
}

/** Prints the status of one GET with the fault header (node's own fetch; exits at once). */
const PROBE_JS = `fetch(process.argv[1], { headers: { [process.argv[2]]: process.argv[3] } }).then(async (r) => { await r.arrayBuffer(); console.log(r.status); process.exit(0); }, (e) => { console.error(e.message); process.exit(2); })`;

/** One request with the fault header from the client pod; throws unless it answers `want`. */
async function probe(lab: Lab, target: PathTarget, want: number, what: string): Promise<void> {
  const url = `http://${target.host}:${httpPort(target.path, 'http1')}/`;
  const r = await lab.exec(target.clientPod, process.execPath, ['-e', PROBE_JS, url, FAULT_HEADER, FAULT_HEADER_VALUE], { timeoutMs: 15_000 });
  const got = Number(r.stdout.trim());
  if (r.code !== 0 || got !== want) {
    throw new MeshletError('MESHLET_ERR_LAB', `probe with ${FAULT_HEADER}: ${FAULT_HEADER_VALUE} got ${JSON.stringify(r.stdout.trim() || r.stderr.trim().slice(-300))}, want ${want} (${what})`);
  }
}

/** The resilience counters of both agents, summed. */
async function scrape(lab: Lab): Promise<Record<string, number>> {
  const sum: Record<string, number> = {};
  for (const node of NODES) {
    for (const [k, v] of Object.entries(sumCounters(await scrapeAgent(lab, node), RESILIENCE_COUNTERS))) sum[k] = (sum[k] ?? 0) + v;
  }
  return sum;
}

/** Loads measured so far: each gets its own marker, so its configuration is a new snapshot. */
let markers = 0;

/**
 * A Service that selects nothing, with a port that differs for every load: it makes every
 * load's configuration a new snapshot, so that both configurations are measured right after a
 * snapshot change (tables rebuilt, capture rules and certificates reconciled, caches cold).
 * Without it only the configured loads came right after one, and paid alone for it. Another
 * scenario passes its own `name` and `vip` (its file may still hold its marker).
 */
export function marker(name = 'bench-marker', vip = MARKER_VIP): string {
  markers += 1;
  const service = {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: { name, namespace: MESHED_NAMESPACE },
    spec: { type: 'ClusterIP', clusterIP: vip, clusterIPs: [vip], selector: { 'bench-marker': 'none' }, ports: [{ protocol: 'TCP', port: 10_000 + (markers % 50_000), targetPort: 9 }] },
  };
  return stringify(service, { lineWidth: 0 });
}

/** The marker Service's address: in the lab's Service range, used by nothing else. */
const MARKER_VIP = '198.19.0.250';

/** The scenario's configuration for the bench Service's HTTP/1.1 L7 port. */
function configured(): string {
  return `${resilienceConfigYaml({ namespace: MESHED_NAMESPACE, service: SERVICE_NAME, port: httpPort('meshlet-l7', 'http1') })}---\n${marker()}`;
}

/** The load with nothing configured (the probe shows the header changes nothing). */
async function runNone(inner: InnerRunner, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number): Promise<VariantOutcome> {
  await applyConfig(lab, marker());
  await probe(lab, target, 200, 'nothing configured: the header must change nothing');
  return inner(lab, target, pids, seconds);
}

/** The load with everything configured, the counters' growth over it; always restores nothing configured. */
async function runAll(inner: InnerRunner, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number): Promise<{ outcome: VariantOutcome; counters: Record<string, number> }> {
  try {
    await applyConfig(lab, configured());
    await probe(lab, target, FAULT_PROBE_STATUS, 'everything configured: the fault answers the header');
    const before = await scrape(lab);
    const outcome = await inner(lab, target, pids, seconds);
    return { outcome, counters: counterGrowth(before, await scrape(lab)) };
  } finally {
    // The scenarios after this one measure the agents as they were.
    await applyConfig(lab, '');
  }
}

/**
 * One round: both loads, in the order given. Rounds alternate the order (A B, then B A): a
 * drift that grows through a round, or an advantage of going first or second, then falls on
 * both configurations alike over two rounds.
 */
async function bothRuns(inner: InnerRunner, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number, configuredFirst: boolean): Promise<VariantOutcome> {
  let none: VariantOutcome;
  let all: { outcome: VariantOutcome; counters: Record<string, number> };
  if (configuredFirst) {
    all = await runAll(inner, lab, target, pids, seconds);
    none = await runNone(inner, lab, target, pids, seconds);
  } else {
    none = await runNone(inner, lab, target, pids, seconds);
    all = await runAll(inner, lab, target, pids, seconds);
  }
  const merged = combineRuns(none, all.outcome, all.counters);
  const fired = triggered(all.counters);
  const problems = [merged.error, fired.length === 0 ? undefined : `resilience fired during the configured run (it measured something else): ${fired.join(', ')}`].filter((p) => p !== undefined);
  return problems.length === 0 ? { values: merged.values } : { values: merged.values, error: problems.join('; ') };
}

/**
 * Seconds of each unrecorded warm-up load: the first round would otherwise measure its first
 * configuration on cold code (JIT, pools) and the second on warm code, a bias of more than the
 * 5% the scenario looks for.
 */
const WARMUP_SECONDS = 2;

/** Rounds run per lab (their parity picks the order); absent: not warmed up yet. */
const roundsRun = new WeakMap<Lab, number>();

/** Both configurations under load once, unrecorded; ends with nothing configured. */
async function warmUp(inner: InnerRunner, lab: Lab, target: PathTarget, pids: readonly number[], seconds: number): Promise<void> {
  const s = Math.min(seconds, WARMUP_SECONDS);
  try {
    await applyConfig(lab, configured());
    await inner(lab, target, pids, s);
  } finally {
    await applyConfig(lab, '');
  }
  await inner(lab, target, pids, s);
}

/**
 * The scenario's runner around `inner` (the `l7-h1-rps` load on the meshlet L7 path). Its
 * values are `combineRuns`'s: each figure with and without the configuration, their ratios
 * for this round, and the counters' growth. The first call on a lab warms both up first
 * (unless `warm` is false: the smoke mode checks the plumbing, not the speed);
 * odd rounds run nothing configured first, even rounds everything configured first.
 */
export function resilienceRunner(inner: InnerRunner, warm = true): InnerRunner {
  return async (lab, target, pids, seconds) => {
    const done = roundsRun.get(lab);
    if (done === undefined && warm) await warmUp(inner, lab, target, pids, seconds);
    roundsRun.set(lab, (done ?? 0) + 1);
    return bothRuns(inner, lab, target, pids, seconds, (done ?? 0) % 2 === 1);
  };
}
