/**
 * Where the agents' tail comes from, read next to each latency run: the agents' own event-loop
 * delay and garbage-collection pauses over exactly that run (`src/ops/runtime-pauses.ts`). The
 * loop-delay gauge covers the window since the previous scrape, so one scrape before the run
 * opens the window and one after reads it; the GC histogram is cumulative, so the run's pauses
 * are the growth between the two scrapes. The parsing is pure; {@link withAgentPauses} wraps a
 * latency runner of a meshlet path with the two scrapes.
 *
 * @module
 */

import type { Lab } from '../src/lab/index.js';
import { MeshletError } from '../src/mesh/errors.js';
import { AGENT_PATHS } from './bench-types.js';
import type { LoadRunner } from './load-runs.js';
import { sumCounters } from './resilience-counters.js';

/** The nodes whose agents carry a bench path's bytes. */
const AGENT_NODES = ['node1', 'node2'] as const;

/** The agents' Prometheus port (`--metrics-port` default). */
export const AGENT_METRICS_PORT = 15020;

/** What one agent's scrape says about its pauses. */
export interface PauseSample {
  /** Event-loop delay over the window since the previous scrape, seconds (worst process). */
  readonly loopP99: number;
  readonly loopMax: number;
  /** GC pauses since the process started: their count and total seconds (all processes, all kinds). */
  readonly gcCount: number;
  readonly gcSeconds: number;
  /** The same, minor (young-generation scavenge) pauses only. */
  readonly gcMinorCount: number;
  readonly gcMinorSeconds: number;
}

const LOOP = 'meshlet_event_loop_delay_seconds';
const GC_SUM = 'meshlet_gc_pause_seconds_sum';
const GC_COUNT = 'meshlet_gc_pause_seconds_count';

/**
 * Reads {@link PauseSample} from an agent's Prometheus text. Throws `MESHLET_ERR_HOST_TOOL` on
 * an oversized scrape, a sample that is not a finite number >= 0, or a missing loop-delay
 * quantile (an agent without the pause metrics is not one this bench can explain).
 */
export function parsePauses(text: string): PauseSample {
  // Every kind's GC series added up; sumCounters also bounds the scrape and checks each sample.
  const { gcCount = 0, gcSeconds = 0 } = sumCounters(text, { gcCount: GC_COUNT, gcSeconds: GC_SUM });
  const loop = new Map<string, number>();
  const lines = text.split('\n');
  // The minor kind's series alone, read by the same parser.
  const { gcMinorCount = 0, gcMinorSeconds = 0 } = sumCounters(lines.filter((l) => MINOR.test(l)).join('\n'), { gcMinorCount: GC_COUNT, gcMinorSeconds: GC_SUM });
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n] as string;
    if (!line.startsWith(`${LOOP}{`)) continue;
    const m = /^[a-z_]+\{([^}]*)\}[ \t]+(\S+)/.exec(line);
    const value = Number(m?.[2]);
    if (m === null || !Number.isFinite(value) || value < 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `metrics scrape line ${n + 1}: ${JSON.stringify(line.slice(0, 200))} is not a sample >= 0`);
    const q = /(?:^|,)quantile="([^"]*)"/.exec(m[1] ?? '')?.[1];
    if (q !== undefined) loop.set(q, value);
  }
  const loopP99 = loop.get('0.99');
  const loopMax = loop.get('1');
  if (loopP99 === undefined || loopMax === undefined) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `metrics scrape without ${LOOP}{quantile="0.99"} and {quantile="1"}`);
  return { loopP99, loopMax, gcCount, gcSeconds, gcMinorCount, gcMinorSeconds };
}

/** A GC series line of the minor kind. */
const MINOR = /[{,]kind="minor"[,}]/;


/** The figures a run adds: both agents' worst loop delay, and their GC pauses added up. */
export interface PauseFigures {
  /** µs, the worse node's. */
  readonly loopP99Us: number;
  readonly loopMaxUs: number;
  /** Milliseconds of GC pause per second of run, both agents. */
  readonly gcMsPerS: number;
  /** The longest GC pause is not known from a histogram; the mean one is, in µs. */
  readonly gcMeanUs: number;
  /** Share of the GC pause time spent in minor (young-generation) pauses, percent. */
  readonly gcMinorSharePct: number;
  /** The mean minor pause, µs (0 without one). */
  readonly gcMinorMeanUs: number;
}

