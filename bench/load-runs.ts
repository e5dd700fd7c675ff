/**
 * One load run: a C load generator (iperf3, sockperf, wrk) in the path's client pod against
 * the path's target, bounded in time, with the path's proxies metered (CPU, peak RSS) over
 * exactly that run.
 *
 * @module
 */

import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Lab } from '../src/lab/index.js';
import { CONNECT_CONCURRENCY, HTTP_CONNECTIONS, L7_FIXED_CONNECTIONS, L7_FIXED_RATE, LATENCY_MESSAGE_BYTES } from './bench-options.js';
import { PORTS, httpPort, type PathTarget } from './bench-topology.js';
import { withAddedTime } from './added-time.js';
import { withAgentPauses } from './agent-pauses.js';
import { toolIn, WRK_SCRIPT, WRK_THREADS, WRK_TIMEOUT } from './load-tool.js';
import { NOISY_NEIGHBOUR_ID } from './noisy-neighbour-report.js';
import { noisyNeighbourRunner } from './noisy-neighbour.js';
import { RESILIENCE_SCENARIO_ID } from './resilience-policy.js';
import { resilienceRunner } from './resilience-scenario.js';
import { TRACING_SCENARIO_ID } from './tracing-policy.js';
import { tracingRunner } from './tracing-scenario.js';
import { ProcessMeter } from './proc-stats.js';
import { parseH2load, parseH2loadLog, parseIperfJson, parseSockperf, parseWrkReport } from './tool-parsers.js';

/** What a run produced: metric values, and why it is doubtful if it is. */
export interface LoadOutcome {
  readonly values: Record<string, number>;
  readonly error?: string;
}

/** A load scenario's runner. */
export type LoadRunner = (lab: Lab, target: PathTarget, pids: readonly number[], seconds: number) => Promise<LoadOutcome>;

/** A load tool in the path's client pod (see {@link toolIn}). */
async function tool(lab: Lab, target: PathTarget, command: string, args: readonly string[], seconds: number): Promise<string> {
  return toolIn(lab, target.clientPod, command, args, seconds);
}

function proxyFigures(meter: ProcessMeter, pids: readonly number[]): { cpuS: number; peakRssMiB?: number } {
  if (pids.length === 0) return { cpuS: 0 };
  return { cpuS: meter.cpuSince(), peakRssMiB: meter.peakRssMiB() };
}

/** Bulk throughput with iperf3, `streams` parallel streams. */
export function bulkRunner(streams: number): LoadRunner {
  return async (lab, target, pids, seconds) => {
    const meter = new ProcessMeter(pids);
    const out = await tool(lab, target, 'iperf3', ['-c', target.host, '-p', String(PORTS.iperf), '-P', String(streams), '-t', String(seconds), '-J'], seconds);
    // -J prints only JSON on stdout; stderr is appended after it by tool() and must go.
    const r = parseIperfJson(out.slice(0, out.lastIndexOf('}') + 1));
    const proxy = proxyFigures(meter, pids);
    const values: Record<string, number> = { gbps: r.bitsPerSecond / 1e9 };
    if (proxy.peakRssMiB !== undefined) {
      values['cpuPerGiB'] = proxy.cpuS / (r.bytes / 2 ** 30);
      values['peakRssMiB'] = proxy.peakRssMiB;
    }
    return { values };
  };
}

/** Below this share of the asked rate, sockperf fell behind its schedule and the run is doubtful. */
const MIN_RATE_SHARE = 0.95;

/**
 * Round-trip latency with sockperf under-load at a fixed message rate. sockperf paces its
 * sends by spinning on a core; on a 2-core machine the spin would take a core from the
 * proxies, so it runs under SCHED_IDLE (`chrt --idle 0`): it gets only CPU nobody else wants,
 * and a run where it could not keep its schedule is marked doubtful. `idleScheduling: false`
 * (the smoke mode, which checks the plumbing and not the speed) runs it at normal priority:
 * on a machine kept busy by something else, SCHED_IDLE can starve it so long that it reports
 * nothing at all.
 */
