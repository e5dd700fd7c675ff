/**
 * `/usage`: the agent's CPU and bytes per local workload (`proxy/workload-usage.ts`), read from
 * the metrics registry (with worker processes, summed over them), so the admin API, the metrics
 * and `meshlet status` say the same. Pure over the registry's JSON.
 *
 * @module
 */
import type { MetricsJson } from './metrics.js';

/** One local workload's use of the agent. */
export interface WorkloadUsageRow {
  readonly namespace: string;
  readonly workload: string;
  /** Agent CPU attributed to it over the last interval (at least 1 s, at most 5 s), in cores. */
  readonly cpuCores: number;
  /** Its share of the data-path processes' CPU over that interval, 0..1 (0 when they were idle). */
  readonly share: number;
  /** Attributed agent CPU since the agent started, seconds. */
  readonly cpuSeconds: number;
  /** Bytes moved for it since the agent started (both ways), by the direction of its connections. */
  readonly bytesOutbound: number;
  readonly bytesInbound: number;
  /** Time its outbound connections had reads paused by its `meshlet.io/max-bandwidth` or `meshlet.io/max-agent-share` since the agent started, seconds (summed over the workers). */
  readonly throttledSeconds: number;
  /** Bytes that came beyond its bandwidth bucket and were paid for by pausing, since the agent started. */
  readonly throttledBytes: number;
  /** The rate its `meshlet.io/max-agent-share` holds it to now, bytes per second (summed over the workers); 0: not held. */
  readonly shareLimitBytesPerSecond: number;
}

/** `/usage`'s body. */
export interface UsageView {
  /** CPU of the data-path processes over the last interval, attributed or not, in cores. */
  readonly dataPathCpuCores: number;
  /** Busiest first (recent CPU, then total CPU). */
  readonly workloads: WorkloadUsageRow[];
}

function family(json: MetricsJson, name: string): MetricsJson[number]['values'] {
  return json.find((m) => m.name === name)?.values ?? [];
}

type Mutable = { -readonly [K in keyof WorkloadUsageRow]: WorkloadUsageRow[K] };

/** The usage view of a registry's JSON. */
export function usageView(json: MetricsJson): UsageView {
  const rows = new Map<string, Mutable>();
  const row = (labels: Readonly<Record<string, string | number | undefined>>): Mutable => {
    const namespace = String(labels['namespace'] ?? '');
    const workload = String(labels['workload'] ?? '');
    const key = `${namespace}/${workload}`;
    let r = rows.get(key);
    if (r === undefined) rows.set(key, (r = { namespace, workload, cpuCores: 0, share: 0, cpuSeconds: 0, bytesOutbound: 0, bytesInbound: 0, throttledSeconds: 0, throttledBytes: 0, shareLimitBytesPerSecond: 0 }));
    return r;
  };
  for (const v of family(json, 'meshlet_workload_agent_cpu_seconds_total')) row(v.labels).cpuSeconds += v.value;
  for (const v of family(json, 'meshlet_workload_agent_cpu_usage')) row(v.labels).cpuCores += v.value;
  for (const v of family(json, 'meshlet_workload_bytes_total')) {
    const r = row(v.labels);
    if (v.labels['direction'] === 'inbound') r.bytesInbound += v.value;
    else r.bytesOutbound += v.value;
  }
  for (const v of family(json, 'meshlet_workload_throttled_seconds_total')) row(v.labels).throttledSeconds += v.value;
  for (const v of family(json, 'meshlet_workload_throttled_bytes_total')) row(v.labels).throttledBytes += v.value;
  for (const v of family(json, 'meshlet_workload_share_limit_bytes_per_second')) row(v.labels).shareLimitBytesPerSecond += v.value;
  const dataPathCpuCores = family(json, 'meshlet_data_path_cpu_usage').reduce((sum, v) => sum + v.value, 0);
  for (const r of rows.values()) r.share = dataPathCpuCores > 0 ? Math.min(1, r.cpuCores / dataPathCpuCores) : 0;
  const workloads = [...rows.values()].sort((a, b) => b.cpuCores - a.cpuCores || b.cpuSeconds - a.cpuSeconds || `${a.namespace}/${a.workload}`.localeCompare(`${b.namespace}/${b.workload}`));
  return { dataPathCpuCores, workloads };
}
