/**
 * The process's soft limit on open descriptors (`RLIMIT_NOFILE`), read from
 * `/proc/self/limits`: Node has no getrlimit, and the agent sizes its per-workload default
 * connection cap from it (docs/workload-limits.md).
 */
import { readFileSync } from 'node:fs';

/** The soft "Max open files" of a `/proc/<pid>/limits` text; undefined when absent or unlimited. */
export function parseOpenFilesLimit(text: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith('Max open files'));
  const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0];
  if (soft === undefined || !/^\d+$/.test(soft)) return undefined;
  const n = Number(soft);
  return Number.isSafeInteger(n) && n > 0 ? n : undefined;
}

/** This process's soft open-files limit; undefined off Linux or when it cannot be read. */
export function openFilesLimit(path = '/proc/self/limits'): number | undefined {
  try {
    return parseOpenFilesLimit(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}
