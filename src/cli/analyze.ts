/**
 * `meshlet analyze`: the problems of a mesh's configuration as a whole, found in the cluster
 * state the controller would build from it, each with a stable code (istioctl analyze's
 * IST0xxx, here MA0xx: a code keeps its meaning across releases; new checks get new codes).
 * Pure: the state and the objects in, the findings out, sorted.
 *
 * | code | severity | finding |
 * |---|---|---|
 * | MA001 | warning | a STRICT workload with unmeshed pods in its namespace: they are refused |
 * | MA002 | warning | a Service whose selector matches pods, none of them meshed: its traffic is plaintext |
 * | MA003 | warning | a Service whose selector matches no pod or workload at all |
 * | MA004 | error   | an HTTPRoute or GRPCRoute a Service parent does not accept, or with refs that do not resolve |
 * | MA005 | error   | MeshTLS objects of the same scope (namespace, selector) asking for different modes |
 * | MA006 | warning | a TrafficPolicy (or a target of it) set aside: a conflict or a target that does not exist |
 * | MA007 | warning | an AuthorizationPolicy that does not do what its author may expect (selects nothing, ...) |
 * | MA008 | info    | a pod of an enrolled namespace opted out of the mesh (`meshlet.io/mesh: disabled`) |
 * | MA009 | warning | a pod or workload left out of the mesh by the controller (e.g. the controller's own identity) |
 * | MA010 | error   | (live, analyze-command.ts) an object the controller leaves out for failing validation |
 */
import type { ClusterState } from '../mesh/cluster-types.js';
import { MESH_DISABLED, MESH_ENABLED, MESH_LABEL, type MeshObject, type MeshTLSObject, type ServiceObject } from '../mesh/types.js';

/** How bad a finding is: errors make `analyze` exit 1. */
export type AnalyzeSeverity = 'error' | 'warning' | 'info';

/** One finding. */
export interface AnalyzeFinding {
  readonly code: string;
  readonly severity: AnalyzeSeverity;
  /** `Kind namespace/name` of the object the finding is about. */
  readonly object: string;
  readonly message: string;
}

const SEVERITY_ORDER: Readonly<Record<AnalyzeSeverity, number>> = { error: 0, warning: 1, info: 2 };

function matches(selector: Readonly<Record<string, string>>, labels: Readonly<Record<string, string>>): boolean {
  return Object.entries(selector).every(([k, v]) => labels[k] === v);
}

/** Every finding of the mesh `state` built from `objects`, errors first, then by code and object. */
export function analyzeMesh(state: ClusterState, objects: readonly MeshObject[]): AnalyzeFinding[] {
  const findings: AnalyzeFinding[] = [];
  const add = (code: string, severity: AnalyzeSeverity, object: string, message: string): void => void findings.push({ code, severity, object, message });
  const members = state.members.filter((m) => !m.hostNetwork);

  // MA001: STRICT workloads with unmeshed pods beside them.
  for (const w of state.workloads) {
    if (w.tlsMode !== 'STRICT') continue;
    const plain = members.filter((m) => m.namespace === w.namespace && !m.meshed);
    if (plain.length > 0) {
      add('MA001', 'warning', `${w.kind} ${w.namespace}/${w.name}`, `STRICT mutual TLS, and ${plain.length} unmeshed pod${plain.length === 1 ? '' : 's'} in namespace ${w.namespace} (${plain.slice(0, 3).map((m) => m.name).join(', ')}${plain.length > 3 ? ', ...' : ''}) would be refused if they call it: enroll them or set PERMISSIVE`);
    }
  }

  // MA002, MA003: what each Service's selector reaches.
  for (const s of objects.filter((o): o is ServiceObject => o.kind === 'Service')) {
    if (s.selector === undefined || Object.keys(s.selector).length === 0 || s.clusterIPs.length === 0) continue;
    const selected = members.filter((m) => m.namespace === s.namespace && matches(s.selector ?? {}, m.labels));
    const name = `Service ${s.namespace}/${s.name}`;
    if (selected.length === 0) add('MA003', 'warning', name, `its selector ${JSON.stringify(s.selector)} matches no pod or workload`);
    else if (!selected.some((m) => m.meshed)) add('MA002', 'warning', name, `selects ${selected.length} pod${selected.length === 1 ? '' : 's'}, none meshed: its traffic goes in plaintext (enroll namespace ${s.namespace} with ${MESH_LABEL}: ${MESH_ENABLED})`);
  }

  // MA004: routes.
  for (const r of state.routeStatuses) {
    for (const p of r.parents) {
      if (!p.managed) continue;
      for (const c of p.conditions) {
        if (c.status === 'False') add('MA004', 'error', `${r.kind} ${r.namespace}/${r.name}`, `${c.type} False (${c.reason}) for parent ${p.parentRef.namespace}/${p.parentRef.name}: ${c.message}`);
      }
    }
  }

  // MA005: MeshTLS of one scope asking for different modes.
  const scopes = new Map<string, MeshTLSObject[]>();
  for (const m of state.meshTLS) {
    const key = `${m.namespace}|${JSON.stringify(Object.entries(m.selector ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)))}`;
    scopes.set(key, [...(scopes.get(key) ?? []), m]);
  }
  for (const group of scopes.values()) {
    const modes = new Set(group.map((m) => m.mode));
    if (modes.size < 2) continue;
    const first = group[0] as MeshTLSObject;
    add('MA005', 'error', `MeshTLS ${first.namespace}/${group.map((m) => m.name).sort().join(',')}`, `${group.length} MeshTLS for the same ${first.selector === undefined ? 'namespace' : `selector ${JSON.stringify(first.selector)}`} ask for ${[...modes].sort().join(' and ')}: keep one`);
  }

  // MA006, MA007, MA009: what the state builder set aside or reported.
  for (const p of state.policyConflicts) add('MA006', 'warning', 'TrafficPolicy', p.text);
  for (const p of state.authorizationStatuses) add('MA007', 'warning', 'AuthorizationPolicy', p.text);
  for (const p of state.refused) add('MA009', 'warning', 'Pod', p.text);

  // MA008: opted-out pods of enrolled namespaces.
  for (const m of members) {
    const ns = state.namespaces.get(m.namespace);
    if (ns?.labels[MESH_LABEL] === MESH_ENABLED && m.labels[MESH_LABEL] === MESH_DISABLED) {
      add('MA008', 'info', `${m.kind} ${m.namespace}/${m.name}`, `opted out (${MESH_LABEL}: ${MESH_DISABLED}) in an enrolled namespace: its traffic is not meshed`);
    }
  }

  return findings.sort((a, b) => SEVERITY_ORDER[a.severity] - SEVERITY_ORDER[b.severity] || (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) || (a.object < b.object ? -1 : a.object > b.object ? 1 : 0) || (a.message < b.message ? -1 : 1));
}

/** One line: `error MA004 HTTPRoute demo/r: ...`. */
export function formatAnalyzeFinding(f: AnalyzeFinding): string {
  return `${f.severity} ${f.code} ${f.object}: ${f.message}`;
}
