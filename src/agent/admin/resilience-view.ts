/**
 * `/resilience` (issue 13): the resilience configuration in force on this node and its live
 * state. The configuration comes from the snapshot: each Service's TrafficPolicy sections
 * (compiled, defaults filled in, with the policy's name), and each route's policy sections,
 * Gateway API `retry` and `timeouts` and RequestMirror filters. The live state comes from every
 * data-path process (`resilience-rows.ts`): per Service port the source side's counters, per
 * workload port the destination side's adaptive concurrency limit. Pure: the admin server
 * gathers the processes' blocks and calls {@link resilienceView}.
 */
import type { ResiliencePolicy } from '../../mesh/resilience.js';
import type { RequestMirror, RouteRetry, RouteTimeouts } from '../../mesh/routes.js';
import type { NodeSnapshot, RoutePolicyInfo, TrafficPolicyInfo } from '../../mesh/types.js';
import type { ServicePortView } from '../policy/resilience/service-state.js';
import type { AdaptiveLimitView, ProcessResilience } from './resilience-rows.js';

/** The resilience sections of a policy, as compiled (absent sections were not written). */
export type ResilienceSections = Partial<ResiliencePolicy>;

/** A Service with a TrafficPolicy, or with live state at some process. */
export interface ServiceResilience {
  /** `namespace/name`. */
  readonly service: string;
  /** The TrafficPolicy in force (`namespace/name`); null: none (defaults, nothing enforced). */
  readonly policy: string | null;
  readonly ports: readonly number[];
  readonly sections: ResilienceSections;
}

/** A rule's own Gateway API fields that shape resilience. */
export interface RouteRuleResilience {
  /** The rule's index in the route. */
  readonly rule: number;
  readonly timeouts?: RouteTimeouts;
  readonly retry?: RouteRetry;
  /** RequestMirror filters: `backend` `namespace/name[:port]`, `invalid` when it does not resolve. */
  readonly mirrors: ReadonlyArray<{ readonly backend: string; readonly percent: number; readonly invalid?: string }>;
}

/** A route with a TrafficPolicy targeting it, or with rules that retry, time out or mirror. */
export interface RouteResilience {
  /** `<kind>/<namespace>/<name>`, as a route policy names it. */
  readonly route: string;
  readonly policy: string | null;
  readonly sections: ResilienceSections;
  readonly rules: readonly RouteRuleResilience[];
}

/** A Service port's live counters at one process. */
export type ServicePortLive = ServicePortView & { readonly worker: number };

/** The whole `/resilience` answer. */
export interface ResilienceView {
  readonly services: readonly ServiceResilience[];
  readonly routes: readonly RouteResilience[];
  /** Per Service port per process, by Service port then pid. */
  readonly servicePorts: readonly ServicePortLive[];
  /** Per workload port per process, by workload, port, pid. */
  readonly adaptiveLimits: ReadonlyArray<AdaptiveLimitView & { readonly worker: number }>;
  /** False when the live state could not be read (only the configuration is shown). */
  readonly live: boolean;
  /** The pids of the processes whose live state is shown (each worker's, or the agent's own). */
  readonly processes: readonly number[];
}

const SECTIONS = ['timeout', 'retry', 'retryBudget', 'hedge', 'circuitBreaker', 'passiveHealth', 'adaptiveConcurrency', 'fault', 'tcpFault', 'rateLimit'] as const;

/** The resilience sections of a compiled policy, without its balancing fields and name. */
export function sectionsOf(policy: TrafficPolicyInfo | RoutePolicyInfo | undefined): ResilienceSections {
  const out: Record<string, unknown> = {};
  if (policy === undefined) return out;
  const fields = policy as Readonly<Record<string, unknown>>;
  for (const s of SECTIONS) if (fields[s] !== undefined) out[s] = fields[s];
  return out as ResilienceSections;
}

/** The service of a `namespace/name|port` key. */
const serviceOfPort = (servicePort: string): string => servicePort.slice(0, servicePort.lastIndexOf('|'));

function servicesOf(snapshot: NodeSnapshot, live: readonly ServicePortLive[]): ServiceResilience[] {
  const withLive = new Set(live.map((r) => serviceOfPort(r.servicePort)));
  return snapshot.services
    .filter((s) => s.trafficPolicy !== undefined || withLive.has(s.key))
    .map((s) => ({ service: s.key, policy: s.trafficPolicy?.policy ?? null, ports: s.ports.map((p) => p.port), sections: sectionsOf(s.trafficPolicy) }))
    .sort((a, b) => a.service.localeCompare(b.service));
}

function mirrorOf(m: RequestMirror): RouteRuleResilience['mirrors'][number] {
  const b = m.backendRef;
  const backend = `${b.namespace}/${b.name}${b.port === undefined ? '' : `:${b.port}`}`;
  return { backend, percent: m.percent, ...(b.invalid === undefined ? {} : { invalid: b.invalid }) };
}

function routesOf(snapshot: NodeSnapshot): RouteResilience[] {
  const policies = new Map((snapshot.routePolicies ?? []).map((p) => [p.route, p.policy]));
  const out: RouteResilience[] = [];
  for (const route of snapshot.routes ?? []) {
    const key = `${route.kind}/${route.namespace}/${route.name}`;
    const rules: RouteRuleResilience[] = [];
    route.rules.forEach((rule, i) => {
      const mirrors = rule.filters.flatMap((f) => (f.type === 'RequestMirror' ? [mirrorOf(f.requestMirror)] : []));
      const timeouts = 'timeouts' in rule && (rule.timeouts.requestMs !== undefined || rule.timeouts.backendRequestMs !== undefined) ? rule.timeouts : undefined;
      const retry = 'retry' in rule ? rule.retry : undefined;
      if (mirrors.length === 0 && timeouts === undefined && retry === undefined) return;
      rules.push({ rule: i, ...(timeouts === undefined ? {} : { timeouts }), ...(retry === undefined ? {} : { retry }), mirrors });
    });
    const policy = policies.get(key);
    if (policy === undefined && rules.length === 0) continue;
    out.push({ route: key, policy: policy?.policy ?? null, sections: sectionsOf(policy), rules });
  }
  return out.sort((a, b) => a.route.localeCompare(b.route));
}

/**
 * The `/resilience` answer for `snapshot` and the processes' live blocks (`undefined`: the live
 * state could not be read; the configuration is still shown).
 */
export function resilienceView(snapshot: NodeSnapshot, processes: readonly ProcessResilience[] | undefined): ResilienceView {
  const blocks = processes ?? [];
  const servicePorts = blocks
    .flatMap((p) => p.servicePorts.map((r) => ({ ...r, worker: p.worker })))
    .sort((a, b) => a.servicePort.localeCompare(b.servicePort) || a.worker - b.worker);
  const adaptiveLimits = blocks
    .flatMap((p) => p.adaptiveLimits.map((l) => ({ ...l, worker: p.worker })))
    .sort((a, b) => a.workload.localeCompare(b.workload) || a.port - b.port || a.worker - b.worker);
  return {
    services: servicesOf(snapshot, servicePorts),
    routes: routesOf(snapshot),
    servicePorts,
    adaptiveLimits,
    live: processes !== undefined,
    processes: blocks.map((p) => p.worker).sort((a, b) => a - b),
  };
}
