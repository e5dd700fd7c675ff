/**
 * Which resilience sections govern a request at its destination: a request to local workload W
 * on target port P is under the `rateLimit` and `adaptiveConcurrency` sections of the
 * TrafficPolicies of every Service that selects W with a port whose targetPort is P. Read from
 * the snapshot only: the `meshlet-service` header a peer sends is telemetry, never an input
 * here. Computed once per snapshot (a WeakMap on the index), so a request pays one Map lookup.
 * Pure.
 */
import type { AdaptiveConcurrencyPolicy, RateLimitRule } from '../../../mesh/resilience.js';
import type { TrafficPolicyInfo } from '../../../mesh/types.js';
import type { WorkloadIndex } from '../../state/workload-index.js';

/** One rate-limit rule in force at a destination, named across processes. */
export interface InboundRateRule {
  /** `<policy>#<index>`: the same in every process reading the same snapshot (the worker IPC's key). */
  readonly id: string;
  /** `namespace/name` of the TrafficPolicy. */
  readonly policy: string;
  readonly index: number;
  readonly rule: RateLimitRule;
}

/** The adaptive concurrency section in force at a destination workload port. */
export interface InboundAdaptive {
  readonly policy: AdaptiveConcurrencyPolicy;
  /** The Service whose TrafficPolicy it is (`namespace/name`): the overflow metric's label. */
  readonly service: string;
  /** `namespace/name` of the TrafficPolicy: a changed policy makes a fresh controller. */
  readonly policyName: string;
}

/** What governs requests to one local workload port. */
export interface InboundPolicies {
  /** Deduplicated by rule: a TrafficPolicy that targets two Services of W counts once. */
  readonly rateRules: readonly InboundRateRule[];
  /**
   * Of several Services with adaptive concurrency for the same workload port, the first by
   * Service key decides (one limit per port: two controllers would fight over one queue).
   */
  readonly adaptive: InboundAdaptive | undefined;
  /** `namespace/name` of the workload (metric labels), computed with the table rather than per request. */
  readonly workload: string;
}

export const NO_INBOUND_POLICIES: InboundPolicies = Object.freeze({ rateRules: Object.freeze([]), adaptive: undefined, workload: '' });

interface Table {
  /** By workload uid, then target port: a request's lookup builds no string. */
  readonly byTarget: Map<string, Map<number, InboundPolicies>>;
  readonly rules: Map<string, InboundRateRule>;
}

const tables = new WeakMap<WorkloadIndex, Table>();

/** The policies of local workload `workloadUid` on target port `port`. */
export function inboundPolicies(index: WorkloadIndex, workloadUid: string, port: number): InboundPolicies {
  return tableOf(index).byTarget.get(workloadUid)?.get(port) ?? NO_INBOUND_POLICIES;
}

/** A rule by its {@link InboundRateRule.id} in this snapshot (the primary checks a worker's ask with it). */
export function inboundRateRule(index: WorkloadIndex, id: string): InboundRateRule | undefined {
  return tableOf(index).rules.get(id);
}

function tableOf(index: WorkloadIndex): Table {
  let table = tables.get(index);
  if (table === undefined) tables.set(index, (table = build(index)));
  return table;
}

function rulesOf(policy: TrafficPolicyInfo, all: Map<string, InboundRateRule>): InboundRateRule[] {
  return (policy.rateLimit?.rules ?? []).map((rule, i) => {
    const id = `${policy.policy}#${i}`;
    let r = all.get(id);
    if (r === undefined) all.set(id, (r = Object.freeze({ id, policy: policy.policy, index: i, rule })));
    return r;
  });
}

function build(index: WorkloadIndex): Table {
  const local = new Set([...index.localByAddress.values()].map((w) => w.uid));
  const rules = new Map<string, InboundRateRule>();
  const rate = new Map<string, InboundRateRule[]>();
  const adaptive = new Map<string, InboundAdaptive>();
  // Sorted by Service key so that "the first Service" is the same in every process.
  const entries = [...index.serviceEntries].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  for (const e of entries) {
    const policy = e.service.trafficPolicy;
    if (policy === undefined || (policy.rateLimit === undefined && policy.adaptiveConcurrency === undefined)) continue;
    const own = rulesOf(policy, rules);
    for (const ep of e.endpoints) {
      const target = ep.targetPorts[e.port.port];
      if (target === undefined || !local.has(ep.workload)) continue;
      const k = `${ep.workload}|${target}`;
      if (own.length > 0) {
        const list = rate.get(k) ?? [];
        for (const r of own) if (!list.includes(r)) list.push(r);
        rate.set(k, list);
      }
      if (policy.adaptiveConcurrency !== undefined && !adaptive.has(k)) {
        adaptive.set(k, Object.freeze({ policy: policy.adaptiveConcurrency, service: e.service.key, policyName: policy.policy }));
      }
    }
  }
  const byTarget = new Map<string, Map<number, InboundPolicies>>();
  for (const k of new Set([...rate.keys(), ...adaptive.keys()])) {
    const bar = k.lastIndexOf('|');
    const uid = k.slice(0, bar);
    const w = index.byUid.get(uid);
    let ports = byTarget.get(uid);
    if (ports === undefined) byTarget.set(uid, (ports = new Map()));
    ports.set(Number(k.slice(bar + 1)), Object.freeze({ rateRules: Object.freeze(rate.get(k) ?? []), adaptive: adaptive.get(k), workload: w === undefined ? uid : `${w.namespace}/${w.name}` }));
  }
  return { byTarget, rules };
}
