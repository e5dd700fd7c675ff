/**
 * `--pin`: the proxies (both agents with their workers, both HAProxy processes) on one set of
 * CPUs, everything else the bench starts (load generators, servers, captures, the harness
 * itself) on another, with `taskset` from util-linux. The harness pins itself to the load set
 * first, so every process it starts inherits that set; the proxies are started under
 * `taskset -c <proxy CPUs>`, which their threads and forked workers inherit in turn.
 *
 * Parsing and deciding are pure (`parseCpuList`, `cpuPinning`); the few functions that touch the
 * host are named for it (`readOnlineCpus`, `pinProcess`, `cpusAllowed`).
 *
 * @module
 */

import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { MeshletError } from '../src/mesh/errors.js';

/** Which CPUs the proxies run on, and which everything else the bench starts. */
export interface CpuPinning {
  readonly proxies: readonly number[];
  readonly load: readonly number[];
}

/** Highest CPU number a list may name: far above any machine, keeps `0-99999999` from allocating. */
const MAX_CPU = 4095;

/**
 * A Linux CPU list (`0`, `0-3`, `0,2-3`: the format of `taskset -c` and
 * `/sys/devices/system/cpu/online`) as sorted, distinct CPU numbers; undefined when malformed.
 */
export function parseCpuList(text: string): number[] | undefined {
  const parts = text.trim().split(',');
  const out = new Set<number>();
  for (const part of parts) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part.trim());
    if (m?.[1] === undefined) return undefined;
    const from = Number(m[1]);
    const to = m[2] === undefined ? from : Number(m[2]);
    if (to < from || to > MAX_CPU) return undefined;
    for (let c = from; c <= to; c += 1) out.add(c);
  }
  return [...out].sort((a, b) => a - b);
}

/** CPU numbers as a compact list (`0-2,5`), the form `taskset -c` takes. */
export function formatCpuList(cpus: readonly number[]): string {
  const sorted = [...new Set(cpus)].sort((a, b) => a - b);
  const ranges: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && (sorted[j + 1] as number) === (sorted[j] as number) + 1) j += 1;
    ranges.push(i === j ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return ranges.join(',');
}

/** The CPUs the kernel has online (`/sys/devices/system/cpu/online`; else 0..availableParallelism-1). */
export function readOnlineCpus(): number[] {
  try {
    const list = parseCpuList(readFileSync('/sys/devices/system/cpu/online', 'utf8'));
    if (list !== undefined && list.length > 0) return list;
  } catch {
    // Not Linux, or no sysfs: fall back to the count Node sees.
  }
  return Array.from({ length: availableParallelism() }, (_, i) => i);
}

/** The pinning flags as commander hands them over. */
export interface PinFlags {
  readonly pin?: unknown;
  readonly pinProxies?: unknown;
  readonly pinLoad?: unknown;
}

function listFlag(raw: unknown, flag: string, online: readonly number[], problems: string[]): number[] | undefined {
  if (raw === undefined) return undefined;
  const list = typeof raw === 'string' ? parseCpuList(raw) : undefined;
  if (list === undefined || list.length === 0) {
    problems.push(`${flag} takes a CPU list like "1" or "0,2-3", got ${JSON.stringify(raw)}`);
    return undefined;
  }
  const absent = list.filter((c) => !online.includes(c));
  if (absent.length > 0) {
    problems.push(`${flag} names CPU ${formatCpuList(absent)}, not online on this machine (online: ${formatCpuList(online)})`);
    return undefined;
  }
  return list;
}

/**
 * The pinning the flags ask for, or undefined without `--pin`, `--pin-proxies` or `--pin-load`.
 * The default split gives the proxies the upper half of the online CPUs and the rest to the
 * load (on 2 CPUs: proxies on 1, load and servers on 0, so CPU 0 keeps the harness and the
 * interrupts it usually takes). One list given: the other is the remaining online CPUs.
 * Problems (malformed lists, CPUs not online, overlapping or empty sets) go to `problems`.
 */