export function latencyRunner(rate: number, idleScheduling = true): LoadRunner {
  return async (lab, target, pids, seconds) => {
    const meter = new ProcessMeter(pids);
    const sockperf = ['sockperf', 'under-load', '--tcp', '-i', target.host, '-p', String(PORTS.sockperf), '-m', String(LATENCY_MESSAGE_BYTES), '--mps', String(rate), '-t', String(seconds), '--reply-every', '1'];
    const [command, args] = idleScheduling ? ['chrt', ['--idle', '0', ...sockperf]] : ['sockperf', sockperf.slice(1)];
    const r = parseSockperf(await tool(lab, target, command, args, seconds));
    const values: Record<string, number> = { p50Us: r.p50Us, p90Us: r.p90Us, p99Us: r.p99Us, maxUs: r.maxUs };
    // Per round trip: each message crosses both proxies twice (request and echo).
    if (pids.length > 0 && r.received > 0) values['cpuPer1k'] = meter.cpuSince() / (r.received / 1000);
    const problems: string[] = [];
    // sockperf counts replies it never got as dropped; any loss makes the percentiles doubtful.
    const lost = r.sent - r.received;
    if (lost > 0 || r.dropped > 0) problems.push(`${lost} of ${r.sent} replies missing, ${r.dropped} dropped`);
    const achieved = r.validSeconds > 0 ? r.sent / r.validSeconds : 0;
    if (achieved < rate * MIN_RATE_SHARE) problems.push(`sockperf sent ${Math.round(achieved)}/s of the ${rate}/s asked`);
    return problems.length > 0 ? { values, error: problems.join('; ') } : { values };
  };
}

function wrkRunner(connections: number, close: boolean, rateKey: string, port: (t: PathTarget) => number = () => PORTS.web): LoadRunner {
  return async (lab, target, pids, seconds) => {
    const meter = new ProcessMeter(pids);
    const args = ['-t', WRK_THREADS, '-c', String(connections), '-d', `${seconds}s`, '--timeout', WRK_TIMEOUT, '-s', WRK_SCRIPT];
    if (close) args.push('-H', 'Connection: close');
    args.push(`http://${target.host}:${port(target)}/`);
    const r = parseWrkReport(await tool(lab, target, 'wrk', args, seconds));
    const proxy = proxyFigures(meter, pids);
    const values: Record<string, number> = { [rateKey]: r.requests / r.seconds };
    if (!close) {
      values['p50Ms'] = r.p50Us / 1000;
      values['p99Ms'] = r.p99Us / 1000;
    }
    if (proxy.peakRssMiB !== undefined && r.requests > 0) {
      values['cpuPer1k'] = proxy.cpuS / (r.requests / 1000);
      values['peakRssMiB'] = proxy.peakRssMiB;
    }
    if (r.requests === 0) return { values: {}, error: 'wrk completed no request' };
    return r.errors > 0 ? { values, error: `${r.errors} errors in ${r.requests} requests` } : { values };
  };
}

/** Connect, one HTTP/1.1 exchange, close: wrk with `Connection: close`. */
export const connectRateRunner: LoadRunner = wrkRunner(CONNECT_CONCURRENCY, true, 'connPerSec');

/** HTTP/1.1 keep-alive requests per second. */
export const httpRunner: LoadRunner = wrkRunner(HTTP_CONNECTIONS, false, 'rps');

/** L7, HTTP/1.1 keep-alive requests per second: wrk on the path's HTTP port. */
export const l7H1Runner: LoadRunner = wrkRunner(HTTP_CONNECTIONS, false, 'rps', (t) => httpPort(t.path, 'http1'));

let h2loadLogs = 0;

/**
 * Runs h2load in the client pod with a per-request log (the lab's directory: the pod shares
 * the host's filesystem), returns its summary and the log's percentiles, and removes the log.
 */
async function h2load(lab: Lab, target: PathTarget, args: readonly string[], url: string, seconds: number): Promise<{ summary: ReturnType<typeof parseH2load>; times: ReturnType<typeof parseH2loadLog> }> {
  h2loadLogs += 1;
  const log = join(lab.dir, 'bench', `h2load-${target.path}-${process.pid}-${h2loadLogs}.log`);
  try {
    // -D ends the run by itself; tool() kills it TOOL_SLACK_MS later if it does not.
    const out = await tool(lab, target, 'h2load', [...args, '-D', String(seconds), `--log-file=${log}`, url], seconds);
    return { summary: parseH2load(out), times: parseH2loadLog(readFileSync(log, 'utf8')) };
  } finally {
    rmSync(log, { force: true });
  }
}

