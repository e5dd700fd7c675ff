/**
 * Semantic checks of a {@link LabTopology}: names usable as namespace and interface names,
 * uniqueness, references between objects, and the limits of the address plan. Pure.
 *
 * @module
 */

import { MeshletError } from '../mesh/errors.js';
import type { LabTopology } from './topology.js';

/** Lab names prefix every netns name (`ml-<lab>-<pod>`); short keeps `ip netns list` readable. */
const LAB_NAME = /^[a-z0-9]{1,8}$/;

/** True for a valid lab name, `[a-z0-9]{1,8}` (no dash, so `ml-<lab>-` prefixes never overlap). */
export function isValidLabName(name: string): boolean {
  return LAB_NAME.test(name);
}
/** A Kubernetes DNS label (RFC 1123). */
const DNS_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
/** Node names also name the node's veth end in the fabric namespace: IFNAMSIZ - 1 = 15. */
export const MAX_NODE_NAME = 15;
/** Pod names end up in netns names; 40 keeps `ml-<lab>-<pod>` well under any path limit. */
export const MAX_POD_NAME = 40;
/** Node i gets fabric address 198.18.0.(10+i) and pod subnet 198.18.(i+1).0/24: i <= 244. */
export const MAX_NODES = 200;
/** Pod j on a node gets .(10+j) in the node's /24: j <= 244. */
export const MAX_PODS_PER_NODE = 200;
/** Service k gets 198.19.0.0 + 10 + k; the /16 holds 65,524 of them. */
export const MAX_SERVICES = 60000;
/** Names that would clash with the fabric namespace or with interfaces the lab creates. */
const RESERVED_MEMBER_NAMES: ReadonlySet<string> = new Set(['fabric', 'lo', 'br0', 'eth0']);

type Add = (line: string) => void;

function checkName(kind: string, name: string, max: number, add: Add): void {
  if (!DNS_LABEL.test(name) || name.length > max) {
    add(`${kind} name ${JSON.stringify(name)} must be a DNS label ([a-z0-9-], at most ${max} characters)`);
  }
}

function checkUnique(kind: string, keys: readonly string[], add: Add): void {
  const seen = new Set<string>();
  for (const key of keys) {
    if (seen.has(key)) add(`duplicate ${kind} ${JSON.stringify(key)}`);
    seen.add(key);
  }
}

function checkNodesAndPods(t: LabTopology, add: Add): void {
  if (t.nodes.length === 0) add('a lab needs at least one node');
  if (t.nodes.length > MAX_NODES) add(`a lab has at most ${MAX_NODES} nodes, got ${t.nodes.length}`);
  for (const n of t.nodes) {
    checkName('node', n.name, MAX_NODE_NAME, add);
    if (RESERVED_MEMBER_NAMES.has(n.name)) add(`node name ${JSON.stringify(n.name)} is reserved`);
  }
  checkUnique('node', t.nodes.map((n) => n.name), add);
  const nodes = new Set(t.nodes.map((n) => n.name));
  const namespaces = new Set(t.namespaces.map((n) => n.name));
  const perNode = new Map<string, number>();
  for (const p of t.pods) {
    checkName('pod', p.name, MAX_POD_NAME, add);
    if (RESERVED_MEMBER_NAMES.has(p.name)) add(`pod name ${JSON.stringify(p.name)} is reserved`);
    if (nodes.has(p.name)) add(`pod ${JSON.stringify(p.name)} has the name of a node (both name a network namespace)`);
    if (!nodes.has(p.node)) add(`pod ${JSON.stringify(p.name)}: node ${JSON.stringify(p.node)} is not in nodes`);
    if (!namespaces.has(p.namespace)) {
      add(`pod ${JSON.stringify(p.name)}: namespace ${JSON.stringify(p.namespace)} is not in namespaces`);
    }
    if (p.serviceAccount !== undefined) checkName(`pod ${JSON.stringify(p.name)} serviceAccount`, p.serviceAccount, 63, add);
    perNode.set(p.node, (perNode.get(p.node) ?? 0) + 1);
  }
  checkUnique('pod (pod names are unique in a lab)', t.pods.map((p) => p.name), add);
  for (const [node, count] of perNode) {
    if (count > MAX_PODS_PER_NODE) add(`node ${JSON.stringify(node)} has ${count} pods, at most ${MAX_PODS_PER_NODE}`);
  }
}

