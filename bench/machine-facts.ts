/**
 * What the run ran on: cores, CPU model, memory, kernel, Node.js and the tools' versions, and
 * the open-files limit (it decides how many connections HAProxy can hold).
 *
 * @module
 */

import { spawnSync } from 'node:child_process';
import { cpus, release, totalmem } from 'node:os';
import type { MachineFacts } from './bench-types.js';

function firstLine(command: string, args: readonly string[], pattern?: RegExp): string {
  const r = spawnSync(command, [...args], { encoding: 'utf8', timeout: 5000 });
  if (r.error !== undefined) return 'not installed';
  const text = `${r.stdout ?? ''}\n${r.stderr ?? ''}`;
  const line = text.split('\n').find((l) => (pattern === undefined ? l.trim() !== '' : pattern.test(l))) ?? '';
  return line.trim() === '' ? 'unknown' : line.trim();
}

/** The hard limit of open files this process (and the lab processes it starts) may raise to. */
export function hardFdLimit(): number {
  const r = spawnSync('sh', ['-c', 'ulimit -Hn'], { encoding: 'utf8', timeout: 5000 });
  const n = Number((r.stdout ?? '').trim());
  // "unlimited" reads as NaN; HAProxy's own cap then applies.
  return Number.isFinite(n) && n > 0 ? n : 1_048_576;
}

/** Collects the machine facts (a few quick commands, each bounded). */
export function machineFacts(): MachineFacts {
  const list = cpus();
  const haproxy = /HAProxy version (\S+)/.exec(firstLine('haproxy', ['-v'], /HAProxy version/));
  const iperf = /iperf (\S+)/.exec(firstLine('iperf3', ['--version'], /iperf/));
  const sockperf = /version (\S+)/.exec(firstLine('sockperf', ['--version'], /version/));
  const wrk = /wrk (\S+)/.exec(firstLine('wrk', ['--version'], /wrk/));
  const h2load = /nghttp2\/(\S+)/.exec(firstLine('h2load', ['--version'], /nghttp2/));
  return {
    cores: list.length,
    cpuModel: list[0]?.model.trim() ?? 'unknown',
    memoryGiB: totalmem() / 2 ** 30,
    kernel: `Linux ${release()}`,
    node: process.version,
    haproxy: haproxy?.[1] === undefined ? 'HAProxy not installed' : `HAProxy ${haproxy[1]}`,
    iperf3: iperf?.[1] ?? 'not installed',
    sockperf: sockperf?.[1] ?? 'not installed',
    wrk: wrk?.[1] ?? 'not installed',
    h2load: h2load?.[1] ?? 'not installed',
    fdLimit: hardFdLimit(),
  };
}
