/**
 * CPU time and memory of the proxy processes, read from `/proc/<pid>/stat` and
 * `/proc/<pid>/status` (the lab shares the host's pid namespace, so the harness reads them
 * directly). Parsing is pure and exported for tests.
 *
 * @module
 */

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { MeshletError } from '../src/mesh/errors.js';
import { parseRssSplit } from '../src/ops/process-memory.js';

/** CPU time of a process, all threads, in seconds. */
export interface CpuTimes {
  readonly userS: number;
  readonly systemS: number;
}

/** Memory of a process, in KiB. */
export interface MemoryStatus {
  /** Resident set size now. */
  readonly rssKiB: number;
  /** Peak resident set size since start or the last {@link resetPeakRss}. */
  readonly peakKiB: number;
  /** Private resident memory (`RssAnon`: heap, stacks, buffers; not the shared binary's pages), where the kernel gives it. */
  readonly anonKiB?: number;
}

let ticksPerSecond: number | undefined;

/** `sysconf(_SC_CLK_TCK)`, the unit of utime/stime in /proc (100 on Linux nearly always). */
export function clockTicksPerSecond(): number {
  if (ticksPerSecond === undefined) {
    try {
      const n = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8', timeout: 5000 }).trim());
      ticksPerSecond = Number.isInteger(n) && n > 0 ? n : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

/**
 * utime and stime from the text of `/proc/<pid>/stat` (fields 14 and 15, counted after the
 * parenthesised command name, which may itself hold spaces or parentheses).
 */
export function parseProcStat(text: string, ticks: number): CpuTimes {
  const close = text.lastIndexOf(')');
  const fields = text.slice(close + 2).split(' ');
  // fields[0] is field 3 (state), so field N is fields[N - 3].
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (close < 0 || !Number.isFinite(utime) || !Number.isFinite(stime)) {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `unreadable /proc stat line: ${text.slice(0, 200)}`);
  }
  return { userS: utime / ticks, systemS: stime / ticks };
}

/** VmRSS and VmHWM from the text of `/proc/<pid>/status`. */
export function parseProcStatus(text: string): MemoryStatus {
  const kib = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(text);
    if (m?.[1] === undefined) throw new MeshletError('MESHLET_ERR_HOST_TOOL', `no ${name} in /proc status`);
    return Number(m[1]);
  };
  const anon = parseRssSplit(text).rss_anon;
  return { rssKiB: kib('VmRSS'), peakKiB: kib('VmHWM'), ...(anon === undefined ? {} : { anonKiB: anon / 1024 }) };
}

/** CPU seconds (user + system) a process has used. */
export function cpuSeconds(pid: number): number {
  const t = parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'), clockTicksPerSecond());
  return t.userS + t.systemS;
}

/** Current and peak RSS of a process. */
export function memoryStatus(pid: number): MemoryStatus {
  return parseProcStatus(readFileSync(`/proc/${pid}/status`, 'utf8'));
}

/**
 * Resets the process's peak RSS (VmHWM) to its current RSS (`clear_refs` value 5, Linux 4.0+),
 * so the next peak read covers one run only. Returns false when the kernel refuses.
 */
export function resetPeakRss(pid: number): boolean {
  try {
    writeFileSync(`/proc/${pid}/clear_refs`, '5');
    return true;
  } catch {
    return false;
  }
}

/** The parent pid from the text of `/proc/<pid>/stat` (field 4); undefined when unreadable. */
export function parentPidOf(statText: string): number | undefined {
  const close = statText.lastIndexOf(')');
  const ppid = Number(statText.slice(close + 2).split(' ')[1]);
  return close < 0 || !Number.isInteger(ppid) ? undefined : ppid;
}

/**
 * `pid` and every process descended from it, now: an agent with data-path workers is one
 * proxy made of several processes, and its CPU and memory are theirs together.
 */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let text: string;
    try {
      text = readFileSync(`/proc/${name}/stat`, 'utf8');
    } catch {
      continue; // exited while we looked
    }
    const ppid = parentPidOf(text);
    if (ppid !== undefined) children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
  }
  const out: number[] = [];
  const queue = [pid];
  for (let next = queue.shift(); next !== undefined && out.length < 1_000; next = queue.shift()) {
    out.push(next);
    queue.push(...(children.get(next) ?? []));
  }
  return out;
}

/** CPU and peak memory of a set of processes (each with its descendants) over one run. */
export class ProcessMeter {
  private readonly startCpu = new Map<number, number>();
  /** The proxies' process trees when metering started (a tree per proxy, in the order given). */
  private readonly trees: readonly (readonly number[])[];

  /** Starts metering: notes CPU and resets peaks. */
  constructor(pids: readonly number[]) {
    this.trees = pids.map(processTree);
    for (const pid of this.trees.flat()) {
      resetPeakRss(pid);
      try {
        this.startCpu.set(pid, cpuSeconds(pid));
      } catch {
        // A short-lived child (an agent's iptables-save) that exited since the tree was read.
      }
    }
  }

  /** CPU seconds all the processes used since the meter started (one that exited counts 0). */
  cpuSince(): number {
    let sum = 0;
    for (const [pid, start] of this.startCpu) {
      try {
        sum += cpuSeconds(pid) - start;
      } catch {
        // A worker that exited mid-run: its CPU since the start is lost with it.
      }
    }
    return sum;
  }

  /** Sum of the processes' peak RSS since the meter started, in MiB. */
  peakRssMiB(): number {
    return this.trees.flat().reduce((sum, pid) => sum + memoryStatusOr0(pid).peakKiB, 0) / 1024;
  }
}

function memoryStatusOr0(pid: number): MemoryStatus {
  try {
    return memoryStatus(pid);
  } catch {
    return { rssKiB: 0, peakKiB: 0 };
  }
}

/** RSS of a proxy now: the process and its descendants, in KiB. */
export function treeRssKiB(pid: number): number {
  return processTree(pid).reduce((sum, p) => sum + memoryStatusOr0(p).rssKiB, 0);
}

/** One process of a proxy now, in KiB. */
export interface ProcessMemoryRow {
  readonly pid: number;
  readonly rssKiB: number;
  /** Private (RssAnon); NaN where the kernel does not give it. */
  readonly anonKiB: number;
}

function commOf(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * Memory of each process of a proxy now: the root first, then its descendants that run the
 * same program (an agent's data-path workers; not a short-lived `iptables-save` it runs).
 */
export function proxyProcessMemory(pid: number): ProcessMemoryRow[] {
  const program = commOf(pid);
  return processTree(pid)
    .filter((p) => p === pid || commOf(p) === program)
    .map((p) => {
      const m = memoryStatusOr0(p);
      return { pid: p, rssKiB: m.rssKiB, anonKiB: m.anonKiB ?? Number.NaN };
    });
}
