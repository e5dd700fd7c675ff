/**
 * Cross-object rules: problems no single object shows on its own. Each conflict names both
 * objects and where they came from, so the user can pick which one to fix.
 */
import type { StateWorkload } from './cluster-types.js';
import type { ObjectProblem } from './objects/report.js';
import type { MeshObject, NodeObject, SourceRef } from './types.js';

/** `pods.yaml (document 2)`. */
export function formatSource(source: SourceRef): string {
  return `${source.file} (document ${source.doc + 1})`;
}

function describe(object: { kind: string; name: string; namespace?: string }): string {
  return object.namespace === undefined ? `${object.kind} ${object.name}` : `${object.kind} ${object.namespace}/${object.name}`;
}

function conflict(text: string): ObjectProblem {
  return { kind: 'conflict', text };
}

/** Every conflict among `objects`; empty when they fit together. */
export function findConflicts(
  objects: readonly MeshObject[],
  members: readonly StateWorkload[],
  nodes: ReadonlyMap<string, NodeObject>,
): ObjectProblem[] {
  return [...duplicateObjects(objects), ...duplicateAddresses(members), ...duplicateClusterIPs(objects), ...unknownNodes(members, nodes)];
}

/**
 * Two objects with the same kind, API group, namespace and name. The group matters for
 * AuthorizationPolicy only: `meshlet.io` and `security.istio.io` are two objects (as in
 * Kubernetes), and both apply; `security.istio.io/v1` and `v1beta1` of one name are one object
 * written twice.
 */
function duplicateObjects(objects: readonly MeshObject[]): ObjectProblem[] {
  const seen = new Map<string, MeshObject>();
  const out: ObjectProblem[] = [];
  for (const o of objects) {
    const group = o.kind === 'AuthorizationPolicy' ? apiGroupOf(o.policy.apiVersion) : '';
    const key = `${o.kind}/${group}/${'namespace' in o ? o.namespace : ''}/${o.name}`;
    const first = seen.get(key);
    const what = group === '' ? describe(o) : `${describe(o)} (${group})`;
    if (first === undefined) seen.set(key, o);
    else out.push(conflict(`duplicate ${what}: defined in ${formatSource(first.source)} and again in ${formatSource(o.source)}`));
  }
  return out;
}

/** `security.istio.io` of `security.istio.io/v1`. */
function apiGroupOf(apiVersion: string): string {
  const slash = apiVersion.indexOf('/');
  return slash < 0 ? '' : apiVersion.slice(0, slash);
}

/** Two pods or workloads with one address. hostNetwork pods share their node's address by design. */
function duplicateAddresses(members: readonly StateWorkload[]): ObjectProblem[] {
  const seen = new Map<string, StateWorkload>();
  const out: ObjectProblem[] = [];
  for (const m of members) {
    if (m.hostNetwork) continue;
    for (const address of new Set(m.addresses)) {
      const first = seen.get(address);
      if (first === undefined) {
        seen.set(address, m);
      } else if (first.uid !== m.uid) {
        out.push(conflict(`duplicate address ${address}: ${describe(first)} in ${formatSource(first.source)} and ${describe(m)} in ${formatSource(m.source)}`));
      }
    }
  }
  return out;
}

/** Two Services with one cluster IP. */
function duplicateClusterIPs(objects: readonly MeshObject[]): ObjectProblem[] {
  const seen = new Map<string, MeshObject>();
  const out: ObjectProblem[] = [];
  for (const o of objects) {
    if (o.kind !== 'Service') continue;
    for (const ip of new Set(o.clusterIPs)) {
      const first = seen.get(ip);
      if (first === undefined) seen.set(ip, o);
      else out.push(conflict(`duplicate cluster IP ${ip}: ${describe(first)} in ${formatSource(first.source)} and ${describe(o)} in ${formatSource(o.source)}`));
    }
  }
  return out;
}

/** A meshed workload whose node is unknown or has no tunnel address: nobody could reach it. */
function unknownNodes(members: readonly StateWorkload[], nodes: ReadonlyMap<string, NodeObject>): ObjectProblem[] {
  const out: ObjectProblem[] = [];
  for (const m of members) {
    if (!m.meshed) continue;
    const node = nodes.get(m.node);
    const who = `${describe(m)} in ${formatSource(m.source)}`;
    if (node === undefined) {
      out.push(conflict(`${who} is meshed but its node ${JSON.stringify(m.node)} has no Node object`));
    } else if (node.addresses.length === 0) {
      out.push(conflict(`${who} is meshed but its node, Node ${node.name} in ${formatSource(node.source)}, has no InternalIP address`));
    }
  }
  return out;
}
