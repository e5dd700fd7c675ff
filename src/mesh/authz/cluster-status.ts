/**
 * What an AuthorizationPolicy does not do that its author may expect, found in the cluster
 * state: pure, one line per finding, reported with the other set-aside lines (`meshlet status`,
 * the controller's log). Nothing here changes what is enforced: the agent selects and evaluates
 * every policy itself (`authz/engine.ts`); these lines only say where that will surprise.
 *
 * - a policy that selects no meshed workload (a selector matching nothing, a namespace with no
 *   meshed workload): it has no effect today;
 * - a targetRef naming a Service that does not exist (or has no cluster IP, which the mesh does
 *   not route): the policy selects nothing of it;
 * - L7 fields (methods, paths, hosts and their `not*`, `request.*` conditions) on a workload
 *   port no Service declares HTTP: connections there may be opaque, and then the L7 fields
 *   fail closed (ztunnel's rule, see `AuthzMode`).
 */
import { formatSource } from '../cluster-conflicts.js';
import type { ObjectProblem } from '../objects/report.js';
import { portProtocol } from '../port-protocol.js';
import type { AuthorizationPolicyObject, ServiceInfo, ServiceObject, WorkloadInfo } from '../types.js';
import type { AuthorizationPolicyData, AuthzOperation } from './types.js';

/** What the findings are computed from. */
export interface AuthzStatusInput {
  readonly policies: readonly AuthorizationPolicyObject[];
  /** Meshed workloads: the only ones a policy is enforced for. */
  readonly workloads: readonly WorkloadInfo[];
  /** Services with a cluster IP, with their endpoints. */
  readonly services: readonly ServiceInfo[];
  /** Every Service object, headless ones too (to say why a targetRef selects nothing). */
  readonly serviceObjects: readonly ServiceObject[];
  /** A policy here selects workloads of every namespace. */
  readonly rootNamespace: string;
}

/** Workload ports named in one L7 line before "and N more": a line, not a listing. */
const MAX_PORTS_NAMED = 5;

/** The operation fields that need an HTTP request. */
const L7_OPERATION_FIELDS: readonly (keyof AuthzOperation)[] = ['methods', 'notMethods', 'paths', 'notPaths', 'hosts', 'notHosts'];

/** Every finding of every policy, in the policies' order (the caller sorts). */
export function authorizationStatuses(input: AuthzStatusInput): ObjectProblem[] {
  const servicesByKey = new Map(input.services.map((s) => [s.key, s]));
  const objectKeys = new Set(input.serviceObjects.map((s) => `${s.namespace}/${s.name}`));
  return input.policies.flatMap((object) => {
    const policy = object.policy;
    const head = `${formatSource(object.source)}: AuthorizationPolicy ${policy.key} (${policy.apiVersion})`;
    const lines: string[] = [];
    for (const name of policy.targetServices ?? []) {
      const key = `${policy.namespace}/${name}`;
      if (servicesByKey.has(key)) continue;
      const why = objectKeys.has(key) ? 'has no cluster IP (a headless Service is not part of the mesh\'s routing)' : 'does not exist';
      lines.push(`${head}: targetRefs: Service ${key} ${why}: the policy selects nothing of it`);
    }
    const selected = selectedPorts(policy, input, servicesByKey);
    if (selected.workloads === 0) lines.push(`${head}: selects no meshed workload: it has no effect`);
    const l7 = l7Fields(policy);
    const opaque = selected.ports.filter((p) => !p.http).map((p) => `${p.workload} port ${p.port}`);
    if (l7.length > 0 && opaque.length > 0) {
      const named = opaque.slice(0, MAX_PORTS_NAMED).join(', ');
      const more = opaque.length > MAX_PORTS_NAMED ? ` and ${opaque.length - MAX_PORTS_NAMED} more` : '';
      lines.push(
        `${head}: its L7 fields (${l7.join(', ')}) fail closed on ${named}${more}: no Service declares that port HTTP (appProtocol or port name), ` +
          'so connections there may be opaque (an ALLOW rule with an L7 field never matches them; a DENY rule matches on its other fields)',
      );
    }
    return lines.map((text): ObjectProblem => ({ kind: 'content', text }));
  });
}

/** Where in a policy its L7 fields are: `rules[0].to[1].operation.paths`, `rules[2].when[0]`. */
export function l7Fields(policy: AuthorizationPolicyData): string[] {
  const out: string[] = [];
  policy.rules.forEach((rule, i) => {
    (rule.to ?? []).forEach((to, j) => {
      for (const field of L7_OPERATION_FIELDS) if (to.operation[field] !== undefined) out.push(`rules[${i}].to[${j}].operation.${field}`);
    });
    (rule.when ?? []).forEach((condition, j) => {
      if (condition.key.startsWith('request.')) out.push(`rules[${i}].when[${j}]`);
    });
  });
  return out;
}

/** One workload port a policy applies to, and whether some Service declares it HTTP. */
interface SelectedPort {
  readonly workload: string;
  readonly port: number;
  readonly http: boolean;
}

/**
 * How many meshed workloads the policy selects, and the ports they are reached on through
 * Services (for a targetRef policy, the targeted Services' ports only), each marked HTTP when
 * one of those Services declares it so.
 */
function selectedPorts(
  policy: AuthorizationPolicyData,
  input: AuthzStatusInput,
  servicesByKey: ReadonlyMap<string, ServiceInfo>,
): { workloads: number; ports: SelectedPort[] } {
  const targeted = policy.targetServices?.flatMap((name) => servicesByKey.get(`${policy.namespace}/${name}`) ?? []);
  const uids =
    targeted === undefined
      ? new Set(input.workloads.filter((w) => selectsByLabels(policy, w, input.rootNamespace)).map((w) => w.uid))
      : new Set(targeted.flatMap((s) => s.endpoints.filter((e) => e.meshed).map((e) => e.workload)));
  const http = new Map<string, SelectedPort>();
  for (const service of targeted ?? input.services) {
    const opaquePorts = new Set(service.opaquePorts ?? []);
    for (const endpoint of service.endpoints) {
      if (!uids.has(endpoint.workload)) continue;
      for (const sp of service.ports) {
        const port = endpoint.targetPorts[sp.port];
        if (port === undefined) continue;
        const id = `${endpoint.workload} ${port}`;
        const declared = ['http', 'http2', 'grpc'].includes(portProtocol(sp, { opaquePorts }));
        http.set(id, { workload: endpoint.workload, port, http: declared || http.get(id)?.http === true });
      }
    }
  }
  const ports = [...http.values()].sort((a, b) => (a.workload < b.workload ? -1 : a.workload > b.workload ? 1 : a.port - b.port));
  return { workloads: uids.size, ports };
}

/** A selector (or no selector) policy: its namespace's workloads (every one, in the root namespace) with its labels. */
function selectsByLabels(policy: AuthorizationPolicyData, w: WorkloadInfo, rootNamespace: string): boolean {
  if (policy.namespace !== rootNamespace && w.namespace !== policy.namespace) return false;
  return Object.entries(policy.selector ?? {}).every(([k, v]) => w.labels[k] === v);
}