/** L7, h2c requests per second: h2load with 64 connections of one stream each (64 requests in flight, as wrk). */
export const l7H2Runner: LoadRunner = async (lab, target, pids, seconds) => {
  const meter = new ProcessMeter(pids);
  const url = `http://${target.host}:${httpPort(target.path, 'h2c')}/`;
  const { summary, times } = await h2load(lab, target, ['-t', WRK_THREADS, '-c', String(HTTP_CONNECTIONS), '-m', '1'], url, seconds);
  const proxy = proxyFigures(meter, pids);
  if (summary.done === 0) return { values: {}, error: 'h2load completed no request' };
  const values: Record<string, number> = { rps: summary.rps, p50Ms: times.p50Us / 1000, p99Ms: times.p99Us / 1000 };
  if (proxy.peakRssMiB !== undefined) {
    values['cpuPer1k'] = proxy.cpuS / (summary.done / 1000);
    values['peakRssMiB'] = proxy.peakRssMiB;
  }
  return summary.errors > 0 ? { values, error: `${summary.errors} errors in ${summary.done} requests (${summary.counts})` } : { values };
};

/**
 * L7, HTTP/1.1 at a fixed rate: h2load `--h1 --rps`, each connection on its own timer; the
 * percentiles of every request's time, and whether the rate was kept.
 */
export const l7FixedRateRunner: LoadRunner = async (lab, target, pids, seconds) => {
  const meter = new ProcessMeter(pids);
  const perConnection = L7_FIXED_RATE / L7_FIXED_CONNECTIONS;
  const url = `http://${target.host}:${httpPort(target.path, 'http1')}/`;
  const { summary, times } = await h2load(lab, target, ['--h1', '-t', '1', '-c', String(L7_FIXED_CONNECTIONS), `--rps=${perConnection}`], url, seconds);
  const values: Record<string, number> = { p50Us: times.p50Us, p90Us: times.p90Us, p99Us: times.p99Us };
  if (pids.length > 0 && summary.done > 0) values['cpuPer1k'] = meter.cpuSince() / (summary.done / 1000);
  const problems: string[] = [];
  if (summary.errors > 0) problems.push(`${summary.errors} errors in ${summary.done} requests (${summary.counts})`);
  if (summary.rps < L7_FIXED_RATE * MIN_RATE_SHARE) problems.push(`h2load kept ${Math.round(summary.rps)}/s of the ${L7_FIXED_RATE}/s asked`);
  return problems.length > 0 ? { values, error: problems.join('; ') } : { values };
};

/** How the runners run their tools. */
export interface LoadRunnerOptions {
  /** Run the latency client under SCHED_IDLE (see {@link latencyRunner}); default true. */
  readonly idleScheduling?: boolean;
  /** Capture the latency runs and report each proxy hop's added time (`added-time.ts`); default false. */
  readonly addedTime?: boolean;
  /** Warm the `l7-resilience` and `l7-tracing` configurations up before their first round (default true; the smoke mode, which checks the plumbing, skips it). */
  readonly warmUp?: boolean;
}

/** The runner of each load scenario id (see `scenarios.ts`). */
export function loadRunnerFor(id: string, opts: LoadRunnerOptions = {}): LoadRunner | undefined {
  const bulk = /^bulk-(\d+)$/.exec(id);
  if (bulk?.[1] !== undefined) return bulkRunner(Number(bulk[1]));
  const lat = /^latency-(\d+)$/.exec(id);
  if (lat?.[1] !== undefined) {
    const runner = latencyRunner(Number(lat[1]), opts.idleScheduling ?? true);
    // The capture inside the pause scrapes: the scrapes' own traffic is not captured.
    return withAgentPauses(opts.addedTime === true ? withAddedTime(runner) : runner);
  }
  if (id === 'connect-rate') return connectRateRunner;
  if (id === 'http-rps') return httpRunner;
  if (id === 'l7-h1-rps') return l7H1Runner;
  if (id === 'l7-h2-rps') return l7H2Runner;
  if (id === `l7-latency-${L7_FIXED_RATE}`) return withAgentPauses(l7FixedRateRunner);
  if (id === RESILIENCE_SCENARIO_ID) return resilienceRunner(l7H1Runner, opts.warmUp ?? true);
  if (id === TRACING_SCENARIO_ID) return tracingRunner(l7H1Runner, opts.warmUp ?? true);
  if (id === NOISY_NEIGHBOUR_ID) return noisyNeighbourRunner;
  return undefined;
}
