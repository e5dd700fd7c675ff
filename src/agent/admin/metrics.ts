/**
 * The agent's Prometheus metrics (prom-client, in a registry of its own): the control plane's
 * (config, certificates, capture-rule drift, workers, the process) and, when the data path runs
 * in this process, the data path's ({@link DataPathMetrics}). With worker processes, each
 * worker keeps its own data-path registry and a scrape sums them into this one's exposition
 * (prom-client's `AggregatorRegistry.aggregate`: counters and gauges by label set), each
 * histogram bucket keeping the latest exemplar of any process.
 */
import { RuntimePauses } from '../../ops/runtime-pauses.js';
import { MEMORY_KINDS, registerProcessMemory } from '../../ops/process-memory.js';
import { AggregatorRegistry, Counter, Gauge, Registry, collectDefaultMetrics, type MetricObjectWithValues, type MetricValue } from 'prom-client';
import { DataPathMetrics } from '../proxy/data-path-metrics.js';

export { connectionLabels, type DataPathSource, type FailureReason } from '../proxy/data-path-metrics.js';

/** One registry's metrics as `getMetricsAsJSON()` gives them (what a worker sends at scrape). */
export type MetricsJson = MetricObjectWithValues<MetricValue<string>>[];

/** What the control-plane metrics read at scrape time. */
export interface MetricsSource {
  config(): { readonly version: string; readonly appliedAtMs: number | undefined };
  certificates(): ReadonlyArray<{ readonly identity: string; readonly notAfter: Date }>;
  /** Last capture-rule check: true in sync, false drifted, undefined not checked or not managed. */
  captureInSync(): boolean | undefined;
  /** Processes serving the data path now (1 when it runs in the agent's own process). */
  workersRunning(): number;
}

/** One agent process's memory in bytes by kind (`/memory`): `process` is `agent` or `worker-N`. */
export type ProcessMemoryRow = { readonly process: string } & Readonly<Partial<Record<(typeof MEMORY_KINDS)[number], number>>>;

const MEMORY_FAMILY = 'meshlet_process_memory_bytes';

/** The memory rows of some registries' JSON (the primary's and each worker's), one per process. */
export function memoryRows(registries: readonly MetricsJson[]): ProcessMemoryRow[] {
  const rows = new Map<string, Record<string, number | string>>();
  for (const json of registries) {
    for (const v of json.find((m) => m.name === MEMORY_FAMILY)?.values ?? []) {
      const proc = v.labels['process'];
      const kind = v.labels['kind'];
      if (typeof proc !== 'string' || typeof kind !== 'string' || !(MEMORY_KINDS as readonly string[]).includes(kind)) continue;
      let row = rows.get(proc);
      if (row === undefined) rows.set(proc, (row = { process: proc }));
      row[kind] = v.value;
    }
  }
  // The primary first, then the workers by index.
  const order = (p: string): number => (p === 'agent' ? -1 : Number(p.slice('worker-'.length)));
  return [...rows.values()].sort((a, b) => order(String(a['process'])) - order(String(b['process']))) as ProcessMemoryRow[];
}

type Sample = MetricValue<string> & { readonly metricName?: string; readonly exemplar?: { readonly timestamp: number } };

/** A sample's identity across processes: its name and its labels, in key order. */
function sampleKey(family: string, v: Sample): string {
  const labels = Object.keys(v.labels).sort().map((k) => [k, v.labels[k]]);
  return JSON.stringify([v.metricName ?? family, labels]);
}

/**
 * `merged` (prom-client's sum of `sources`, which drops exemplars) with each sample's exemplar
 * put back: of the same sample in every source, the latest (a histogram bucket keeps one, as in
 * one process). Pure: `merged` is not changed.
 */
export function carryExemplars(merged: MetricsJson, sources: readonly MetricsJson[]): MetricsJson {
  const latest = new Map<string, NonNullable<Sample['exemplar']>>();
  for (const json of sources) {
    for (const m of json) {
      for (const v of m.values as Sample[]) {
        const ex = v.exemplar;
        if (ex === undefined || ex === null) continue;
        const key = sampleKey(m.name, v);
        const had = latest.get(key);
        if (had === undefined || ex.timestamp > had.timestamp) latest.set(key, ex);
      }
    }
  }
  if (latest.size === 0) return merged;
  return merged.map((m) => {
    if (!(m.values as Sample[]).some((v) => latest.has(sampleKey(m.name, v)))) return m;
    const values = (m.values as Sample[]).map((v) => {
      const ex = latest.get(sampleKey(m.name, v));
      return ex === undefined ? v : { ...v, exemplar: ex };
    });
    return { ...m, values } as (typeof merged)[number];
  });
}

/**
 * A registry whose exposition adds the workers' registries (summed) to its own metrics: in the
 * text (`metrics()`) and in the JSON (`getMetricsAsJSON()`, which the OpenMetrics format is
 * made from).
 */
class MergingRegistry extends Registry {
  others: (() => Promise<MetricsJson[]>) | undefined;

  /** This process's metrics alone. */
  ownJson(): Promise<MetricsJson> {
    return super.getMetricsAsJSON();
  }

  /** The summed registry and what it was summed from (undefined without workers). */
  private async merged(): Promise<{ readonly registry: Registry; readonly sources: MetricsJson[] } | undefined> {
    if (this.others === undefined) return undefined;
    const [own, others] = await Promise.all([this.ownJson(), this.others()]);
    // Process metrics that prom-client marks 'omit' (they make no sense summed over a cluster)
    // are only this process's here: keep them.
    const kept = own.map((m) => (m.aggregator === 'omit' ? { ...m, aggregator: 'first' as const } : m));
    const sources = [kept, ...others];
    return { registry: AggregatorRegistry.aggregate(sources), sources };
  }

