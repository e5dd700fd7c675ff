/**
 * The `noisy-neighbour` scenario's run on one path (figures and bar: `noisy-neighbour-report.ts`):
 * the quiet pod alone, then per flood (bulk, small requests) the flood alone and the flood with
 * the quiet pod beside it. The flooding pod is the path client's neighbour on node1
 * (`floodPodOf`), a workload of its own. Every load is bounded by its tool's duration and
 * killed `TOOL_SLACK_MS` after it (`toolIn`).
 *
 * @module
 */

import { setTimeout as sleep } from 'node:timers/promises';
import type { Lab } from '../src/lab/index.js';
import { parsePauses, scrapeAgent, type PauseSample } from './agent-pauses.js';
import { PORTS, floodPodOf, type PathTarget } from './bench-topology.js';
import { AGENT_PATHS } from './bench-types.js';
import type { LoadRunner } from './load-runs.js';
import { toolIn, WRK_SCRIPT, WRK_TIMEOUT } from './load-tool.js';
import { FLOOD_CONNECTIONS, FLOOD_KINDS, FLOOD_STREAMS, noisyValues, type FloodKind, type FloodRound, type QuietFigures } from './noisy-neighbour-report.js';
import { parseIperfJson, parseWrkReport } from './tool-parsers.js';

/**
 * The flood's head start before the quiet load, and its tail after it: the quiet load runs
 * wholly inside a flood that is already at full speed (iperf3 omits the same first second).
 */
const LEAD_SECONDS = 1;

interface QuietOutcome {
  readonly figures: QuietFigures;
  readonly errors: number;
}

/** One request at a time on one keep-alive connection, from the path's client pod. */
async function quietLoad(lab: Lab, target: PathTarget, seconds: number): Promise<QuietOutcome> {
  const args = ['-t', '1', '-c', '1', '-d', `${seconds}s`, '--timeout', WRK_TIMEOUT, '-s', WRK_SCRIPT, `http://${target.host}:${PORTS.web}/`];
  const r = parseWrkReport(await toolIn(lab, target.clientPod, 'wrk', args, seconds));
  return { figures: { p50Us: r.p50Us, p99Us: r.p99Us, rps: r.seconds > 0 ? r.requests / r.seconds : 0 }, errors: r.errors };
}

/** The flood from the neighbour pod, `LEAD_SECONDS` longer on each side than a quiet load: Gbit/s (bulk) or requests/s (small). */
async function floodLoad(lab: Lab, target: PathTarget, kind: FloodKind, seconds: number): Promise<number> {
  const pod = floodPodOf(target);
  const total = seconds + 2 * LEAD_SECONDS;
  if (kind === 'bulk') {
    // -O: the first second (slow start) is not counted; iperf3 runs -t after it.
    const args = ['-c', target.host, '-p', String(PORTS.iperf), '-P', String(FLOOD_STREAMS), '-O', String(LEAD_SECONDS), '-t', String(total - LEAD_SECONDS), '-J'];
    const out = await toolIn(lab, pod, 'iperf3', args, total);
    return parseIperfJson(out.slice(0, out.lastIndexOf('}') + 1)).bitsPerSecond / 1e9;
  }
  const args = ['-t', '2', '-c', String(FLOOD_CONNECTIONS), '-d', `${total}s`, '--timeout', WRK_TIMEOUT, '-s', WRK_SCRIPT, `http://${target.host}:${PORTS.flood}/`];
  const r = parseWrkReport(await toolIn(lab, pod, 'wrk', args, total));
  return r.seconds > 0 ? r.requests / r.seconds : 0;
}

async function pauseSamples(lab: Lab): Promise<PauseSample[]> {
  return Promise.all(['node1', 'node2'].map(async (node) => parsePauses(await scrapeAgent(lab, node))));
}

/** The agents' event-loop delay p99 over a run, µs, per node (node1: the flooding and the quiet pods' agent; node2: their server's). */
interface LoopFigures {
  readonly node1: number;
  readonly node2: number;
}

/** The flood with the quiet load inside it; on an agent path the agents' loop delay over it (undefined when not read). */
async function together(lab: Lab, target: PathTarget, kind: FloodKind, seconds: number): Promise<{ shared: number; quiet: QuietOutcome; loop?: LoopFigures }> {
  const agents = AGENT_PATHS.includes(target.path);
  // The loop-delay gauge covers the window since the previous scrape: this one opens the run's.
  const before = agents ? await pauseSamples(lab).catch(() => undefined) : undefined;
  const [shared, quiet] = await Promise.all([floodLoad(lab, target, kind, seconds), sleep(LEAD_SECONDS * 1000).then(() => quietLoad(lab, target, seconds))]);
  if (before === undefined) return { shared, quiet };
  const after = await pauseSamples(lab).catch(() => undefined);
  if (after?.[0] === undefined || after[1] === undefined) return { shared, quiet };
  return { shared, quiet, loop: { node1: after[0].loopP99 * 1e6, node2: after[1].loopP99 * 1e6 } };
}

/** The scenario's runner: one round on one path. */
export const noisyNeighbourRunner: LoadRunner = async (lab, target, _pids, seconds) => {
  const problems: string[] = [];
  const alone = await quietLoad(lab, target, seconds);
  if (alone.errors > 0) problems.push(`quiet alone: ${alone.errors} errors`);
  const floods: Partial<Record<FloodKind, FloodRound>> = {};
  for (const kind of FLOOD_KINDS) {
    const floodAlone = await floodLoad(lab, target, kind, seconds);
    const t = await together(lab, target, kind, seconds);
    if (t.quiet.errors > 0) problems.push(`quiet with the ${kind} flood: ${t.quiet.errors} errors`);
    if (AGENT_PATHS.includes(target.path) && t.loop === undefined) problems.push(`agent loop delay not read over the ${kind} flood`);
    floods[kind] = { alone: floodAlone, shared: t.shared, quiet: t.quiet.figures, ...(t.loop === undefined ? {} : { loopP99Us: t.loop }) };
  }
  const values = noisyValues({ quiet: alone.figures, floods });
  return problems.length > 0 ? { values, error: problems.join('; ') } : { values };
};