function validPort(v: unknown): boolean {
  return typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 65535;
}

function checkServices(t: LabTopology, add: Add): void {
  const namespaces = new Set(t.namespaces.map((n) => n.name));
  if (t.services.length > MAX_SERVICES) add(`a lab has at most ${MAX_SERVICES} services`);
  for (const s of t.services) {
    const id = `service ${s.namespace}/${s.name}`;
    checkName('service', s.name, 63, add);
    if (!namespaces.has(s.namespace)) add(`${id}: namespace ${JSON.stringify(s.namespace)} is not in namespaces`);
    if (s.ports.length === 0) add(`${id}: needs at least one port`);
    for (const port of s.ports) {
      if (!validPort(port.port)) add(`${id}: port ${JSON.stringify(port.port)} must be an integer 1-65535`);
      const target = port.targetPort;
      if (target !== undefined && !validPort(target)) add(`${id}: targetPort ${JSON.stringify(target)} must be an integer 1-65535`);
    }
    checkUnique(`${id} port`, s.ports.map((p) => String(p.port)), add);
    checkUnique(`${id} port name`, s.ports.flatMap((p) => (p.name === undefined ? [] : [p.name])), add);
  }
  checkUnique('service', t.services.map((s) => `${s.namespace}/${s.name}`), add);
}

function checkMeshTLS(t: LabTopology, add: Add): void {
  const namespaces = new Set(t.namespaces.map((n) => n.name));
  for (const m of t.meshTLS ?? []) {
    checkName('MeshTLS', m.name, 63, add);
    if (!namespaces.has(m.namespace)) {
      add(`MeshTLS ${m.namespace}/${m.name}: namespace ${JSON.stringify(m.namespace)} is not in namespaces`);
    }
    if (m.mode !== 'STRICT' && m.mode !== 'PERMISSIVE') {
      add(`MeshTLS ${m.namespace}/${m.name}: mode ${JSON.stringify(m.mode)} must be STRICT or PERMISSIVE`);
    }
  }
  checkUnique('MeshTLS', (t.meshTLS ?? []).map((m) => `${m.namespace}/${m.name}`), add);
}

/**
 * Lists every problem of a topology (empty when it is valid). Pure; used by
 * {@link validateLabTopology} and by tests.
 */
export function labTopologyProblems(t: LabTopology): string[] {
  const problems: string[] = [];
  const add: Add = (line) => problems.push(line);
  if (!LAB_NAME.test(t.name)) add(`lab name ${JSON.stringify(t.name)} must match [a-z0-9]{1,8}`);
  for (const ns of t.namespaces) checkName('namespace', ns.name, 63, add);
  checkUnique('namespace', t.namespaces.map((n) => n.name), add);
  checkNodesAndPods(t, add);
  checkServices(t, add);
  checkMeshTLS(t, add);
  return problems;
}

/**
 * Throws a `MESHLET_ERR_LAB` MeshletError listing every problem of the topology (in the
 * message and in `details`); returns normally when it is valid.
 *
 * @param source - named in the message, e.g. the topology file's path
 */
export function validateLabTopology(t: LabTopology, source = 'topology'): void {
  const problems = labTopologyProblems(t);
  if (problems.length > 0) {
    throw new MeshletError('MESHLET_ERR_LAB', `${source}: invalid lab topology:\n  ${problems.join('\n  ')}`, {
      details: problems,
    });
  }
}
