/**
 * Facts about the host for `/node` (systeminformation plus /proc for conntrack). Read on
 * request only, on the admin port: never on the data path's time.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';

/** What `/node` shows. */
export interface NodeFacts {
  readonly cpu: { readonly cores: number; readonly loadPercent: number };
  readonly memory: { readonly totalBytes: number; readonly availableBytes: number; readonly usedPercent: number };
  readonly load: readonly number[];
  readonly kernel: string;
  readonly os: string;
  readonly interfaces: ReadonlyArray<{ readonly name: string; readonly ip4: string; readonly ip6: string; readonly mac: string; readonly up: boolean }>;
  /** null when this host has no nf_conntrack (module not loaded). */
  readonly conntrack: { readonly count: number; readonly max: number; readonly usedPercent: number } | null;
  readonly process: { readonly pid: number; readonly rssBytes: number; readonly uptimeSeconds: number };
}

// systeminformation shells out for some facts; a host that hangs must not hang /node.
const FACT_TIMEOUT_MS = 3_000;

function withTimeout<T>(p: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: no answer within ${FACT_TIMEOUT_MS} ms`)), FACT_TIMEOUT_MS);
    timer.unref();
  });
  return Promise.race([p, timeout]).finally(() => clearTimeout(timer));
}

async function readNumber(path: string): Promise<number | undefined> {
  try {
    const n = Number((await readFile(path, 'utf8')).trim());
    return Number.isFinite(n) ? n : undefined;
  } catch {
    return undefined;
  }
}

/** Conntrack table usage, or null when the host has none. */
export async function conntrackUsage(procRoot = '/proc'): Promise<NodeFacts['conntrack']> {
  const count = await readNumber(`${procRoot}/sys/net/netfilter/nf_conntrack_count`);
  const max = await readNumber(`${procRoot}/sys/net/netfilter/nf_conntrack_max`);
  if (count === undefined || max === undefined || max <= 0) return null;
  return { count, max, usedPercent: Math.round((count / max) * 1000) / 10 };
}

/** Reads the host's facts. */
export async function readNodeFacts(): Promise<NodeFacts> {
  // Loaded at the first `/node` request, not at start: about 4 MiB an agent would otherwise
  // carry for an endpoint an SRE calls now and then.
  const { default: si } = await import('systeminformation');
  const [load, mem, os, ifaces, conntrack] = await Promise.all([
    withTimeout(si.currentLoad(), 'cpu load'),
    withTimeout(si.mem(), 'memory'),
    withTimeout(si.osInfo(), 'os'),
    withTimeout(si.networkInterfaces(), 'interfaces'),
    conntrackUsage(),
  ]);
  const list = Array.isArray(ifaces) ? ifaces : [ifaces];
  return {
    cpu: { cores: load.cpus.length, loadPercent: Math.round(load.currentLoad * 10) / 10 },
    memory: { totalBytes: mem.total, availableBytes: mem.available, usedPercent: Math.round(((mem.total - mem.available) / mem.total) * 1000) / 10 },
    load: loadavg(),
    kernel: os.kernel,
    os: `${os.distro} ${os.release}`.trim(),
    interfaces: list.map((i) => ({ name: i.iface, ip4: i.ip4, ip6: i.ip6, mac: i.mac, up: i.operstate === 'up' || i.iface === 'lo' })),
    conntrack,
    process: { pid: process.pid, rssBytes: process.memoryUsage.rss(), uptimeSeconds: Math.round(process.uptime()) },
  };
}
