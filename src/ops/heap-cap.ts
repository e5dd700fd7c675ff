/**
 * An old-space cap for each of the agent's processes, sized to the memory limit of the agent's
 * own cgroup (cgroup v2 `memory.max`). Without it V8 sizes its heap limit from the host's
 * memory (GiBs), so a worker under a container limit grows its heap until the kernel's OOM
 * killer ends the whole pod, where with a cap V8 collects harder first. The decision is pure
 * ({@link heapCapFor}); reading the cgroup is {@link readOwnMemoryMax}.
 */
import { readFileSync } from 'node:fs';

const MIB = 1024 * 1024;
/**
 * Share of the limit the old spaces of all processes may take together: the rest is young
 * generation, code, Node's buffers outside the heap (TLS, sockets) and the binary's pages.
 */
export const HEAP_SHARE = 0.75;
/**
 * No cap below this (MiB): an agent process holds 10-20 MiB of heap idle, and a cap near that
 * would turn ordinary load into back-to-back full collections or a heap-limit crash.
 */
export const HEAP_CAP_FLOOR_MIB = 96;

/** What to do about the old-space cap. */
export type HeapCap =
  | { readonly kind: 'cap'; readonly mib: number; readonly limitBytes: number }
  | { readonly kind: 'none'; readonly why: string }
  | { readonly kind: 'invalid'; readonly why: string };

/**
 * The cap for each of `processes` processes under the cgroup limit `memoryMax` (the text of
 * `memory.max`; undefined when there is none to read).
 */
export function heapCapFor(memoryMax: string | undefined, processes: number): HeapCap {
  if (!Number.isInteger(processes) || processes < 1) throw new RangeError(`processes must be a positive integer, got ${processes}`);
  if (memoryMax === undefined) return { kind: 'none', why: 'no cgroup v2 memory.max' };
  const text = memoryMax.trim();
  if (text === 'max') return { kind: 'none', why: 'memory.max is "max" (no limit)' };
  if (!/^\d{1,20}$/.test(text)) return { kind: 'invalid', why: `memory.max is not a byte count or "max": ${JSON.stringify(text.slice(0, 40))}` };
  const limitBytes = Number(text);
  if (!Number.isSafeInteger(limitBytes) || limitBytes === 0) return { kind: 'invalid', why: `memory.max out of range: ${text}` };
  const mib = Math.max(HEAP_CAP_FLOOR_MIB, Math.floor((limitBytes * HEAP_SHARE) / processes / MIB));
  return { kind: 'cap', mib, limitBytes };
}

/** The `memory.max` path of this process's cgroup from the text of `/proc/self/cgroup` (the v2 line `0::<path>`). */
export function memoryMaxPath(cgroupText: string, root = '/sys/fs/cgroup'): string | undefined {
  const line = cgroupText.split('\n').find((l) => l.startsWith('0::'));
  if (line === undefined) return undefined;
  const path = line.slice(3).trim();
  return `${root}${path === '/' ? '' : path}/memory.max`;
}

/** The text of this process's cgroup v2 `memory.max`, or undefined when there is none (cgroup v1, not Linux). */
export function readOwnMemoryMax(): string | undefined {
  try {
    const path = memoryMaxPath(readFileSync('/proc/self/cgroup', 'utf8'));
    return path === undefined ? undefined : readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Whether Node flags already set an old-space size (the operator's choice wins). */
export function hasOldSpaceFlag(flags: readonly string[]): boolean {
  return flags.some((f) => /^--max[-_]old[-_]space[-_]size(=|$)/.test(f));
}