/**
 * The run's figures from the scrapes before and after it (same agents, same order) and its
 * length. A GC count that went down means an agent restarted in between: an error, not a zero.
 */
export function pauseFigures(before: readonly PauseSample[], after: readonly PauseSample[], seconds: number): PauseFigures {
  if (before.length !== after.length || after.length === 0) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `pause scrapes of ${before.length} agents before and ${after.length} after`);
  if (!(seconds > 0)) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `a run of ${seconds} s`);
  let gcCount = 0;
  let gcSeconds = 0;
  let minorCount = 0;
  let minorSeconds = 0;
  for (let i = 0; i < after.length; i += 1) {
    const a = after[i] as PauseSample;
    const b = before[i] as PauseSample;
    if (a.gcCount < b.gcCount || a.gcSeconds < b.gcSeconds) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `GC pause counters went down (${b.gcCount} -> ${a.gcCount}): did an agent restart?`);
    if (a.gcMinorCount < b.gcMinorCount || a.gcMinorSeconds < b.gcMinorSeconds) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `minor GC pause counters went down (${b.gcMinorCount} -> ${a.gcMinorCount}): did an agent restart?`);
    gcCount += a.gcCount - b.gcCount;
    gcSeconds += a.gcSeconds - b.gcSeconds;
    minorCount += a.gcMinorCount - b.gcMinorCount;
    minorSeconds += a.gcMinorSeconds - b.gcMinorSeconds;
  }
  return {
    loopP99Us: Math.max(...after.map((s) => s.loopP99)) * 1e6,
    loopMaxUs: Math.max(...after.map((s) => s.loopMax)) * 1e6,
    gcMsPerS: (gcSeconds * 1000) / seconds,
    gcMeanUs: gcCount === 0 ? 0 : (gcSeconds / gcCount) * 1e6,
    gcMinorSharePct: gcSeconds === 0 ? 0 : (minorSeconds / gcSeconds) * 100,
    gcMinorMeanUs: minorCount === 0 ? 0 : (minorSeconds / minorCount) * 1e6,
  };
}

/** Prints GET URL's body, or fails (run inside the node's namespace, where the admin port listens). */
const SCRAPE_JS = `fetch(process.argv[1]).then(async (r) => { const t = await r.text(); if (!r.ok) { console.error(r.status); process.exit(2); } process.stdout.write(t, () => process.exit(0)); }, (e) => { console.error(e.message); process.exit(2); })`;

/** The /metrics text of `node`'s agent; throws `MESHLET_ERR_LAB` when it cannot be read. */
export async function scrapeAgent(lab: Lab, node: string): Promise<string> {
  const url = `http://${lab.nodeAddress(node)}:${AGENT_METRICS_PORT}/metrics`;
  const r = await lab.exec(node, process.execPath, ['-e', SCRAPE_JS, url], { timeoutMs: 15_000 });
  if (r.code !== 0) throw new MeshletError('MESHLET_ERR_LAB', `scraping ${url} in ${node} failed: ${r.stderr.trim().slice(-300)}`);
  return r.stdout;
}

async function samples(lab: Lab): Promise<PauseSample[]> {
  return Promise.all(AGENT_NODES.map(async (node) => parsePauses(await scrapeAgent(lab, node))));
}

/**
 * `runner`, and on an agent path the agents' pauses over its run added to its values
 * (`loopP99Us`, `loopMaxUs`, `gcMsPerS`, `gcMeanUs`, `gcMinorSharePct`, `gcMinorMeanUs`). A scrape that fails marks the run
 * doubtful and keeps its latency figures.
 */
export function withAgentPauses(runner: LoadRunner): LoadRunner {
  return async (lab, target, pids, seconds) => {
    if (!AGENT_PATHS.includes(target.path)) return runner(lab, target, pids, seconds);
    let before: PauseSample[] | Error;
    try {
      before = await samples(lab);
    } catch (err) {
      before = err as Error;
    }
    const started = performance.now();
    const outcome = await runner(lab, target, pids, seconds);
    const elapsed = (performance.now() - started) / 1000;
    try {
      if (before instanceof Error) throw before;
      const figures = pauseFigures(before, await samples(lab), elapsed);
      return { ...outcome, values: { ...outcome.values, ...figures } };
    } catch (err) {
      const why = `agent pauses not read: ${(err as Error).message}`;
      return { ...outcome, error: outcome.error === undefined ? why : `${outcome.error}; ${why}` };
    }
  };
}