export function cpuPinning(flags: PinFlags, online: readonly number[], problems: string[]): CpuPinning | undefined {
  if (flags.pin !== true && flags.pinProxies === undefined && flags.pinLoad === undefined) return undefined;
  const before = problems.length;
  let proxies = listFlag(flags.pinProxies, '--pin-proxies', online, problems);
  let load = listFlag(flags.pinLoad, '--pin-load', online, problems);
  if (problems.length > before) return undefined;
  if (proxies === undefined && load === undefined) {
    if (online.length < 2) {
      problems.push(`--pin needs at least 2 online CPUs (one for the proxies, one for the load), this machine has ${online.length}`);
      return undefined;
    }
    const split = online.length - Math.floor(online.length / 2);
    load = online.slice(0, split);
    proxies = online.slice(split);
  }
  const rest = (taken: readonly number[]): number[] => online.filter((c) => !taken.includes(c));
  proxies ??= rest(load ?? []);
  load ??= rest(proxies);
  const shared = proxies.filter((c) => load.includes(c));
  if (shared.length > 0) problems.push(`--pin-proxies and --pin-load overlap on CPU ${formatCpuList(shared)}: each CPU belongs to one side`);
  if (proxies.length === 0) problems.push(`--pin-load ${formatCpuList(load)} leaves no online CPU for the proxies`);
  if (load.length === 0) problems.push(`--pin-proxies ${formatCpuList(proxies)} leaves no online CPU for the load`);
  return problems.length > before ? undefined : Object.freeze({ proxies: Object.freeze(proxies), load: Object.freeze(load) });
}

/** The pinning in words, for the report's header. */
export function describePinning(pin: CpuPinning | undefined, onlineCount: number): string {
  if (pin === undefined) return `none (the kernel schedules proxies, load generators and servers on all ${onlineCount} CPUs)`;
  return `proxies (agents with their workers, HAProxy) on CPU ${formatCpuList(pin.proxies)}; load generators, servers and the harness on CPU ${formatCpuList(pin.load)} (taskset)`;
}

/** `command args` run on `cpus`: `taskset -c LIST command args` (taskset execs it: same pid). */
export function pinnedCommand(cpus: readonly number[] | undefined, command: string, args: readonly string[]): { command: string; args: string[] } {
  return cpus === undefined ? { command, args: [...args] } : { command: 'taskset', args: ['-c', formatCpuList(cpus), command, ...args] };
}

/** Throws `MESHLET_ERR_HOST_TOOL` when `taskset` (util-linux) is not on the PATH. */
export function checkTaskset(): void {
  if (spawnSync('sh', ['-c', 'command -v taskset'], { stdio: 'ignore' }).status !== 0) {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', '--pin needs taskset, which is missing; apt-get install -y util-linux');
  }
}

/** Pins a running process, all its threads, to `cpus` (`taskset -a -c -p`); its later children inherit it. */
export function pinProcess(pid: number, cpus: readonly number[]): void {
  const r = spawnSync('taskset', ['-a', '-c', '-p', formatCpuList(cpus), String(pid)], { encoding: 'utf8', timeout: 5000 });
  if (r.error !== undefined || r.status !== 0) {
    throw new MeshletError('MESHLET_ERR_HOST_TOOL', `taskset -a -c -p ${formatCpuList(cpus)} ${pid} failed: ${(r.stderr ?? '').trim() || r.error?.message || `exit ${r.status}`}`);
  }
}

/** The CPUs a process may run on, from `Cpus_allowed_list` in the text of `/proc/<pid>/status`. */
export function parseCpusAllowed(statusText: string): number[] | undefined {
  const m = /^Cpus_allowed_list:\s*(\S+)$/m.exec(statusText);
  return m?.[1] === undefined ? undefined : parseCpuList(m[1]);
}

/** The CPUs process `pid` may run on now; undefined when it is gone. */
export function cpusAllowed(pid: number): number[] | undefined {
  try {
    return parseCpusAllowed(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return undefined;
  }
}

/** A process and the CPU set it should be on. */
export interface PinExpectation {
  readonly what: string;
  readonly pid: number;
  readonly cpus: readonly number[];
}

/** Each process that is not on its CPU set, in words (empty: the pinning took). */
export function pinningMismatches(expected: readonly PinExpectation[], allowed: (pid: number) => readonly number[] | undefined = cpusAllowed): string[] {
  const out: string[] = [];
  for (const e of expected) {
    const got = allowed(e.pid);
    if (got === undefined) continue; // exited since it was listed
    if (formatCpuList(got) !== formatCpuList(e.cpus)) out.push(`${e.what} (pid ${e.pid}) runs on CPU ${formatCpuList(got)}, not ${formatCpuList(e.cpus)}`);
  }
  return out;
}