  override async metrics(): Promise<string> {
    const merged = await this.merged();
    return merged === undefined ? super.metrics() : merged.registry.metrics();
  }

  /** The JSON the OpenMetrics scrape is made from: the workers' exemplars carried over. */
  override async getMetricsAsJSON(): Promise<MetricsJson> {
    const merged = await this.merged();
    return merged === undefined ? super.getMetricsAsJSON() : carryExemplars(await merged.registry.getMetricsAsJSON(), merged.sources);
  }
}

/** Options of {@link AgentMetrics}. */
export interface AgentMetricsOptions {
  /** Whether this process counts the data path itself (false in a primary with workers). Default true. */
  readonly dataPath?: boolean;
}

/** The agent's metrics registry. */
export class AgentMetrics {
  readonly registry: Registry;
  /** The data path's metrics, when it runs in this process. */
  readonly dataPath: DataPathMetrics | undefined;
  private readonly merging: MergingRegistry;
  private source: MetricsSource | undefined;
  /** GC pauses and event-loop delay of this process (workers have their own, merged at scrape). */
  readonly pauses: RuntimePauses;
  private readonly restarts: Counter;
  private readonly snapshotStoreFailures: Counter<'operation'>;
  private readonly refusedAddresses: Gauge<'field'>;

  constructor(opts: AgentMetricsOptions = {}) {
    this.merging = new MergingRegistry();
    this.registry = this.merging;
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry });
    this.pauses = new RuntimePauses(this.registry);
    // This process's memory by kind; each worker registers its own under its name.
    registerProcessMemory(this.registry, 'agent');
    this.dataPath = opts.dataPath === false ? undefined : new DataPathMetrics(this.registry);
    this.restarts = new Counter({ name: 'meshlet_agent_worker_restarts_total', help: 'Data-path worker processes that died and were started again', registers });
    this.snapshotStoreFailures = new Counter({
      name: 'meshlet_agent_snapshot_store_failures_total', help: 'Persisted-snapshot reads (load, at start) and writes (save) that failed', labelNames: ['operation'], registers,
    });
    // Both series from the start, so an alert on an increase sees the first failure.
    for (const operation of ['load', 'save']) this.snapshotStoreFailures.inc({ operation }, 0);
    this.refusedAddresses = new Gauge({
      name: 'meshlet_agent_refused_addresses',
      help: 'Entries of the snapshot in force left out because the address policy refuses an address (loopback, link-local, the node, ...): workload addresses, Service vips, Service endpoints',
      labelNames: ['field'],
      registers,
    });
    this.setRefusedAddresses([]);
    this.configMetrics(registers);
  }

  /** Where scrape-time values come from (the agent, once it is built). */
  watch(source: MetricsSource): void {
    this.source = source;
  }

  /** Where the workers' registries come from at scrape (the worker pool). */
  mergeWorkers(others: () => Promise<MetricsJson[]>): void {
    this.merging.others = others;
  }

  /** A worker died and is being started again. */
  workerRestarted(): void {
    this.restarts.inc();
  }

  /** Reading or writing the persisted snapshot failed (`snapshot-store.ts`). */
  snapshotStoreFailed(operation: 'load' | 'save'): void {
    this.snapshotStoreFailures.inc({ operation });
  }

  /** The snapshot in force left these entries out (`WorkloadIndex.refused`). */
  setRefusedAddresses(refused: ReadonlyArray<{ readonly field: 'addresses' | 'vips' | 'endpoints' }>): void {
    for (const field of ['addresses', 'vips', 'endpoints'] as const) this.refusedAddresses.set({ field }, refused.filter((r) => r.field === field).length);
  }

  /** Each process's memory now: this one's and, with workers, each worker's (asked at once). */
  async processMemory(): Promise<ProcessMemoryRow[]> {
    const [own, others] = await Promise.all([this.merging.ownJson(), this.merging.others?.() ?? Promise.resolve([])]);
    return memoryRows([own, ...others]);
  }

  /** The exposition text (with the workers' metrics summed in). */
  text(): Promise<string> {
    return this.registry.metrics();
  }

  private configMetrics(registers: Registry[]): void {
    const metrics = this;
    new Gauge({
      name: 'meshlet_config_info', help: 'The snapshot in force (value 1, version in a label)', labelNames: ['version'], registers,
      collect() {
        this.reset();
        const c = metrics.source?.config();
        if (c !== undefined && c.appliedAtMs !== undefined) this.set({ version: c.version }, 1);
      },
    });
    new Gauge({
      name: 'meshlet_config_last_update_seconds', help: 'Seconds since the snapshot in force was applied (-1 before the first)', registers,
      collect() {
        const at = metrics.source?.config().appliedAtMs;
        this.set(at === undefined ? -1 : (Date.now() - at) / 1000);
      },
    });
    new Gauge({
      name: 'meshlet_certificate_expiry_seconds', help: 'Seconds until each local workload certificate expires', labelNames: ['identity'], registers,
      collect() {
        this.reset();
        for (const c of metrics.source?.certificates() ?? []) this.set({ identity: c.identity }, (c.notAfter.getTime() - Date.now()) / 1000);
      },
    });
    new Gauge({
      name: 'meshlet_agent_workers', help: 'Processes serving the data path now (1: it runs in the agent process itself)', registers,
      collect() {
        this.set(metrics.source?.workersRunning() ?? 0);
      },
    });
    new Gauge({
      name: 'meshlet_iptables_in_sync', help: 'Capture rules as last checked: 1 in sync, 0 drifted (absent: not checked or not managed)', registers,
      collect() {
        this.reset();
        const inSync = metrics.source?.captureInSync();
        if (inSync !== undefined) this.set(inSync ? 1 : 0);
      },
    });
  }
}
