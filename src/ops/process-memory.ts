/**
 * Memory of this process, by kind: V8's and Node's own accounting (`process.memoryUsage()`)
 * and the kernel's split of the resident set (`/proc/self/status`: `RssAnon`, the private
 * memory that is this process's alone, and `RssFile`, pages of mapped files such as the node
 * binary, shared with every other Node process on the node). One gauge family, a series per
 * process and kind: with data-path workers each process registers its own (`process` label
 * `agent`, `worker-0`, ...), so the primary's sum at scrape adds nothing to nothing.
 */
import { readFileSync } from 'node:fs';
import { Gauge, type Registry } from './prom.js';

/** The kinds of memory exported, as the `kind` label. */
export const MEMORY_KINDS = ['rss', 'rss_anon', 'rss_file', 'heap_used', 'heap_total', 'external', 'array_buffers'] as const;

/** One kind of memory. */
export type MemoryKind = (typeof MEMORY_KINDS)[number];

/** Bytes of each kind; `rss_anon`/`rss_file` absent where `/proc` does not give them. */
export type ProcessMemory = Partial<Record<MemoryKind, number>> & Pick<Record<MemoryKind, number>, 'rss' | 'heap_used' | 'heap_total' | 'external' | 'array_buffers'>;

/** `RssAnon` and `RssFile` in bytes from the text of `/proc/<pid>/status`; a field missing is left out. */
export function parseRssSplit(statusText: string): Partial<Record<'rss_anon' | 'rss_file', number>> {
  const out: Partial<Record<'rss_anon' | 'rss_file', number>> = {};
  for (const [field, kind] of [['RssAnon', 'rss_anon'], ['RssFile', 'rss_file']] as const) {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(statusText);
    if (m?.[1] !== undefined) out[kind] = Number(m[1]) * 1024;
  }
  return out;
}

/** This process's memory now. */
export function processMemory(): ProcessMemory {
  const m = process.memoryUsage();
  let split: Partial<Record<'rss_anon' | 'rss_file', number>> = {};
  try {
    split = parseRssSplit(readFileSync('/proc/self/status', 'utf8'));
  } catch {
    // Not Linux (no /proc): the split is left out, the rest stands.
  }
  return { rss: m.rss, heap_used: m.heapUsed, heap_total: m.heapTotal, external: m.external, array_buffers: m.arrayBuffers, ...split };
}

/** Longest `process` label: `agent` or `worker-<index>`. */
const PROCESS_LABEL = /^(agent|worker-\d{1,3})$/;

/**
 * Registers `meshlet_process_memory_bytes{process, kind}` on `registry`, read at each scrape.
 * @param processName `agent` for the primary, `worker-<index>` for a data-path worker.
 */
export function registerProcessMemory(registry: Registry, processName: string): Gauge<'process' | 'kind'> {
  if (!PROCESS_LABEL.test(processName)) throw new RangeError(`process label must be agent or worker-<index>, got ${JSON.stringify(processName)}`);
  return new Gauge({
    name: 'meshlet_process_memory_bytes',
    help: 'Memory of each agent process (the primary "agent", each data-path worker "worker-N") by kind: rss, rss_anon (private), rss_file (mapped files, shared), heap_used, heap_total, external, array_buffers',
    labelNames: ['process', 'kind'],
    registers: [registry],
    // One process per series: a sum over processes (the merge at scrape) leaves each as it is.
    aggregator: 'sum',
    collect() {
      const now = processMemory();
      for (const kind of MEMORY_KINDS) {
        const v = now[kind];
        if (v !== undefined) this.set({ process: processName, kind }, v);
      }
    },
  });
}
